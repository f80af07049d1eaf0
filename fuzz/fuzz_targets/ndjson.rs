//! The line handling of the bulk upload (`POST /v1/signals/bulk`): the body is fed to the
//! broker's `NdjsonLines` whole and cut into chunks at places the first two bytes choose, as
//! the network would. Asserts that the chunking never changes the outcome (the same items with
//! the same numbers, the same refusal), that item numbers count up from 0, and for every item
//! that parsed: the JSON round trip, and that a date the strict parser accepts is the one date
//! it formats back to (the ingest and the store read dates with that one parser).
#![no_main]

use kruispunt_broker::routes::signals::NdjsonLines;
use kruispunt_sdk::civil::{format_date, parse_date};
use kruispunt_sdk::wire::SignalIn;
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<(usize, Result<SignalIn, String>)>, Option<String>);

fn run(body: &[u8], cuts: &[usize]) -> Outcome {
    let mut lines = NdjsonLines::new();
    let mut items = Vec::new();
    let mut from = 0;
    let ends = cuts.iter().copied().chain([body.len()]);
    for (last, to) in ends.enumerate().map(|(i, to)| (i == cuts.len(), to)) {
        lines.push(&body[from..to]);
        from = to;
        if last {
            lines.finish();
        }
        loop {
            match lines.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(p) => return (items, Some(format!("{} {}", p.slug, p.detail))),
            }
        }
    }
    assert_eq!(lines.count(), items.len());
    (items, None)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (step, body) = (
        usize::from(data[0]) * 256 + usize::from(data[1]) + 1,
        &data[2..],
    );
    let whole = run(body, &[]);
    let cuts: Vec<usize> = (1..body.len())
        .filter(|i| i % step == 0 || i % 7 == step % 7)
        .collect();
    let chunked = run(body, &cuts);
    assert_eq!(whole, chunked, "the chunking changed the outcome");
    for (n, (index, item)) in whole.0.iter().enumerate() {
        assert_eq!(*index, n);
        let Ok(signal) = item else { continue };
        let json = serde_json::to_vec(signal).expect("a signal serialises");
        let again: SignalIn = serde_json::from_slice(&json).expect("a serialised signal parses");
        assert_eq!(&again, signal);
        for date in std::iter::once(&signal.observed).chain(signal.expires.as_ref()) {
            if let Some(day) = parse_date(date) {
                assert_eq!(&format_date(day), date, "a date is read as another");
            }
        }
    }
});
