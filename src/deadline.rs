//! One timer for the many waits of one connection.
//!
//! Contract: [`Deadline::until`] runs a future and gives it up when an
//! instant passes, like racing it against `async_io::Timer::at`, but a
//! [`Deadline`] keeps one timer for every wait of its connection instead
//! of a new timer per wait.
//!
//! Why: `async-io` registers each new or moved timer with its reactor and
//! wakes the reactor's thread to do so (an eventfd write, and a task
//! switch on the thread that sleeps in `epoll_wait`). An SMTP session
//! waits for its peer several times per message, each time with a
//! deadline a little later than the last one, so a timer per wait cost a
//! reactor wake-up per command on both sides of a relay.
//!
//! How: the timer is armed lazily. A wait whose deadline is later than the
//! armed one leaves the timer alone; when the timer fires before the
//! waiting future's own deadline, it is armed again for that deadline and
//! the wait goes on. Only a deadline earlier than the armed one moves the
//! timer at once. So a connection whose waits are all of one length moves
//! its timer about once per timeout, and a wait that finishes on its first
//! poll never touches the reactor at all.
//!
//! A fired timer may wake the task that owns the [`Deadline`] while it
//! does something else: a spurious wake-up, which every future tolerates.

use async_io::Timer;
use futures_lite::future;
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

/// The timer one connection's waits share (see the module documentation).
#[derive(Debug)]
pub struct Deadline {
    timer: Timer,
    /// When the timer fires, if it is armed.
    armed: Option<Instant>,
}

impl Default for Deadline {
    fn default() -> Deadline {
        Deadline::new()
    }
}

impl Deadline {
    /// A deadline with no timer armed yet.
    pub fn new() -> Deadline {
        Deadline {
            timer: Timer::never(),
            armed: None,
        }
    }

    /// `work`'s output, or `None` when `until` passes first.
    pub async fn until<T>(&mut self, until: Instant, work: impl Future<Output = T>) -> Option<T> {
        let mut work = pin!(work);
        loop {
            if self.armed.is_none_or(|armed| armed > until) {
                self.timer.set_at(until);
                self.armed = Some(until);
            }
            let timer = &mut self.timer;
            let done = future::or(async { Some(work.as_mut().await) }, async {
                timer.await;
                None
            })
            .await;
            if done.is_some() {
                return done;
            }
            // The timer fired: at our deadline, or at an earlier wait's.
            self.armed = None;
            if Instant::now() >= until {
                return None;
            }
        }
    }

    /// `work`'s output, or `None` when `limit` passes first.
    pub async fn within<T>(&mut self, limit: Duration, work: impl Future<Output = T>) -> Option<T> {
        self.until(Instant::now() + limit, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_that_finishes_wins() {
        let mut d = Deadline::new();
        let got = smol::block_on(d.within(Duration::from_secs(60), async { 7 }));
        assert_eq!(got, Some(7));
    }

    #[test]
    fn a_deadline_that_passed_gives_up_the_work() {
        let mut d = Deadline::new();
        let got = smol::block_on(d.until(Instant::now(), future::pending::<()>()));
        assert_eq!(got, None);
    }

    #[test]
    fn an_earlier_wait_s_timer_does_not_end_a_later_wait() {
        // The first wait arms the timer for an instant that has passed; the
        // second wait, with a later deadline, keeps that timer, sees it fire
        // while its work is still pending, and must go on with its work.
        let mut d = Deadline::new();
        let passed = Instant::now();
        assert_eq!(smol::block_on(d.until(passed, async { 1 })), Some(1));
        let work = async {
            future::yield_now().await;
            2
        };
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(smol::block_on(d.until(later, work)), Some(2));
        assert_eq!(d.armed, Some(later));
    }

    #[test]
    fn an_earlier_deadline_moves_the_timer() {
        let mut d = Deadline::new();
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(smol::block_on(d.until(far, async { 1 })), Some(1));
        // Armed an hour away; this wait's deadline is now: it must end now.
        let got = smol::block_on(d.until(Instant::now(), future::pending::<()>()));
        assert_eq!(got, None);
    }
}
