//! Helpers shared by the integration tests: a real `mxgate daemon` on
//! loopback ports with its own spool, and real clients (Python's smtplib,
//! swaks, raw sockets).
#![allow(dead_code)]

pub mod clamav;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mxgate");

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    // Ports below the kernel's ephemeral range (32768+), handed out once per
    // process from a per-process start, and only if bindable right now: tests
    // in one binary run in parallel and must never pick the same port.
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 10_000 + (std::process::id() % 200) * 100;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = u16::try_from(base + n % 20_000).unwrap_or(0);
        if port > 1024 && port < 32_000 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Copy a directory tree (a `cf/` site folder into a temp dir).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Write every page `mxgate man --list` names under DIR/manS/NAME.S.
pub fn write_man_pages(dir: &Path) -> Vec<(String, String)> {
    let list = Command::new(BIN).args(["man", "--list"]).output().unwrap();
    assert!(list.status.success());
    let mut pages = Vec::new();
    for l in String::from_utf8(list.stdout).unwrap().lines() {
        let (name, section) = l.split_once(' ').expect("NAME SECTION");
        let out = Command::new(BIN).args(["man", name]).output().unwrap();
        assert!(out.status.success(), "mxgate man {name}: {out:?}");
        let d = dir.join(format!("man{section}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{name}.{section}")), &out.stdout).unwrap();
        pages.push((name.to_string(), section.to_string()));
    }
    pages
}

/// A running daemon.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub mta: u16,
    pub msa: u16,
    pub smtps: u16,
    pub mc: PathBuf,
}

/// What the test config needs beyond the listeners and the spool.
pub struct Setup<'a> {
    /// Extra .mc lines (FEATUREs, defines).
    pub mc: &'a str,
    /// Tables to build: (file name, text, map type) → makemap into the temp dir.
    pub tables: &'a [(&'a str, &'a str)],
    /// TLS: generate a certificate with openssl.
    pub tls: bool,
}

impl Daemon {
    pub fn start(setup: Setup<'_>) -> Daemon {
        let mut daemon = Daemon::prepare(setup);
        daemon.spawn();
        daemon
    }

    /// Write the config, tables and files but do not start the daemon yet
    /// (the test may change files in `path()` first, then call `spawn`).
    pub fn prepare(setup: Setup<'_>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, text) in setup.tables {
            std::fs::write(d.join(name), text).unwrap();
            let out = Command::new(BIN)
                .args(["makemap", "lmdb"])
                .arg(d.join(name))
                .stdin(std::fs::File::open(d.join(name)).unwrap())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "makemap {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (mta, msa, smtps) = (free_port(), free_port(), free_port());
        let mut mc = format!(
            "divert(-1)\ndivert(0)dnl\nOSTYPE(`linux')dnl\n\
             define(`confDOMAIN_NAME', `gw.example.com')dnl\n\
             define(`QUEUE_DIR', `{q}')dnl\n\
             define(`confMXGATE_LOG_FILE', `{log}')dnl\n\
             define(`confHOSTS_FILE', `{hosts}')dnl\n\
             define(`confSERVICE_SWITCH_FILE', `{switch}')dnl\n\
             define(`confMXGATE_NAMESERVERS', `127.0.0.1:9')dnl\n\
             define(`confMXGATE_QUEUE_INTERVAL', `0')dnl\n\
             DAEMON_OPTIONS(`Port={mta}, Addr=127.0.0.1, Name=MTA')dnl\n\
             DAEMON_OPTIONS(`Port={msa}, Addr=127.0.0.1, Name=MSA, M=Ea')dnl\n",
            q = d.join("spool").display(),
            log = d.join("maillog").display(),
            hosts = d.join("hosts").display(),
            switch = d.join("service.switch").display(),
        );
        std::fs::write(d.join("hosts"), "127.0.0.1 localhost\n127.0.0.2 stranger.example.org\n192.0.2.1 example.org relay.example.org\n").unwrap();
        std::fs::write(d.join("service.switch"), "hosts files\n").unwrap();
        if setup.tls {
            let out = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=gw.example.com",
                    "-keyout",
                ])
                .arg(d.join("key.pem"))
                .arg("-out")
                .arg(d.join("cert.pem"))
                .output()
                .expect("openssl");
            assert!(out.status.success());
            mc += &format!(
                "define(`confSERVER_CERT', `{}')dnl\ndefine(`confSERVER_KEY', `{}')dnl\n\
                 DAEMON_OPTIONS(`Port={smtps}, Addr=127.0.0.1, Name=SMTPS, M=sa')dnl\n",
                d.join("cert.pem").display(),
                d.join("key.pem").display()
            );
        }
        mc += &setup.mc.replace("@DIR@", &d.display().to_string());
        mc += "MAILER(`local')dnl\nMAILER(`smtp')dnl\n";
        let mc_path = d.join("test.mc");
        std::fs::write(&mc_path, mc).unwrap();
        Daemon {
            dir,
            child: None,
            mta,
            msa,
            smtps,
            mc: mc_path,
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Wait (bounded) for the daemon to exit by itself; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `mxgate check --config` on this daemon's configuration: whether it
    /// passed, and what it printed (standard output, then error).
    pub fn check(&self) -> (bool, String) {
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&self.mc)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Wait (bounded) until the maillog contains `text`.
    pub fn wait_log(&self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.maillog().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn spawn(&mut self) {
        let mut daemon = Command::new(BIN);
        daemon.args(["daemon", "--config"]).arg(&self.mc);
        self.spawn_with(daemon);
        // A listening socket completes a connection before the daemon
        // accepts one, and the daemon binds before the steps that can still
        // stop it (privileges, the spool's log, ...): once one connection
        // went through, ready is its "starting daemon" line (one more than
        // before this start). A config that logs elsewhere (no maillog)
        // is ready at the connection, as before. One probe connection
        // only: each is a session the daemon logs.
        const STARTED: &str = "starting daemon (mxgate ";
        let starts = self.maillog().matches(STARTED).count();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut listening = false;
        loop {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("daemon exited {st}: {}", self.stderr());
            }
            listening = listening || TcpStream::connect(("127.0.0.1", self.mta)).is_ok();
            if listening
                && (self.maillog().matches(STARTED).count() > starts
                    || !self.dir.path().join("maillog").exists())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not start: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start the daemon through a wrapper command (`prlimit`, `unshare`,
    /// ...) that ends by running it: standard output discarded, standard
    /// error to the file [`Daemon::stderr`] reads. Does not wait for it.
    pub fn spawn_with(&mut self, mut wrapper: Command) {
        let child = wrapper
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Files in a spool state directory.
    pub fn queued(&self, state: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("spool").join(state))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .unwrap();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A raw SMTP conversation: send lines, read replies (multi-line aware).
pub struct Raw {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Raw::connect_from("127.0.0.1", port)
    }

    /// Connect from a chosen loopback source address (127.0.0.2 = an untrusted client).
    pub fn connect_from(src: &str, port: u16) -> Raw {
        let sock = socket_from(src, port);
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let w = sock.try_clone().unwrap();
        Raw {
            r: BufReader::new(sock),
            w,
        }
    }

    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                all += "<eof>";
                return all;
            }
            all += &line;
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all.trim_end().to_string();
            }
        }
    }

    pub fn send(&mut self, data: &str) {
        self.w.write_all(data.as_bytes()).unwrap();
    }

    /// Send a command line and return its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    pub fn rest(&mut self) -> String {
        let mut s = String::new();
        let _ = self.r.read_to_string(&mut s);
        s
    }
}

/// A TCP connection from `src` (a 127/8 address) to 127.0.0.1:port.
pub fn socket_from(src: &str, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&local.into()).unwrap();
    let remote: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    sock.connect(&remote.into()).unwrap();
    sock.into()
}

/// Run a Python snippet (smtplib), returning its output; panics with its stderr on failure.
pub fn python(script: &str) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3")
}

/// Run swaks with arguments.
pub fn swaks(args: &[&str]) -> Output {
    Command::new("swaks")
        .args(args)
        .output()
        .expect("swaks is installed by .ci/run")
}

/// Kill a helper process we started: SIGTERM, then SIGKILL after a bounded wait.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A free UDP+TCP loopback port for a DNS server.
pub fn free_dns_port() -> u16 {
    for _ in 0..50 {
        let p = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port");
}

/// A UDP port that swallows queries and never answers (a DNS server that is down
/// but not refusing). Dropped with the value.
pub struct SilentUdp {
    pub sock: std::net::UdpSocket,
    pub port: u16,
}

impl SilentUdp {
    pub fn bind() -> SilentUdp {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        SilentUdp { sock, port }
    }
}

/// A real authoritative DNS server (NSD) on 127.0.0.1:`port`, serving zones
/// written by the test. Stopped when dropped.
pub struct Nsd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Nsd {
    /// `zones`: (zone name, zone file text). Waits until NSD answers.
    pub fn start(zones: &[(&str, &str)]) -> Nsd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = free_dns_port();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  do-ip6: no\n  do-ip4: yes\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n  \
             rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n\
             remote-control:\n  control-enable: no\n"
        );
        for (i, (zone, text)) in zones.iter().enumerate() {
            let file = format!("zone{i}.zone");
            std::fs::write(dir.path().join(&file), text).unwrap();
            conf += &format!("zone:\n  name: {zone}\n  zonefile: {file}\n");
        }
        std::fs::write(dir.path().join("nsd.conf"), conf).unwrap();
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(dir.path().join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .expect("nsd is installed by .ci/run");
        let mut nsd = Nsd { port, dir, child };
        // Ready when it answers a query for the first zone's apex (SOA).
        let first = zones.first().map(|z| z.0).unwrap_or(".");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !nsd.answers(first) {
            if let Ok(Some(st)) = nsd.child.try_wait() {
                panic!("nsd exited {st}: {}", nsd.log());
            }
            assert!(
                Instant::now() < deadline,
                "nsd did not start: {}",
                nsd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nsd
    }

    pub fn log(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default(),
            std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
        )
    }

    /// Does NSD answer an SOA query for `name` (rcode NOERROR)?
    fn answers(&self, name: &str) -> bool {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.trim_end_matches('.').split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 6, 0, 1]);
        if sock.send_to(&q, ("127.0.0.1", self.port)).is_err() {
            return false;
        }
        let mut buf = [0u8; 512];
        match sock.recv(&mut buf) {
            Ok(n) => n > 4 && buf[3] & 0x0f == 0,
            Err(_) => false,
        }
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// A real Dovecot (auth service only) with its own configuration in a temp
/// dir — no system-wide dovecot.conf is read. `users`: (name, `{SCHEME}hash`
/// or `{PLAIN}pw`) for a passwd-file passdb. Stopped when dropped.
pub struct Dovecot {
    pub dir: tempfile::TempDir,
    /// The `auth-client` socket (Dovecot's client protocol).
    pub socket: PathBuf,
    child: Child,
}

impl Dovecot {
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut passwd = String::new();
        for (u, p) in users {
            passwd += &format!("{u}:{p}\n");
        }
        std::fs::write(d.join("passwd"), passwd).unwrap();
        for sub in ["run", "state"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             protocols =\nssl = no\ndisable_plaintext_auth = yes\nauth_mechanisms = plain login\n\
             auth_failure_delay = 0\n\
             default_internal_user = root\ndefault_login_user = root\ndefault_internal_group = root\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=root gid=root home={d}\n}}\n\
             service auth {{\n  unix_listener auth-client {{\n    mode = 0666\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n",
            d = d.display()
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap())
            .spawn()
            .expect("dovecot is installed by .ci/run (dovecot-core)");
        let socket = d.join("run/auth-client");
        let mut dc = Dovecot { dir, socket, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&dc.socket).is_err() {
            if let Ok(Some(st)) = dc.child.try_wait() {
                panic!("dovecot exited {st}: {}", dc.log());
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not start: {}",
                dc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        dc
    }

    pub fn log(&self) -> String {
        format!(
            "{}{}",
            std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default(),
            std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
        )
    }

    /// Is the dovecot master still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stop now (the test checks it is gone).
    pub fn stop(&mut self) {
        stop_child(&mut self.child);
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// `tests/support/dropdns.py`: a loopback DNS responder that loses queries on
/// purpose (a zone it never answers, the first copy of each question, or one
/// query in N). Every query it sees is reported on `queries` as
/// `"NAME TYPE answered|dropped"`. Stopped when dropped.
pub struct DropDns {
    pub port: u16,
    pub queries: std::sync::mpsc::Receiver<String>,
    child: Child,
}

impl DropDns {
    pub fn start(args: &[&str]) -> DropDns {
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/dropdns.py"
            ))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is installed by .ci/run (apt-get install python3)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("dropdns.py did not start: {line:?}"));
        let (tx, queries) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                // "q ID NAME TYPE verdict" → "NAME TYPE verdict"
                let rest: Vec<&str> = l.split(' ').skip(2).collect();
                if tx.send(rest.join(" ")).is_err() {
                    break;
                }
            }
        });
        DropDns {
            port,
            queries,
            child,
        }
    }

    /// Wait (bounded) until a query report containing `text` arrives.
    pub fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.queries.recv_timeout(left) {
                Ok(q) if q.contains(text) => return q,
                Ok(_) => {}
                Err(e) => panic!("dropdns: no query {text:?}: {e}"),
            }
        }
    }
}

impl Drop for DropDns {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// Has the peer sent anything not yet read? (Without waiting.)
pub fn has_pending(c: &mut Raw) -> bool {
    if !c.r.buffer().is_empty() {
        return true;
    }
    c.r.get_ref().set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let pending =
        !matches!(c.r.get_ref().peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    c.r.get_ref().set_nonblocking(false).unwrap();
    pending
}

/// Debian's logwatch, its `sendmail` service at the highest detail, over
/// `log` (the text of a mail log): its report on standard output. A
/// missing logwatch fails the test with the install hint.
#[allow(dead_code)]
pub fn logwatch_sendmail(log: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    // Debian's logwatch reads `mail.log` in its log directory
    // (dist.conf/logfiles/maillog.conf).
    std::fs::write(dir.path().join("mail.log"), log).unwrap();
    let out = Command::new("logwatch")
        .args([
            "--service",
            "sendmail",
            "--range",
            "All",
            "--detail",
            "High",
        ])
        .args(["--output", "stdout", "--logdir"])
        .arg(dir.path())
        .output()
        .expect("logwatch is missing: apt-get install logwatch (.ci/run installs it)");
    assert!(out.status.success(), "logwatch: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
