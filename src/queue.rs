//! The queue manager: takes every spooled message to its recipients.
//!
//! Contract: the files are the truth. `queue/ID` holds the envelope and
//! content (never rewritten); `status/ID` is the append-only delivery
//! journal ([`crate::spool::status`]). [`runner::Queue::process`] does one
//! run of one message: route each pending recipient ([`plan`]), group
//! recipients of the same next hop and sender into batches, hand each batch
//! to the [`agents::Agents`] when the destination admits it
//! ([`schedule::Destinations`]), journal the outcomes, warn, expire,
//! bounce ([`crate::dsn`]) and remove finished messages.
//! [`schedule`] holds the pure timing decisions (`now` is a parameter).
//! [`runner::start`] runs it inside the daemon as tasks (src/daemon/queue.rs; on which threads: `runner`).
//!
//! Options (all in the `.mc`): `confMXGATE_QUEUE_INTERVAL` turns the queue
//! runner on in `mxgate daemon` (like sendmail's `-q15m`: the value is the
//! period of full rescans; unset or `0` = the daemon only accepts mail),
//! `confMXGATE_QUEUE_WORKERS` (40), `confMXGATE_DESTINATION_CONCURRENCY`
//! (20), `confMXGATE_QUEUE_MEMORY` (16 MiB), `confMIN_QUEUE_AGE`, `confMXGATE_MAX_RETRY_INTERVAL` (4h),
//! `confTO_QUEUEWARN` (4h), `confTO_QUEUERETURN` (5d),
//! `confDOUBLE_BOUNCE_ADDRESS` (postmaster), `SMTP_MAILER_MAXRCPTS` /
//! `LOCAL_MAILER_MAXRCPTS` (100), and for the local mailer
//! `confMXGATE_MAILDIR`, `confMXGATE_ALLOW_PROGRAMS`. See docs/queue.md.

pub mod agents;
pub mod plan;
pub mod remote;
pub mod runner;
pub mod schedule;

use std::sync::Arc;

/// This host's interface addresses (an MX pointing at one of them is us).
pub(crate) fn local_addresses() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(sa) = a.address else { continue };
            if let Some(v4) = sa.as_sockaddr_in() {
                out.push(std::net::IpAddr::V4(v4.ip()));
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                out.push(std::net::IpAddr::V6(v6.ip()));
            }
        }
    }
    out
}

/// What `sendmail -q` and `mailq -q...` select: all messages, or those
/// whose id, sender, a recipient or quarantine reason contains a string
/// (`-qI`, `-qS`, `-qR`, `-qQ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// `-q`: every queued message.
    All,
    /// `-qIsubstr`.
    Id(String),
    /// `-qSsubstr` (case-insensitive).
    Sender(String),
    /// `-qRsubstr` (case-insensitive).
    Recipient(String),
    /// `-qQ[substr]`: quarantined messages (whose reason contains substr).
    Reason(String),
    /// `-q!I...`, `-q!S...`, `-q!R...`, `-q!Q...`: the messages the inner
    /// selection does not take (sendmail 8.17's negated queue selection).
    Not(Box<Select>),
    /// Several `-q` of one letter: any of them (sendmail's list per letter).
    AnyOf(Vec<Select>),
    /// `-q` of different letters: all of them.
    AllOf(Vec<Select>),
}

/// How `sendmail -q...` runs the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStyle {
    /// `-q`, `-qR...`: one pass now, then exit.
    Once,
    /// `-qf`: one pass in the foreground, saying what it does (sendmail's
    /// `-qf` keeps the run in the foreground; with it mxgate prints each
    /// message as sendmail's `-v` does and copies the log lines to stderr).
    Foreground,
    /// `-q15m`: a periodic run every so many seconds (sendmail starts a
    /// queue-runner daemon; mxgate's daemon schedules retries itself).
    Interval(u64),
}

/// A parsed `-q...` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRun {
    /// Which messages.
    pub select: Select,
    /// How.
    pub style: RunStyle,
}

impl QueueRun {
    /// Parse `-q`, `-qf`, `-q15m` (bare numbers are minutes, as sendmail's
    /// `convtime(.., 'm')`), `-qI...`, `-qS...`, `-qR...`.
    pub fn parse(arg: &str) -> Result<QueueRun, String> {
        let rest = arg.strip_prefix("-q").unwrap_or(arg);
        let once = |select| {
            Ok(QueueRun {
                select,
                style: RunStyle::Once,
            })
        };
        match rest {
            "f" => Ok(QueueRun {
                select: Select::All,
                style: RunStyle::Foreground,
            }),
            r if r.starts_with(|c: char| c.is_ascii_digit()) => {
                match crate::config::parse_duration(r, crate::config::unit::MINUTES) {
                    Some(d) => Ok(QueueRun {
                        select: Select::All,
                        style: RunStyle::Interval(d.as_secs()),
                    }),
                    None => Err(format!("{arg}: expected an interval such as -q15m or -q1h")),
                }
            }
            _ => once(Select::parse(arg)?),
        }
    }

    /// The run several `-q...` arguments ask for together (`sendmail -qf
    /// -qRfoo -qSbar`): `-qf` runs in the foreground, an interval makes it
    /// periodic, the selections combine ([`Select::combine`]). A run over
    /// quarantined messages (`-qQ`) is refused: mxgate delivers a
    /// quarantined message only once it is released.
    pub fn parse_all(args: &[String]) -> Result<QueueRun, String> {
        let mut style = RunStyle::Once;
        let mut selecting = Vec::new();
        for a in args {
            if sets_style(a) {
                style = QueueRun::parse(a)?.style;
            } else {
                selecting.push(a.clone());
            }
        }
        let select = Select::combine(&selecting)?;
        if select.quarantined() {
            return Err(format!(
                "{}: mxgate does not run quarantined mail from the queue (sendmail would): list it with mailq -qQ, let a message go with `mxgate queue release --id ID` (it is then delivered at once), or remove it with `mxgate queue delete --id ID`",
                selecting.join(" ")
            ));
        }
        Ok(QueueRun { select, style })
    }
}

/// Does this `-q...` argument say how to run (`-qf`, an interval such
/// as `-q15m`) rather than what to select?
fn sets_style(arg: &str) -> bool {
    let rest = arg.strip_prefix("-q").unwrap_or(arg);
    rest == "f" || rest.starts_with(|c: char| c.is_ascii_digit())
}

impl Select {
    /// Parse a selecting `-q...` argument (`-q`, `-qI...`, `-qS...`,
    /// `-qR...`, `-qQ...`, each also with `!`).
    pub fn parse(arg: &str) -> Result<Select, String> {
        let rest = arg.strip_prefix("-q").unwrap_or(arg);
        if let Some(inner) = rest.strip_prefix('!') {
            return match inner.chars().next() {
                Some('I' | 'S' | 'R' | 'Q') => Ok(Select::Not(Box::new(Select::parse(inner)?))),
                _ => Err(format!(
                    "{arg}: expected -q!I..., -q!S..., -q!R... or -q!Q..."
                )),
            };
        }
        match rest.chars().next() {
            None => Ok(Select::All),
            Some('I') => Ok(Select::Id(rest[1..].to_string())),
            Some('S') => Ok(Select::Sender(rest[1..].to_ascii_lowercase())),
            Some('R') => Ok(Select::Recipient(rest[1..].to_ascii_lowercase())),
            Some('Q') => Ok(Select::Reason(rest[1..].to_string())),
            Some('L') => Err(format!(
                "{arg}: mxgate keeps no \"lost\" queue items (sendmail's Qf files): a queue file it cannot read is listed by mailq with its error"
            )),
            Some(_) => Err(format!(
                "{arg}: expected -q, -qf, -q15m, -qI..., -qS..., -qR... or -qQ..."
            )),
        }
    }

    /// The selection several `-q...` arguments make together, as sendmail
    /// combines them: arguments of one letter are alternatives (with or
    /// without `!`, each entry of the letter's list), different letters
    /// must all hold. `-q` alone, or none, selects everything.
    pub fn combine(args: &[String]) -> Result<Select, String> {
        let mut groups: Vec<(char, Vec<Select>)> = Vec::new();
        for arg in args {
            let s = Select::parse(arg)?;
            let Some(letter) = s.letter() else {
                continue;
            };
            match groups.iter_mut().find(|(l, _)| *l == letter) {
                Some((_, g)) => g.push(s),
                None => groups.push((letter, vec![s])),
            }
        }
        let mut all: Vec<Select> = groups
            .into_iter()
            .map(|(_, mut g)| match g.len() {
                1 => g.remove(0),
                _ => Select::AnyOf(g),
            })
            .collect();
        Ok(match all.len() {
            0 => Select::All,
            1 => all.remove(0),
            _ => Select::AllOf(all),
        })
    }

    /// [`Select::combine`] for a listing (`mailq -q...`): an interval or
    /// `-qf` selects nothing and is refused.
    pub fn combine_listing(args: &[String]) -> Result<Select, String> {
        if let Some(q) = args.iter().find(|q| sets_style(q)) {
            return Err(format!(
                "{q}: expected a selection: -qI, -qS, -qR or -qQ (substring after the letter; -q! negates)"
            ));
        }
        Select::combine(args)
    }

    /// The `-q` letter of a single selection (`None`: everything).
    fn letter(&self) -> Option<char> {
        match self {
            Select::All | Select::AnyOf(_) | Select::AllOf(_) => None,
            Select::Id(_) => Some('I'),
            Select::Sender(_) => Some('S'),
            Select::Recipient(_) => Some('R'),
            Select::Reason(_) => Some('Q'),
            Select::Not(inner) => inner.letter(),
        }
    }

    /// Does it ask for quarantined messages (`-qQ`), which sendmail lists
    /// and runs instead of the others?
    pub fn quarantined(&self) -> bool {
        match self {
            Select::Reason(_) => true,
            Select::Not(s) => s.quarantined(),
            Select::AnyOf(v) | Select::AllOf(v) => v.iter().any(Select::quarantined),
            _ => false,
        }
    }

    fn matches(&self, id: &crate::spool::QueueId, env: &crate::spool::Envelope) -> bool {
        let rcpts: Vec<String> = env
            .recipients
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        self.matches_parts(id.as_str(), &env.sender, &rcpts, env.fact("quarantine"))
    }

    /// [`Select::matches`] on a message's parts: its id, sender,
    /// recipients and quarantine reason.
    pub fn matches_parts(
        &self,
        id: &str,
        sender: &str,
        recipients: &[String],
        reason: Option<&str>,
    ) -> bool {
        match self {
            Select::All => true,
            Select::Not(inner) => !inner.matches_parts(id, sender, recipients, reason),
            Select::AnyOf(v) => v
                .iter()
                .any(|s| s.matches_parts(id, sender, recipients, reason)),
            Select::AllOf(v) => v
                .iter()
                .all(|s| s.matches_parts(id, sender, recipients, reason)),
            Select::Id(s) => id.contains(s.as_str()),
            Select::Sender(s) => sender.to_ascii_lowercase().contains(s.as_str()),
            Select::Recipient(s) => recipients
                .iter()
                .any(|r| r.to_ascii_lowercase().contains(s.as_str())),
            Select::Reason(s) => s.is_empty() || reason.is_some_and(|r| r.contains(s.as_str())),
        }
    }
}

/// A queue host outside the daemon (`sendmail -q`).
struct Standalone {
    site: Arc<crate::site::Site>,
    spool: crate::spool::Spool,
    log: crate::event::Log,
}

impl runner::Host for Standalone {
    fn site(&self) -> Arc<crate::site::Site> {
        self.site.clone()
    }
    fn spool(&self) -> &crate::spool::Spool {
        &self.spool
    }
    fn log(&self) -> &crate::event::Log {
        &self.log
    }
}

/// `sendmail -q`: one pass over the selected queued messages now, whatever
/// their next-attempt time (like sendmail's `-q`, which ignores the retry
/// schedule), then exit. Returns how many messages were tried.
pub fn run_once(
    site: Arc<crate::site::Site>,
    spool: crate::spool::Spool,
    log: crate::event::Log,
    dns: Option<crate::dns::Dns>,
    select: &Select,
    progress: &mut dyn FnMut(usize, usize, &crate::spool::QueueId, &std::path::Path),
) -> Result<usize, String> {
    let ids = spool
        .list(crate::spool::State::Queue)
        .map_err(|e| e.to_string())?;
    let host = Arc::new(Standalone {
        site: site.clone(),
        spool,
        log,
    });
    let remote = dns.map(|dns| {
        let getter = host.clone();
        let mut smtp = crate::deliver::smtp::SmtpAgent::new(dns);
        smtp.local_addrs = local_addresses();
        let logger = host.clone();
        smtp.log = Some(Arc::new(move |id, line| {
            runner::Host::log(&*logger).line(Some(id.as_str()), line)
        }));
        Arc::new(remote::NetworkAgents {
            site: Arc::new(move || runner::Host::site(&*getter)),
            smtp,
            lmtp: Default::default(),
        }) as Arc<dyn agents::Agents>
    });
    let getter = host.clone();
    let agents = agents::SiteAgents {
        site: Arc::new(move || runner::Host::site(&*getter)),
        remote,
    };
    let per_destination = site.settings.destination_concurrency;
    let queue = runner::Queue::new(host.clone(), Arc::new(agents), per_destination);
    let selected: Vec<crate::spool::QueueId> = ids
        .into_iter()
        .filter(|id| {
            host.spool
                .read(crate::spool::State::Queue, id)
                .is_ok_and(|(env, _)| select.matches(id, &env))
        })
        .collect();
    let root = host.spool.root().join(crate::spool::State::Queue.dir());
    for (n, id) in selected.iter().enumerate() {
        progress(n + 1, selected.len(), id, &root);
        if let Err(e) = queue.process_blocking(id, runner::unix_now()) {
            host.log
                .line(Some(id.as_str()), &format!("SYSERR: queue run: {e}"));
        }
    }
    Ok(selected.len())
}
