//! Time stamps of log lines: syslog's `Mon DD HH:MM:SS` (no year) and
//! RFC 3339 (`2026-12-03T21:26:20.123456+00:00`, rsyslog's high-precision
//! format), as a naive local date and time.
//!
//! Contract: pure. A syslog stamp has no year; [`Stamp::with_year`] puts one
//! in from a reference date given by the caller: the reference's year, or
//! the year before when the stamp's month is later than the reference's
//! month (a December line read in January). Times are compared as written
//! (the log's local time); no time zone is applied, so `--since` and
//! `--until` are in the log's own clock.

/// A date and time as written in the log, with the year filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// Four-digit year.
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–60.
    pub second: u8,
}

/// A syslog stamp before its year is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–60.
    pub second: u8,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Weekday names, Monday first (ISO 8601 order).
pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Partial {
    /// Parse `Mon DD HH:MM:SS` (day space-padded or not) at the start of
    /// `s`; returns the stamp and the rest after one space.
    pub fn parse(s: &str) -> Option<(Partial, &str)> {
        let b = s.as_bytes();
        let mon = s.get(0..3)?;
        let month = MONTHS.iter().position(|m| *m == mon)? as u8 + 1;
        if b.get(3) != Some(&b' ') {
            return None;
        }
        let mut i = 4;
        if b.get(i) == Some(&b' ') {
            i += 1;
        }
        let dstart = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let day: u8 = s.get(dstart..i)?.parse().ok()?;
        if b.get(i) != Some(&b' ') {
            return None;
        }
        let (hour, minute, second) = hms(s.get(i + 1..i + 9)?)?;
        if !(1..=31).contains(&day) || b.get(i + 9) != Some(&b' ') {
            return None;
        }
        let rest = s.get(i + 10..)?;
        Some((
            Partial {
                month,
                day,
                hour,
                minute,
                second,
            },
            rest,
        ))
    }

    /// Put in the year: `reference`'s, or the one before when this month is
    /// later than `reference`'s month.
    pub fn with_year(self, reference: (u16, u8)) -> Stamp {
        let (ry, rm) = reference;
        let year = if self.month > rm {
            ry.saturating_sub(1)
        } else {
            ry
        };
        Stamp {
            year,
            month: self.month,
            day: self.day,
            hour: self.hour,
            minute: self.minute,
            second: self.second,
        }
    }
}

fn hms(s: &str) -> Option<(u8, u8, u8)> {
    let b = s.as_bytes();
    if s.len() != 8 || b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    let h: u8 = s.get(0..2)?.parse().ok()?;
    let m: u8 = s.get(3..5)?.parse().ok()?;
    let sec: u8 = s.get(6..8)?.parse().ok()?;
    (h < 24 && m < 60 && sec <= 60).then_some((h, m, sec))
}

impl Stamp {
    /// Parse an RFC 3339 stamp (`YYYY-MM-DDTHH:MM:SS[.frac][Z|±hh:mm]`)
    /// followed by one space; fraction and offset are dropped (local time).
    pub fn parse_rfc3339(s: &str) -> Option<(Stamp, &str)> {
        let sp = s.find(' ')?;
        let (word, rest) = (s.get(..sp)?, s.get(sp + 1..)?);
        let (date, time) = word.split_once('T')?;
        let (year, month, day) = ymd(date)?;
        let (hour, minute, second) = hms(time.get(0..8)?)?;
        Some((
            Stamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
            },
            rest,
        ))
    }

    /// Parse a `--since`/`--until` value: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`,
    /// `YYYY-MM-DDTHH:MM[:SS]`.
    pub fn parse_bound(s: &str) -> Option<Stamp> {
        let s = s.trim();
        let (date, time) = match s.split_once(['T', ' ']) {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let (year, month, day) = ymd(date)?;
        let (hour, minute, second) = match time {
            None => (0, 0, 0),
            Some(t) if t.len() == 5 => hms(&format!("{t}:00"))?,
            Some(t) => hms(t)?,
        };
        Some(Stamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's algorithm).
    pub fn days(&self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// 0 = Monday … 6 = Sunday.
    pub fn weekday(&self) -> usize {
        // 1970-01-01 was a Thursday (3).
        usize::try_from((self.days() + 3).rem_euclid(7)).unwrap_or(0)
    }

    /// Seconds since 1970-01-01 00:00:00 in the log's clock.
    pub fn seconds(&self) -> i64 {
        self.days() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn ymd(s: &str) -> Option<(u16, u8, u8)> {
    let mut it = s.splitn(3, '-');
    let y: u16 = it.next()?.parse().ok()?;
    let m: u8 = it.next()?.parse().ok()?;
    let d: u8 = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d) && y >= 1970).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_stamps_and_the_january_boundary() {
        let (p, rest) = Partial::parse("Dec  3 21:26:20 gw mxgate[1]: x").unwrap();
        assert_eq!(rest, "gw mxgate[1]: x");
        assert_eq!(p.with_year((2026, 12)).year, 2026);
        // Read on 2 January 2027: December is last year's, January this year's.
        assert_eq!(p.with_year((2027, 1)).year, 2026);
        let (j, _) = Partial::parse("Jan 1 00:00:01 gw x: y").unwrap();
        assert_eq!(j.with_year((2027, 1)).year, 2027);
        assert!(Partial::parse("Foo  3 21:26:20 gw").is_none());
        assert!(Partial::parse("Dec  3 25:26:20 gw").is_none());
        assert!(Partial::parse("Dec").is_none());
        assert!(Partial::parse("").is_none());
    }

    #[test]
    fn weekdays_and_rfc3339() {
        let (s, rest) = Stamp::parse_rfc3339("2026-12-03T21:26:20.123+01:00 gw x").unwrap();
        assert_eq!(rest, "gw x");
        assert_eq!((s.year, s.month, s.day, s.hour), (2026, 12, 3, 21));
        assert_eq!(WEEKDAYS[s.weekday()], "Thursday");
        assert_eq!(Stamp::parse_bound("1970-01-01").unwrap().seconds(), 0);
        assert_eq!(Stamp::parse_bound("2026-12-03 10:00").unwrap().hour, 10);
        assert!(Stamp::parse_bound("2026-13-03").is_none());
    }
}
