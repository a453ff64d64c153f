//! The delivery agents as the queue sees them: one small trait.
//!
//! Contract: [`Agents::deliver`] takes a next hop and a batch and returns
//! one [`Outcome`] per recipient, in batch order; it never touches the
//! queue. [`SiteAgents`] is the daemon's implementation: the `local`,
//! `prog` and `*file*` mailers go to [`LocalMailer`] (unless
//! `FEATURE(local_lmtp)` hands local mail to an LMTP server); every other
//! mailer goes to the `remote` slot, which the daemon fills with
//! [`super::remote::NetworkAgents`]. Without it (no resolver could be set
//! up) a remote batch is deferred with `4.4.0 remote delivery agent not
//! configured`: the message stays queued and is retried. The futures run as
//! the queue's tasks (see `runner::start`; on two cores, on the thread of
//! the SMTP sessions), so an agent must not block: the local mailer (file
//! I/O, fsync, programs) runs on the blocking thread pool.

use crate::deliver::local::LocalMailer;
use crate::deliver::{Batch, NextHop, Outcome};
use crate::deliver::{EnhancedStatus, Said};
use crate::site::Site;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed delivery future.
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Vec<Outcome>> + Send + 'a>>;

/// Something that delivers batches.
pub trait Agents: Send + Sync {
    /// Deliver `batch` to `hop`; one outcome per recipient, in order.
    fn deliver<'a>(&'a self, hop: &'a NextHop, batch: Batch<'a>) -> Delivery<'a>;
}

/// Does this mailer deliver on this host (no network)?
pub fn is_local_mailer(mailer: &str) -> bool {
    matches!(mailer, "local" | "prog" | "*file*")
}

/// The daemon's agents: the local mailer, and a slot for the remote ones.
pub struct SiteAgents {
    /// The current site (re-read per batch, so a reload takes effect).
    pub site: Arc<dyn Fn() -> Arc<Site> + Send + Sync>,
    /// The SMTP/LMTP agents, once wired (see the module doc).
    pub remote: Option<Arc<dyn Agents>>,
}

impl Agents for SiteAgents {
    fn deliver<'a>(&'a self, hop: &'a NextHop, batch: Batch<'a>) -> Delivery<'a> {
        let site = (self.site)();
        let lmtp = hop.mailer == "local" && super::remote::local_lmtp(&site).is_some();
        if is_local_mailer(&hop.mailer) && !lmtp {
            // Blocking work (files, fsync, programs such as procmail): on
            // the blocking pool with its own copy of the batch, so the
            // executor keeps running the sessions and network deliveries.
            let mailer = LocalMailer::from_site(&site);
            let (hop, id, envelope) = (hop.clone(), batch.id.clone(), batch.envelope.clone());
            let (sender, recipients, message, tries) = (
                batch.sender,
                batch.recipients,
                batch.message.to_vec(),
                batch.tries,
            );
            return Box::pin(blocking::unblock(move || {
                let batch = Batch {
                    id: &id,
                    envelope: &envelope,
                    sender,
                    recipients,
                    message: &message,
                    tries,
                };
                mailer.deliver(&site, &hop, &batch)
            }));
        }
        match &self.remote {
            Some(r) => r.deliver(hop, batch),
            None => {
                let n = batch.recipients.len();
                Box::pin(async move {
                    vec![
                        Outcome::Deferred {
                            status: EnhancedStatus::new(4, 4, 0),
                            reply: Said::text("remote delivery agent not configured"),
                            relay: None,
                        };
                        n
                    ]
                })
            }
        }
    }
}
