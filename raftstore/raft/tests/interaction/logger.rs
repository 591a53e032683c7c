//! Captures the nodes' `tracing` events into the script's output.
//!
//! Every event becomes one line: the level, the node id (the `raft_id` field) when there is
//! one, the message, then the remaining fields as `name=value` in the order they were written,
//! for example `INFO 1 became leader term=2`. Nothing in it depends on time or addresses, so the
//! lines are as deterministic as the core.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::output::{LogLevel, Output};

/// A `tracing` layer that writes events to an [`Output`].
pub struct CaptureLayer {
    output: Output,
}

/// A subscriber writing every event to `output`, to be installed for the duration of one script.
pub fn subscriber(output: Output) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry().with(CaptureLayer { output })
}

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::TRACE | Level::DEBUG => LogLevel::Debug,
            Level::INFO => LogLevel::Info,
            Level::WARN => LogLevel::Warn,
            Level::ERROR => LogLevel::Error,
        };
        if level < self.output.level() {
            return;
        }
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let mut line = String::from(level.label());
        if let Some(id) = &fields.raft_id {
            let _ = write!(line, " {id}");
        }
        let _ = write!(line, " {}{}", fields.message, fields.rest);
        self.output.log(level, &line);
    }
}

/// The fields of one event: the message, the node id and the rest, already formatted.
#[derive(Default)]
struct EventFields {
    message: String,
    raft_id: Option<String>,
    rest: String,
}

impl EventFields {
    fn push(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "raft_id" => self.raft_id = Some(value.to_string()),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}
