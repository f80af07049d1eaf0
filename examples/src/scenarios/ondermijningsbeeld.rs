//! The ondermijningsbeeld's data: every district's partners report what they see in their own
//! gemeenten over two years, under the `ondermijningsbeeld` purpose (aggregates only: nothing
//! of it can be matched), so that the unit's picture shows the plan's themes where the plan puts
//! them. See [`crate::picture`] for the shape of the data.

use std::collections::BTreeMap;

use kruispunt_sdk::wire::MAX_SIGNAL_BATCH;
use kruispunt_sdk::words::counted;

use super::{ensure, explain};
use crate::picture::{PURPOSE, Picture};
use crate::synthetic::today;
use crate::{Env, Outcome, ScenarioError, Story};

/// Runs the scenario; see the module documentation.
pub async fn ondermijningsbeeld(env: &Env, story: &mut Story) -> Result<Outcome, ScenarioError> {
    let mut out = Outcome {
        name: "ondermijningsbeeld",
        ..Outcome::default()
    };
    let d = &env.data;
    let picture: Picture = d.picture(&env.key, today());
    story
        .title("Ondermijningsbeeld: what the partners see, per gemeente and theme, over two years");
    story.say(format!(
        "{} partners report {} pseudonymised signals under the purpose `{PURPOSE}` (aggregates only: \
         no match can disclose them), each in the gemeente where it was seen.",
        picture.uploads.len(),
        picture.signal_count()
    ));

    let mut duplicates = 0;
    for (partner, signals) in &picture.uploads {
        let client = env.client(partner, "analist.beeld", &["signaleerder"], None)?;
        for chunk in signals.chunks(MAX_SIGNAL_BATCH) {
            let r = client.upload(chunk).await.map_err(explain)?;
            if let Some(item) = r.results.iter().find(|i| i.reason.is_some()) {
                story.detail(format!(
                    "{partner}: item {}: {}: {}",
                    item.index,
                    item.field.as_deref().unwrap_or("?"),
                    item.reason.as_deref().unwrap_or("")
                ));
            }
            ensure(r.rejected == 0, || {
                format!(
                    "{partner}: {} rejected",
                    counted(r.rejected, "picture signal", "picture signals")
                )
            })?;
            out.stored += r.stored;
            duplicates += r.duplicates;
        }
    }
    story.say(format!(
        "stored {}, {duplicates} already known (idempotent re-upload)",
        counted(out.stored, "signal", "signals")
    ));

    // What the picture should show: the true subjects per district and theme (the broker will
    // publish them only above its thresholds, with noise).
    let names: BTreeMap<&str, &str> = d
        .registry
        .districts
        .iter()
        .map(|x| (x.id.as_str(), x.name.as_str()))
        .collect();
    for (district, name) in &names {
        // Plan themes first, then by subjects.
        let mut cells: Vec<(bool, usize, &str)> = picture
            .cells
            .iter()
            .filter(|((dd, _), t)| dd == district && t.subjects > 0)
            .map(|((dd, theme), t)| {
                let hot = picture.hot.contains(&(dd.clone(), theme.clone()));
                (hot, t.subjects, theme.as_str())
            })
            .collect();
        cells.sort_by_key(|&(hot, n, _)| (std::cmp::Reverse(hot), std::cmp::Reverse(n)));
        let line: Vec<String> = cells
            .iter()
            .map(|&(hot, n, theme)| format!("{theme}{} {n}", if hot { "*" } else { "" }))
            .collect();
        story.detail(format!("{name}: {}", line.join(", ")));
    }
    story.say(
        "(* the district's plan themes: several hundred subjects from three or more partners \
         each; the other cells hold a handful of subjects and stay below any publication threshold)",
    );
    story.say(format!(
        "The heat map: {}/beeld/, signed in as the RIEC's analyst (development set-up: \
         `kruispunt token --data-dir {} --partner riec-midden-nederland --role analist`); the \
         signals are in the picture once the next snapshot is published (at most 10 s in a \
         development set-up).",
        env.base_url,
        env.data_dir.display()
    ));
    Ok(out)
}
