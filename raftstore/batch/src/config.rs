//! The batch system's limits.

use crate::errors::Error;

/// How many pollers run and how much each takes on per round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Poller threads.
    pub pool_size: usize,
    /// The most machines one poller handles in one round (one `begin`/`end`).
    pub max_batch_size: usize,
    /// The most messages one machine gets per round; the rest wait for its next turn.
    pub messages_per_tick: usize,
    /// The most messages a mailbox holds before `try_send` answers `Full`.
    pub mailbox_capacity: usize,
    /// The prefix of the poller threads' names.
    pub thread_name: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pool_size: 2,
            max_batch_size: 256,
            messages_per_tick: 256,
            mailbox_capacity: 4096,
            thread_name: "poller".to_string(),
        }
    }
}

impl Config {
    /// Checks every field and names the first unusable one.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |field: &'static str| {
            Err(Error::ConfigInvalid {
                field,
                reason: "must be at least 1",
            })
        };
        if self.pool_size == 0 {
            return invalid("pool_size");
        }
        if self.max_batch_size == 0 {
            return invalid("max_batch_size");
        }
        if self.messages_per_tick == 0 {
            return invalid("messages_per_tick");
        }
        if self.mailbox_capacity == 0 {
            return invalid("mailbox_capacity");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_are_refused_by_name() {
        assert_eq!(Config::default().validate(), Ok(()));
        let fields = [
            "pool_size",
            "max_batch_size",
            "messages_per_tick",
            "mailbox_capacity",
        ];
        for field in fields {
            let mut cfg = Config::default();
            match field {
                "pool_size" => cfg.pool_size = 0,
                "max_batch_size" => cfg.max_batch_size = 0,
                "messages_per_tick" => cfg.messages_per_tick = 0,
                _ => cfg.mailbox_capacity = 0,
            }
            assert_eq!(
                cfg.validate(),
                Err(Error::ConfigInvalid {
                    field,
                    reason: "must be at least 1"
                })
            );
        }
    }
}
