//! The SMTP and LMTP delivery agents against real peers on loopback: a real
//! DNS server (`nsd`) serving MX/A/AAAA records for `d.test`, a scripted
//! SMTP server in Python (`socketserver`; answers chosen per test, every
//! command logged), a second `mxgate daemon` (STARTTLS, spool), and Dovecot
//! LMTP when it is installed. Peers listen on 127.0.0.x / ::1 with a port
//! chosen per test; `ESMTP_MAILER_ARGS` = `TCP $h PORT` selects it.

mod support;

use mxgate::config::Config;
use mxgate::deliver::lmtp::{LmtpAgent, LmtpTarget};
use mxgate::deliver::smtp::{SmtpAgent, SmtpConnection, Timeouts, opportunistic_tls};
use mxgate::deliver::{Batch, BatchRcpt, EnhancedStatus, NextHop, Outcome, Reply, Said};
use mxgate::dns::Dns;
use mxgate::site::Site;
use mxgate::spool::{Envelope, QueueId};
use mxgate::table::{MemTable, TableRef};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- nsd

const ZONE: &str = r#"$ORIGIN d.test.
$TTL 60
@ IN SOA ns.d.test. hostmaster.d.test. 1 3600 600 86400 60
@ IN NS ns.d.test.
ns IN A 127.0.0.1
order IN MX 10 mx1.order
order IN MX 20 mx2.order
mx1.order IN A 127.0.0.2
mx2.order IN A 127.0.0.3
equal IN MX 10 a.equal
equal IN MX 10 b.equal
equal IN MX 20 c.equal
a.equal IN A 127.0.0.11
b.equal IN A 127.0.0.12
c.equal IN A 127.0.0.13
implicit IN A 127.0.0.6
alias IN CNAME implicit
bracket IN MX 10 mx1.order
bracket IN A 127.0.0.7
v6 IN MX 10 host.v6
host.v6 IN AAAA ::1
host.v6 IN A 127.0.0.5
down IN MX 10 mx.down
mx.down IN A 127.0.0.8
fb IN A 127.0.0.4
null IN MX 0 .
self IN MX 10 gw.example.com.
self IN MX 20 mx2.order
group IN A 127.0.0.9
retry IN A 127.0.0.10
scanners IN A 127.0.0.1
scanners IN A 127.0.0.2
"#;

struct Nsd {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nsd {
    fn start() -> Nsd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = support::free_port();
        std::fs::write(d.join("d.test.zone"), ZONE).unwrap();
        let conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  zonesdir: \"{d}\"\n  \
             pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  username: \"\"\n  chroot: \"\"\n  \
             logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: d.test\n  zonefile: d.test.zone\n",
            d = d.display()
        );
        std::fs::write(d.join("nsd.conf"), conf).unwrap();
        let child = Command::new("nsd")
            .args(["-d", "-c"])
            .arg(d.join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd (apt install nsd)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let nsd = Nsd {
            child,
            addr,
            _dir: dir,
        };
        let dns = nsd.dns();
        let t0 = Instant::now();
        loop {
            if let mxgate::dns::Answer::Found(_) = smol::block_on(dns.a("ns.d.test")) {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "nsd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        nsd
    }

    fn dns(&self) -> Dns {
        Dns::with_servers(&[self.addr], Duration::from_millis(800)).unwrap()
    }
}

// ---------------------------------------------------------------- scripted peer

const PEER: &str = r#"
import json, socket, socketserver, sys, threading, base64
host, port, script_path, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
script = json.load(open(script_path))
lock = threading.Lock()
mail_replies = list(script.get("mail", []))
def log(line):
    with lock:
        with open(log_path, "a") as f:
            f.write(line + "\n")
class H(socketserver.StreamRequestHandler):
    def say(self, s):
        self.wfile.write((s + "\r\n").encode()); self.wfile.flush()
    def handle(self):
        log("CONNECT from %s port %d" % self.client_address[:2])
        self.say(script.get("greeting", "220 peer.test ESMTP scripted"))
        rcpts = 0
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            log(cmd)
            verb = cmd.split(" ")[0].upper()
            if verb in ("EHLO", "LHLO"):
                caps = script.get("caps", ["PIPELINING", "SIZE 1000000", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"])
                lines = ["peer.test hello"] + caps
                for l in lines[:-1]:
                    self.say("250-" + l)
                self.say("250 " + lines[-1])
            elif verb == "HELO":
                self.say("250 peer.test")
            elif verb == "AUTH":
                want = script.get("auth")
                got = base64.b64decode(cmd.split(" ")[2]).decode()
                self.say("235 2.7.0 ok" if got == want else "535 5.7.8 bad credentials")
            elif verb == "MAIL":
                rcpts = 0
                with lock:
                    r = mail_replies.pop(0) if mail_replies else "250 2.1.0 Ok"
                self.say(r)
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                r = script.get("rcpt", {}).get(addr, "250 2.1.5 Ok")
                if r.startswith("250"):
                    rcpts += 1
                self.say(r)
            elif verb == "DATA":
                if rcpts == 0:
                    self.say("554 5.5.1 No valid recipients"); continue
                self.say("354 go ahead")
                body = []
                while True:
                    l = self.rfile.readline()
                    if not l or l == b".\r\n":
                        break
                    body.append(l)
                log("BODY %d lines" % len(body))
                self.say(script.get("final", "250 2.0.0 Ok: queued as PEER1"))
            elif verb == "RSET":
                rcpts = 0; self.say("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye"); return
            else:
                self.say("502 5.5.2 what")
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = S((host, port), H)
print("ready", flush=True)
s.serve_forever()
"#;

struct Peer {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(ip: &str, port: u16, script: &str) -> Peer {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("peer.py"), PEER).unwrap();
        std::fs::write(d.join("script.json"), script).unwrap();
        let log = d.join("log");
        std::fs::write(&log, "").unwrap();
        let mut child = Command::new("python3")
            .arg(d.join("peer.py"))
            .arg(ip)
            .arg(port.to_string())
            .arg(d.join("script.json"))
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "peer on {ip}:{port} did not start");
        Peer {
            child,
            log,
            _dir: dir,
        }
    }

    fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn count(&self, verb: &str) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.starts_with(verb))
            .count()
    }
}

// ---------------------------------------------------------------- site, batch

struct Case {
    site: Site,
    dir: tempfile::TempDir,
}

fn site(
    port: u16,
    fallback: Option<&str>,
    switch: &str,
    tables: BTreeMap<String, TableRef>,
) -> Case {
    site_with(port, switch, tables, |c| {
        c.relays.fallback_mx = fallback.map(str::to_string)
    })
}

/// [`site`] with `edit` applied to the configuration.
fn site_with(
    port: u16,
    switch: &str,
    tables: BTreeMap<String, TableRef>,
    edit: impl FnOnce(&mut Config),
) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("hosts"),
        "127.0.0.1 localhost\n127.0.0.14 filehost.d.test\n",
    )
    .unwrap();
    std::fs::write(d.join("switch"), format!("hosts {switch}\n")).unwrap();
    let mut config = Config {
        format: mxgate::config::FORMAT,
        hostname: Some("gw.example.com".into()),
        ..Config::default()
    };
    config.options.insert(
        "confHOSTS_FILE".into(),
        d.join("hosts").display().to_string(),
    );
    config.options.insert(
        "confSERVICE_SWITCH_FILE".into(),
        d.join("switch").display().to_string(),
    );
    config.options.insert("confTO_CONNECT".into(), "5s".into());
    config.options.insert("confTO_INITIAL".into(), "10s".into());
    for m in ["ESMTP", "SMTP", "RELAY"] {
        config
            .mailer_options
            .insert(format!("{m}_MAILER_ARGS"), format!("TCP $h {port}"));
    }
    edit(&mut config);
    let site = Site::from_parts(config, tables).unwrap();
    Case { site, dir }
}

fn agent(nsd: &Nsd, seed: u64) -> SmtpAgent {
    let mut a = SmtpAgent::new(nsd.dns());
    a.seed = seed;
    a
}

fn hop(mailer: &str, host: &str) -> NextHop {
    NextHop {
        mailer: mailer.into(),
        host: Some(host.into()),
    }
}

const MESSAGE: &[u8] = b"From: a@example.com\r\nSubject: test\r\n\r\n.leading dot\r\nbody\r\n";

/// A batch of [`MESSAGE`] from the envelope's sender to `rcpts`.
fn batch<'a>(id: &'a QueueId, env: &'a Envelope, rcpts: &[&str]) -> Batch<'a> {
    Batch {
        id,
        envelope: env,
        sender: env.sender.trim_matches(|c| c == '<' || c == '>').into(),
        recipients: rcpts
            .iter()
            .enumerate()
            .map(|(i, r)| BatchRcpt {
                index: i,
                address: r.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        message: MESSAGE,
        tries: 0,
    }
}

fn deliver(agent: &SmtpAgent, site: &Site, hop: &NextHop, rcpts: &[&str]) -> Vec<Outcome> {
    let id = QueueId::parse("64ABCDEF000001")
        .unwrap_or_else(|| QueueId::generate(std::time::SystemTime::now(), std::process::id(), 1));
    let env = Envelope::new("<a@example.org>");
    smol::block_on(agent.deliver(site, hop, &batch(&id, &env, rcpts)))
}

fn relay_of(o: &Outcome) -> String {
    match o {
        Outcome::Delivered { relay, .. } => relay.clone(),
        other => panic!("not delivered: {other:?}"),
    }
}

// ---------------------------------------------------------------- MX order and fallbacks

#[test]
fn lowest_preference_first_then_next_mx_when_the_first_is_down() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let case = site(port, None, "files dns", BTreeMap::new());
    let a = agent(&nsd, 1);
    let t = smol::block_on(a.targets(&case.site, &hop("esmtp", "order.d.test"))).unwrap();
    let got: Vec<String> = t.iter().map(|t| t.addr.to_string()).collect();
    assert_eq!(
        got,
        [format!("127.0.0.2:{port}"), format!("127.0.0.3:{port}")]
    );
    // MX 10 has nothing listening: MX 20 gets the mail.
    let mx2 = Peer::start("127.0.0.3", port, "{}");
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "order.d.test"),
        &["u@order.d.test"],
    );
    assert_eq!(relay_of(&o[0]), "mx2.order.d.test. [127.0.0.3]");
    // Both up: MX 10 gets it.
    let mx1 = Peer::start("127.0.0.2", port, "{}");
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "order.d.test"),
        &["u@order.d.test"],
    );
    assert_eq!(relay_of(&o[0]), "mx1.order.d.test. [127.0.0.2]");
    assert_eq!(mx1.count("MAIL"), 1);
    assert_eq!(mx2.count("MAIL"), 1);
}

#[test]
fn equal_preferences_are_spread_and_worse_ones_stay_last() {
    let nsd = Nsd::start();
    let case = site(25, None, "dns", BTreeMap::new());
    let mut first = BTreeMap::new();
    for seed in 0..40u64 {
        let t =
            smol::block_on(agent(&nsd, seed).targets(&case.site, &hop("esmtp", "equal.d.test")))
                .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].host, "c.equal.d.test");
        *first.entry(t[0].host.clone()).or_insert(0) += 1;
    }
    let a = first.get("a.equal.d.test").copied().unwrap_or(0);
    let b = first.get("b.equal.d.test").copied().unwrap_or(0);
    assert_eq!(a + b, 40);
    assert!(a >= 8 && b >= 8, "a first {a} times, b first {b} times");
}

/// Two next hops behind one round-robin name (the virus gateway's
/// `[scanners.example]` with two A records): each delivery attempt tries the
/// addresses in a fresh random order, so both scanners get mail.
#[test]
fn round_robin_a_records_share_the_load() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let one = Peer::start("127.0.0.1", port, "{}");
    let two = Peer::start("127.0.0.2", port, "{}");
    let case = site(port, None, "dns", BTreeMap::new());
    // A fixed seed: the sequence of orders is the same on every run.
    let a = agent(&nsd, 3);
    let n = 20;
    let mut firsts = BTreeMap::new();
    for _ in 0..n {
        let o = deliver(
            &a,
            &case.site,
            &hop("relay", "[scanners.d.test]"),
            &["u@example.com"],
        );
        *firsts.entry(relay_of(&o[0])).or_insert(0) += 1;
    }
    let (m1, m2) = (one.count("MAIL"), two.count("MAIL"));
    assert_eq!(m1 + m2, n, "{firsts:?}");
    assert!(m1 >= 4 && m2 >= 4, "127.0.0.1 got {m1}, 127.0.0.2 got {m2}");
    assert_eq!(firsts.len(), 2, "{firsts:?}");
}

#[test]
fn implicit_mx_cname_bracketed_host_and_literal() {
    let nsd = Nsd::start();
    let case = site(2525, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    let t = smol::block_on(a.targets(&case.site, &hop("esmtp", "implicit.d.test"))).unwrap();
    assert_eq!(t[0].addr.to_string(), "127.0.0.6:2525");
    assert!(t[0].why.starts_with("implicit MX"), "{}", t[0].why);
    // A CNAME is followed (by the resolver) for the MX and the A lookups.
    let t = smol::block_on(a.targets(&case.site, &hop("esmtp", "alias.d.test"))).unwrap();
    assert_eq!(t[0].addr.to_string(), "127.0.0.6:2525");
    // [bracket.d.test]: its A record, although it has an MX.
    let t = smol::block_on(a.targets(&case.site, &hop("esmtp", "[bracket.d.test]"))).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].addr.to_string(), "127.0.0.7:2525");
    let t = smol::block_on(a.targets(&case.site, &hop("relay", "[192.0.2.9]"))).unwrap();
    assert_eq!(t[0].addr.to_string(), "192.0.2.9:2525");
}

#[test]
fn nxdomain_null_mx_and_self_mx() {
    let nsd = Nsd::start();
    let case = site(2525, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "nowhere.d.test"),
        &["u@nowhere.d.test"],
    );
    assert_eq!(
        o[0],
        Outcome::Failed {
            status: EnhancedStatus::new(5, 1, 2),
            reply: Said::text("Host unknown (Name server: nowhere.d.test: host not found)"),
            relay: None
        }
    );
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "null.d.test"),
        &["u@null.d.test"],
    );
    assert_eq!(o[0].dsn().to_string(), "5.1.10");
    // We (gw.example.com, $j) are MX 10: MX 20 and worse are dropped too.
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "self.d.test"),
        &["u@self.d.test"],
    );
    assert_eq!(o[0].dsn().to_string(), "5.3.5");
    assert!(
        o[0].stat().contains("points back to gw.example.com"),
        "{}",
        o[0].stat()
    );
}

#[test]
fn dns_failure_defers_or_goes_to_the_fallback_mx() {
    let nsd = Nsd::start();
    let port = support::free_port();
    // A name outside nsd's zone is REFUSED: a temporary DNS failure.
    let case = site(port, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "far.example"),
        &["u@far.example"],
    );
    assert_eq!(o[0].dsn().to_string(), "4.4.3", "{:?}", o[0]);
    assert!(matches!(o[0], Outcome::Deferred { .. }));
    let fb = Peer::start("127.0.0.4", port, "{}");
    let case = site(port, Some("[fb.d.test]"), "dns", BTreeMap::new());
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "far.example"),
        &["u@far.example"],
    );
    assert_eq!(relay_of(&o[0]), "fb.d.test. [127.0.0.4]");
    // Every MX down: the fallback MX too.
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "down.d.test"),
        &["u@down.d.test"],
    );
    assert_eq!(relay_of(&o[0]), "fb.d.test. [127.0.0.4]");
    assert_eq!(fb.count("MAIL"), 2);
    // Without a fallback, all MXes down → deferred, naming the host.
    let case = site(port, None, "dns", BTreeMap::new());
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "down.d.test"),
        &["u@down.d.test"],
    );
    match &o[0] {
        Outcome::Deferred { status, reply, .. } => {
            assert_eq!(status.to_string(), "4.4.1");
            assert_eq!(reply.to_string(), "Connection refused by mx.down.d.test.");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fallback_smarthost_takes_unknown_hosts_and_unreachable_mxes() {
    // confFALLBACK_SMARTHOST was compiled and never read. sendmail 8.17
    // (deliver.c, should_try_fbsh): after EX_NOHOST or EX_TEMPFAIL, one
    // last try with that host, unless it is this host.
    let nsd = Nsd::start();
    let port = support::free_port();
    let fb = Peer::start("127.0.0.4", port, "{}");
    let case = site_with(port, "dns", BTreeMap::new(), |c| {
        c.relays.fallback_smarthost = Some("fb.d.test".into())
    });
    let a = agent(&nsd, 0);
    let send = |host: &str| deliver(&a, &case.site, &hop("esmtp", host), &[&format!("u@{host}")]);
    // Host unknown (NXDOMAIN): the smart host instead of a bounce.
    assert_eq!(
        relay_of(&send("nowhere.d.test")[0]),
        "fb.d.test. [127.0.0.4]"
    );
    // Every MX refuses the connection: the smart host last.
    assert_eq!(relay_of(&send("down.d.test")[0]), "fb.d.test. [127.0.0.4]");
    assert_eq!(fb.count("MAIL"), 2);
    // A null MX is no failure to reach a host: still refused, not sent.
    assert_eq!(send("null.d.test")[0].dsn().to_string(), "5.1.10");
    // A content filter's hop (its own port) never falls back.
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "[127.0.0.8]:1"),
        &["u@x.d.test"],
    );
    assert!(matches!(o[0], Outcome::Deferred { .. }), "{:?}", o[0]);
    assert_eq!(fb.count("MAIL"), 2);
    // The smart host is this host ($j): no last try.
    let me = site_with(port, "dns", BTreeMap::new(), |c| {
        c.relays.fallback_smarthost = Some("gw.example.com".into())
    });
    let o = deliver(
        &a,
        &me.site,
        &hop("esmtp", "down.d.test"),
        &["u@down.d.test"],
    );
    assert!(matches!(o[0], Outcome::Deferred { .. }), "{:?}", o[0]);
}

#[test]
fn ipv6_failure_falls_back_to_ipv4() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let case = site(port, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    let t = smol::block_on(a.targets(&case.site, &hop("esmtp", "v6.d.test"))).unwrap();
    assert!(t[0].addr.is_ipv6(), "AAAA first: {t:?}");
    assert!(t[1].addr.is_ipv4());
    // Nothing listens on [::1]:port; 127.0.0.5:port answers.
    let v4 = Peer::start("127.0.0.5", port, "{}");
    let o = deliver(&a, &case.site, &hop("esmtp", "v6.d.test"), &["u@v6.d.test"]);
    assert_eq!(relay_of(&o[0]), "host.v6.d.test. [127.0.0.5]");
    assert_eq!(v4.count("MAIL"), 1);
}

#[test]
fn hosts_file_without_dns() {
    // `hosts files`: DNS is never asked (the nameserver here is silent).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns =
        Dns::with_servers(&[silent.local_addr().unwrap()], Duration::from_millis(300)).unwrap();
    let port = support::free_port();
    let case = site(port, None, "files", BTreeMap::new());
    let a = SmtpAgent::new(dns);
    let t = smol::block_on(a.targets(&case.site, &hop("esmtp", "filehost.d.test"))).unwrap();
    assert_eq!(t[0].addr.to_string(), format!("127.0.0.14:{port}"));
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "other.d.test"),
        &["u@other.d.test"],
    );
    assert_eq!(o[0].dsn().to_string(), "5.1.2");
}

// ---------------------------------------------------------------- replies

#[test]
fn temporary_failure_then_success_on_retry() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let peer = Peer::start(
        "127.0.0.10",
        port,
        r#"{"mail": ["451 4.3.0 Try again later"]}"#,
    );
    let case = site(port, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "retry.d.test"),
        &["u@retry.d.test", "v@retry.d.test"],
    );
    for x in &o {
        assert_eq!(
            x,
            &Outcome::Deferred {
                status: EnhancedStatus::new(4, 3, 0),
                reply: Said::Reply(Reply::new(
                    451,
                    EnhancedStatus::new(4, 3, 0),
                    "Try again later"
                )),
                relay: Some("retry.d.test. [127.0.0.10]".into())
            }
        );
    }
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "retry.d.test"),
        &["u@retry.d.test", "v@retry.d.test"],
    );
    for x in &o {
        assert_eq!(x.stat(), "Sent (Ok: queued as PEER1)");
    }
    assert_eq!(peer.count("MAIL"), 2);
}

#[test]
fn recipients_grouped_with_partial_failure() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let peer = Peer::start(
        "127.0.0.9",
        port,
        r#"{"rcpt": {"bad@group.d.test": "550 5.1.1 <bad@group.d.test>... User unknown"}}"#,
    );
    let case = site(port, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "group.d.test"),
        &["a@group.d.test", "bad@group.d.test", "c@group.d.test"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }));
    assert_eq!(
        o[1],
        Outcome::Failed {
            status: EnhancedStatus::new(5, 1, 1),
            reply: Said::Reply(Reply::new(
                550,
                EnhancedStatus::new(5, 1, 1),
                "<bad@group.d.test>... User unknown"
            )),
            relay: Some("group.d.test. [127.0.0.9]".into())
        }
    );
    assert!(matches!(o[2], Outcome::Delivered { .. }));
    // One transaction: one MAIL, three RCPTs, one message; SIZE and the
    // dot-stuffed leading dot went over the wire.
    assert_eq!(peer.count("MAIL"), 1);
    assert_eq!(peer.count("RCPT"), 3);
    assert_eq!(peer.count("BODY"), 1);
    let cmds = peer.commands();
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("MAIL FROM:<a@example.org> SIZE=")),
        "{cmds:?}"
    );
    assert!(cmds.iter().any(|c| c == "EHLO gw.example.com"));
}

/// The `smtp` mailer says EHLO to a peer that greets with `ESMTP` (and then
/// authenticates with authinfo, as `relay` does) and HELO to one that does
/// not, as sendmail 8.17 does (checked on the real one: see
/// `smtp_mailer_says_ehlo_when_the_greeting_says_esmtp` in `proto::client`).
#[test]
fn smtp_mailer_says_ehlo_to_esmtp_greetings_helo_otherwise_and_auth_uses_authinfo() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let script = r#"{"caps": ["AUTH PLAIN LOGIN", "PIPELINING"], "auth": "\u0000smart\u0000s3cret"GREETING}"#;
    let peer = Peer::start("127.0.0.9", port, &script.replace("GREETING", ""));
    let mut tables: BTreeMap<String, TableRef> = BTreeMap::new();
    tables.insert(
        "authinfo".into(),
        Arc::new(MemTable::from_lines(
            "AuthInfo:group.d.test \"U:smart\" \"P:s3cret\" \"M:PLAIN\"\n",
        )),
    );
    let case = site(port, None, "dns", tables);
    let a = agent(&nsd, 0);
    for mailer in ["relay", "smtp"] {
        let o = deliver(
            &a,
            &case.site,
            &hop(mailer, "[group.d.test]"),
            &["x@far.example"],
        );
        assert!(matches!(o[0], Outcome::Delivered { .. }), "{mailer}: {o:?}");
    }
    let cmds = peer.commands();
    assert_eq!(peer.count("EHLO"), 2, "{cmds:?}");
    assert_eq!(peer.count("HELO"), 0, "{cmds:?}");
    assert_eq!(peer.count("AUTH"), 2, "{cmds:?}");
    assert!(cmds.iter().any(|c| c.starts_with("AUTH PLAIN ")));
    drop(peer);

    // A greeting without the word: HELO, so no AUTH and no ESMTP parameters.
    let peer = Peer::start(
        "127.0.0.9",
        port,
        &script.replace("GREETING", r#", "greeting": "220 peer.test scripted""#),
    );
    let a = agent(&nsd, 0);
    let o = deliver(
        &a,
        &case.site,
        &hop("smtp", "[group.d.test]"),
        &["x@far.example"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    let cmds = peer.commands();
    assert!(cmds.iter().any(|c| c == "HELO gw.example.com"), "{cmds:?}");
    assert_eq!(peer.count("EHLO"), 0, "{cmds:?}");
    assert_eq!(peer.count("AUTH"), 0, "{cmds:?}");
    let _ = case.dir.path();
}

#[test]
fn without_feature_authinfo_the_access_table_gives_the_credentials() {
    // sendmail 8.17's proto.m4 (SAuthInfo, no FEATURE(authinfo), access_db
    // on): `$>D <server_name>` then `$>A <server_addr>` with the AuthInfo
    // tag, then `AuthInfo:`. mxgate read only the authinfo table, so a
    // smart host that wants a login got none.
    let nsd = Nsd::start();
    let port = support::free_port();
    let script =
        r#"{"caps": ["AUTH PLAIN LOGIN", "PIPELINING"], "auth": "\u0000smart\u0000s3cret"}"#;
    let peer = Peer::start("127.0.0.9", port, script);
    let mut tables: BTreeMap<String, TableRef> = BTreeMap::new();
    tables.insert(
        "access".into(),
        Arc::new(MemTable::from_lines(
            // The parent domain of group.d.test: the D walk finds it.
            "AuthInfo:d.test \"U:smart\" \"P:s3cret\" \"M:PLAIN\"\n",
        )),
    );
    let case = site_with(port, "dns", tables, |c| {
        c.features.insert("access_db".into(), vec![]);
    });
    let a = agent(&nsd, 0);
    let o = deliver(
        &a,
        &case.site,
        &hop("relay", "[group.d.test]"),
        &["x@far.example"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    let cmds = peer.commands();
    assert!(
        cmds.iter().any(|c| c.starts_with("AUTH PLAIN ")),
        "{cmds:?}"
    );
}

/// CLIENT_OPTIONS (sendmail's ClientPortOptions): the connection comes from
/// the configured source address (and port); `M=A` leaves out AUTH though
/// authinfo has credentials, `M=S` leaves out STARTTLS though it is offered.
/// The peer records the address each connection came from.
#[test]
fn client_options_bind_the_source_address_and_drop_auth_and_starttls() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let peer = Peer::start(
        "127.0.0.9",
        port,
        r#"{"caps": ["AUTH PLAIN", "STARTTLS", "PIPELINING"], "auth": "\u0000smart\u0000s3cret"}"#,
    );
    let authinfo = || {
        let mut tables: BTreeMap<String, TableRef> = BTreeMap::new();
        tables.insert(
            "authinfo".into(),
            Arc::new(MemTable::from_lines(
                "AuthInfo:group.d.test \"U:smart\" \"P:s3cret\" \"M:PLAIN\"\n",
            )),
        );
        tables
    };
    let mut a = agent(&nsd, 0);
    a.tls = Some(opportunistic_tls().unwrap());
    // Without CLIENT_OPTIONS: the kernel's source address (127.0.0.1 to a
    // loopback peer), AUTH and STARTTLS used.
    let plain = site(port, None, "dns", authinfo());
    let o = deliver(
        &a,
        &plain.site,
        &hop("relay", "[group.d.test]"),
        &["x@far.example"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    let cmds = peer.commands();
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("CONNECT from 127.0.0.1 ")),
        "{cmds:?}"
    );
    assert!(cmds.iter().any(|c| c == "STARTTLS"), "{cmds:?}");

    let mut bound = site(port, None, "dns", authinfo());
    let mut config = bound.site.config.clone();
    let src_port = support::free_port();
    config.client_options.push(
        [
            ("Family", "inet".to_string()),
            ("Addr", "127.0.0.23".to_string()),
            ("Port", src_port.to_string()),
            ("M", "AS".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    bound.site = Site::from_parts(config, authinfo()).unwrap();
    let before = peer.commands().len();
    let o = deliver(
        &a,
        &bound.site,
        &hop("relay", "[group.d.test]"),
        &["x@far.example"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    let cmds: Vec<String> = peer.commands().split_off(before);
    assert_eq!(
        cmds.first().map(String::as_str),
        Some(format!("CONNECT from 127.0.0.23 port {src_port}").as_str()),
        "{cmds:?}"
    );
    assert!(!cmds.iter().any(|c| c.starts_with("AUTH")), "M=A: {cmds:?}");
    assert!(!cmds.iter().any(|c| c == "STARTTLS"), "M=S: {cmds:?}");
    assert!(cmds.iter().any(|c| c.starts_with("MAIL FROM:")), "{cmds:?}");

    // An inet6 entry does not apply to an IPv4 connection.
    let mut config = plain.site.config.clone();
    config.client_options.push(
        [("Family", "inet6"), ("Addr", "::1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let v6only = Site::from_parts(config, authinfo()).unwrap();
    // A new agent: the first one keeps its connection for reuse.
    let mut a = agent(&nsd, 0);
    a.tls = Some(opportunistic_tls().unwrap());
    let before = peer.commands().len();
    let o = deliver(
        &a,
        &v6only,
        &hop("relay", "[group.d.test]"),
        &["x@far.example"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    let cmds: Vec<String> = peer.commands().split_off(before);
    assert!(
        cmds.iter()
            .any(|c| c.starts_with("CONNECT from 127.0.0.1 ")),
        "{cmds:?}"
    );
}

/// CLIENT_OPTIONS `M=h` (sendmail's ClientPortOptions `h`: HELO with the
/// name of the outgoing interface's address, when it is a qualified name):
/// the source address 127.0.0.14 is `filehost.d.test` in the hosts file, so
/// the peer is greeted with that name; 127.0.0.23 has none, so `$j` stays.
#[test]
fn client_options_m_h_says_helo_with_the_interfaces_name() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let peer = Peer::start("127.0.0.9", port, r#"{"caps": ["PIPELINING"]}"#);
    let mut greeted = Vec::new();
    for (src, want) in [
        ("127.0.0.14", "filehost.d.test"),
        ("127.0.0.23", "gw.example.com"),
    ] {
        // A new agent each time: an agent keeps its connection for reuse.
        let a = agent(&nsd, 0);
        let mut case = site(port, None, "files", BTreeMap::new());
        let mut config = case.site.config.clone();
        config.client_options.push(
            [("Family", "inet"), ("Addr", src), ("M", "h")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        case.site = Site::from_parts(config, BTreeMap::new()).unwrap();
        let before = peer.commands().len();
        let o = deliver(
            &a,
            &case.site,
            &hop("relay", "[127.0.0.9]"),
            &["x@far.example"],
        );
        assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
        let cmds: Vec<String> = peer.commands().split_off(before);
        assert!(
            cmds.iter().any(|c| c == &format!("EHLO {want}")),
            "from {src}: {cmds:?}"
        );
        greeted.push(want);
    }
    assert_eq!(greeted.len(), 2);
}

// ---------------------------------------------------------------- a real mxgate peer

#[test]
fn delivery_to_a_second_mxgate_over_starttls() {
    let peer = support::Daemon::start(support::Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n",
        tables: &[("mailboxes", "alice OK\n")],
        tls: true,
    });
    let nsd = Nsd::start();
    let case = site(peer.mta, None, "dns", BTreeMap::new());
    let mut a = agent(&nsd, 0);
    let logged: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let sink = logged.clone();
    a.log = Some(Arc::new(move |id, line| {
        sink.lock()
            .unwrap()
            .push(format!("{id}: {line}", id = id.as_str()))
    }));
    let o = deliver(
        &a,
        &case.site,
        &hop("esmtp", "[127.0.0.1]"),
        &["alice@example.com"],
    );
    match &o[0] {
        Outcome::Delivered { reply, relay } => {
            assert!(
                reply.to_string().ends_with("Message accepted for delivery"),
                "{reply}"
            );
            assert_eq!(relay, "[127.0.0.1]");
        }
        other => panic!("{other:?}\n{}", peer.maillog()),
    }
    // sendmail's STARTTLS=client line, once for the new connection, with the
    // message's queue id; Debian's logwatch counts it in client mode. The
    // peer's self-signed certificate is not in the system's trust store:
    // verify=FAIL (the message still goes: no TLS_Srv: requirement).
    let lines = logged.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (_, line) = lines[0].split_once(": ").unwrap();
    assert!(
        line.starts_with(
            "STARTTLS=client, relay=[127.0.0.1], version=TLSv1.3, verify=FAIL, cipher=TLS13_"
        ) && (line.ends_with(", bits=256/256") || line.ends_with(", bits=128/128")),
        "{line}"
    );
    let report = support::logwatch_sendmail(&format!(
        "Dec  3 21:31:49 gw.example.com sm-mta[1]: {}\n",
        lines[0]
    ));
    assert!(report.contains("For STARTTLS in client mode,"), "{report}");
    assert!(report.contains("Cipher: TLS13_"), "{report}");
    // The same peer through an SmtpConnection: STARTTLS was negotiated
    // (opportunistic, certificate not verified), and the connection carries
    // two transactions.
    let target = smol::block_on(a.targets(&case.site, &hop("esmtp", "[127.0.0.1]")))
        .unwrap()
        .remove(0);
    let settings = mxgate::proto::client::Settings {
        mode: mxgate::proto::client::Mode::Esmtp,
        helo_name: "client.example.org".into(),
        tls: mxgate::proto::client::TlsWish::Opportunistic,
        auth: None,
    };
    let mut conn = smol::block_on(SmtpConnection::open(
        &target,
        settings,
        Some(opportunistic_tls().unwrap()),
        Timeouts::default(),
        &Default::default(),
        None,
    ))
    .unwrap();
    assert!(conn.tls, "STARTTLS was not negotiated");
    let id = QueueId::generate(std::time::SystemTime::now(), std::process::id(), 3);
    let env = Envelope::new("<a@example.org>");
    for _ in 0..2 {
        let batch = Batch {
            id: &id,
            envelope: &env,
            sender: "a@example.org".into(),
            recipients: vec![BatchRcpt {
                index: 0,
                address: "alice@example.com".into(),
                notify: None,
                orcpt: None,
            }],
            message: MESSAGE,
            tries: 0,
        };
        let st = smol::block_on(conn.send(&batch));
        assert!(
            matches!(&st[0], mxgate::proto::client::RcptStatus::Accepted(_)),
            "{st:?}"
        );
        assert!(conn.is_open());
    }
    smol::block_on(conn.quit());
}

// ---------------------------------------------------------------- LMTP

fn dovecot_lmtp(dir: &Path, port: u16) -> Option<Child> {
    dovecot_lmtp_with(dir, port, "lmtp_save_to_detail_mailbox = no\n")
}

/// [`dovecot_lmtp`] with `extra` lines in its configuration.
fn dovecot_lmtp_with(dir: &Path, port: u16, extra: &str) -> Option<Child> {
    if Command::new("dovecot").arg("--version").output().is_err() {
        return None;
    }
    let d = dir.display();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    std::fs::write(
        dir.join("passwd"),
        // An unprivileged uid: Dovecot refuses uid 0 for mail users.
        format!("alice:{{PLAIN}}x:65534:65534::{d}/mail/alice::\n"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("mail/alice")).unwrap();
    std::os::unix::fs::chown(dir.join("mail/alice"), Some(65534), Some(65534)).unwrap();
    let conf = format!(
        "dovecot_config_version = 2.3.0\n\
         base_dir = {d}/run\nstate_dir = {d}/run\nprotocols = lmtp\nlisten = 127.0.0.1\n\
         log_path = {d}/dovecot.log\nssl = no\n\
         default_internal_user = {user}\ndefault_login_user = {user}\ndefault_internal_group = root\n\
         mail_location = maildir:~/Maildir\n{extra}\
         passdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
         service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n\
         service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n}}\n"
    );
    std::fs::write(
        dir.join("dovecot.conf"),
        conf.replace("dovecot_config_version = 2.3.0\n", ""),
    )
    .unwrap();
    let child = Command::new("dovecot")
        .args(["-F", "-c"])
        .arg(dir.join("dovecot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t0.elapsed() > Duration::from_secs(10) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(child)
}

#[test]
fn lmtp_to_dovecot_gives_per_recipient_replies() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let Some(mut child) = dovecot_lmtp(dir.path(), port) else {
        panic!(
            "Dovecot's LMTP server could not be started: install dovecot-core and \
             dovecot-lmtpd (apt-get install dovecot-core dovecot-lmtpd; .ci/run does)"
        );
    };
    let agent = LmtpAgent::new(
        LmtpTarget::parse(&format!("127.0.0.1:{port}")),
        "gw.example.com",
    );
    let id = QueueId::generate(std::time::SystemTime::now(), std::process::id(), 7);
    let env = Envelope::new("<a@example.com>");
    let batch = batch(&id, &env, &["alice", "nobody"]);
    let o = smol::block_on(agent.deliver(&batch));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default();
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}\n{log}");
    assert!(matches!(o[1], Outcome::Failed { .. }), "{o:?}");
    let new = dir.path().join("mail/alice/Maildir/new");
    let files: Vec<_> = std::fs::read_dir(&new).unwrap().collect();
    assert_eq!(files.len(), 1);
}

/// `FEATURE(local_lmtp)` without `preserve_local_plus_detail` gives the
/// LMTP server the user without its `+detail`, as sendmail 8.17 gives its
/// local mailer (`sendmail -bv root+foo` on an m4-built cf with
/// local_lmtp: "mailer local, host foo, user root"); with the feature the
/// whole `alice+work` goes, and this Dovecot (`recipient_delimiter = +`,
/// `lmtp_save_to_detail_mailbox = yes`) files it into the folder `work`.
#[test]
fn local_lmtp_drops_the_detail_unless_preserve_local_plus_detail() {
    use mxgate::queue::agents::Agents;
    use mxgate::queue::remote::NetworkAgents;
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let Some(mut child) = dovecot_lmtp_with(
        dir.path(),
        port,
        "recipient_delimiter = +\nlmtp_save_to_detail_mailbox = yes\nlda_mailbox_autocreate = yes\n",
    ) else {
        panic!(
            "Dovecot's LMTP server could not be started (apt-get install dovecot-core dovecot-lmtpd)"
        );
    };
    let deliver = |preserve: bool| {
        let case = site_with(0, "files", BTreeMap::new(), |c| {
            c.features
                .insert("local_lmtp".into(), vec![format!("127.0.0.1:{port}")]);
            if preserve {
                c.features
                    .insert("preserve_local_plus_detail".into(), Vec::new());
            }
        });
        let site = Arc::new(case.site);
        let agents = NetworkAgents {
            site: Arc::new(move || site.clone()),
            smtp: SmtpAgent::new(
                Dns::with_servers(
                    &["127.0.0.1:9".parse().unwrap()],
                    Duration::from_millis(100),
                )
                .unwrap(),
            ),
            lmtp: Arc::new(mxgate::deliver::lmtp::LmtpPool::default()),
        };
        let id = QueueId::generate(std::time::SystemTime::now(), std::process::id(), 9);
        let env = Envelope::new("<a@example.com>");
        let batch = batch(&id, &env, &["alice+work"]);
        let hop = NextHop {
            mailer: "local".into(),
            host: None,
        };
        smol::block_on(agents.deliver(&hop, batch))
    };
    let count = |sub: &str| {
        std::fs::read_dir(dir.path().join("mail/alice/Maildir").join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let plain = deliver(false);
    let (inbox, work) = (count("new"), count(".work/new"));
    let kept = deliver(true);
    let (inbox2, work2) = (count("new"), count(".work/new"));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default();
    assert!(
        matches!(plain[0], Outcome::Delivered { .. }),
        "{plain:?}\n{log}"
    );
    assert!(
        matches!(kept[0], Outcome::Delivered { .. }),
        "{kept:?}\n{log}"
    );
    assert_eq!(
        (inbox, work),
        (1, 0),
        "without the feature: the inbox\n{log}"
    );
    assert_eq!((inbox2, work2), (1, 1), "with it: the folder work\n{log}");
}

/// With a pool, three batches in a row go over one LMTP session (Dovecot
/// logs them as transactions 1–3 of one session), as Postfix's LMTP client
/// keeps its connections.
#[test]
fn lmtp_sessions_are_kept_for_the_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let Some(mut child) = dovecot_lmtp(dir.path(), port) else {
        panic!(
            "Dovecot's LMTP server could not be started (apt-get install dovecot-core dovecot-lmtpd)"
        );
    };
    let pool = std::sync::Arc::new(mxgate::deliver::lmtp::LmtpPool::default());
    let id = QueueId::generate(std::time::SystemTime::now(), std::process::id(), 8);
    let env = Envelope::new("<a@example.com>");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let agent = LmtpAgent::new(
            LmtpTarget::parse(&format!("127.0.0.1:{port}")),
            "gw.example.com",
        )
        .with_pool(pool.clone());
        let batch = batch(&id, &env, &["alice"]);
        outcomes.extend(smol::block_on(agent.deliver(&batch)));
    }
    drop(pool);
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Delivered { .. })),
        "{outcomes:?}\n{log}"
    );
    let files = std::fs::read_dir(dir.path().join("mail/alice/Maildir/new"))
        .unwrap()
        .count();
    assert_eq!(files, 3, "{log}");
    // Dovecot numbers the transactions of one session: `<pid><session:T3>`
    // is the third over the same connection.
    assert!(
        log.contains(":T3>: Info: msgid=unspecified: saved mail"),
        "one session: {log}"
    );
}

#[test]
fn connections_are_reused_for_the_next_batch_to_the_same_host() {
    let nsd = Nsd::start();
    let port = support::free_port();
    let peer = Peer::start("127.0.0.9", port, r#"{}"#);
    let case = site(port, None, "dns", BTreeMap::new());
    let a = agent(&nsd, 0);
    for _ in 0..3 {
        let o = deliver(
            &a,
            &case.site,
            &hop("esmtp", "group.d.test"),
            &["a@group.d.test"],
        );
        assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    }
    // Three transactions over one session: one EHLO, three MAILs.
    assert_eq!(peer.count("MAIL"), 3);
    assert_eq!(peer.count("EHLO"), 1, "{:?}", peer.commands());
}

// ---------------------------------------------------------------- TLS policy

/// A test CA and a server certificate it signed for `mx.tls.test` and
/// 127.0.0.1, written over the peer's self-signed pair (openssl).
fn ca_signed_pair(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (apt-get install openssl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mxgate test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=mx.tls.test",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:mx.tls.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    dir.join("ca.pem")
}

/// A site with `access` entries (FEATURE(access_db)) and the peer's CA as
/// `confCACERT` (or none: the system bundle, which does not know it).
fn tls_site(port: u16, access: &str, cacert: Option<&Path>) -> Case {
    let mut case = site(port, None, "files", BTreeMap::new());
    let mut config = case.site.config.clone();
    config.features.insert("access_db".into(), vec![]);
    if let Some(ca) = cacert {
        config
            .options
            .insert("confCACERT".into(), ca.display().to_string());
    }
    let mut tables: BTreeMap<String, TableRef> = BTreeMap::new();
    tables.insert("access".into(), Arc::new(MemTable::from_lines(access)));
    case.site = Site::from_parts(config, tables).unwrap();
    case
}

/// sendmail's TLS access keys against a second mxgate with a certificate
/// from a test CA: `verify=OK` only with that CA as confCACERT; `TLS_Srv:`
/// requirements (VERIFY, ENCR:bits, +CN) defer with sendmail's words when
/// unmet; `Try_TLS:` NO sends no STARTTLS (`verify=CLEAR`); `TLS_Rcpt:`
/// holds back one recipient of a batch while the other is delivered.
#[test]
fn tls_access_keys_verify_the_server_as_sendmail_does() {
    let mut peer = support::Daemon::prepare(support::Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n",
        tables: &[("mailboxes", "alice OK\nbob OK\n")],
        tls: true,
    });
    let ca = ca_signed_pair(peer.path());
    peer.spawn();
    let nsd = Nsd::start();
    let logged: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let go = |access: &str, cacert: Option<&Path>, host: &str, rcpts: &[&str]| {
        let case = tls_site(peer.mta, access, cacert);
        let mut a = agent(&nsd, 0);
        let sink = logged.clone();
        a.log = Some(Arc::new(move |_, line| {
            sink.lock().unwrap().push(line.to_string())
        }));
        logged.lock().unwrap().clear();
        let o = deliver(&a, &case.site, &hop("esmtp", host), rcpts);
        (o, logged.lock().unwrap().clone())
    };
    let deferred = |o: &Outcome| match o {
        Outcome::Deferred { reply, .. } => reply.to_string(),
        other => panic!("not deferred: {other:?}"),
    };

    // The CA is known: verify=OK, and VERIFY is met.
    let (o, log) = go(
        "TLS_Srv:127.0.0.1\tVERIFY\n",
        Some(&ca),
        "[127.0.0.1]",
        &["alice@example.com"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?} {log:?}");
    assert!(log[0].contains(", verify=OK, "), "{log:?}");
    // The system bundle does not know the test CA: FAIL, and VERIFY defers.
    let (o, log) = go(
        "TLS_Srv:127.0.0.1\tVERIFY\n",
        None,
        "[127.0.0.1]",
        &["alice@example.com"],
    );
    assert_eq!(
        deferred(&o[0]),
        "454 4.7.0 authentication failed",
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l == "ruleset=tls_server, arg1=FAIL, relay=[127.0.0.1], reject=454 4.7.0 authentication failed"),
        "{log:?}"
    );
    // ENCR above what any cipher gives; PERM+ fails the message for good.
    let (o, _) = go(
        "TLS_Srv:127.0.0.1\tENCR:512\n",
        Some(&ca),
        "[127.0.0.1]",
        &["alice@example.com"],
    );
    let r = deferred(&o[0]);
    assert!(
        r.starts_with("454 4.7.0 encryption too weak ") && r.ends_with(" less than 512"),
        "{r}"
    );
    let (o, _) = go(
        "TLS_Srv:\tPERM+ENCR:512\n",
        Some(&ca),
        "[127.0.0.1]",
        &["alice@example.com"],
    );
    assert!(
        matches!(&o[0], Outcome::Failed { status, .. } if *status == EnhancedStatus::new(5, 7, 0)),
        "{o:?}"
    );
    // +CN: the certificate names mx.tls.test and 127.0.0.1, not localhost.
    let (o, _) = go(
        "TLS_Srv:localhost\tVERIFY+CN:mx.tls.test\n",
        Some(&ca),
        "[localhost]",
        &["alice@example.com"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    let (o, _) = go(
        "TLS_Srv:localhost\tVERIFY+CN\n",
        Some(&ca),
        "[localhost]",
        &["alice@example.com"],
    );
    assert_eq!(deferred(&o[0]), "454 4.7.0 CN does not match localhost");
    // Try_TLS: NO: no STARTTLS at all (no STARTTLS=client line); a
    // requirement then meets CLEAR.
    let (o, log) = go(
        "Try_TLS:127.0.0.1\tNO\n",
        Some(&ca),
        "[127.0.0.1]",
        &["alice@example.com"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    assert!(
        !log.iter().any(|l| l.starts_with("STARTTLS=client")),
        "{log:?}"
    );
    let (o, _) = go(
        "Try_TLS:127.0.0.1\tNO\nTLS_Srv:127.0.0.1\tVERIFY\n",
        Some(&ca),
        "[127.0.0.1]",
        &["alice@example.com"],
    );
    assert_eq!(deferred(&o[0]), "454 4.7.0 STARTTLS disabled locally");
    // TLS_Rcpt: only bob's domain wants a verified server.
    let (o, log) = go(
        "TLS_Rcpt:bob@example.com\tTEMP+VERIFY\n",
        None,
        "[127.0.0.1]",
        &["alice@example.com", "bob@example.com"],
    );
    assert!(matches!(o[0], Outcome::Delivered { .. }), "{o:?}");
    assert_eq!(deferred(&o[1]), "403 4.7.0 authentication failed");
    assert!(
        log.iter().any(|l| l.starts_with(
            "ruleset=tls_rcpt, arg1=<bob@example.com>, relay=[127.0.0.1], reject=403 4.7.0"
        )),
        "{log:?}"
    );
    // The peer took four messages, each for one recipient; one came in
    // clear (Try_TLS: NO); a refused server got QUIT before MAIL.
    let log = peer.maillog();
    let taken: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("from=<a@example.org>"))
        .collect();
    assert_eq!(taken.len(), 4, "{log}");
    assert!(taken.iter().all(|l| l.contains("nrcpts=1")), "{log}");
    assert_eq!(
        taken.iter().filter(|l| l.contains("proto=ESMTP,")).count(),
        1,
        "{log}"
    );
}

#[test]
fn iconnect_is_the_connect_wait_of_a_messages_first_attempt() {
    // sendmail 8.17, deliver.c makeconnection: Timeout.iconnect when the
    // envelope has no tries yet (e_ntries <= 0) and it is not 0, else
    // Timeout.connect. Debian's debian-mta.m4 sets confTO_ICONNECT 2m; it
    // was warned and every attempt waited confTO_CONNECT.
    //
    // A listener whose accept queue is full (backlog 0, one connection
    // never accepted): Linux drops further SYNs, so a connect to it waits
    // for its timeout.
    use socket2::{Domain, Socket, Type};
    let nsd = Nsd::start();
    let full = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    full.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    full.listen(0).unwrap();
    let at = full.local_addr().unwrap().as_socket().unwrap();
    let _queued = std::net::TcpStream::connect(at).unwrap();
    let hop = hop("esmtp", &format!("[127.0.0.1]:{}", at.port()));
    // Each delivery runs in a thread of its own; one that waits longer
    // than a minute is waiting the other timeout (an hour), and fails.
    let attempt = |connect: &str, iconnect: &str, tries: u32| {
        let case = site_with(at.port(), "dns", BTreeMap::new(), |c| {
            c.options.insert("confTO_CONNECT".into(), connect.into());
            c.options.insert("confTO_ICONNECT".into(), iconnect.into());
        });
        let a = agent(&nsd, 0);
        let hop = hop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let id = QueueId::parse("64ABCDEF000002").unwrap();
            let env = Envelope::new("<a@example.org>");
            let mut b = batch(&id, &env, &["u@x.d.test"]);
            b.tries = tries;
            let _ = tx.send(smol::block_on(a.deliver(&case.site, &hop, &b)));
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("tries={tries}: still connecting after a minute"))
    };
    let said = |o: &[Outcome]| match &o[0] {
        Outcome::Deferred { status, reply, .. } => format!("{status} {reply}"),
        other => panic!("{other:?}"),
    };
    let timed_out = "4.4.1 Connection timed out with 127.0.0.1.";
    // The first attempt waits confTO_ICONNECT (1s), not confTO_CONNECT (1h).
    assert_eq!(said(&attempt("1h", "1s", 0)), timed_out);
    // A later attempt waits confTO_CONNECT (1s), not confTO_ICONNECT (1h).
    assert_eq!(said(&attempt("1s", "1h", 1)), timed_out);
}
