//! When to try a message, warn about it, give up on it; when a destination
//! may be tried again. Pure functions of a clock value passed in.
//!
//! Contract: times are seconds since the epoch (`now` is always an
//! argument; nothing here reads the clock). [`Timing::retry_delay`] is the
//! backoff after the n-th unsuccessful run: `max(confMIN_QUEUE_AGE, 5m)`
//! doubled per attempt, capped by `confMXGATE_MAX_RETRY_INTERVAL` (default
//! 4h), and never past the return deadline (so expiry is noticed on time).
//! [`Timing::warn_due`] is true once, after `confTO_QUEUEWARN` (default 4h),
//! if no warning was sent; [`Timing::expired`] after `confTO_QUEUERETURN`
//! (default 5d). [`Destinations`] is the per-destination state: how many
//! transactions are open to each remote next hop (at most
//! `confMXGATE_DESTINATION_CONCURRENCY`, default 2; local mailers are
//! limited only by the queue's workers) and which hosts are
//! backed off after a whole-host deferral (connection refused, 421:
//! 1 minute doubling to 1 hour; any success clears it).

use crate::deliver::NextHop;
use event_listener::Event;
use std::collections::HashMap;
use std::sync::Arc;

/// The queue's time settings (read with the other settings).
pub use crate::settings::Timing;

/// The smallest first retry delay.
pub const MIN_RETRY: u64 = 300;

impl Timing {
    /// Delay before the next try after `attempts` unsuccessful runs (≥ 1).
    pub fn retry_delay(&self, attempts: u32) -> u64 {
        let base = self.min_queue_age.max(MIN_RETRY);
        let shift = attempts.saturating_sub(1).min(20);
        base.saturating_mul(1u64 << shift)
            .min(self.max_retry.max(base))
    }

    /// The next attempt time after a run that ended at `now` (the
    /// `attempts`-th run), not later than the return deadline.
    pub fn next_attempt(&self, arrival: u64, attempts: u32, now: u64) -> u64 {
        let next = now.saturating_add(self.retry_delay(attempts));
        let deadline = arrival.saturating_add(self.return_after);
        if now < deadline {
            next.min(deadline)
        } else {
            next
        }
    }

    /// Is a message with this next-attempt time due?
    pub fn due(&self, next_attempt: u64, now: u64) -> bool {
        next_attempt <= now
    }

    /// Should the delay warning be sent now?
    pub fn warn_due(&self, arrival: u64, warned: Option<u64>, now: u64) -> bool {
        warned.is_none() && self.warn_after > 0 && now >= arrival.saturating_add(self.warn_after)
    }

    /// Has the message been queued too long?
    pub fn expired(&self, arrival: u64, now: u64) -> bool {
        now >= arrival.saturating_add(self.return_after)
    }
}

/// Whether a batch may be sent to its next hop now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead (a slot is taken; call [`Destinations::release`]).
    Go,
    /// All slots to this hop are in use: try the batch on a later run.
    Busy,
    /// The host is backed off until this time.
    BackedOff(u64),
}

/// How a batch went, for the destination's backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostResult {
    /// At least one recipient was accepted or refused by the host: it is up.
    Answered,
    /// Every recipient deferred for a host-level reason (no connection, 421).
    HostDeferred,
}

/// Backoff for a host after `fails` consecutive whole-host deferrals.
pub fn host_backoff(fails: u32) -> u64 {
    (60u64 << fails.saturating_sub(1).min(6)).min(3600)
}

/// Per-destination concurrency and backoff (see the module doc).
#[derive(Debug, Default)]
pub struct Destinations {
    /// Open transactions per next hop.
    busy: HashMap<NextHop, usize>,
    /// Backed-off hosts: until, consecutive failures.
    backoff: HashMap<String, (u64, u32)>,
    /// Slots per next hop.
    pub limit: usize,
    /// Deliveries waiting for a slot of a busy next hop, and the event a
    /// released slot notifies (see [`Destinations::wait`]).
    waiting: HashMap<NextHop, (usize, Arc<Event>)>,
}

impl Destinations {
    /// With at most `limit` concurrent transactions per next hop.
    pub fn new(limit: usize) -> Destinations {
        Destinations {
            limit: limit.max(1),
            ..Default::default()
        }
    }

    /// May a batch go to `hop` now? Local hops (no host) are never backed off.
    pub fn admit(&mut self, hop: &NextHop, now: u64) -> Admit {
        if let Some(h) = &hop.host
            && let Some(&(until, _)) = self.backoff.get(h)
            && now < until
        {
            return Admit::BackedOff(until);
        }
        let n = self.busy.entry(hop.clone()).or_insert(0);
        // Local mailers have no remote end to protect: only the workers limit them.
        if *n >= self.limit && hop.host.is_some() {
            return Admit::Busy;
        }
        *n += 1;
        Admit::Go
    }

    /// Wait for a slot of the busy `hop`: the event that the next
    /// [`Destinations::release`] of it notifies (listen before unlocking),
    /// or `None` when `max` deliveries wait for it already. Every `Some`
    /// is paired with one [`Destinations::unwait`].
    pub fn wait(&mut self, hop: &NextHop, max: usize) -> Option<Arc<Event>> {
        let (n, event) = self
            .waiting
            .entry(hop.clone())
            .or_insert_with(|| (0, Arc::new(Event::new())));
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(event.clone())
    }

    /// One delivery stopped waiting for a slot of `hop`.
    pub fn unwait(&mut self, hop: &NextHop) {
        if let Some((n, _)) = self.waiting.get_mut(hop) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.waiting.remove(hop);
            }
        }
    }

    /// Deliveries waiting for a slot of `hop`.
    pub fn waiters(&self, hop: &NextHop) -> usize {
        self.waiting.get(hop).map_or(0, |(n, _)| *n)
    }

    /// Give back the slot taken by [`Destinations::admit`], recording how it
    /// went; one delivery waiting for a slot of `hop` is woken.
    pub fn release(&mut self, hop: &NextHop, result: HostResult, now: u64) {
        if let Some(n) = self.busy.get_mut(hop) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.busy.remove(hop);
            }
        }
        if let Some((_, event)) = self.waiting.get(hop) {
            event.notify(1);
        }
        let Some(h) = &hop.host else { return };
        match result {
            HostResult::Answered => {
                self.backoff.remove(h);
            }
            HostResult::HostDeferred => {
                let fails = self.backoff.get(h).map_or(0, |&(_, f)| f) + 1;
                self.backoff
                    .insert(h.clone(), (now.saturating_add(host_backoff(fails)), fails));
            }
        }
    }

    /// A host's backoff: until, consecutive failures (`None`: not backed off).
    pub fn backoff_of(&self, host: &str) -> Option<(u64, u32)> {
        self.backoff.get(host).copied()
    }

    /// Take up a backoff recorded before a restart (persistent host status).
    pub fn restore(&mut self, host: &str, until: u64, fails: u32) {
        self.backoff.insert(host.to_string(), (until, fails));
    }

    /// Forget every host backoff (an operator flush).
    pub fn forget_backoff(&mut self) {
        self.backoff.clear();
    }

    /// Transactions open to `hop`.
    pub fn open(&self, hop: &NextHop) -> usize {
        self.busy.get(hop).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let t = Timing::default();
        assert_eq!(t.retry_delay(1), 300);
        assert_eq!(t.retry_delay(2), 600);
        assert_eq!(t.retry_delay(3), 1200);
        assert_eq!(t.retry_delay(10), 4 * 3600);
        assert_eq!(t.retry_delay(1000), 4 * 3600);
        let t = Timing {
            min_queue_age: 1800,
            ..Timing::default()
        };
        assert_eq!(t.retry_delay(1), 1800, "confMIN_QUEUE_AGE is the floor");
    }

    #[test]
    fn next_attempt_never_passes_the_return_deadline() {
        let t = Timing::default();
        assert_eq!(t.next_attempt(T0, 1, T0 + 10), T0 + 310);
        let late = T0 + 5 * 86_400 - 100;
        assert_eq!(t.next_attempt(T0, 30, late), T0 + 5 * 86_400);
        assert!(t.due(T0, T0));
        assert!(!t.due(T0 + 1, T0));
    }

    #[test]
    fn warn_once_after_queuewarn_and_return_after_queuereturn() {
        let t = Timing::default();
        assert!(!t.warn_due(T0, None, T0 + 4 * 3600 - 1));
        assert!(t.warn_due(T0, None, T0 + 4 * 3600));
        assert!(
            !t.warn_due(T0, Some(T0 + 4 * 3600), T0 + 5 * 3600),
            "only once"
        );
        assert!(!t.expired(T0, T0 + 5 * 86_400 - 1));
        assert!(t.expired(T0, T0 + 5 * 86_400));
        let t = Timing {
            warn_after: 0,
            ..Timing::default()
        };
        assert!(!t.warn_due(T0, None, T0 + 86_400), "0 disables warnings");
    }

    fn hop(h: &str) -> NextHop {
        NextHop {
            mailer: "esmtp".into(),
            host: Some(h.into()),
        }
    }

    #[test]
    fn an_operator_flush_forgets_backed_off_hosts() {
        let mut d = Destinations::new(2);
        let down = hop("down.example");
        assert_eq!(d.admit(&down, T0), Admit::Go);
        d.release(&down, HostResult::HostDeferred, T0);
        assert_eq!(d.admit(&down, T0 + 1), Admit::BackedOff(T0 + 60));
        d.forget_backoff();
        assert_eq!(d.admit(&down, T0 + 1), Admit::Go);
    }

    #[test]
    fn a_busy_or_refusing_destination_does_not_block_others() {
        let mut d = Destinations::new(2);
        let slow = hop("slow.example");
        let other = hop("other.example");
        assert_eq!(d.admit(&slow, T0), Admit::Go);
        assert_eq!(d.admit(&slow, T0), Admit::Go);
        assert_eq!(d.admit(&slow, T0), Admit::Busy);
        assert_eq!(d.admit(&other, T0), Admit::Go, "others still go");
        // The slow host refuses: backed off for a minute, then two.
        d.release(&slow, HostResult::HostDeferred, T0);
        assert_eq!(d.admit(&slow, T0 + 1), Admit::BackedOff(T0 + 60));
        assert_eq!(d.admit(&other, T0 + 1), Admit::Go);
        d.release(&slow, HostResult::HostDeferred, T0 + 2);
        assert_eq!(d.admit(&slow, T0 + 3), Admit::BackedOff(T0 + 2 + 120));
        assert_eq!(d.admit(&slow, T0 + 200), Admit::Go);
        d.release(&slow, HostResult::Answered, T0 + 201);
        assert_eq!(d.admit(&slow, T0 + 202), Admit::Go, "success clears it");
        assert_eq!(d.open(&slow), 1);
        assert_eq!(host_backoff(20), 3600);
        // Local delivery has no host to back off.
        let local = NextHop {
            mailer: "local".into(),
            host: None,
        };
        d.release(&local, HostResult::HostDeferred, T0);
        assert_eq!(d.admit(&local, T0), Admit::Go);
    }

    #[test]
    fn a_busy_hop_takes_waiters_up_to_a_limit_and_a_release_wakes_one() {
        let mut d = Destinations::new(1);
        let (a, b) = (hop("a.example"), hop("b.example"));
        assert_eq!(d.admit(&a, T0), Admit::Go);
        assert_eq!(d.admit(&a, T0), Admit::Busy);
        let first = d.wait(&a, 2).expect("room for a waiter");
        let mut woken = first.listen();
        let _second = d.wait(&a, 2).expect("room for a second");
        assert!(d.wait(&a, 2).is_none(), "two wait already");
        assert_eq!(d.waiters(&a), 2);
        // Another hop's release wakes nobody waiting for this one.
        assert_eq!(d.admit(&b, T0), Admit::Go);
        d.release(&b, HostResult::Answered, T0);
        assert!(
            futures_lite::future::block_on(futures_lite::future::poll_once(&mut woken)).is_none()
        );
        d.release(&a, HostResult::Answered, T0);
        assert!(
            futures_lite::future::block_on(futures_lite::future::poll_once(&mut woken)).is_some()
        );
        assert_eq!(d.admit(&a, T0), Admit::Go, "the freed slot");
        d.unwait(&a);
        d.unwait(&a);
        assert_eq!(d.waiters(&a), 0);
        assert!(d.wait(&a, 2).is_some(), "counted afresh");
    }
}
