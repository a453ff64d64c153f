//! The daemon's queue runner: the queue (layer 3) driven by the SMTP
//! server's site, spool and log. The glue lives here, in the daemon, so
//! the queue does not depend on the SMTP server (tests/layering.rs).

use crate::event::Log;
use crate::queue;
use crate::site::Site;
use crate::smtpd::Server;
use crate::spool::Spool;
use std::sync::Arc;

impl queue::runner::Host for Server {
    fn site(&self) -> Arc<Site> {
        Server::site(self)
    }
    fn spool(&self) -> &Spool {
        &self.spool
    }
    fn log(&self) -> &Log {
        &self.log
    }
}

/// Start the queue runner in the daemon when `confMXGATE_QUEUE_INTERVAL`
/// is set (and not `0`); remote hops use the `remote` agents when given.
/// Dropping the returned [`queue::runner::Runner`] stops it.
pub fn start(
    server: &Arc<Server>,
    remote: Option<Arc<dyn queue::agents::Agents>>,
) -> Option<queue::runner::Runner> {
    let site = server.site();
    // Like `sendmail -bd -q15m`: a full rescan every 15 minutes by default
    // (new mail goes to a worker at once regardless); `0` turns the runner
    // off.
    let interval = site.settings.queue_interval.as_secs();
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
        smtp.local_addrs = queue::local_addresses();
        let logger = server.clone();
        smtp.log = Some(Arc::new(move |id, line| {
            logger.log.line(Some(id.as_str()), line)
        }));
        Some(Arc::new(queue::remote::NetworkAgents {
            site: Arc::new(move || getter.site()),
            smtp,
            lmtp: Default::default(),
        }) as Arc<dyn queue::agents::Agents>)
    });
    let settings = server.settings();
    let (workers, per_destination) = (settings.queue_workers, settings.destination_concurrency);
    let getter = server.clone();
    let agents = queue::agents::SiteAgents {
        site: Arc::new(move || getter.site()),
        remote,
    };
    let queue = queue::runner::Queue::new(server.clone(), Arc::new(agents), per_destination)
        .with_memory(settings.queue_memory)
        .with_workers(workers);
    let restored = queue.restore_host_status(queue::runner::unix_now());
    if restored > 0 {
        server.log.line(
            None,
            &format!("{restored} host(s) still backed off from before the restart (sendmail -bh lists them)"),
        );
    }
    server.log.line(
        None,
        &format!("starting queue runner: {workers} workers, full rescan every {interval}s"),
    );
    let runner = queue::runner::start(
        Arc::new(queue),
        queue::runner::RunSettings {
            workers,
            full_scan: interval,
        },
    );
    // (set once: the daemon starts one runner)
    let _ = server.handoff.set(runner.handoff());
    Some(runner)
}
