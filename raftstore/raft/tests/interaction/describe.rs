//! Compact, stable text for the core's types: what the golden files record.
//!
//! A message reads `1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[1/11 EntryNormal "foo"]`:
//! sender and recipient (`AppendThread`/`ApplyThread` for the local storage threads), type,
//! term, the (log term, index) pair, then only the fields that are set. An entry reads
//! `term/index type payload`; configuration changes print as `v2 l3 r4` (see
//! [`describe_changes`]).

use std::fmt::Write as _;

use raft::raftpb::{
    ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfState, Entry, EntryType, HardState,
    Message, Snapshot,
};
use raft::{LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD, Ready, SoftState, decode_conf_change};

/// The Ready's parts that are present, one per line (several lines for lists), headed by
/// `Ready MustSync=...:`.
pub fn describe_ready(rd: &Ready) -> String {
    let mut body = String::new();
    if let Some(ss) = &rd.soft_state {
        let _ = writeln!(body, "{}", describe_soft_state(ss));
    }
    if let Some(hs) = &rd.hard_state {
        let _ = writeln!(body, "HardState {}", describe_hard_state(hs));
    }
    for rs in &rd.read_states {
        let _ = writeln!(
            body,
            "ReadState Index:{} Ctx:{}",
            rs.index,
            describe_data(&rs.request_ctx)
        );
    }
    if !rd.entries.is_empty() {
        body.push_str("Entries:\n");
        body.push_str(&describe_entries(&rd.entries));
    }
    if let Some(snap) = &rd.snapshot {
        let _ = writeln!(body, "Snapshot {}", describe_snapshot(snap));
    }
    if !rd.committed_entries.is_empty() {
        body.push_str("CommittedEntries:\n");
        body.push_str(&describe_entries(&rd.committed_entries));
    }
    if !rd.messages.is_empty() {
        body.push_str("Messages:\n");
        for m in &rd.messages {
            let _ = writeln!(body, "{}", describe_message(m));
        }
    }
    if body.is_empty() {
        return "<empty Ready>\n".to_string();
    }
    format!("Ready MustSync={}:\n{body}", rd.must_sync)
}

/// `Lead:1 State:StateLeader`.
pub fn describe_soft_state(ss: &SoftState) -> String {
    format!("Lead:{} State:{}", ss.leader_id, ss.raft_state)
}

/// `Term:2 Vote:1 Commit:5`; the vote is left out when there is none.
pub fn describe_hard_state(hs: &HardState) -> String {
    let mut s = format!("Term:{}", hs.term);
    if hs.vote != 0 {
        let _ = write!(s, " Vote:{}", hs.vote);
    }
    let _ = write!(s, " Commit:{}", hs.commit);
    s
}

/// `Index:10 Term:1 ConfState:Voters:[1 2 3] ...`.
pub fn describe_snapshot(snap: &Snapshot) -> String {
    let meta = snap.meta();
    let cs = meta.conf_state.unwrap_or_default();
    format!(
        "Index:{} Term:{} ConfState:{}",
        meta.index,
        meta.term,
        describe_conf_state(&cs)
    )
}

/// Every list of the configuration, empty ones included, so a change is easy to spot.
pub fn describe_conf_state(cs: &ConfState) -> String {
    format!(
        "Voters:{} VotersOutgoing:{} Learners:{} LearnersNext:{} AutoLeave:{}",
        id_list(&cs.voters),
        id_list(&cs.voters_outgoing),
        id_list(&cs.learners),
        id_list(&cs.learners_next),
        cs.auto_leave
    )
}

fn id_list(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("[{}]", ids.join(" "))
}

/// One line per entry.
pub fn describe_entries(entries: &[Entry]) -> String {
    entries.iter().map(|e| describe_entry(e) + "\n").collect()
}

/// `1/11 EntryNormal "foo"`, `2/5 EntryConfChangeV2 v4 l5`.
pub fn describe_entry(e: &Entry) -> String {
    let kind = EntryType::try_from(e.entry_type).unwrap_or(EntryType::EntryNormal);
    let payload = match kind {
        EntryType::EntryNormal => describe_data(&e.data),
        EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => match decode_conf_change(e) {
            Ok(cc) => {
                let mut s = describe_changes(&cc.changes);
                let transition = ConfChangeTransition::try_from(cc.transition)
                    .unwrap_or(ConfChangeTransition::Auto);
                if transition != ConfChangeTransition::Auto {
                    let name = if transition == ConfChangeTransition::Explicit {
                        "explicit"
                    } else {
                        "implicit"
                    };
                    let _ = write!(s, " transition={name}");
                }
                s
            }
            Err(err) => format!("<{err}>"),
        },
    };
    let mut s = format!("{}/{} {kind:?}", e.term, e.index);
    if !payload.is_empty() {
        s.push(' ');
        s.push_str(payload.trim_start());
    }
    s
}

/// Changes in the script syntax: `v` adds a voter, `l` a learner, `r` removes, `u` updates.
pub fn describe_changes(changes: &[ConfChangeSingle]) -> String {
    let words: Vec<String> = changes
        .iter()
        .map(|c| {
            let prefix = match ConfChangeType::try_from(c.change_type) {
                Ok(ConfChangeType::AddNode) => 'v',
                Ok(ConfChangeType::AddLearnerNode) => 'l',
                Ok(ConfChangeType::RemoveNode) => 'r',
                Ok(ConfChangeType::UpdateNode) | Err(_) => 'u',
            };
            format!("{prefix}{}", c.node_id)
        })
        .collect();
    words.join(" ")
}

/// A payload as a quoted string with escapes.
pub fn describe_data(data: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(data))
}

/// A message on one line, or several when it carries several entries, a snapshot or nested
/// responses (each nested line indented by two spaces).
pub fn describe_message(m: &Message) -> String {
    describe_message_indented(m, "")
}

fn describe_message_indented(m: &Message, indent: &str) -> String {
    let mut s = format!(
        "{indent}{}->{} {:?} Term:{} Log:{}/{}",
        describe_target(m.from),
        describe_target(m.to),
        m.kind(),
        m.term,
        m.log_term,
        m.index
    );
    if m.reject {
        let _ = write!(s, " Rejected (Hint: {})", m.reject_hint);
    }
    if m.commit != 0 {
        let _ = write!(s, " Commit:{}", m.commit);
    }
    if m.vote != 0 {
        let _ = write!(s, " Vote:{}", m.vote);
    }
    if m.commit_only {
        // Flotilla's extension to etcd's messages: the follower sends no answer.
        s.push_str(" CommitOnly");
    }
    if !m.context.is_empty() {
        let _ = write!(s, " Context:{}", describe_context(&m.context));
    }
    match m.entries.as_slice() {
        [] => {}
        [e] => {
            let _ = write!(s, " Entries:[{}]", describe_entry(e));
        }
        entries => {
            s.push_str(" Entries:[");
            for e in entries {
                let _ = write!(s, "\n{indent}  {}", describe_entry(e));
            }
            let _ = write!(s, "\n{indent}]");
        }
    }
    if let Some(snap) = m.snapshot.as_ref().filter(|snap| !snap.is_empty()) {
        let _ = write!(s, "\n{indent}  Snapshot: {}", describe_snapshot(snap));
    }
    if !m.responses.is_empty() {
        s.push_str(" Responses:[");
        let nested = format!("{indent}  ");
        for r in &m.responses {
            let _ = write!(s, "\n{}", describe_message_indented(r, &nested));
        }
        let _ = write!(s, "\n{indent}]");
    }
    s
}

/// A context: quoted when it is text (a campaign kind), otherwise its bytes in hex (a read
/// round's id).
fn describe_context(ctx: &[u8]) -> String {
    if ctx.iter().all(u8::is_ascii_graphic) {
        return describe_data(ctx);
    }
    let mut s = String::from("0x");
    for b in ctx {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A node id, or the name of a local storage thread.
pub fn describe_target(id: u64) -> String {
    match id {
        LOCAL_APPEND_THREAD => "AppendThread".to_string(),
        LOCAL_APPLY_THREAD => "ApplyThread".to_string(),
        id => id.to_string(),
    }
}
