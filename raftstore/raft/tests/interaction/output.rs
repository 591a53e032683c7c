//! The text a command produces: harness output and captured node logs, in the order they
//! happened, indented under the headers of `stabilize` and multi-node commands.
//!
//! One [`Output`] is shared (it is a cheap handle) by the environment and the tracing layer, so a
//! node's log line lands between the harness lines that surround the call that logged it.

use std::sync::{Arc, Mutex, MutexGuard};

/// How much is printed: log events below the level are dropped, and `None` silences the harness
/// too (errors excepted), which keeps the setup of a script quiet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Info, warnings and errors.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
    /// Nothing but harness errors.
    None,
}

impl LogLevel {
    /// Parses a level name as scripts spell it (case-insensitive).
    pub fn parse(name: &str) -> Result<LogLevel, String> {
        match name.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            "none" => Ok(LogLevel::None),
            _ => Err(format!("unknown log level {name:?}")),
        }
    }

    /// The name printed in front of a log line.
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::None => "NONE",
        }
    }
}

struct OutputState {
    text: String,
    indent: usize,
    level: LogLevel,
}

/// A shared, indenting text buffer.
#[derive(Clone)]
pub struct Output {
    state: Arc<Mutex<OutputState>>,
}

impl Output {
    /// An empty buffer printing everything.
    pub fn new() -> Output {
        let state = OutputState {
            text: String::new(),
            indent: 0,
            level: LogLevel::Debug,
        };
        Output {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutputState> {
        self.state
            .lock()
            .expect("invariant: nothing panics while holding the output lock")
    }

    /// Sets the level from which on log events are printed.
    pub fn set_level(&self, level: LogLevel) {
        self.lock().level = level;
    }

    /// The current level.
    pub fn level(&self) -> LogLevel {
        self.lock().level
    }

    /// Writes harness output (one or more lines), unless the level is `None`.
    pub fn line(&self, text: &str) {
        let mut state = self.lock();
        if state.level != LogLevel::None {
            push_lines(&mut state, text);
        }
    }

    /// Writes a captured log line if `level` is printed.
    pub fn log(&self, level: LogLevel, text: &str) {
        let mut state = self.lock();
        if level >= state.level && state.level != LogLevel::None {
            push_lines(&mut state, text);
        }
    }

    /// Writes an error, which is printed at every level.
    pub fn error(&self, text: &str) {
        push_lines(&mut self.lock(), text);
    }

    /// Runs `f` with everything it writes indented by two more spaces.
    pub fn indented<R>(&self, f: impl FnOnce() -> R) -> R {
        self.lock().indent += 2;
        let result = f();
        self.lock().indent -= 2;
        result
    }

    /// Takes what was written since the last call.
    pub fn take(&self) -> String {
        std::mem::take(&mut self.lock().text)
    }
}

/// Appends `text` line by line with the current indentation. Blank lines are left out: the
/// golden file format ends an expected output at the first blank line.
fn push_lines(state: &mut OutputState, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        state.text.extend(std::iter::repeat_n(' ', state.indent));
        state.text.push_str(line);
        state.text.push('\n');
    }
}
