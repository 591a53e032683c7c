//! Behaviour of the batch system under concurrency: exactly-once scheduling, no lost wake-ups,
//! fairness, and clean shutdown.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use batch_system::{BatchSystem, Config, Fsm, PollHandler, Router, SendError};
use parking_lot::Mutex;

/// What a machine received: (sender, sequence number, round), in order.
type Log = Arc<Mutex<Vec<(u64, u64, u64)>>>;

/// A machine that records what it receives and checks nobody else runs it meanwhile.
struct Counter {
    id: u64,
    /// Messages seen, by sender, in order.
    seen: Log,
    running: AtomicBool,
    handled: Arc<AtomicUsize>,
    stop_after: Option<usize>,
    dropped: Arc<AtomicUsize>,
}

impl Fsm for Counter {
    type Message = (u64, u64);

    fn is_stopped(&self) -> bool {
        self.stop_after
            .is_some_and(|n| self.handled.load(Ordering::SeqCst) >= n)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

struct Control;

impl Fsm for Control {
    type Message = u64;
}

/// Handles messages, recording them; counts rounds and control messages.
struct Recorder {
    control_seen: Arc<AtomicUsize>,
    rounds: Arc<AtomicUsize>,
    delay: Duration,
}

impl PollHandler<Counter, Control> for Recorder {
    fn handle_control(&mut self, _control: &mut Control, msgs: &mut Vec<u64>) {
        self.control_seen.fetch_add(msgs.len(), Ordering::SeqCst);
        msgs.clear();
    }

    fn handle_normal(&mut self, fsm: &mut Counter, msgs: &mut Vec<(u64, u64)>) {
        assert!(
            !fsm.running.swap(true, Ordering::SeqCst),
            "machine {} run twice at once",
            fsm.id
        );
        {
            let mut seen = fsm.seen.lock();
            for (sender, seq) in msgs.drain(..) {
                seen.push((sender, seq, self.rounds.load(Ordering::SeqCst) as u64));
            }
        }
        fsm.handled.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        fsm.running.store(false, Ordering::SeqCst);
    }

    fn end(&mut self, _normals: &mut [Box<Counter>]) {
        self.rounds.fetch_add(1, Ordering::SeqCst);
    }
}

struct Setup {
    router: Router<Counter, Control>,
    system: BatchSystem<Counter, Control>,
    seen: Vec<Log>,
    dropped: Arc<AtomicUsize>,
    control_seen: Arc<AtomicUsize>,
    handled: Vec<Arc<AtomicUsize>>,
}

fn setup(cfg: Config, machines: u64, stop_after: Option<usize>, delay: Duration) -> Setup {
    let (router, mut system) = BatchSystem::new(cfg, Box::new(Control)).unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut seen = Vec::new();
    let mut handled = Vec::new();
    for id in 0..machines {
        let log = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let fsm = Counter {
            id,
            seen: Arc::clone(&log),
            running: AtomicBool::new(false),
            handled: Arc::clone(&count),
            stop_after,
            dropped: Arc::clone(&dropped),
        };
        router.register(id, Box::new(fsm)).unwrap();
        seen.push(log);
        handled.push(count);
    }
    let control_seen = Arc::new(AtomicUsize::new(0));
    let rounds = Arc::new(AtomicUsize::new(0));
    let cs = Arc::clone(&control_seen);
    system
        .spawn(|_| Recorder {
            control_seen: Arc::clone(&cs),
            rounds: Arc::clone(&rounds),
            delay,
        })
        .unwrap();
    Setup {
        router,
        system,
        seen,
        dropped,
        control_seen,
        handled,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Goal: with many senders racing to wake the same machines, every message is delivered
/// exactly once, in each sender's order, and no machine ever runs on two pollers at once.
/// Method: 4 sender threads x 5,000 messages over 8 machines on 2 pollers, repeated; tiny
/// bursts maximise the idle/notified transitions where a wake-up could be lost.
#[test]
fn no_lost_wakeups_and_exactly_once_delivery_under_concurrent_senders() {
    for iteration in 0..10 {
        let cfg = Config {
            pool_size: 2,
            max_batch_size: 4,
            messages_per_tick: 3,
            ..Config::default()
        };
        let s = setup(cfg, 8, None, Duration::ZERO);
        let senders: Vec<_> = (0..4u64)
            .map(|sender| {
                let router = s.router.clone();
                std::thread::spawn(move || {
                    for seq in 0..5_000u64 {
                        let target = (seq * 7 + sender) % 8;
                        let mut msg = (sender, seq);
                        // Back off while the mailbox is full; a full mailbox is not a loss.
                        loop {
                            match router.send(target, msg) {
                                Ok(()) => break,
                                Err(SendError::Full(m)) => {
                                    msg = m;
                                    std::thread::yield_now();
                                }
                                Err(e) => panic!("send failed: {e}"),
                            }
                        }
                        if seq % 64 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in senders {
            h.join().unwrap();
        }
        let total = || s.seen.iter().map(|log| log.lock().len()).sum::<usize>();
        wait_until("every message to be handled", || total() == 20_000);
        for (machine, log) in s.seen.iter().enumerate() {
            let log = log.lock();
            for sender in 0..4u64 {
                let seqs: Vec<u64> = log
                    .iter()
                    .filter(|(s, _, _)| *s == sender)
                    .map(|(_, q, _)| *q)
                    .collect();
                let want: Vec<u64> = (0..5_000u64)
                    .filter(|q| (q * 7 + sender) % 8 == machine as u64)
                    .collect();
                assert_eq!(
                    seqs, want,
                    "iteration {iteration}, machine {machine}, sender {sender}"
                );
            }
        }
        drop(s);
    }
}

/// Goal: a machine flooded with messages cannot starve another machine.
/// Method: one poller, batches of one machine, 16 messages per machine per round. Machine 0
/// gets 10,000 messages; machine 1 gets one message after the flood started. Machine 1 must be
/// handled long before machine 0's backlog is drained.
#[test]
fn a_hot_machine_does_not_starve_a_cold_one() {
    let cfg = Config {
        pool_size: 1,
        max_batch_size: 1,
        messages_per_tick: 16,
        mailbox_capacity: 100_000,
        ..Config::default()
    };
    let s = setup(cfg, 2, None, Duration::from_micros(50));
    for seq in 0..10_000 {
        s.router.send(0, (0, seq)).unwrap();
    }
    s.router.send(1, (1, 0)).unwrap();
    wait_until("the cold machine to run", || !s.seen[1].lock().is_empty());
    let hot_done = s.seen[0].lock().len();
    assert!(
        hot_done < 10_000 / 2,
        "the cold machine waited for {hot_done} of the hot machine's messages"
    );
    let hot_rounds_before_cold = s.handled[0].load(Ordering::SeqCst);
    assert!(
        hot_rounds_before_cold < 100,
        "cold machine waited {hot_rounds_before_cold} rounds"
    );
}

/// Goal: a full mailbox refuses ordinary sends with the message returned, while forced sends
/// (responses that must arrive) still go through.
#[test]
fn full_mailbox_refuses_try_send_but_not_force_send() {
    let cfg = Config {
        mailbox_capacity: 2,
        pool_size: 1,
        ..Config::default()
    };
    // A slow handler keeps the mailbox from draining while we fill it.
    let s = setup(cfg, 1, None, Duration::from_secs(2));
    s.router.send(0, (0, 0)).unwrap();
    // The handler records the message, then holds the machine for two seconds: the mailbox
    // fills meanwhile.
    wait_until("the machine to be running", || s.seen[0].lock().len() == 1);
    s.router.send(0, (0, 1)).unwrap();
    s.router.send(0, (0, 2)).unwrap();
    assert_eq!(s.router.send(0, (0, 3)), Err(SendError::Full((0, 3))));
    s.router.force_send(0, (0, 3)).unwrap();
    wait_until("every message to be handled", || {
        s.seen[0].lock().len() == 4
    });
    assert_eq!(s.router.send(9, (0, 0)), Err(SendError::NotFound((0, 0))));
}

/// Goal: a machine that stops is dropped, its mailbox closed, and later sends fail.
#[test]
fn stopped_machine_is_dropped_and_its_mailbox_closed() {
    let s = setup(Config::default(), 2, Some(1), Duration::ZERO);
    let mailbox = s.router.mailbox(0).unwrap();
    s.router.send(0, (0, 0)).unwrap();
    wait_until("the machine to be dropped", || {
        s.dropped.load(Ordering::SeqCst) == 1
    });
    assert!(mailbox.is_closed());
    assert_eq!(
        mailbox.try_send((0, 1)),
        Err(SendError::Disconnected((0, 1)))
    );
    // Closing through the router drops an idle machine at once.
    assert!(s.router.close(1));
    assert_eq!(s.dropped.load(Ordering::SeqCst), 2);
    assert!(!s.router.close(1));
}

/// Goal: shutdown joins every poller, drops every machine, and makes later sends fail; the
/// control machine gets its messages while running.
#[test]
fn shutdown_is_clean() {
    let mut s = setup(Config::default(), 100, None, Duration::ZERO);
    for id in 0..100 {
        s.router.send(id, (0, id)).unwrap();
    }
    s.router.send_control(5).unwrap();
    s.router.force_send_control(6).unwrap();
    wait_until("the control messages", || {
        s.control_seen.load(Ordering::SeqCst) == 2
    });
    s.system.shutdown();
    assert_eq!(s.dropped.load(Ordering::SeqCst), 100);
    assert!(matches!(
        s.router.send(1, (0, 0)),
        Err(SendError::NotFound(_))
    ));
    assert!(matches!(
        s.router.send_control(1),
        Err(SendError::Disconnected(1))
    ));
    let cfg_again = s.router.register(
        500,
        Box::new(Counter {
            id: 500,
            seen: Arc::default(),
            running: AtomicBool::new(false),
            handled: Arc::default(),
            stop_after: None,
            dropped: Arc::clone(&s.dropped),
        }),
    );
    assert!(cfg_again.is_err(), "registering after shutdown is refused");
    s.system.shutdown();
}

/// Goal: broadcasting reaches every machine once, and a duplicate id is refused.
#[test]
fn broadcast_reaches_every_machine() {
    let s = setup(Config::default(), 50, None, Duration::ZERO);
    s.router.broadcast_normal(|| (9, 9));
    wait_until("every machine to get the broadcast", || {
        s.seen.iter().all(|log| log.lock().len() == 1)
    });
    assert_eq!(s.router.len(), 50);
    let dup = s.router.register(
        3,
        Box::new(Counter {
            id: 3,
            seen: Arc::default(),
            running: AtomicBool::new(false),
            handled: Arc::default(),
            stop_after: None,
            dropped: Arc::clone(&s.dropped),
        }),
    );
    assert_eq!(
        dup.err(),
        Some(batch_system::Error::AlreadyRegistered { id: 3 })
    );
}
