//! `sendmail -bh` / `hoststat` and `sendmail -bH` / `purgestat`: the
//! persistent host status the queue manager keeps
//! ([`crate::spool::hoststat`]).
//!
//! Contract: [`render`] is pure and prints sendmail 8.17's
//! `mci_print_persistent()` layout: a header line, then per host
//! `%c%-39s %12s ` (a space, the host, how long ago in `pintvl` brief form
//! `[D+]HH:MM:SS`) and the result cut to 25 characters (78 with `-v`):
//! the host's own reply, `Deferred: reason` (cut to 15/68) when it could
//! not be reached, or `OK`. No records: no output at all, as sendmail
//! (FreeBSD's periodic script tests `-z "$(hoststat)"`). [`run`] reads the
//! directory; `Purge` removes records not updated for `confTO_HOSTSTATUS`
//! (default 30m), as sendmail's `purgestat` does, and says how many.

use crate::spool::hoststat::{self, HostStatDir, HostState, HostStatus};
use std::io::Write;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `-bh`: print.
    Print,
    /// `-bH`: purge expired records.
    Purge,
}

/// The header line of `sendmail -bh`.
pub const HEADER: &str =
    " -------------- Hostname --------------- How long ago ---------Results---------";

/// sendmail's `pintvl(secs, brief)`: `HH:MM:SS`, with `D+` for days.
pub fn interval(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let hms = format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if days > 0 {
        format!("{days}+{hms}")
    } else {
        hms
    }
}

fn cut(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// The listing (pure). `width` is 25, or 78 with `-v`.
pub fn render(records: &[HostStatus], now: u64, width: usize) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut out = format!("{HEADER}\n");
    for st in records {
        out += &format!(
            " {:<39} {:>12} ",
            st.host,
            interval(now.saturating_sub(st.last))
        );
        out += &match &st.state {
            HostState::Reply(r) => cut(r, width),
            HostState::Unreachable(r) => format!("Deferred: {}", cut(r, width.saturating_sub(10))),
            HostState::Up => "OK".to_string(),
        };
        out.push('\n');
    }
    out
}

/// Run `-bh` / `-bH` for a site. Returns the exit status.
pub fn run(
    site: &crate::site::Site,
    action: Action,
    verbosity: crate::cli::submit::Verbosity,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let qdir = crate::daemon::queue_dir(site);
    let dir = HostStatDir::new(hoststat::directory(&qdir, &site.settings.host_status_dir));
    let now = crate::queue::runner::unix_now();
    let verbose = verbosity == crate::cli::submit::Verbosity::Verbose;
    match action {
        Action::Print => match dir.load() {
            Ok(list) => {
                let mut records = Vec::new();
                for r in list {
                    match r {
                        Ok(st) => records.push(st),
                        Err(e) => {
                            let _ = writeln!(err, "hoststat: {e}: could not read status file");
                        }
                    }
                }
                let width = if verbose { 78 } else { 25 };
                let _ = out.write_all(render(&records, now, width).as_bytes());
                0
            }
            Err(e) => {
                let _ = writeln!(err, "hoststat: {e}");
                permission_status(&e)
            }
        },
        Action::Purge => {
            let max_age = site.settings.host_status_timeout.as_secs();
            match dir.purge(now, max_age) {
                Ok(n) => {
                    if verbose {
                        let _ = writeln!(
                            out,
                            "purged {n} host status record(s) older than {} from {}",
                            interval(max_age),
                            dir.path().display()
                        );
                    }
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "purgestat: {e}");
                    permission_status(&e)
                }
            }
        }
    }
}

/// 77 (EX_NOPERM) when the spool is not ours to read, else 74.
fn permission_status(e: &crate::spool::Error) -> i32 {
    match e {
        crate::spool::Error::Io { err, .. }
            if err.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            77
        }
        _ => 74,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendmail_layout() {
        assert_eq!(interval(0), "00:00:00");
        assert_eq!(interval(3 * 60 + 12), "00:03:12");
        assert_eq!(interval(2 * 86_400 + 3600), "2+01:00:00");
        let now = 10_000;
        let recs = vec![
            HostStatus {
                host: "[192.0.2.7]".into(),
                last: now - 75,
                until: now + 60,
                fails: 2,
                state: HostState::Reply("421 4.3.2 Service not available, closing".into()),
            },
            HostStatus {
                host: "mx.example.com".into(),
                last: now - 5,
                until: now + 55,
                fails: 1,
                state: HostState::Unreachable("Connection refused by mx.example.com.".into()),
            },
            HostStatus {
                host: "up.example.net".into(),
                last: now,
                until: 0,
                fails: 0,
                state: HostState::Up,
            },
        ];
        assert_eq!(
            render(&recs, now, 25),
            format!(
                "{HEADER}\n \
                 [192.0.2.7]                                 00:01:15 421 4.3.2 Service not ava\n \
                 mx.example.com                              00:00:05 Deferred: Connection refu\n \
                 up.example.net                              00:00:00 OK\n"
            )
        );
        assert!(
            render(&recs, now, 78).contains("Deferred: Connection refused by mx.example.com.\n")
        );
        assert_eq!(render(&[], now, 25), "");
    }
}
