//! Protocol hardening through the real daemon and a real next hop: SMTP
//! smuggling by BDAT and DATA, the client's transparency for any line end,
//! long lines folded on relay, HELO arguments and echoed input, RFC 6531
//! addresses without SMTPUTF8, DATA after BDAT.
//!
//! The next hop is a deliberately *lenient* SMTP sink (python3 sockets): it
//! takes CRLF, a bare CR or a bare LF for a line end, as the receivers that
//! SMTP smuggling exploits do, records every byte it receives and logs each
//! command and each end of data. Whatever it logs is what such a receiver
//! would have acted on.

mod support;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const SINK: &str = r#"
import re, socket, sys, threading
host, port, logpath, rawpath = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lock = threading.Lock()
def log(kind, data):
    with lock, open(logpath, "a", encoding="latin-1") as f:
        f.write(kind + " " + data.decode("latin-1").replace("\r", "\\r").replace("\n", "\\n") + "\n")
def raw(data):
    with lock, open(rawpath, "ab") as f:
        f.write(data)
END = re.compile(rb"\r\n|\r|\n")
class Lines:
    """Lenient line reader: CRLF, CR or LF ends a line."""
    def __init__(self, conn):
        self.conn, self.buf = conn, b""
    def more(self, timeout=None):
        self.conn.settimeout(timeout)
        try:
            d = self.conn.recv(65536)
        except socket.timeout:
            return False
        if not d:
            raise EOFError
        raw(d); self.buf += d
        return True
    def line(self):
        while True:
            m = END.search(self.buf)
            if m and not (m.group() == b"\r" and m.end() == len(self.buf)):
                break
            if m:  # a CR at the end: CRLF if an LF follows soon
                if not self.more(0.5):
                    break
                continue
            self.more()
        l, self.buf = self.buf[:m.start()], self.buf[m.end():]
        return l
def handle(conn):
    say = lambda s: conn.sendall(s.encode() + b"\r\n")
    r = Lines(conn)
    say("220 sink.test ESMTP lenient")
    try:
        while True:
            l = r.line()
            log("C", l)
            verb = l.split(b" ")[0].upper()
            if verb == b"EHLO":
                say("250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10000000")
            elif verb in (b"HELO", b"RSET", b"MAIL", b"RCPT"):
                say("250 2.0.0 ok")
            elif verb == b"DATA":
                say("354 go ahead")
                while True:
                    b = r.line()
                    if b == b".":
                        break
                    log("B", b)
                log("END", b"")
                say("250 2.0.0 ok: queued")
            elif verb == b"QUIT":
                say("221 2.0.0 bye"); return
            else:
                say("502 5.5.2 what")
    except (EOFError, OSError):
        pass
    finally:
        conn.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;

/// The lenient sink on 127.0.0.1.
struct Sink {
    child: Child,
    port: u16,
    log: PathBuf,
    raw: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    fn start() -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("sink.py"), SINK).unwrap();
        let (log, raw) = (d.join("log"), d.join("raw"));
        std::fs::write(&log, "").unwrap();
        std::fs::write(&raw, "").unwrap();
        let port = free_port();
        let mut child = Command::new("python3")
            .arg(d.join("sink.py"))
            .args(["127.0.0.1", &port.to_string()])
            .arg(&log)
            .arg(&raw)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is installed by .ci/run (apt-get install python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the sink did not start");
        Sink {
            child,
            port,
            log,
            raw,
            _dir: dir,
        }
    }

    /// What the sink logged: `C <command>`, `B <body line>`, `END `.
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn count(&self, prefix: &str) -> usize {
        self.log().iter().filter(|l| l.starts_with(prefix)).count()
    }

    fn raw(&self) -> Vec<u8> {
        std::fs::read(&self.raw).unwrap()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&Sink) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; sink saw:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The one-transaction, nothing-smuggled assertions.
    fn assert_one_clean_transaction(&self) {
        let log = self.log();
        let mails: Vec<&String> = log.iter().filter(|l| l.starts_with("C MAIL")).collect();
        assert_eq!(
            mails.len(),
            1,
            "exactly one transaction:\n{}",
            log.join("\n")
        );
        assert_eq!(self.count("END"), 1, "one end of data:\n{}", log.join("\n"));
        assert!(
            !log.iter()
                .any(|l| l.starts_with("C ") && l.to_lowercase().contains("evil")),
            "a smuggled command reached the next hop:\n{}",
            log.join("\n")
        );
        let raw = self.raw();
        for (i, &b) in raw.iter().enumerate() {
            let ok = match b {
                b'\r' => raw.get(i + 1) == Some(&b'\n'),
                b'\n' => i > 0 && raw[i - 1] == b'\r',
                _ => true,
            };
            assert!(
                ok,
                "bare CR or LF sent at octet {i}: {:?}",
                String::from_utf8_lossy(&raw[i.saturating_sub(40)..(i + 40).min(raw.len())])
            );
        }
        for line in raw.split(|&b| b == b'\n') {
            // 998 octets + CR, and a doubled dot is not counted.
            let max = if line.starts_with(b"..") { 1000 } else { 999 };
            assert!(line.len() <= max, "a line of {} octets sent", line.len());
        }
    }
}

/// The relaying daemon's .mc: `remote.test` goes to the sink by mailertable.
fn relay_mc(sink: &Sink) -> &'static str {
    Box::leak(
        format!(
            "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
             FEATURE(`mailertable', `lmdb @DIR@/mailertable')dnl\n\
             LOCAL_DOMAIN(`example.com')dnl\n\
             define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
             define(`ESMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
             define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n",
            port = sink.port
        )
        .into_boxed_str(),
    )
}

const RELAY_TABLES: &[(&str, &str)] = &[
    ("mailboxes", "alice OK\npostmaster OK\n"),
    ("mailertable", "remote.test\tesmtp:[127.0.0.1]\n"),
];

/// Send raw bytes, read one reply.
fn exchange(c: &mut Raw, bytes: &[u8]) -> String {
    c.w.write_all(bytes).unwrap();
    c.reply()
}

fn bdat(content: &[u8]) -> Vec<u8> {
    let mut v = format!("BDAT {} LAST\r\n", content.len()).into_bytes();
    v.extend_from_slice(content);
    v
}

/// The smuggling payload: a bare-CR "end of data" with a second
/// transaction behind it (and the bare-LF variant).
const SMUGGLE_CR: &[u8] = b"Subject: first\r\n\r\nhi\r\n\r.\rMAIL FROM:<evil@example.org>\rRCPT TO:<victim@remote.test>\rDATA\rSubject: smuggled\r\rx\r.\r\n";
const SMUGGLE_LF: &[u8] = b"Subject: first\r\n\r\nhi\r\n\n.\nMAIL FROM:<evil@example.org>\nRCPT TO:<victim@remote.test>\nDATA\nSubject: smuggled\n\nx\n.\r\n";

#[test]
fn bdat_smuggling_is_refused_and_the_next_hop_sees_one_transaction() {
    let sink = Sink::start();
    let d = Daemon::start(Setup {
        mc: relay_mc(&sink),
        tables: RELAY_TABLES,
        tls: false,
    });
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220 "));
    assert!(c.cmd("EHLO client.test").contains("CHUNKING"));
    let refused = "550 5.6.2 Message contains bare CR or LF; refused (SMTP smuggling protection)";
    // BDAT, one chunk: bare CR, then bare LF.
    for payload in [SMUGGLE_CR, SMUGGLE_LF] {
        assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<x@remote.test>").starts_with("250"));
        assert_eq!(exchange(&mut c, &bdat(payload)), refused);
    }
    // BDAT, the payload split so that the bare CR ends one chunk and the "."
    // starts the next.
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<x@remote.test>").starts_with("250"));
    let cut = SMUGGLE_CR.windows(2).position(|w| w == b"\r.").unwrap() + 1;
    let (a, b) = SMUGGLE_CR.split_at(cut);
    let mut first = format!("BDAT {}\r\n", a.len()).into_bytes();
    first.extend_from_slice(a);
    assert!(exchange(&mut c, &first).starts_with("250 2.0.0"));
    assert_eq!(exchange(&mut c, &bdat(b)), refused);
    // The same by DATA (refused before this change too; one rule for both).
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<x@remote.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let mut data = SMUGGLE_CR.to_vec();
    data.extend_from_slice(b".\r\n");
    assert_eq!(exchange(&mut c, &data), refused);
    // A legitimate message in two chunks, the CRLF split across them, with
    // a dot line and a long line: accepted and relayed once.
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<x@remote.test>").starts_with("250"));
    let long = "y".repeat(1500);
    let good = format!("Subject: legit\r\n\r\n.dot line\r\n{long}\r\nend\r\n");
    let cut = good.find("\r\n").unwrap() + 1;
    let (a, b) = good.as_bytes().split_at(cut);
    assert!(a.ends_with(b"\r"), "split inside the CRLF");
    let mut first = format!("BDAT {}\r\n", a.len()).into_bytes();
    first.extend_from_slice(a);
    assert!(exchange(&mut c, &first).starts_with("250 2.0.0"));
    let r = exchange(&mut c, &bdat(b));
    assert!(r.starts_with("250 2.0.0 "), "{r}");
    assert!(c.cmd("QUIT").starts_with("221"));
    sink.wait_for("the legitimate message at the sink", |s| {
        s.count("END") >= 1
    });
    assert!(
        d.wait_log("stat=Sent", Duration::from_secs(20)),
        "{}",
        d.maillog()
    );
    // Nothing else is on its way.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.queued("queue").is_empty() {
        assert!(Instant::now() < deadline, "still queued: {}", d.maillog());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    sink.assert_one_clean_transaction();
    let log = sink.log();
    assert!(log.contains(&"B ..dot line".to_string()), "{log:?}");
    assert!(log.contains(&"B Subject: legit".to_string()), "{log:?}");
    // The long line arrived folded (CRLF SPACE), nothing lost.
    assert!(log.contains(&format!("B {}", "y".repeat(998))), "{log:?}");
    assert!(log.contains(&format!("B  {}", "y".repeat(502))), "{log:?}");
    assert!(
        d.maillog().contains("long_lines=over998"),
        "{}",
        d.maillog()
    );
    let refusals = d.maillog().matches("reject=550 5.6.2").count();
    assert_eq!(refusals, 4, "{}", d.maillog());
}

#[test]
fn bare_line_ends_in_the_queue_are_never_forwarded_as_line_ends() {
    // A message that reached the queue with bare CRs (local submission keeps
    // them inside a line) goes out by DATA with every line end a CRLF and
    // every line-start dot doubled: the lenient next hop sees one message.
    let sink = Sink::start();
    let d = Daemon::prepare(Setup {
        mc: relay_mc(&sink),
        tables: RELAY_TABLES,
        tls: false,
    });
    let input = "Subject: first\n\nhi\n\r.\rMAIL FROM:<evil@example.org>\rRCPT TO:<victim@remote.test>\rDATA\rsmuggled\r.\r\nlast line\n";
    let mut child = Command::new(BIN)
        .args([
            "sendmail",
            "-oi",
            "-f",
            "a@example.com",
            "x@remote.test",
            "-C",
        ])
        .arg(&d.mc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let q = d.queued("queue");
    assert_eq!(q.len(), 1);
    let mut spooled = Vec::new();
    std::fs::File::open(&q[0])
        .unwrap()
        .read_to_end(&mut spooled)
        .unwrap();
    assert!(
        spooled.windows(3).any(|w| w == b"\r.\r"),
        "the test needs bare CRs in the queue file"
    );
    // One queue run delivers it.
    let out = Command::new(BIN)
        .args(["sendmail", "-q", "-C"])
        .arg(&d.mc)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}\n{}", d.maillog());
    sink.wait_for("the message at the sink", |s| s.count("END") >= 1);
    std::thread::sleep(Duration::from_millis(300));
    sink.assert_one_clean_transaction();
    let log = sink.log();
    // The bare CRs became line ends and the dot line was stuffed.
    assert!(log.contains(&"B ..".to_string()), "{log:?}");
    assert!(
        log.contains(&"B MAIL FROM:<evil@example.org>".to_string()),
        "the would-be command stays body text: {log:?}"
    );
    assert!(log.contains(&"B last line".to_string()), "{log:?}");
}

#[test]
fn hostile_helo_and_echoed_input_never_reach_the_wire_raw() {
    let d = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n",
        tables: &[("mailboxes", "alice OK\npostmaster OK\n")],
        tls: false,
    });
    let mut c = Raw::connect(d.mta);
    c.reply();
    for helo in [
        "EHLO evil\rReceived: forged",
        "HELO a\u{0}b",
        "EHLO x(y)",
        "HELO \u{1b}[2Jterm",
    ] {
        assert_eq!(c.cmd(helo), "501 5.0.0 Invalid domain name", "{helo:?}");
    }
    assert!(c.cmd("EHLO client.test").starts_with("250-"));
    // Replies that echo an address escape its control characters.
    let r = c.cmd("MAIL FROM:<a\rb\u{0}c@example.org>");
    assert!(
        r.starts_with("553 5.1.7 <a\\rb\\0c@example.org>... "),
        "{r:?}"
    );
    assert!(
        !r.contains(['\r', '\0', '\n']),
        "raw control bytes echoed: {r:?}"
    );
    let r = c.cmd("RCPT TO:<x\u{7}@example.com>");
    assert!(!r.contains('\u{7}') && r.contains("\\x07"), "{r:?}");
    // A message then goes through, and its Received: names the good HELO.
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    assert!(c.cmd("Subject: x\r\n\r\nhi\r\n.").starts_with("250"));
    let q = d.queued("queue");
    let text = std::fs::read_to_string(&q[0]).unwrap();
    assert!(text.contains("Received: from client.test ("), "{text}");
    assert!(!text.contains("forged"), "{text}");
}

#[test]
fn smtputf8_rule_and_data_after_bdat() {
    let d = Daemon::start(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n",
        tables: &[("mailboxes", "alice OK\npostmaster OK\n")],
        tls: false,
    });
    let mut c = Raw::connect(d.mta);
    c.reply();
    assert!(c.cmd("EHLO client.test").contains("SMTPUTF8"));
    // RFC 6531: a non-ASCII address needs SMTPUTF8 on MAIL.
    assert_eq!(
        c.cmd("MAIL FROM:<jürgen@example.org>"),
        "553 5.6.7 <jürgen@example.org>... Non-ASCII address needs the SMTPUTF8 parameter on MAIL FROM (RFC 6531)"
    );
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert_eq!(
        c.cmd("RCPT TO:<ålice@example.com>"),
        "553 5.6.7 <ålice@example.com>... Non-ASCII address needs the SMTPUTF8 parameter on MAIL FROM (RFC 6531)"
    );
    assert!(c.cmd("RSET").starts_with("250"));
    assert!(
        c.cmd("MAIL FROM:<jürgen@example.org> SMTPUTF8")
            .starts_with("250 2.1.0")
    );
    // RFC 3030 §3: DATA after a BDAT chunk of the same transaction.
    assert!(c.cmd("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(exchange(&mut c, b"BDAT 12\r\nSubject: x\r\n").starts_with("250 2.0.0"));
    assert_eq!(
        c.cmd("DATA"),
        "503 5.5.1 DATA not allowed after BDAT in the same transaction (RFC 3030)"
    );
    let r = exchange(&mut c, b"BDAT 4 LAST\r\n\r\nhi");
    assert!(r.starts_with("250 2.0.0 "), "{r}");
    let q = d.queued("queue");
    assert_eq!(q.len(), 1);
    let text = std::fs::read_to_string(&q[0]).unwrap();
    assert!(text.ends_with("Subject: x\r\n\r\nhi"), "{text}");
    assert!(text.contains("sender <j%C3%BCrgen@example.org>"), "{text}");
}

// Issue 15 (fidelity): a reverse path written with the trailing dot of a
// canonical name. sendmail 8.17 (tests/fixtures/sendmail-verify/t2.mc, -bs):
// `MAIL FROM:<joe@LocalHost.>` → `250 2.1.0 <joe@LocalHost.>... Sender ok`,
// queued as `S<joe@LocalHost.>`; -bt `ES` gives the esmtp mailer
// `Joe@LocalHost` for `Joe@LocalHost.` (tests/route.rs): only the dot goes,
// the name is not made `$j`. Before, mxgate queued `<joe@LocalHost>` and the
// next hop got `joe@` this host's name.
#[test]
fn a_sender_with_a_trailing_dot_is_queued_with_it_and_leaves_without_it() {
    let sink = Sink::start();
    let d = Daemon::start(Setup {
        mc: relay_mc(&sink),
        tables: RELAY_TABLES,
        tls: false,
    });
    let mut c = Raw::connect(d.mta);
    assert!(c.reply().starts_with("220 "));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert_eq!(
        c.cmd("MAIL FROM:<joe@LocalHost.>"),
        "250 2.1.0 <joe@LocalHost.>... Sender ok"
    );
    assert!(c.cmd("RCPT TO:<x@remote.test>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    let r = exchange(&mut c, b"Subject: dot\r\n\r\nhi\r\n.\r\n");
    assert!(r.starts_with("250 2.0.0 "), "{r}");
    assert!(c.cmd("QUIT").starts_with("221"));
    sink.wait_for("the message at the sink", |s| s.count("END") >= 1);
    let log = sink.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("C MAIL FROM:<joe@LocalHost>")),
        "{log:?}"
    );
    assert!(
        d.maillog().contains("from=<joe@LocalHost.>, size="),
        "{}",
        d.maillog()
    );
}
