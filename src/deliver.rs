//! Delivery agents: what the queue hands over, and what comes back.
//!
//! Contract: the queue groups the recipients of one message that share a
//! next hop ([`NextHop`]: mailer + host, from `route::Route`) into a
//! [`Batch`]; an agent (SMTP/LMTP client, local mailer) tries the batch and
//! returns one [`Outcome`] per recipient, in batch order. Agents never edit
//! the queue: the queue records outcomes, retries, bounces.

pub mod client_options;
pub mod lmtp;
pub mod local;
pub mod maildir;
pub mod mx;
pub mod smtp;

pub use crate::proto::reply::{EnhancedStatus, Reply};
use crate::spool::{Envelope, QueueId};

/// Where a batch goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    /// Mailer name (`esmtp`, `smtp`, `smtp8`, `relay`, `dsmtp`, `local`, `lmtp`, ...).
    pub mailer: String,
    /// Host as routed: `mx.example` (MX lookup), `[host]` (no MX lookup),
    /// `[192.0.2.1]`; `None` for the local mailer.
    pub host: Option<String>,
}

/// One recipient of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRcpt {
    /// Index into the envelope's `recipients` (the queue's key for status).
    pub index: usize,
    /// The address to give the next hop (the route's `user`, without brackets):
    /// `user@example.org`, or a local user name for the local mailer.
    pub address: String,
    /// DSN `NOTIFY=`, passed on when the next hop offers DSN.
    pub notify: Option<crate::proto::command::Notify>,
    /// DSN `ORCPT=` as written.
    pub orcpt: Option<String>,
}

/// One message to several recipients of one next hop.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// The message's queue id (for logs).
    pub id: &'a QueueId,
    /// The envelope (sender, facts such as `body`, `envid`, `ret`).
    pub envelope: &'a Envelope,
    /// Reverse path to send, without angle brackets (`""` = the null sender).
    pub sender: String,
    /// The recipients.
    pub recipients: Vec<BatchRcpt>,
    /// The message content (headers and body, CRLF line ends, not dot-stuffed).
    pub message: &'a [u8],
    /// Delivery attempts of this message before this one (sendmail's
    /// `e_ntries`): 0 on its first, when `confTO_ICONNECT` applies.
    pub tries: u32,
}

/// What an outcome says: the reply of the host that answered, or our own
/// words when none did (`Connection refused by mx.example`, a Maildir
/// path). The log's `stat=`, the DSN's `Diagnostic-Code` and the host
/// status are made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// The next hop's reply, as it gave it.
    Reply(Reply),
    /// Our description.
    Text(String),
}

impl Said {
    /// Our description.
    pub fn text(t: impl Into<String>) -> Said {
        Said::Text(t.into())
    }

    /// The words without the codes: the reply's text lines joined by a
    /// space (`Ok: queued as X`, as sendmail's `stat=Sent (...)` shows an
    /// accepting reply), or our text.
    pub fn words(&self) -> String {
        match self {
            Said::Reply(r) => r.text(),
            Said::Text(t) => t.clone(),
        }
    }

    /// The reply code, when a host answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Said::Reply(r) => Some(r.code),
            Said::Text(_) => None,
        }
    }
}

impl std::fmt::Display for Said {
    /// One line: the reply (`550 5.1.1 <b@x>... User unknown`; the lines
    /// of a multi-line reply joined by ` / `), or the text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Said::Reply(r) => r.fmt(f),
            Said::Text(t) => f.write_str(t),
        }
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the next hop (or written to the mailbox).
    Delivered {
        /// The remote reply (`250 2.0.0 Ok: queued as X`) or a local description.
        reply: Said,
        /// `relay=` for the log: `mx.example. [192.0.2.1]`, or `local`.
        relay: String,
    },
    /// Try again later (4xx, connection failure, DNS temp failure).
    Deferred {
        /// RFC 3463 status (`4.4.1`).
        status: EnhancedStatus,
        /// Remote reply or our description (`Connection refused by mx.example`).
        reply: Said,
        /// The host that answered, if any.
        relay: Option<String>,
    },
    /// Permanent failure: bounce (5xx, host unknown, ...).
    Failed {
        /// RFC 3463 status (`5.1.1`).
        status: EnhancedStatus,
        /// Remote reply or our description.
        reply: Said,
        /// The host that answered, if any.
        relay: Option<String>,
    },
}

impl Outcome {
    /// A deferral in our own words.
    pub fn deferred(status: EnhancedStatus, text: impl Into<String>) -> Outcome {
        Outcome::Deferred {
            status,
            reply: Said::text(text),
            relay: None,
        }
    }

    /// A failure in our own words.
    pub fn failed(status: EnhancedStatus, text: impl Into<String>) -> Outcome {
        Outcome::Failed {
            status,
            reply: Said::text(text),
            relay: None,
        }
    }

    /// The outcome a host's reply to a recipient means: 2xx delivered,
    /// 4xx deferred, anything else failed; the status is the reply's, or
    /// its class's `N.0.0`.
    pub fn from_reply(reply: Reply, relay: &str) -> Outcome {
        let status = reply.status_or_class();
        let relay = relay.to_string();
        match reply.code {
            200..=299 => Outcome::Delivered {
                reply: Said::Reply(reply),
                relay,
            },
            400..=499 => Outcome::Deferred {
                status,
                reply: Said::Reply(reply),
                relay: Some(relay),
            },
            _ => Outcome::Failed {
                status,
                reply: Said::Reply(reply),
                relay: Some(relay),
            },
        }
    }

    /// The `dsn=` value for the log.
    pub fn dsn(&self) -> EnhancedStatus {
        match self {
            Outcome::Delivered { .. } => EnhancedStatus::new(2, 0, 0),
            Outcome::Deferred { status, .. } | Outcome::Failed { status, .. } => *status,
        }
    }

    /// What was said.
    pub fn said(&self) -> &Said {
        match self {
            Outcome::Delivered { reply, .. }
            | Outcome::Deferred { reply, .. }
            | Outcome::Failed { reply, .. } => reply,
        }
    }

    /// The `stat=` text for the log (`Sent (reply)`, `Deferred: reply`, `reply`).
    pub fn stat(&self) -> String {
        match self {
            Outcome::Delivered { reply, .. } => format!("Sent ({})", reply.words()),
            Outcome::Deferred { reply, .. } => format!("Deferred: {reply}"),
            Outcome::Failed { reply, .. } => reply.to_string(),
        }
    }
}
