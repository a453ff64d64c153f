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
//! [`runner::start`] runs it in threads inside the daemon ([`start_daemon`]).
//!
//! Options (all in the `.mc`): `confMXGATE_QUEUE_INTERVAL` turns the queue
//! runner on in `mxgate daemon` (like sendmail's `-q15m`: the value is the
//! period of full rescans; unset or `0` = the daemon only accepts mail),
//! `confMXGATE_QUEUE_WORKERS` (8), `confMXGATE_DESTINATION_CONCURRENCY`
//! (2), `confMIN_QUEUE_AGE`, `confMXGATE_MAX_RETRY_INTERVAL` (4h),
//! `confTO_QUEUEWARN` (4h), `confTO_QUEUERETURN` (5d),
//! `confDOUBLE_BOUNCE_ADDRESS` (postmaster), `SMTP_MAILER_MAXRCPTS` /
//! `LOCAL_MAILER_MAXRCPTS` (100), and for the local mailer
//! `confMXGATE_MAILDIR`, `confMXGATE_ALLOW_PROGRAMS`. See docs/queue.md.

pub mod agents;
pub mod plan;
pub mod remote;
pub mod runner;
pub mod schedule;

use crate::smtpd::Server;
use std::sync::Arc;

/// Parse a whole number option, with a default.
fn number(site: &crate::site::Site, name: &str, default: usize) -> usize {
    site.config
        .option(name)
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// Start the queue runner in the daemon when `confMXGATE_QUEUE_INTERVAL`
/// is set (and not `0`); remote hops use the `remote` agents when given.
/// Dropping the returned [`runner::Runner`] stops it.
pub fn start_daemon(
    server: &Arc<Server>,
    remote: Option<Arc<dyn agents::Agents>>,
) -> Option<runner::Runner> {
    let site = server.site();
    // Like `sendmail -bd -q15m`: on by default every 15 minutes (new mail is
    // picked up within a second regardless); `0` turns the runner off.
    let interval = match site.config.option("confMXGATE_QUEUE_INTERVAL") {
        None => 15 * 60,
        Some(v) => {
            crate::config::parse_duration(v, crate::config::unit::MINUTES).map(|d| d.as_secs())?
        }
    };
    if interval == 0 {
        server
            .log
            .line(None, "queue runner off (confMXGATE_QUEUE_INTERVAL is 0)");
        return None;
    }
    let remote = remote.or_else(|| {
        let dns = server.dns.clone()?;
        let getter = server.clone();
        let mut smtp = crate::deliver::smtp::SmtpAgent::new(dns);
        smtp.local_addrs = local_addresses();
        Some(Arc::new(remote::NetworkAgents {
            site: Arc::new(move || getter.site()),
            smtp,
        }) as Arc<dyn agents::Agents>)
    });
    let workers = number(&site, "confMXGATE_QUEUE_WORKERS", 40);
    let per_destination = number(&site, "confMXGATE_DESTINATION_CONCURRENCY", 20);
    let getter = server.clone();
    let agents = agents::SiteAgents {
        site: Arc::new(move || getter.site()),
        remote,
    };
    let queue = runner::Queue::new(server.clone(), Arc::new(agents), per_destination);
    server.log.line(
        None,
        &format!("starting queue runner: {workers} workers, full rescan every {interval}s"),
    );
    Some(runner::start(
        Arc::new(queue),
        runner::RunSettings {
            workers,
            full_scan: interval,
        },
    ))
}

/// This host's interface addresses (an MX pointing at one of them is us).
fn local_addresses() -> Vec<std::net::IpAddr> {
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
