//! The Prometheus endpoint, scraped by a real Prometheus (Debian's
//! `prometheus`, started on loopback with a 1 s scrape interval), and
//! checked through Prometheus's own HTTP query API: the series exist with
//! the values the mail sent through the daemon must give.

mod support;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, target_port: u16) -> Prometheus {
        let port = free_port();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: mxgate\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus not found: apt-get install prometheus");
        Prometheus { child, port }
    }

    /// Instant query; the `data.result` array.
    fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return Vec::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let enc: String = q
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let req = format!("GET /api/v1/query?query={enc} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return Vec::new();
        }
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        let Some((_, body)) = resp.split_once("\r\n\r\n") else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Wait (at most 60 s) until `q` gives one series whose value satisfies `ok`.
    fn wait_value(&self, q: &str, ok: impl Fn(f64) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.query(q);
            if let [one] = last.as_slice()
                && let Some(v) = one["value"][1].as_str().and_then(|v| v.parse::<f64>().ok())
                && ok(v)
            {
                return one.clone();
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("{q}: never satisfied; last answer {last:?}");
    }
}

fn send(port: u16, from: &str, to: &str) -> String {
    let mut c = Raw::connect(port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    assert!(c.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{to}>"));
    assert!(r.starts_with("250"), "{to}: {r}");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send("Subject: m\r\n\r\nhello\r\n");
    let r = c.cmd(".");
    c.cmd("QUIT");
    r
}

#[test]
fn prometheus_scrapes_mail_flow_series() {
    let metrics_port = free_port();
    let xd = tempfile::tempdir().unwrap();
    let x = xd.path();
    // ghost: an alias (accepted at RCPT) for a user that does not exist,
    // so its delivery fails and is bounced.
    std::fs::write(x.join("aliases"), "ghost: nosuchuser\n").unwrap();
    let out = Command::new(BIN)
        .arg("newaliases")
        .arg(x.join("aliases"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mc = format!(
        "define(`ALIAS_FILE', `{x}/aliases')dnl\n\
         FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         FEATURE(`access_db', `lmdb -T<TMPF> @DIR@/access')dnl\n\
         FEATURE(`dnsbl', `bl.example.net')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
         define(`confMXGATE_DNS_TIMEOUT', `1s')dnl\n\
         define(`confMXGATE_MAILDIR', `{x}/mail/%u/Maildir')dnl\n\
         define(`confMXGATE_METRICS_ADDR', `127.0.0.1:{metrics_port}')dnl\n",
        x = x.display()
    );
    let mut d = Daemon::prepare(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            ("mailboxes", "alice OK\npostmaster OK\n"),
            ("access", "Connect:127.0.0.3\tREJECT\n"),
        ],
        tls: false,
    });
    // Remote mail goes to DNS, which never answers here: it is deferred.
    std::fs::write(d.path().join("service.switch"), "hosts files dns\n").unwrap();
    d.spawn();
    assert!(d.wait_log("metrics on http://127.0.0.1:", Duration::from_secs(10)));
    let log = d.maillog();
    let generation = log
        .split("configuration generation ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();

    // The endpoint itself: 404 elsewhere, the text format at /metrics.
    let request = |method: &str, path: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    };
    let get = |path: &str| request("GET", path);
    assert!(get("/").starts_with("HTTP/1.1 404"));
    assert!(request("POST", "/metrics").starts_with("HTTP/1.1 405"));
    let head = request("HEAD", "/metrics");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
    let page = get("/metrics");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("Content-Type: text/plain; version=0.0.4"),
        "{page}"
    );
    assert!(
        page.contains("# TYPE mxgate_queue_messages gauge"),
        "{page}"
    );

    let p = Prometheus::start(x, metrics_port);
    let r = send(d.mta, "sender@example.org", "alice@example.com");
    assert!(r.starts_with("250"), "{r}");
    let r = send(d.mta, "sender@example.org", "bob@remote.example");
    assert!(r.starts_with("250"), "{r}");
    let r = send(d.mta, "alice@example.com", "ghost@example.com");
    assert!(r.starts_with("250"), "{r}");
    // A refusal: relaying from an untrusted client.
    let mut c = Raw::connect_from("127.0.0.2", d.mta);
    assert!(c.reply().starts_with("220"));
    c.cmd("EHLO stranger.example.org");
    assert!(c.cmd("MAIL FROM:<s@example.org>").starts_with("250"));
    let r = c.cmd("RCPT TO:<x@elsewhere.example>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    c.cmd("QUIT");

    // A refused connection counts once, not once per refused command.
    let mut c = Raw::connect_from("127.0.0.3", d.mta);
    assert!(c.reply().starts_with("554"));
    assert!(c.cmd("HELO stranger.example.org").starts_with("5"));
    assert!(c.cmd("MAIL FROM:<s@example.org>").starts_with("5"));
    c.cmd("QUIT");

    p.wait_value(r#"up{job="mxgate"}"#, |v| v == 1.0);
    p.wait_value(
        r#"sum(mxgate_refusals_total{listener="MTA",stage="connect"})"#,
        |v| v == 1.0,
    );
    p.wait_value(r#"sum(mxgate_refusals_total)"#, |v| v == 2.0);
    p.wait_value(r#"mxgate_messages_received_total{listener="MTA"}"#, |v| {
        v == 3.0
    });
    p.wait_value(
        r#"mxgate_refusals_total{listener="MTA",stage="rcpt",status="5.7.1"}"#,
        |v| v == 1.0,
    );
    p.wait_value(
        r#"mxgate_deliveries_total{listener="MTA",mailer="local",result="delivered"}"#,
        |v| v == 1.0,
    );
    p.wait_value(
        r#"sum(mxgate_deliveries_total{listener="MTA",result="deferred"})"#,
        |v| v >= 1.0,
    );
    // ghost's failure, and its DSN (from <>, made here: listener "local")
    // delivered to alice.
    p.wait_value(
        r#"sum(mxgate_deliveries_total{listener="MTA",result="bounced"})"#,
        |v| v == 1.0,
    );
    p.wait_value(
        r#"mxgate_deliveries_total{listener="local",mailer="local",result="delivered"}"#,
        |v| v == 1.0,
    );
    p.wait_value(
        r#"mxgate_delivery_latency_seconds_count{mailer="local"}"#,
        |v| v == 2.0,
    );
    p.wait_value(
        r#"mxgate_delivery_latency_seconds_bucket{mailer="local",le="+Inf"}"#,
        |v| v == 2.0,
    );
    let deferrals = p.wait_value(
        r#"sum by (destination) (mxgate_destination_deferrals_total)"#,
        |v| v >= 1.0,
    );
    assert!(
        deferrals["metric"]["destination"]
            .as_str()
            .is_some_and(|d| d.ends_with(":remote.example")),
        "{deferrals}"
    );
    p.wait_value(
        r#"mxgate_destination_connections{destination=~".*:remote.example"}"#,
        |v| v == 0.0,
    );
    // The deferred message is the one left in queue/, younger than 5 minutes.
    p.wait_value(r#"mxgate_queue_messages{state="queue",age="5m"}"#, |v| {
        v == 1.0
    });
    p.wait_value(r#"sum(mxgate_queue_messages)"#, |v| v == 1.0);
    p.wait_value("mxgate_null_sender_messages", |v| v == 0.0);
    // The DNSBL's name server never answers: each lookup takes the whole
    // DNS timeout (1 s) and is ignored (sendmail's default for dnsbl).
    p.wait_value(
        r#"mxgate_dnsbl_lookup_seconds_count{zone="bl.example.net"}"#,
        |v| v >= 3.0,
    );
    p.wait_value(
        r#"mxgate_dnsbl_lookup_seconds_bucket{zone="bl.example.net",le="0.5"}"#,
        |v| v == 0.0,
    );
    p.wait_value(
        r#"mxgate_dnsbl_lookup_seconds_sum / mxgate_dnsbl_lookup_seconds_count"#,
        |v| (0.9..3.0).contains(&v),
    );
    let g = p.wait_value("mxgate_config_generation_info", |v| v == 1.0);
    assert_eq!(g["metric"]["generation"], generation.as_str(), "{g}");
}

#[test]
fn a_non_loopback_metrics_address_refuses_the_start() {
    let d = Daemon::prepare(Setup {
        mc: "define(`confMXGATE_METRICS_ADDR', `192.0.2.1:9125')dnl\n",
        tables: &[],
        tls: false,
    });
    let out = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&d.mc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("confMXGATE_METRICS_ADDR 192.0.2.1:9125 is not a loopback address"),
        "{err}"
    );
}
