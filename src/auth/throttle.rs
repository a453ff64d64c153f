//! Failed AUTH attempts per client address, and the delay they earn.
//!
//! Contract: [`Throttle::failed`] counts a failure of `ip` at `now` and
//! returns how long to wait before answering it `535` — nothing for the
//! first [`FREE_FAILURES`], then 1 s, 2 s, 4 s … up to [`MAX_DELAY`] — and
//! whether this is the count at which sendmail's `possible SMTP attack:
//! command=AUTH, count=N` line is due. The count is per address over all
//! its sessions (an attacker gains nothing by reconnecting), is forgotten
//! after [`FORGET_AFTER`] without failures, and at most [`MAX_CLIENTS`]
//! addresses are kept (the oldest go first). A success forgets the count
//! only while it is within the free failures: once the delays have begun,
//! a login with a valid account of one's own (or one of another user of
//! the same address or /84) would otherwise wipe them between guesses.
//! Postfix's anvil likewise never resets a client's count at a success.
//! Sans-IO: the caller passes `now` and does the waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures answered without delay (a user who mistypes once or twice).
pub const FREE_FAILURES: u32 = 2;
/// The longest wait before a `535`.
pub const MAX_DELAY: Duration = Duration::from_secs(16);
/// A count with no new failure for this long starts again at zero.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses remembered at most.
pub const MAX_CLIENTS: usize = 10_000;

/// What one failure earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    /// Failures of this address so far, this one included.
    pub count: u32,
    /// Wait this long before replying.
    pub delay: Duration,
    /// Log `possible SMTP attack: command=AUTH, count=N` now (once, when
    /// the delays begin, as sendmail logs when a command's count reaches
    /// its limit).
    pub log_attack: bool,
}

/// The failure counts.
#[derive(Debug, Default)]
pub struct Throttle {
    clients: HashMap<IpAddr, (u32, Instant)>,
}

impl Throttle {
    /// Count a failed AUTH of `ip` at `now`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> Penalty {
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&ip) {
            self.clients
                .retain(|_, (_, last)| now.saturating_duration_since(*last) < FORGET_AFTER);
            if self.clients.len() >= MAX_CLIENTS
                && let Some(oldest) = self
                    .clients
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(ip, _)| *ip)
            {
                self.clients.remove(&oldest);
            }
        }
        let entry = self.clients.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let count = entry.0;
        let delay = match count.checked_sub(FREE_FAILURES + 1) {
            None => Duration::ZERO,
            Some(n) => Duration::from_secs(1u64 << n.min(16)).min(MAX_DELAY),
        };
        Penalty {
            count,
            delay,
            log_attack: count == FREE_FAILURES + 1,
        }
    }

    /// `ip` authenticated: its count starts again, unless the delays
    /// have begun (see the module doc).
    pub fn succeeded(&mut self, ip: IpAddr) {
        if self
            .clients
            .get(&ip)
            .is_some_and(|(count, _)| *count <= FREE_FAILURES)
        {
            self.clients.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_are_forgotten() {
        let mut t = Throttle::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        let delays: Vec<(u64, bool)> = (0..9)
            .map(|_| {
                let p = t.failed(ip, t0);
                (p.delay.as_secs(), p.log_attack)
            })
            .collect();
        assert_eq!(
            delays,
            vec![
                (0, false),
                (0, false),
                (1, true),
                (2, false),
                (4, false),
                (8, false),
                (16, false),
                (16, false),
                (16, false)
            ]
        );
        // Another address has its own count.
        assert_eq!(t.failed(other, t0).count, 1);
        // Ten quiet minutes: forgotten.
        assert_eq!(t.failed(ip, t0 + FORGET_AFTER).count, 1);
        // A success within the free failures: forgotten.
        t.failed(other, t0);
        t.succeeded(other);
        assert_eq!(t.failed(other, t0).count, 1);
    }

    #[test]
    fn a_success_does_not_wipe_delays_that_have_begun() {
        let mut t = Throttle::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..4 {
            t.failed(ip, t0);
        }
        // Guesses, then a login with an account of the attacker's own.
        t.succeeded(ip);
        let p = t.failed(ip, t0);
        assert_eq!((p.count, p.delay), (5, Duration::from_secs(4)));
        // Only time forgets it.
        assert_eq!(
            t.failed(ip, t0 + FORGET_AFTER + Duration::from_secs(1))
                .count,
            1
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 5) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed(ip, t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(t.clients.len() <= MAX_CLIENTS);
    }
}
