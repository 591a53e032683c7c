//! A handler that names an order gets the machines of a round in that order.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_system::{BatchSystem, Config, Fsm, PollHandler};
use crossbeam_channel::Receiver;
use parking_lot::Mutex;

/// A machine known by its ordering key.
struct Keyed {
    key: u64,
}

impl Fsm for Keyed {
    type Message = ();
}

struct Control;

impl Fsm for Control {
    type Message = ();
}

/// Records `(round, key)` for every machine handled; the machine with key `GATE` blocks its
/// round until the test opens the gate, so that the next round gathers every other machine.
struct Ordered {
    round: u64,
    log: Arc<Mutex<Vec<(u64, u64)>>>,
    gate: Receiver<()>,
}

const GATE: u64 = u64::MAX;

impl PollHandler<Keyed, Control> for Ordered {
    const ORDERED: bool = true;

    fn round_order(fsm: &Keyed) -> u64 {
        fsm.key
    }

    fn handle_control(&mut self, _control: &mut Control, msgs: &mut Vec<()>) {
        msgs.clear();
    }

    fn handle_normal(&mut self, fsm: &mut Keyed, msgs: &mut Vec<()>) {
        msgs.clear();
        if fsm.key == GATE {
            self.gate.recv().unwrap();
        }
        self.log.lock().push((self.round, fsm.key));
    }

    fn end(&mut self, _normals: &mut [Box<Keyed>]) {
        self.round += 1;
    }
}

#[test]
fn machines_of_a_round_are_handled_in_the_handlers_order() {
    let cfg = Config {
        pool_size: 1,
        max_batch_size: 64,
        ..Config::default()
    };
    let (router, mut system) = BatchSystem::new(cfg, Box::new(Control)).unwrap();
    let keys = [50, 30, 90, 10, 70, 20, 80];
    for (id, key) in keys.iter().chain(&[GATE]).enumerate() {
        router
            .register(id as u64, Box::new(Keyed { key: *key }))
            .unwrap();
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let (open_gate, gate) = crossbeam_channel::bounded(1);
    let handler_log = Arc::clone(&log);
    system
        .spawn(move |_| Ordered {
            round: 0,
            log: Arc::clone(&handler_log),
            gate: gate.clone(),
        })
        .unwrap();

    // The gate machine holds the only poller; the others queue up behind it in arrival order.
    router.force_send(keys.len() as u64, ()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    for id in 0..keys.len() as u64 {
        router.force_send(id, ()).unwrap();
    }
    open_gate.send(()).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while log.lock().len() < keys.len() + 1 {
        assert!(
            Instant::now() < deadline,
            "machines not handled: {:?}",
            log.lock()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    system.shutdown();
    let log = log.lock().clone();
    let handled: Vec<u64> = log.iter().map(|(_, key)| *key).collect();
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    assert_eq!(handled[0], GATE, "the gate's round comes first: {log:?}");
    assert_eq!(
        handled[1..],
        sorted[..],
        "the round after the gate, in key order: {log:?}"
    );
    assert!(
        log[1..].iter().all(|(round, _)| *round == 1),
        "every other machine in one round: {log:?}"
    );
}
