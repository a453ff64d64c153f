//! From a queued message to the batches of one delivery run.
//!
//! Contract: [`leaves`] routes every recipient that is not final in the
//! journal through [`crate::route::resolve`]; a routing error settles the
//! recipient at once (`5xx` failed, `4xx` deferred, a table error deferred
//! `4.3.0`). A recipient routed to the `local` mailer is expanded with
//! [`crate::alias::expand`] at delivery time; when the expansion is more
//! than the user itself, it is recorded in the journal (`expand KEY ...`)
//! *before* any child is delivered, and later runs use the recorded
//! children (`KEY.0`, `KEY.1`, ...) instead of expanding again — so an
//! edited list cannot duplicate or lose recipients of a message in flight.
//! Children of a list with an `owner-LIST` alias are sent with the envelope
//! sender `owner-LIST@$j`, and their failures are reported there. Child
//! addresses that route locally are delivered to the mailbox as they are
//! (alias expansion already recursed). `|program` and `/file` children go
//! to the `prog` and `*file*` mailers (the local mailer decides whether
//! they are allowed). [`batches`] groups deliverable leaves by (next hop,
//! envelope sender), in recipient order, at most [`max_rcpts`] per batch.
//!
//! A message with the `filter` fact (the after-queue content filter,
//! docs/content.md) is not routed at all: every recipient not yet final,
//! as received, goes to the filter's next hop, and the runner sends them in
//! one transaction ([`Plan::filter`]).

use crate::addr::Address;
use crate::alias::{self, Target};
use crate::deliver::{EnhancedStatus, Reply, Said};
use crate::deliver::{NextHop, Outcome};
use crate::proto::command::Notify;
use crate::route::{self, Resolution};
use crate::site::Site;
use crate::spool::Envelope;
use crate::spool::envelope::Forward;
use crate::spool::status::{Entry, Expansion, Journal};
use mxgate_m4::content_filter::ContentFilter;

/// Default recipients per transaction.
pub const DEFAULT_MAX_RCPTS: usize = 100;

/// What to do with one leaf recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Deliver to this next hop as this address.
    Deliver {
        /// The next hop.
        hop: NextHop,
        /// The address given to the agent.
        address: String,
    },
    /// Already decided without delivery (routing error).
    Settled {
        /// The mailer name for the log (`error` for routing errors).
        mailer: String,
        /// The outcome.
        outcome: Outcome,
    },
}

/// One recipient to deliver (an envelope recipient, or an alias child).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The journal key (`2`, or `2.0` for a child).
    pub key: String,
    /// The address as the sender wrote it (or the alias target), for logs and DSNs.
    pub display: String,
    /// Envelope sender for this recipient, without brackets (`""` = `<>`).
    pub sender: String,
    /// DSN NOTIFY (inherited by children).
    pub notify: Option<Notify>,
    /// DSN ORCPT (inherited by children).
    pub orcpt: Option<String>,
    /// What to do.
    pub action: Action,
}

/// The leaves of a run, and the journal entries to write before delivering.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Recipients that are not final.
    pub leaves: Vec<Leaf>,
    /// New `expand` entries (write and fsync before delivery).
    pub entries: Vec<Entry>,
    /// The content filter the message goes to (its `filter` fact, as
    /// `smtp:[127.0.0.1]:10024`): one transaction, the message as received.
    pub filter: Option<String>,
}

/// The sender of a message without angle brackets.
pub fn bare(sender: &str) -> String {
    sender
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn settled(mailer: &str, outcome: Outcome) -> Action {
    Action::Settled {
        mailer: mailer.into(),
        outcome,
    }
}

fn error_action(e: &route::ErrorReply) -> Action {
    let status = e.status_or_class();
    let reply = Said::Reply(e.with_status(status));
    settled(
        "error",
        if e.is_transient() {
            Outcome::Deferred {
                status,
                reply,
                relay: None,
            }
        } else {
            Outcome::Failed {
                status,
                reply,
                relay: None,
            }
        },
    )
}

/// A temporary failure of ours, as the error mailer's `451` reply.
fn temp(status: EnhancedStatus, text: String) -> Action {
    settled(
        "error",
        Outcome::Deferred {
            status,
            reply: Said::Reply(Reply::new(451, status, text)),
            relay: None,
        },
    )
}

fn local_hop() -> NextHop {
    NextHop {
        mailer: "local".into(),
        host: None,
    }
}

/// A local name an alias expanded to: ruleset 5 (`$=L`, LUSER_RELAY,
/// MAIL_HUB, LOCAL_RELAY) decides, as in sendmail 8.17.
fn local_target(site: &Site, user: &str) -> Action {
    match route::localaddr(site, user) {
        Err(e) => temp(
            EnhancedStatus::new(4, 3, 0),
            format!("Temporary lookup failure: {e}"),
        ),
        Ok((Resolution::Error(e), _)) => error_action(&e),
        Ok((Resolution::Deliver(r), _)) if r.mailer == "local" && r.host.is_none() => {
            Action::Deliver {
                hop: local_hop(),
                address: r.user,
            }
        }
        Ok((Resolution::Deliver(r), _)) => Action::Deliver {
            hop: NextHop {
                mailer: r.mailer,
                host: r.host,
            },
            address: r.user,
        },
    }
}

/// Route one envelope recipient (no alias expansion).
fn route_forward(site: &Site, address: &Forward) -> Action {
    match address {
        Forward::Mailbox(m) => route_parsed(site, &Address::Mailbox(m.clone())),
        Forward::Unparsed(text) => route_address(site, text),
    }
}

/// Route one address written as text (no alias expansion).
fn route_address(site: &Site, address: &str) -> Action {
    let parsed = match Address::parse(address) {
        Ok(a) => a,
        Err(e) => {
            return settled(
                "error",
                Outcome::Failed {
                    status: EnhancedStatus::new(5, 1, 3),
                    reply: Said::Reply(Reply::new(
                        553,
                        EnhancedStatus::new(5, 1, 3),
                        format!("{address}... {e}"),
                    )),
                    relay: None,
                },
            );
        }
    };
    route_parsed(site, &parsed)
}

fn route_parsed(site: &Site, parsed: &Address) -> Action {
    match route::resolve(site, parsed) {
        Err(e) => temp(
            EnhancedStatus::new(4, 3, 0),
            format!("Temporary lookup failure: {e}"),
        ),
        Ok((Resolution::Error(e), _)) => error_action(&e),
        Ok((Resolution::Deliver(r), _)) => Action::Deliver {
            hop: NextHop {
                mailer: r.mailer,
                host: r.host,
            },
            address: r.user,
        },
    }
}

/// Encode an alias target for the journal.
pub fn encode_target(t: &Target) -> String {
    match t {
        Target::Local(u) => format!("l:{u}"),
        Target::Address(a) => format!("a:{a}"),
        Target::Program(p) => format!("p:{p}"),
        Target::File(f) => format!("f:{f}"),
        Target::Refused {
            status,
            origin,
            reason,
        } => format!("x:{status}\t{origin}\t{reason}"),
    }
}

fn child_action(site: &Site, target: &str) -> (String, Action) {
    let (kind, rest) = target.split_once(':').unwrap_or(("a", target));
    match kind {
        "l" => (rest.to_string(), local_target(site, rest)),
        "p" => (
            format!("|{rest}"),
            Action::Deliver {
                hop: NextHop {
                    mailer: "prog".into(),
                    host: None,
                },
                address: rest.to_string(),
            },
        ),
        "f" => (
            rest.to_string(),
            Action::Deliver {
                hop: NextHop {
                    mailer: "*file*".into(),
                    host: None,
                },
                address: rest.to_string(),
            },
        ),
        "x" => {
            let mut f = rest.splitn(3, '\t');
            let (status, origin, reason) = (
                f.next()
                    .and_then(EnhancedStatus::parse)
                    .unwrap_or(EnhancedStatus::new(5, 1, 3)),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            (
                format!(":include: {origin}"),
                settled(
                    "local",
                    Outcome::Failed {
                        status,
                        reply: Said::Reply(Reply::new(550, status, format!("{origin}: {reason}"))),
                        relay: None,
                    },
                ),
            )
        }
        _ => (rest.to_string(), route_address(site, rest)),
    }
}

/// The leaves of `env` that are not final in `journal` (see the module doc).
pub fn leaves(site: &Site, env: &Envelope, journal: &Journal) -> Plan {
    if let Some(filter) = env.fact("filter").filter(|f| !f.trim().is_empty()) {
        return filter_leaves(env, journal, filter);
    }
    let mut plan = Plan::default();
    let sender = bare(&env.sender);
    for (i, r) in env.recipients.iter().enumerate() {
        let key = i.to_string();
        let display = r.address.written();
        let leaf = |key: String, display: String, sender: String, action: Action| Leaf {
            key,
            display,
            sender,
            notify: r.notify,
            orcpt: r.orcpt.clone(),
            action,
        };
        let recorded = journal.expansions.get(&key).cloned();
        let expansion = match recorded {
            Some(x) => Some(x),
            None => {
                if journal.is_final(&key) {
                    continue;
                }
                match route_forward(site, &r.address) {
                    Action::Deliver { hop, address } if hop.mailer == "local" => {
                        match expand_local(site, &address) {
                            Ok(None) => {
                                plan.leaves.push(leaf(
                                    key,
                                    display,
                                    sender.clone(),
                                    Action::Deliver { hop, address },
                                ));
                                continue;
                            }
                            Ok(Some(x)) => {
                                plan.entries.push(Entry::Expand {
                                    key: key.clone(),
                                    expansion: x.clone(),
                                });
                                Some(x)
                            }
                            Err(a) => {
                                plan.leaves.push(leaf(key, display, sender.clone(), a));
                                continue;
                            }
                        }
                    }
                    a => {
                        plan.leaves.push(leaf(key, display, sender.clone(), a));
                        continue;
                    }
                }
            }
        };
        let Some(x) = expansion else { continue };
        let child_sender = match &x.owner {
            Some(o) => format!("{o}@{}", site.hostname),
            None => sender.clone(),
        };
        for (j, t) in x.targets.iter().enumerate() {
            let ckey = format!("{key}.{j}");
            if journal.is_final(&ckey) {
                continue;
            }
            let (cdisplay, action) = child_action(site, t);
            plan.leaves
                .push(leaf(ckey, cdisplay, child_sender.clone(), action));
        }
    }
    plan
}

/// The leaves of a message with a `filter` fact: every envelope recipient
/// as received (no aliasing, no routing: Postfix hands the filter the
/// original envelope) to the filter's next hop. A filter that no longer
/// parses defers (`4.3.5`, a configuration error) rather than bouncing.
fn filter_leaves(env: &Envelope, journal: &Journal, filter: &str) -> Plan {
    let sender = bare(&env.sender);
    let action = match ContentFilter::parse(filter) {
        Ok(Some(f)) => Action::Deliver {
            hop: NextHop {
                mailer: f.mailer.clone(),
                host: Some(f.host_port()),
            },
            address: String::new(),
        },
        Ok(None) => temp(EnhancedStatus::new(4, 3, 5), "empty content filter".into()),
        Err(e) => temp(EnhancedStatus::new(4, 3, 5), e.to_string()),
    };
    let leaves = env
        .recipients
        .iter()
        .enumerate()
        .filter(|(i, _)| !journal.is_final(&i.to_string()))
        .map(|(i, r)| {
            let display = r.address.written();
            let action = match &action {
                Action::Deliver { hop, .. } => Action::Deliver {
                    hop: hop.clone(),
                    address: display.clone(),
                },
                other => other.clone(),
            };
            Leaf {
                key: i.to_string(),
                display,
                sender: sender.clone(),
                notify: r.notify,
                orcpt: r.orcpt.clone(),
                action,
            }
        })
        .collect();
    Plan {
        leaves,
        entries: Vec::new(),
        filter: Some(filter.to_string()),
    }
}

/// Expand a local user: `Ok(None)` when it is just the mailbox itself.
fn expand_local(site: &Site, user: &str) -> Result<Option<Expansion>, Action> {
    let addr = match Address::parse(user) {
        Ok(a) => a,
        Err(_) => return Ok(None),
    };
    let exp = match alias::expand(site, &addr) {
        Ok(e) => e,
        Err(e) => {
            let r = e.reply();
            let status = r.status_or_class();
            let reply = Said::Reply(Reply {
                lines: vec![format!("{user}... {}", r.text())],
                ..r.clone()
            });
            return Err(settled(
                "local",
                if r.is_transient() {
                    Outcome::Deferred {
                        status,
                        reply,
                        relay: None,
                    }
                } else {
                    Outcome::Failed {
                        status,
                        reply,
                        relay: None,
                    }
                },
            ));
        }
    };
    let itself = exp.owner.is_none()
        && matches!(exp.targets.as_slice(), [Target::Local(u)] if u.eq_ignore_ascii_case(user));
    if itself {
        return Ok(None);
    }
    Ok(Some(Expansion {
        owner: exp.owner,
        targets: exp.targets.iter().map(encode_target).collect(),
    }))
}

/// What reports need to know about every recipient key of a message,
/// final or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptInfo {
    /// The journal key.
    pub key: String,
    /// The address for logs and DSNs.
    pub display: String,
    /// Envelope sender (without brackets) and so the recipient of its DSNs.
    pub sender: String,
    /// DSN NOTIFY.
    pub notify: Option<Notify>,
    /// DSN ORCPT.
    pub orcpt: Option<String>,
}

/// Every leaf key of `env` as the journal knows it (expanded recipients
/// are replaced by their recorded children). No routing, no I/O.
pub fn infos(env: &Envelope, journal: &Journal, hostname: &str) -> Vec<RcptInfo> {
    let sender = bare(&env.sender);
    let mut out = Vec::new();
    for (i, r) in env.recipients.iter().enumerate() {
        let key = i.to_string();
        let info = |key: String, display: String, sender: String| RcptInfo {
            key,
            display,
            sender,
            notify: r.notify,
            orcpt: r.orcpt.clone(),
        };
        match journal.expansions.get(&key) {
            None => out.push(info(key, r.address.written(), sender.clone())),
            Some(x) => {
                let s = match &x.owner {
                    Some(o) => format!("{o}@{hostname}"),
                    None => sender.clone(),
                };
                for (j, t) in x.targets.iter().enumerate() {
                    out.push(info(format!("{key}.{j}"), target_display(t), s.clone()));
                }
            }
        }
    }
    out
}

/// How a recorded target is shown (`alice`, `|/usr/bin/prog`, `/var/log/x`, `a@b`).
pub fn target_display(t: &str) -> String {
    match t.split_once(':') {
        Some(("p", rest)) => format!("|{rest}"),
        Some((_, rest)) => rest.to_string(),
        None => t.to_string(),
    }
}

/// Recipients per transaction for a mailer: `SMTP_MAILER_MAXRCPTS` for the
/// SMTP family, `LOCAL_MAILER_MAXRCPTS` for local ones, otherwise
/// `NAME_MAILER_MAXRCPTS`; default [`DEFAULT_MAX_RCPTS`].
pub fn max_rcpts(site: &Site, mailer: &str) -> usize {
    let family = match mailer {
        "esmtp" | "smtp" | "smtp8" | "relay" | "dsmtp" => "SMTP".to_string(),
        "local" | "prog" | "*file*" => "LOCAL".to_string(),
        other => other.to_ascii_uppercase(),
    };
    site.config
        .mailer_options
        .get(&format!("{family}_MAILER_MAXRCPTS"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_RCPTS)
}

/// A planned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Where.
    pub hop: NextHop,
    /// Envelope sender (without brackets).
    pub sender: String,
    /// Positions in the leaf list, in order.
    pub leaves: Vec<usize>,
}

/// Group deliverable leaves by (next hop, sender), first appearance first,
/// split at `limit(mailer)` recipients.
pub fn batches(leaves: &[Leaf], limit: impl Fn(&str) -> usize) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    for (pos, l) in leaves.iter().enumerate() {
        let Action::Deliver { hop, .. } = &l.action else {
            continue;
        };
        let max = limit(&hop.mailer).max(1);
        let open = out
            .iter_mut()
            .rev()
            .find(|p| &p.hop == hop && p.sender == l.sender && p.leaves.len() < max);
        match open {
            Some(p) => p.leaves.push(pos),
            None => out.push(Planned {
                hop: hop.clone(),
                sender: l.sender.clone(),
                leaves: vec![pos],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(key: &str, host: &str, sender: &str) -> Leaf {
        Leaf {
            key: key.into(),
            display: format!("u{key}@{host}"),
            sender: sender.into(),
            notify: None,
            orcpt: None,
            action: Action::Deliver {
                hop: NextHop {
                    mailer: "esmtp".into(),
                    host: Some(host.into()),
                },
                address: format!("u{key}@{host}"),
            },
        }
    }

    #[test]
    fn grouping_by_next_hop_and_sender_with_a_limit() {
        let mut ls = vec![
            leaf("0", "a.example", "s@x"),
            leaf("1", "b.example", "s@x"),
            leaf("2", "a.example", "s@x"),
            leaf("3", "a.example", "owner-list@gw"),
            leaf("4", "a.example", "s@x"),
        ];
        ls.push(Leaf {
            action: Action::Settled {
                mailer: "error".into(),
                outcome: Outcome::Failed {
                    status: EnhancedStatus::new(5, 1, 1),
                    reply: Said::text("x"),
                    relay: None,
                },
            },
            ..leaf("5", "a.example", "s@x")
        });
        let b = batches(&ls, |_| 100);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].leaves, vec![0, 2, 4]);
        assert_eq!(b[0].hop.host.as_deref(), Some("a.example"));
        assert_eq!(b[1].leaves, vec![1]);
        assert_eq!(b[2].sender, "owner-list@gw");
        let b = batches(&ls, |_| 2);
        let sizes: Vec<usize> = b.iter().map(|p| p.leaves.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1], "a.example split at 2: {b:?}");
        assert_eq!(b[3].leaves, vec![4]);
    }

    #[test]
    fn bare_sender() {
        assert_eq!(bare("<a@b>"), "a@b");
        assert_eq!(bare("<>"), "");
    }
}
