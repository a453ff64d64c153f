//! The network agents in the queue's remote slot: SMTP and LMTP.
//!
//! Contract: [`NetworkAgents`] sends a batch over the network — the SMTP
//! client ([`SmtpAgent`]: MX resolution, STARTTLS, AUTH) for the SMTP
//! mailers (`esmtp`, `smtp`, `smtp8`, `relay`, `dsmtp`), and LMTP for the
//! local mailer when `FEATURE(`local_lmtp', `ENDPOINT')` is on (an mxgate
//! reading of sendmail's feature: the argument is the LMTP server — a unix
//! socket path such as Dovecot's `/var/run/dovecot/lmtp`, or `host:port`).

use super::agents::{Agents, Delivery};
use crate::deliver::lmtp::{LmtpAgent, LmtpPool, LmtpTarget};
use crate::deliver::smtp::SmtpAgent;
use crate::deliver::{Batch, NextHop};
use crate::site::Site;
use std::sync::Arc;

/// Default LMTP endpoint of `FEATURE(local_lmtp)` without an argument.
pub const DEFAULT_LMTP: &str = "/var/run/dovecot/lmtp";

/// SMTP and LMTP delivery.
pub struct NetworkAgents {
    /// The current site (re-read per batch, so a reload takes effect).
    pub site: Arc<dyn Fn() -> Arc<Site> + Send + Sync>,
    /// The SMTP client.
    pub smtp: SmtpAgent,
    /// LMTP sessions kept between batches.
    pub lmtp: Arc<LmtpPool>,
}

/// The LMTP endpoint for local delivery, when `FEATURE(local_lmtp)` is on.
pub fn local_lmtp(site: &Site) -> Option<LmtpTarget> {
    let args = site.config.feature_args("local_lmtp")?;
    let endpoint = args
        .first()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_LMTP);
    Some(LmtpTarget::parse(endpoint))
}

impl Agents for NetworkAgents {
    fn deliver<'a>(&'a self, hop: &'a NextHop, batch: Batch<'a>) -> Delivery<'a> {
        let site = (self.site)();
        Box::pin(async move {
            if hop.mailer == "local"
                && let Some(target) = local_lmtp(&site)
            {
                return LmtpAgent::new(target, &site.hostname)
                    .with_pool(self.lmtp.clone())
                    .deliver(&batch)
                    .await;
            }
            self.smtp.deliver(&site, hop, &batch).await
        })
    }
}
