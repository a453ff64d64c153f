//! The receive transaction (`smtpd::transaction::Session`: every rule,
//! limit and reply of a session, policy included) over arbitrary bytes in
//! arbitrary chunkings, with a world that answers everything from memory.
//! Checked beyond "no panic, no hang": a committed message is what was
//! spilled plus what was kept, its spilled part is what the world holds,
//! and no message is committed larger than the size limit allows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxgate::auth::{Credentials, throttle::{Penalty, Throttle}};
use mxgate::policy::{Client, DnsAnswer, Resolve};
use mxgate::smtpd::milters::Filters;
use mxgate::smtpd::stream::TlsInfo;
use mxgate::smtpd::transaction::{Commit, Inputs, Origin, Session, World};
use mxgate::smtpd::{Runtime, listener};
use mxgate::spool::{self, QueueId};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// A gateway without tables: relaying for one domain, a small size limit
/// (so spilling and the limit are both reached), AUTH offered under TLS.
const MC: &str = "divert(-1)\ndivert(0)dnl\nOSTYPE(`linux')dnl\n\
define(`confDOMAIN_NAME', `mx.example.com')dnl\n\
define(`confMAX_MESSAGE_SIZE', `600000')dnl\n\
define(`confMAX_RCPTS_PER_MESSAGE', `5')dnl\n\
define(`confAUTH_DOVECOT_SOCKET', `/nonexistent/auth')dnl\n\
define(`confMXGATE_MAX_BAD_COMMANDS', `40')dnl\n\
FEATURE(`no_default_msa')dnl\n\
DAEMON_OPTIONS(`Port=smtp, Name=MTA')dnl\n\
FEATURE(`dnsbl', `bl.example.net')dnl\n\
RELAY_DOMAIN(`example.com')dnl\n\
MAILER(`local')dnl\nMAILER(`smtp')dnl\n";

fn runtime() -> &'static (Arc<Runtime>, Arc<listener::DaemonSpec>) {
    static R: OnceLock<(Arc<Runtime>, Arc<listener::DaemonSpec>)> = OnceLock::new();
    R.get_or_init(|| {
        let config = mxgate::config::compile_mc("fuzz.mc", MC, &[]).expect("compiles");
        let spec = listener::specs(&config).expect("listeners").remove(0);
        let site = Arc::new(mxgate::site::Site::load(config).expect("loads"));
        (Arc::new(Runtime::new(site).expect("settings")), Arc::new(spec))
    })
}

struct Memory {
    start: Instant,
    seq: u64,
    filters: Filters,
    throttle: Throttle,
    scratch: Vec<u8>,
}

impl World for Memory {
    fn log(&self, _id: &str, _text: &str) {}
    fn now(&self) -> Instant {
        self.start
    }
    fn unix_time(&self) -> u64 {
        1_767_225_600
    }
    fn has_room(&self) -> Result<(), &'static str> {
        Ok(())
    }
    fn next_id(&mut self) -> QueueId {
        self.seq += 1;
        QueueId::generate(UNIX_EPOCH + Duration::from_secs(1_767_225_600), 1, self.seq)
    }
    fn filters(&mut self) -> &mut Filters {
        &mut self.filters
    }
    async fn domain_exists(&mut self, domain: &str) -> Option<DnsAnswer<Vec<IpAddr>>> {
        Some(if domain.starts_with('n') { DnsAnswer::NotFound } else { DnsAnswer::Found(vec![]) })
    }
    async fn check_password(&mut self, creds: &Credentials, _ip: IpAddr) -> Result<bool, String> {
        Ok(creds.user == "u" && creds.password == "p")
    }
    fn auth_failed(&mut self, ip: IpAddr) -> Penalty {
        self.throttle.failed(ip, self.start)
    }
    fn auth_succeeded(&mut self, ip: IpAddr) {
        self.throttle.succeeded(ip);
    }
    async fn sleep(&mut self, _wait: Duration) {}
    async fn spill(&mut self, part: Vec<u8>) -> Result<(), spool::Error> {
        self.scratch.extend_from_slice(&part);
        assert!(self.scratch.len() <= 600_000, "spilled past the size limit");
        Ok(())
    }
    async fn unspill(&mut self) -> Result<Vec<u8>, spool::Error> {
        Ok(self.scratch.clone())
    }
    fn discard_spill(&mut self) {
        self.scratch.clear();
    }
    fn flush_queue(&mut self) -> bool {
        true
    }
    async fn commit(&mut self, m: Commit) -> Result<u64, spool::Error> {
        assert_eq!(m.spilled, self.scratch.len() as u64, "spilled part");
        assert!(m.spilled + m.body.len() as u64 <= 600_000 + 4096, "committed past the limit");
        Ok(m.head.len() as u64 + m.spilled + m.body.len() as u64)
    }
}

fuzz_target!(|data: &[u8]| {
    let (runtime, spec) = runtime();
    let (cuts, rest) = data.split_at(data.len().min(8));
    let ip: IpAddr = "198.51.100.20".parse().unwrap();
    let mut client = Client::at(ip);
    client.name = "mail.example.net".into();
    client.resolve = Resolve::Ok;
    let world = Memory {
        start: Instant::now(),
        seq: 0,
        filters: Filters::for_listener(&runtime.site.config, None),
        throttle: Throttle::default(),
        scratch: Vec::new(),
    };
    let inputs = Inputs {
        runtime: runtime.clone(),
        spec: spec.clone(),
        peer: SocketAddr::new(ip, 40000),
        local_addr: None,
        origin: Origin::Network,
        client,
        dns: Vec::new(),
        sid: "FUZZ".into(),
        tls_available: true,
        smtps: None,
    };
    let mut s = Session::new(inputs, world);
    smol::block_on(async {
        s.open().await;
        let mut at = 0;
        let mut turn = 0;
        // Bodies past the spill size come from repeating the input: the
        // first cut byte, when odd, sends the rest 40 times.
        let mut input = rest.to_vec();
        if cuts.first().is_some_and(|c| c % 2 == 1) {
            input = rest.repeat(40);
        }
        loop {
            let _ = s.take_output();
            if s.is_closed() {
                break;
            }
            if s.take_tls_request() {
                let info = TlsInfo { version: "TLSv1.3".into(), cipher: "TLS13_AES_128_GCM_SHA256".into(), peer: mxgate::policy::tls::PeerCert::not_asked() };
                s.tls_started(Some(info)).await;
                continue;
            }
            if s.step().await {
                continue;
            }
            if at >= input.len() {
                break;
            }
            let size = usize::from(cuts.get(turn % cuts.len().max(1)).copied().unwrap_or(64)).max(1) * 97;
            let end = (at + size).min(input.len());
            s.receive(&input[at..end]);
            at = end;
            turn += 1;
        }
        s.finish().await;
    });
});
