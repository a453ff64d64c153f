//! The executor the daemon's tasks share.
//!
//! Contract: [`spawn`] runs a future on one process-wide executor served by
//! one thread per core (at least two, at most eight; [`threads`]), started
//! on the first spawn. The SMTP listeners and sessions, the submission
//! socket, the metrics listener and the queue's delivery workers all run
//! there, so a message accepted by a session and handed to a delivery
//! worker stays on the threads already awake, and no core sits with a
//! thread of one kind asleep while the other kind queues up.
//!
//! What must not run here: work that blocks for longer than a file-system
//! call on a local disk. Commits (`fdatasync`), the local mailer and
//! programs go to the blocking pool (`blocking::unblock`).
//!
//! A task that panics ends with its panic, which reaches whoever awaits
//! it; the executor's threads go on (should a panic ever escape `run`, its
//! thread starts running again at once, as smol's global executor does).

use smol::{Executor, Task};
use std::future::Future;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

static SHARED: Executor<'static> = Executor::new();
static STARTED: Once = Once::new();
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Run `future` on the shared executor.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    STARTED.call_once(start);
    if RUNNING.load(Ordering::SeqCst) == 0 {
        // Not one thread could be started: smol's own executor still runs it.
        return smol::spawn(future);
    }
    SHARED.spawn(future)
}

/// The threads that run the shared executor: one per core, at least two
/// (a thread inside a file-system call leaves another running), at most
/// eight.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
}

fn start() {
    for n in 0..threads() {
        let spawned = std::thread::Builder::new()
            .name(format!("mxgate-{n}"))
            .spawn(|| {
                loop {
                    let run = || smol::block_on(SHARED.run(std::future::pending::<()>()));
                    let _ = std::panic::catch_unwind(run);
                }
            });
        if spawned.is_ok() {
            RUNNING.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_task_runs_and_returns_its_value() {
        let t = spawn(async { std::thread::current().name().map(str::to_string) });
        let name = smol::block_on(t).unwrap_or_default();
        assert!(name.starts_with("mxgate-"), "ran on {name:?}");
    }

    #[test]
    fn a_panicking_task_leaves_the_executor_running() {
        // Detached: it runs, panics, and nobody awaits it.
        spawn(async { panic!("deliberate") }).detach();
        for i in 0..(threads() * 2) {
            assert_eq!(smol::block_on(spawn(async move { i })), i);
        }
    }
}
