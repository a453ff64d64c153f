//! Queue ids that print like sendmail's: time-ordered, unique per host. The year character is (year - 1900) mod 60, as in sendmail.
//!
//! Contract: [`QueueId::generate`] builds a 15-character id from the arrival
//! time (6 base-60 characters: year, month, day, hour, minute, second), a
//! per-process sequence (3 base-60 characters) and the process id (6
//! digits), so ids sort by arrival like sendmail's (`6AO0UDUx007581`).
//! [`QueueId::parse`] accepts only that alphabet, so a queue id is always a
//! safe file name.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 60] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx";

/// A queue id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(String);

impl QueueId {
    /// A new id for a message arriving at `now` in process `pid`, `seq`-th of this process.
    pub fn generate(now: SystemTime, pid: u32, seq: u64) -> QueueId {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (y, mo, d, h, mi, s) = civil(secs);
        let mut id = String::with_capacity(15);
        for v in [y.saturating_sub(1900) % 60, mo - 1, d, h, mi, s] {
            id.push(char::from(ALPHABET[(v % 60) as usize]));
        }
        let seq = seq % (60 * 60 * 60);
        for v in [seq / 3600, (seq / 60) % 60, seq % 60] {
            id.push(char::from(ALPHABET[v as usize]));
        }
        id.push_str(&format!("{:06}", pid % 1_000_000));
        QueueId(id)
    }

    /// Accept a string made only of the id alphabet (8 to 20 characters).
    pub fn parse(s: &str) -> Option<QueueId> {
        let ok = (8..=20).contains(&s.len()) && s.bytes().all(|b| ALPHABET.contains(&b));
        ok.then(|| QueueId(s.to_string()))
    }

    /// The id as text (also the file name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Seconds since the epoch → (year, month 1-12, day 1-31, hour, minute, second), UTC.
pub fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y.max(0) as u64,
        m as u64,
        d as u64,
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
    )
}

/// Day and month names for `secs` (UTC): (`"Tue"`, `"Nov"`).
pub fn day_month(secs: u64) -> (&'static str, &'static str) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, mo, ..) = civil(secs);
    let wd = DAYS
        .get(((secs / 86_400) % 7) as usize)
        .copied()
        .unwrap_or("Thu");
    let mon = MON
        .get((mo as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    (wd, mon)
}

/// `Tue, 24 Nov 2026 00:30:13 +0000` (RFC 5322, UTC).
pub fn rfc5322_date(secs: u64) -> String {
    let (y, _, d, h, mi, s) = civil(secs);
    let (wd, mon) = day_month(secs);
    format!("{wd}, {d} {mon} {y} {h:02}:{mi:02}:{s:02} +0000")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_sort_by_time_and_parse_back() {
        // 2026-11-24 00:30:13 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_480_213);
        assert_eq!(civil(1_795_480_213), (2026, 11, 24, 0, 30, 13));
        let a = QueueId::generate(t, 7581, 0);
        assert_eq!(&a.as_str()[..6], "6AO0UD");
        assert_eq!(a.as_str().len(), 15);
        let b = QueueId::generate(t + Duration::from_secs(1), 1, 0);
        assert!(a < b);
        assert_eq!(QueueId::parse(a.as_str()), Some(a));
        assert_eq!(QueueId::parse("../etc/passwd"), None);
        assert_eq!(QueueId::parse("short"), None);
    }
}
