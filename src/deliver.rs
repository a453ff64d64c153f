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
    /// DSN `NOTIFY=` as written, passed on when the next hop offers DSN.
    pub notify: Option<String>,
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
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the next hop (or written to the mailbox).
    Delivered {
        /// The remote reply (`250 2.0.0 Ok: queued as X`) or a local description.
        reply: String,
        /// `relay=` for the log: `mx.example. [192.0.2.1]`, or `local`.
        relay: String,
    },
    /// Try again later (4xx, connection failure, DNS temp failure).
    Deferred {
        /// RFC 3463 status (`4.4.1`).
        status: String,
        /// Remote reply or our description (`Connection refused by mx.example`).
        reply: String,
        /// The host that answered, if any.
        relay: Option<String>,
    },
    /// Permanent failure: bounce (5xx, host unknown, ...).
    Failed {
        /// RFC 3463 status (`5.1.1`).
        status: String,
        /// Remote reply or our description.
        reply: String,
        /// The host that answered, if any.
        relay: Option<String>,
    },
}

impl Outcome {
    /// The `dsn=` value for the log.
    pub fn dsn(&self) -> &str {
        match self {
            Outcome::Delivered { .. } => "2.0.0",
            Outcome::Deferred { status, .. } | Outcome::Failed { status, .. } => status,
        }
    }

    /// The `stat=` text for the log (`Sent (reply)`, `Deferred: reply`, `reply`).
    pub fn stat(&self) -> String {
        match self {
            Outcome::Delivered { reply, .. } => format!("Sent ({reply})"),
            Outcome::Deferred { reply, .. } => format!("Deferred: {reply}"),
            Outcome::Failed { reply, .. } => reply.clone(),
        }
    }
}
