//! A benchmark's result: a readable summary, then one line of `key=value` pairs.

/// Named figures in the order they were added.
#[derive(Default)]
pub struct Report {
    title: String,
    lines: Vec<String>,
    pairs: Vec<(String, String)>,
}

impl Report {
    /// An empty report headed by `title`.
    pub fn new(title: impl Into<String>) -> Report {
        Report {
            title: title.into(),
            ..Report::default()
        }
    }

    /// Adds a line to the readable summary.
    pub fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// Adds a machine-readable figure.
    pub fn pair(&mut self, key: &str, value: impl std::fmt::Display) {
        self.pairs.push((key.to_string(), value.to_string()));
    }

    /// Prints the summary and the `key=value` line.
    pub fn print(&self) {
        println!("== {} ==", self.title);
        for line in &self.lines {
            println!("  {line}");
        }
        let pairs: Vec<String> = self.pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{}", pairs.join(" "));
    }
}
