//! The narrative each scenario tells: who asked what, what the policy decided and why, and
//! what was disclosed. Printed as it happens by the examples; kept for the summary by
//! `kruispunt demo` and the end-to-end tests.

/// Collects (and optionally prints) the lines of a scenario.
#[derive(Debug, Default)]
pub struct Story {
    echo: bool,
    lines: Vec<String>,
}

impl Story {
    /// A story that prints each line as it is told when `echo` is true.
    pub fn new(echo: bool) -> Self {
        Story {
            echo,
            lines: Vec::new(),
        }
    }

    /// A heading.
    pub fn title(&mut self, text: impl AsRef<str>) {
        let t = text.as_ref();
        self.push(format!("\n== {t} =="));
    }

    /// A line of narrative.
    pub fn say(&mut self, text: impl Into<String>) {
        self.push(format!("  {}", text.into()));
    }

    /// A line indented under the previous one.
    pub fn detail(&mut self, text: impl Into<String>) {
        self.push(format!("      {}", text.into()));
    }

    fn push(&mut self, line: String) {
        if self.echo {
            println!("{line}");
        }
        self.lines.push(line);
    }

    /// Everything told so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

/// What a scenario did, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Scenario name (`kvo_buitengebied`, …).
    pub name: &'static str,
    /// Signals stored (new) by the scenario's uploads.
    pub stored: u64,
    /// Match answers that disclosed at least one hit.
    pub disclosures: u64,
    /// Requests the broker refused, as the scenario expected.
    pub refusals: u64,
    /// Audit sequence numbers of the scenario's decisions.
    pub audit_seqs: Vec<u64>,
}
