//! The arguments of one command line, taken one by one by its handler.
//!
//! A directive line such as `deliver-msgs 2 3 drop=(1) type=MsgApp` has positional node ids
//! (`2 3`) and named arguments (`drop`, `type`). The datadriven parser keeps them in a map, so
//! positional ids come back in ascending order, never in the order written: commands treat them
//! as a set and name every argument whose role differs (`transfer-leadership from=1 to=2`).
//! A handler calls [`Args::finish`] once it took what it understands, so a misspelt argument
//! fails the script instead of being ignored.

use std::collections::HashMap;
use std::str::FromStr;

/// The unconsumed arguments of one command.
pub struct Args {
    ids: Vec<u64>,
    words: Vec<String>,
    named: HashMap<String, Vec<String>>,
}

impl Args {
    /// Splits the parsed arguments into positional ids and named values.
    pub fn new(parsed: &HashMap<String, Vec<String>>) -> Args {
        let mut ids = Vec::new();
        let mut words = Vec::new();
        let mut named = HashMap::new();
        for (key, vals) in parsed {
            if vals.is_empty() {
                match key.parse() {
                    Ok(id) => ids.push(id),
                    Err(_) => words.push(key.clone()),
                }
            } else {
                named.insert(key.clone(), vals.clone());
            }
        }
        ids.sort_unstable();
        Args { ids, words, named }
    }

    /// All positional ids, ascending.
    pub fn ids(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.ids)
    }

    /// The one positional id the command requires.
    pub fn id(&mut self) -> Result<u64, String> {
        match self.ids().as_slice() {
            [id] => Ok(*id),
            ids => Err(format!("expected exactly one node id, got {ids:?}")),
        }
    }

    /// The one positional word (not an id) the command requires.
    pub fn word(&mut self) -> Result<String, String> {
        match std::mem::take(&mut self.words).as_mut_slice() {
            [word] => Ok(std::mem::take(word)),
            words => Err(format!("expected exactly one word, got {words:?}")),
        }
    }

    /// The single value of `key`, if given.
    pub fn opt<T: FromStr>(&mut self, key: &str) -> Result<Option<T>, String> {
        let Some(vals) = self.named.remove(key) else {
            return Ok(None);
        };
        match vals.as_slice() {
            [val] => parse(key, val).map(Some),
            _ => Err(format!("{key} takes one value, got {vals:?}")),
        }
    }

    /// The single value of `key`, which must be given.
    pub fn req<T: FromStr>(&mut self, key: &str) -> Result<T, String> {
        self.opt(key)?
            .ok_or_else(|| format!("missing argument {key}="))
    }

    /// Every value of `key` (`key=(a,b,c)`), empty if not given.
    pub fn list<T: FromStr>(&mut self, key: &str) -> Result<Vec<T>, String> {
        let vals = self.named.remove(key).unwrap_or_default();
        vals.iter().map(|val| parse(key, val)).collect()
    }

    /// Fails if an argument was left unused.
    pub fn finish(self) -> Result<(), String> {
        if !self.ids.is_empty() {
            return Err(format!("unexpected node ids {:?}", self.ids));
        }
        if !self.words.is_empty() {
            return Err(format!("unexpected words {:?}", self.words));
        }
        let mut left: Vec<&String> = self.named.keys().collect();
        left.sort();
        if !left.is_empty() {
            return Err(format!("unknown arguments {left:?}"));
        }
        Ok(())
    }
}

fn parse<T: FromStr>(key: &str, val: &str) -> Result<T, String> {
    val.parse().map_err(|_| format!("cannot parse {key}={val}"))
}
