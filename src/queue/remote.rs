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

/// A local recipient as the LMTP server gets it. Without
/// `FEATURE(preserve_local_plus_detail)` the `+detail` is removed, as
/// sendmail's ruleset 5 does before its local mailer (`sendmail -bv
/// root+foo` on 8.17: "mailer local, host foo, user root"); with it the
/// address goes as it is, for the server's own `+detail` handling (Dovecot's
/// `recipient_delimiter`, `lmtp_save_to_detail_mailbox`, Sieve). As in
/// sendmail's `$+ + $*`, the user part before the first `+` must not be
/// empty, and a quoted local part is left alone.
pub fn lmtp_recipient(site: &Site, address: &str) -> String {
    if site.config.has_feature("preserve_local_plus_detail") || address.starts_with('"') {
        return address.to_string();
    }
    let (local, domain) = match address.rfind('@') {
        Some(at) => (&address[..at], &address[at..]),
        None => (address, ""),
    };
    match local.find('+') {
        Some(plus) if plus > 0 => format!("{}{domain}", &local[..plus]),
        _ => address.to_string(),
    }
}

impl Agents for NetworkAgents {
    fn deliver<'a>(&'a self, hop: &'a NextHop, mut batch: Batch<'a>) -> Delivery<'a> {
        let site = (self.site)();
        Box::pin(async move {
            if hop.mailer == "local"
                && let Some(target) = local_lmtp(&site)
            {
                for r in &mut batch.recipients {
                    r.address = lmtp_recipient(&site, &r.address);
                }
                return LmtpAgent::new(target, &site.hostname)
                    .with_pool(self.lmtp.clone())
                    .deliver(&batch)
                    .await;
            }
            self.smtp.deliver(&site, hop, &batch).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(preserve: bool) -> Site {
        let mut config = crate::config::Config {
            format: crate::config::FORMAT,
            ..Default::default()
        };
        if preserve {
            config
                .features
                .insert("preserve_local_plus_detail".into(), Vec::new());
        }
        Site::from_parts(config, Default::default()).unwrap()
    }

    #[test]
    fn the_detail_goes_to_the_lmtp_server_only_with_preserve_local_plus_detail() {
        let (plain, kept) = (site(false), site(true));
        for (given, sent) in [
            ("joe+lists", "joe"),
            ("joe+a+b", "joe"),
            ("joe+", "joe"),
            ("joe+lists@sub.example", "joe@sub.example"),
            ("joe", "joe"),
            // sendmail's `$+ + $*`: no user before the `+`, no match.
            ("+lists", "+lists"),
            ("\"joe+lists\"", "\"joe+lists\""),
        ] {
            assert_eq!(lmtp_recipient(&plain, given), sent, "{given}");
            assert_eq!(lmtp_recipient(&kept, given), given, "{given}");
        }
    }
}
