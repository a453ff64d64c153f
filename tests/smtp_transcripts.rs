//! Golden SMTP transcripts: `tests/transcripts/smtp/*.t`, replayed against
//! the receive transaction (`smtpd::transaction::Session`) without a
//! socket, as Postfix's `.in`/`.ref` pairs. A file is the whole session as
//! an administrator reads it:
//!
//! * header lines (`# site: cf/DIR/FILE.mc`, `# tables: access ...`,
//!   `# define: NAME=VALUE`, `# client: ADDR [NAME|unknown|forged NAME|tempfail]`,
//!   `# listener: NAME`, `# tls: available|smtps`, `# dns: DOMAIN
//!   found|notfound|tempfail`, `# dnsbl: QUERY ADDR|notfound|tempfail`,
//!   `# password: USER PASSWORD`, `# room: full`, `# commit: nospace|error`
//!   (the spool refuses the commit; `spill-nospace`: the scratch file for a
//!   large message cannot be written), `# early: LINE` (the client sent LINE
//!   during greet_pause), `# broken: ROLE` (every lookup in that table
//!   fails, as a damaged or unreadable map does)); other `#` lines are
//!   comments;
//! * `> LINE`: a line the client sends (CRLF added); `>* BYTES`: that many
//!   bytes of generated body lines (some dot-stuffed); consecutive `>` lines
//!   are sent as one packet (pipelining; an empty line or a line of the
//!   session's output ends a packet); `>~ TEXT` sends TEXT with `\r`,
//!   `\n`, `\t` unescaped and nothing added;
//! * `~ idle SECONDS`: the client says nothing for that long; `~ stop`: the
//!   daemon is asked to stop; `~ eof`: the client goes away;
//! * what the session did: `< ` reply lines, `L ` log lines, `C ` the
//!   messages committed (envelope and the header lines we add), `~ tls`
//!   where a TLS handshake happened, `~ wait N` where the session asked
//!   to wait (the AUTH failure delay), `~ read back N bytes` where a message
//!   kept out of memory was read back for the content checks, `~ closed`
//!   when the session ended.
//!
//! Every message committed must hold exactly what the client sent with
//! DATA, after the header lines we add.
//!
//! The site folder is copied to a temp dir and its tables built with
//! `mxgate makemap`; the temp path is shown as `CFDIR`. The clock is fixed
//! (2026-01-01 00:00:00 UTC) and advances only with `~ idle` and waits.
//! Re-bless with `MXGATE_BLESS=1` (and read the diff).

use mxgate::auth::{Credentials, throttle::Throttle};
use mxgate::policy::{Client, DnsAnswer, Resolve};
use mxgate::smtpd::milters::Filters;
use mxgate::smtpd::stream::TlsInfo;
use mxgate::smtpd::transaction::{Commit, Inputs, Origin, Session, World};
use mxgate::smtpd::{Runtime, listener};
use mxgate::spool::{self, QueueId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

mod support;
use support::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_mxgate");
/// 2026-01-01 00:00:00 UTC.
const EPOCH: u64 = 1_767_225_600;

/// The transcript being written, shared by the world and the runner.
type Out = Rc<RefCell<Vec<String>>>;

/// A world that answers from the transcript's header lines.
struct Data {
    out: Out,
    start: Instant,
    elapsed: Rc<RefCell<Duration>>,
    seq: u64,
    filters: Filters,
    dns: HashMap<String, DnsAnswer<Vec<IpAddr>>>,
    passwords: HashMap<String, String>,
    full: bool,
    /// `# commit: nospace|error`: the spool refuses the commit.
    commit_error: String,
    throttle: Throttle,
    /// What the session spilled of the message in transfer.
    scratch: Vec<u8>,
    /// The messages committed, whole (the head, what was spilled, the body).
    committed: Vec<Vec<u8>>,
}

impl World for Data {
    fn log(&self, id: &str, text: &str) {
        self.out.borrow_mut().push(format!("L {id}: {text}"));
    }
    fn now(&self) -> Instant {
        self.start + *self.elapsed.borrow()
    }
    fn unix_time(&self) -> u64 {
        EPOCH + self.elapsed.borrow().as_secs()
    }
    fn has_room(&self) -> Result<(), &'static str> {
        if self.full {
            Err("Insufficient disk space; try again later")
        } else {
            Ok(())
        }
    }
    fn next_id(&mut self) -> QueueId {
        self.seq += 1;
        QueueId::generate(UNIX_EPOCH + Duration::from_secs(EPOCH), 4242, self.seq)
    }
    fn filters(&mut self) -> &mut Filters {
        &mut self.filters
    }
    async fn domain_exists(&mut self, domain: &str) -> Option<DnsAnswer<Vec<IpAddr>>> {
        Some(
            self.dns
                .get(&domain.to_ascii_lowercase())
                .cloned()
                .unwrap_or(DnsAnswer::Found(vec![])),
        )
    }
    async fn check_password(&mut self, creds: &Credentials, _ip: IpAddr) -> Result<bool, String> {
        match self.passwords.get(&creds.user) {
            Some(p) if p == "TEMPFAIL" => Err("backend unavailable".into()),
            Some(p) => Ok(*p == creds.password),
            None => Ok(false),
        }
    }
    fn auth_failed(&mut self, ip: IpAddr) -> mxgate::auth::throttle::Penalty {
        let now = self.now();
        self.throttle.failed(ip, now)
    }
    fn auth_succeeded(&mut self, ip: IpAddr) {
        self.throttle.succeeded(ip);
    }
    async fn sleep(&mut self, wait: Duration) {
        self.out
            .borrow_mut()
            .push(format!("~ wait {}", wait.as_secs()));
        *self.elapsed.borrow_mut() += wait;
    }
    async fn spill(&mut self, part: Vec<u8>) -> Result<(), spool::Error> {
        if self.commit_error == "spill-nospace" {
            let path = std::path::PathBuf::from("/spool/tmp/(scratch)");
            return Err(spool::Error::NoSpace { path });
        }
        self.scratch.extend_from_slice(&part);
        Ok(())
    }
    async fn unspill(&mut self) -> Result<Vec<u8>, spool::Error> {
        self.out
            .borrow_mut()
            .push(format!("~ read back {} bytes", self.scratch.len()));
        Ok(self.scratch.clone())
    }
    fn discard_spill(&mut self) {
        self.scratch.clear();
    }
    fn flush_queue(&mut self) -> bool {
        self.out.borrow_mut().push("~ queue run".into());
        true
    }
    async fn commit(&mut self, m: Commit) -> Result<u64, spool::Error> {
        let path = std::path::PathBuf::from("/spool/queue/tmp");
        match self.commit_error.as_str() {
            "nospace" => return Err(spool::Error::NoSpace { path }),
            "error" => {
                let err = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
                return Err(spool::Error::Io { path, err });
            }
            _ => {}
        }
        let mut out = self.out.borrow_mut();
        out.push(format!(
            "C {} {:?} from={} to={}",
            m.id.as_str(),
            m.state,
            m.envelope.sender,
            m.envelope
                .recipients
                .iter()
                .map(|r| r.address.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
        for (k, v) in &m.envelope.facts {
            out.push(format!("C   {k}={v}"));
        }
        for l in m.head.lines() {
            out.push(format!("C | {l}"));
        }
        if m.spilled > 0 {
            assert_eq!(m.spilled, self.scratch.len() as u64, "spilled bytes");
            out.push(format!(
                "C   ({} bytes spilled, {} in memory)",
                m.spilled,
                m.body.len()
            ));
        }
        let mut whole = m.head.clone().into_bytes();
        whole.extend_from_slice(&self.scratch[..m.spilled as usize]);
        whole.extend_from_slice(&m.body);
        self.committed.push(whole);
        Ok(m.head.len() as u64 + m.spilled + m.body.len() as u64)
    }
}

fn unescape(s: &str) -> String {
    s.replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\t", "\t")
}

/// `>* BYTES`: about that many bytes of body lines, every 500th one
/// dot-stuffed (`..`), as a client sends them.
fn generated(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 100);
    let mut i = 0usize;
    while out.len() < bytes {
        let dots = if i % 500 == 499 { ".." } else { "" };
        out.extend_from_slice(format!("{dots}{i:07} {}\r\n", "x".repeat(70)).as_bytes());
        i += 1;
    }
    out
}

/// DATA's dot-stuffing undone.
fn unstuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

fn answer(word: &str) -> DnsAnswer<Vec<IpAddr>> {
    match word {
        "notfound" => DnsAnswer::NotFound,
        "tempfail" => DnsAnswer::TempFail,
        "found" => DnsAnswer::Found(vec![]),
        ip => DnsAnswer::Found(vec![ip.parse().expect("an address")]),
    }
}

/// Replay one transcript; the text it should have been.
fn replay(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut header = Vec::new();
    let mut site = None;
    let mut tables = Vec::new();
    let mut defines = Vec::new();
    let mut client_line = "192.0.2.10 mail.example.net".to_string();
    let mut listener = None;
    let mut tls = String::new();
    let mut dns = HashMap::new();
    let mut dnsbl = Vec::new();
    let mut passwords = HashMap::new();
    let mut full = false;
    let mut commit_error = String::new();
    let mut early = None;
    let mut broken: Vec<String> = Vec::new();
    let mut script = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') && script.is_empty() {
            header.push(line.to_string());
            let Some((key, value)) = line[1..].trim().split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "site" => site = Some(value.to_string()),
                "tables" => tables = value.split_whitespace().map(str::to_string).collect(),
                "define" => {
                    let (n, v) = value.split_once('=').expect("NAME=VALUE");
                    defines.push((n.to_string(), v.to_string()));
                }
                "client" => client_line = value.to_string(),
                "listener" => listener = Some(value.to_string()),
                "tls" => tls = value.to_string(),
                "dns" => {
                    let (d, a) = value.split_once(' ').expect("DOMAIN ANSWER");
                    dns.insert(d.to_ascii_lowercase(), answer(a.trim()));
                }
                "dnsbl" => {
                    let (q, a) = value.split_once(' ').expect("QUERY ANSWER");
                    dnsbl.push((q.to_string(), answer(a.trim())));
                }
                "password" => {
                    let (u, p) = value.split_once(' ').expect("USER PASSWORD");
                    passwords.insert(u.to_string(), p.to_string());
                }
                "room" => full = value == "full",
                "commit" => commit_error = value.to_string(),
                "early" => early = Some(value.to_string()),
                "broken" => broken.push(value.to_string()),
                _ => {}
            }
        } else if line.starts_with(['>', '#'])
            || line.is_empty()
            || line.starts_with("~ idle")
            || line == "~ stop"
            || line == "~ eof"
        {
            script.push(line.to_string());
        } else {
            // What the session said: it ends a packet.
            script.push("|".into());
        }
    }
    let site_rel = site.expect("a `# site:` line");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mc_rel = Path::new(&site_rel);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root.join(mc_rel.parent().unwrap()), dir.path());
    let cfdir = dir.path().display().to_string();
    for t in &tables {
        let src = dir.path().join(t);
        let out = Command::new(BIN)
            .args(["makemap", "hash"])
            .arg(&src)
            .stdin(std::fs::File::open(&src).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "makemap {t}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    defines.push(("CFDIR".into(), cfdir.clone()));
    let mc = dir.path().join(mc_rel.file_name().unwrap());
    let aliases = dir.path().join("aliases");
    if let Ok(a) = std::fs::read_to_string(&aliases) {
        std::fs::write(&aliases, a.replace("/etc/mail/", &format!("{cfdir}/"))).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("newaliases");
        for (n, v) in &defines {
            cmd.args(["-D", &format!("{n}={v}")]);
        }
        let out = cmd.arg("-C").arg(&mc).output().unwrap();
        assert!(
            out.status.success(),
            "newaliases: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = mxgate::config::load(&mc, &defines).expect("the site compiles");
    let specs = listener::specs(&config).expect("listeners");
    let site = if broken.is_empty() {
        mxgate::site::Site::load(config).expect("the site loads")
    } else {
        let mut tables = std::collections::BTreeMap::new();
        for (role, spec) in &config.maps {
            let t: mxgate::table::TableRef = if broken.contains(role) {
                Arc::new(mxgate::table::FailingTable)
            } else {
                mxgate::site::open_map(spec).expect("the table opens")
            };
            tables.insert(role.clone(), t);
        }
        mxgate::site::Site::from_parts(config, tables).expect("the site loads")
    };
    let site = Arc::new(site);
    let runtime = Arc::new(Runtime::new(site.clone()).expect("settings"));
    let spec = match &listener {
        Some(n) => specs.iter().find(|s| s.name == *n).expect("that listener"),
        None => specs.first().expect("a listener"),
    }
    .clone();
    let mut words = client_line.split_whitespace();
    let ip: IpAddr = words.next().unwrap().parse().expect("a client address");
    let mut client = Client::at(ip);
    match (words.next(), words.next()) {
        (Some("unknown"), _) => client.resolve = Resolve::Fail,
        (Some("tempfail"), _) => client.resolve = Resolve::Temp,
        (Some("forged"), Some(n)) => {
            client.name = n.to_string();
            client.resolve = Resolve::Forged;
        }
        (Some(n), _) => client.name = n.to_string(),
        (None, _) => {}
    }
    if client.resolve != Resolve::Ok {
        client.name = format!("[{ip}]");
    }
    let out: Out = Rc::new(RefCell::new(header));
    let elapsed = Rc::new(RefCell::new(Duration::ZERO));
    let start = Instant::now();
    let filters = Filters::for_listener(&site.config, spec.input_filters.as_deref());
    let world = Data {
        out: out.clone(),
        start,
        elapsed: elapsed.clone(),
        seq: 0,
        filters,
        dns,
        passwords,
        full,
        commit_error,
        throttle: Throttle::default(),
        scratch: Vec::new(),
        committed: Vec::new(),
    };
    // The server asked for a client certificate (sendmail's default) and
    // the client sent none: `verify=NO`.
    let tls_info = || TlsInfo {
        version: "TLSv1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        peer: mxgate::policy::tls::PeerCert::without(mxgate::policy::tls::Verify::No),
    };
    let inputs = Inputs {
        runtime,
        spec: Arc::new(spec),
        peer: SocketAddr::new(ip, 40000),
        local_addr: None,
        origin: Origin::Network,
        client,
        dns: dnsbl,
        sid: "SESSION".into(),
        tls_available: !tls.is_empty(),
        smtps: (tls == "smtps").then(tls_info),
    };
    let mut session = Session::new(inputs, world);
    let mut capture: Option<Vec<u8>> = None;
    let mut expected: Vec<Vec<u8>> = Vec::new();
    smol::block_on(async {
        if let Some(text) = &early {
            // `# early: TEXT`: the client talked during greet_pause.
            out.borrow_mut().push(format!("~ early {text}"));
            session.early_talker(format!("{text}\r\n").as_bytes(), Duration::from_secs(1));
        }
        session.open().await;
        let flush = |session: &mut Session<Data>| {
            let bytes = session.take_output();
            for l in String::from_utf8_lossy(&bytes).split_terminator("\r\n") {
                out.borrow_mut().push(format!("< {l}"));
            }
        };
        // As the driver (smtpd::conn): write, hand over to TLS, answer
        // what is buffered; then the next input.
        let settle = async |session: &mut Session<Data>| loop {
            flush(session);
            if session.is_closed() {
                return;
            }
            if session.take_tls_request() {
                out.borrow_mut().push("~ tls".into());
                session.tls_started(Some(tls_info())).await;
                continue;
            }
            if !session.step().await {
                return;
            }
        };
        settle(&mut session).await;
        let mut i = 0;
        while i < script.len() && !session.is_closed() {
            let line = &script[i];
            if let Some(secs) = line.strip_prefix("~ idle ") {
                out.borrow_mut().push(line.clone());
                let now = session.world().now();
                let fire = session.wake_at(now);
                let until = now + Duration::from_secs(secs.trim().parse().unwrap());
                if until >= fire {
                    *elapsed.borrow_mut() += fire - now;
                    session.timed_out(fire);
                } else {
                    *elapsed.borrow_mut() += until - now;
                }
                i += 1;
            } else if line == "~ stop" {
                out.borrow_mut().push(line.clone());
                if session.idle() {
                    session.shutting_down();
                }
                i += 1;
            } else if line == "|" {
                i += 1;
                continue;
            } else if line.starts_with('#') || line.is_empty() {
                out.borrow_mut().push(line.clone());
                i += 1;
                continue;
            } else if line == "~ eof" {
                out.borrow_mut().push(line.clone());
                break;
            } else {
                let mut packet = Vec::new();
                while i < script.len() && script[i].starts_with('>') {
                    let l = &script[i];
                    out.borrow_mut().push(l.clone());
                    let bytes = if let Some(raw) = l.strip_prefix(">~ ") {
                        unescape(raw).into_bytes()
                    } else if let Some(n) = l.strip_prefix(">* ") {
                        generated(n.trim().parse().expect(">* BYTES"))
                    } else {
                        let l = l.strip_prefix("> ").unwrap_or("");
                        format!("{l}\r\n").into_bytes()
                    };
                    // What DATA sends, unstuffed, is what a commit must hold.
                    match capture.as_mut() {
                        Some(_) if bytes == b".\r\n" => {
                            expected.push(unstuff(&capture.take().unwrap()));
                        }
                        Some(c) => c.extend_from_slice(&bytes),
                        None if bytes.eq_ignore_ascii_case(b"DATA\r\n") => {
                            capture = Some(Vec::new())
                        }
                        None => {}
                    }
                    packet.extend_from_slice(&bytes);
                    i += 1;
                }
                // Handed over in reads of at most 64 KiB, as the driver does.
                for part in packet.chunks(64 * 1024) {
                    session.receive(part);
                    settle(&mut session).await;
                }
            }
            settle(&mut session).await;
        }
        if session.is_closed() {
            out.borrow_mut().push("~ closed".into());
        }
        session.finish().await;
    });
    // Every message committed holds, after the lines we add, exactly what
    // the client sent with DATA (no transcript here edits a message).
    for whole in &session.world().committed {
        assert!(
            expected.iter().any(|e| whole.ends_with(e)),
            "{}: a committed message is not what the client sent ({} bytes)",
            path.display(),
            whole.len()
        );
    }
    let text = out.borrow().join("\n") + "\n";
    text.replace(&cfdir, "CFDIR")
}

#[test]
fn smtp_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/smtp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "t"))
        .collect();
    files.sort();
    let bless = std::env::var_os("MXGATE_BLESS").is_some();
    let mut failed = Vec::new();
    for f in &files {
        let want = std::fs::read_to_string(f).unwrap();
        let got = replay(f);
        if got != want {
            if bless {
                std::fs::write(f, &got).unwrap();
            } else {
                let diff: Vec<String> = want
                    .lines()
                    .zip(got.lines())
                    .filter(|(a, b)| a != b)
                    .take(3)
                    .map(|(a, b)| format!("  want: {a}\n  got:  {b}"))
                    .collect();
                failed.push(format!(
                    "{} ({} lines wanted, {} got):\n{}",
                    f.display(),
                    want.lines().count(),
                    got.lines().count(),
                    diff.join("\n")
                ));
            }
        }
    }
    assert!(files.len() >= 10, "transcripts in {}", dir.display());
    assert!(
        failed.is_empty(),
        "transcripts differ (MXGATE_BLESS=1 rewrites):\n{}",
        failed.join("\n")
    );
}

/// Every reply written in the receive transaction (`Reply::new(CODE,
/// st(..), "text")` in src/smtpd/transaction/) is given in some
/// transcript, with its code, enhanced status and fixed text. A reply
/// added without a transcript fails here (`NOT_YET` may name one for a
/// while, with the reason).
#[test]
fn every_reply_of_the_transaction_is_in_a_transcript() {
    const NOT_YET: &[(&str, &str)] = &[];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut src = String::new();
    for e in std::fs::read_dir(root.join("src/smtpd/transaction")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        src += text.split("#[cfg(test)]").next().unwrap_or("");
    }
    // (code + status, the longest fixed piece of the text).
    let mut replies = Vec::new();
    for piece in src.split("Reply::new(").skip(1) {
        let head: String = piece.chars().take(400).collect();
        let flat = head.split_whitespace().collect::<Vec<_>>().join(" ");
        let Some((code, rest)) = flat.split_once(", st(") else {
            continue;
        };
        let Some((st, rest)) = rest.split_once("),") else {
            continue;
        };
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let rest = rest
            .trim_start()
            .trim_start_matches("format!(")
            .trim_start();
        let Some(body) = rest.strip_prefix('"') else {
            continue; // a text from a variable: its own test names it
        };
        // The literal up to its closing quote, escapes undone.
        let mut lit = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => lit.extend(chars.next()),
                c => lit.push(c),
            }
        }
        let fixed = lit
            .split(['{', '}'])
            .step_by(2)
            .max_by_key(|p| p.trim().len())
            .unwrap_or("")
            .trim()
            .to_string();
        let st = st.replace(", ", ".");
        replies.push((format!("{code} {st}"), fixed));
    }
    replies.sort();
    replies.dedup();
    assert!(replies.len() >= 40, "found only {} replies", replies.len());
    let mut given = Vec::new();
    for e in std::fs::read_dir(root.join("tests/transcripts/smtp")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "t") {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            given.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("< "))
                    .map(|l| l.replacen('-', " ", 1))
                    .collect::<Vec<_>>(),
            );
        }
    }
    let mut missing = Vec::new();
    for (codes, fixed) in &replies {
        let seen = given
            .iter()
            .any(|l| l.starts_with(codes.as_str()) && l.contains(fixed.as_str()));
        let excused = NOT_YET.iter().any(|(c, t)| c == codes && t == fixed);
        match (seen, excused) {
            (false, false) => missing.push(format!("{codes} {fixed}")),
            (true, true) => missing.push(format!(
                "{codes} {fixed} (now in a transcript: drop it from NOT_YET)"
            )),
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "replies without a transcript:\n{}",
        missing.join("\n")
    );
}
