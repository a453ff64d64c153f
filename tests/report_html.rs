//! `mxgate report --html` on a log a real daemon wrote, with a queue
//! history from real `mxgate health --json` runs, rendered by Debian's
//! headless Chromium: the page's charts are checked in our own output
//! (every bar against the JSON report of the same log), in the DOM the
//! browser built (`--dump-dom`), and in its screenshot (decoded here: the
//! chart colours are painted). 127.0.0.2 plays the Internet client; one
//! sender and one refused recipient carry markup in their addresses.

mod support;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn wait_for(what: &str, d: &Daemon, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nmaillog:\n{}",
            d.maillog()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One transaction from `src`; the replies to MAIL, each RCPT and the dot.
fn session(src: &str, port: u16, from: &str, to: &[&str]) -> Vec<String> {
    let mut c = Raw::connect_from(src, port);
    assert!(c.reply().starts_with("220"));
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    let mut out = vec![c.cmd(&format!("MAIL FROM:<{from}>"))];
    let mut any = false;
    if out[0].starts_with("250") {
        for t in to {
            let r = c.cmd(&format!("RCPT TO:<{t}>"));
            any |= r.starts_with("250");
            out.push(r);
        }
    }
    if any {
        assert!(c.cmd("DATA").starts_with("354"));
        c.send("Subject: x\r\n\r\nhello\r\n");
        out.push(c.cmd("."));
    }
    c.cmd("QUIT");
    out
}

fn mxgate(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// The `<svg data-chart=ID>` … `</svg>` of one chart.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id} in\n{page}"));
    let end = page[start..].find("</svg>").unwrap() + start;
    &page[start..end]
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> String {
    let k = format!("{name}=\"");
    let i = tag.find(&k).unwrap_or_else(|| panic!("no {name} in {tag}")) + k.len();
    unescape(&tag[i..][..tag[i..].find('"').unwrap()])
}

/// (category, series) → count of every bar of a chart.
fn bars(svg: &str) -> BTreeMap<(String, String), u64> {
    svg.split("<rect class=\"bar\"")
        .skip(1)
        .map(|t| {
            (
                (attr(t, "data-category"), attr(t, "data-series")),
                attr(t, "data-count").parse().unwrap(),
            )
        })
        .collect()
}

/// Run Debian's Chromium headless with `args` and the page; its stdout.
/// Killed (its whole process group) if it takes longer than three minutes.
fn chromium(profile: &Path, args: &[String], page: &Path) -> String {
    let bin = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("Chromium is not installed: apt-get install -y chromium (Debian's package)")
        });
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Its helpers (zygote, GPU, renderer) share the group: end them all.
    let group = nix::unistd::Pid::from_raw(-i32::try_from(child.id()).unwrap());
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let status =
        status.unwrap_or_else(|| panic!("chromium {args:?} did not finish in 180 s\n{err}"));
    assert!(status.success(), "chromium {args:?}: {status}\n{err}");
    out
}

/// An 8-bit RGB or RGBA PNG, decoded: (width, height, RGB pixels).
fn decode_png(data: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    assert_eq!(&data[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut w, mut h, mut channels) = (0, 0, 0);
    let mut idat = Vec::new();
    let mut i = 8;
    while i + 8 <= data.len() {
        let len = u32::from_be_bytes(data[i..i + 4].try_into().unwrap()) as usize;
        let kind = &data[i + 4..i + 8];
        let body = &data[i + 8..i + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                assert_eq!(body[8], 8, "bit depth");
                assert_eq!(body[12], 0, "interlaced PNG");
                channels = match body[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        i += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * channels;
    assert_eq!(raw.len(), h * (stride + 1), "PNG data length");
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(w * h);
    for row in raw.chunks(stride + 1) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for x in 0..stride {
            let a = if x >= channels { cur[x - channels] } else { 0 };
            let b = prev[x];
            let c = if x >= channels { prev[x - channels] } else { 0 };
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[x] = line[x].wrapping_add(pred);
        }
        pixels.extend(cur.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        prev = cur;
    }
    (w, h, pixels)
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

#[test]
fn report_html_charts_render_in_headless_chromium() {
    let dead = free_port(); // nothing listens here: deliveries defer
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\n\
         FEATURE(`mailertable', `lmdb @DIR@/mailertable')dnl\n\
         LOCAL_DOMAIN(`example.com')dnl\n\
         define(`SMTP_MAILER_ARGS', `TCP $h {dead}')dnl\n\
         define(`confMXGATE_QUEUE_INTERVAL', `1h')dnl\n\
         define(`confMAX_MESSAGE_SIZE', `20000')dnl\n\
         define(`confMXGATE_MAILDIR', `@DIR@/mail/%u/Maildir')dnl\n"
    );
    let d = Daemon::start(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[
            ("mailboxes", "alice OK\npostmaster OK\n"),
            ("mailertable", "dead.test\tsmtp:[127.0.0.1]\n"),
        ],
        tls: false,
    });
    let hostile = "\"<script>alert(1)</script>\"@example.org";
    // Delivered to alice, from a sender with markup in its address.
    let r = session("127.0.0.2", d.mta, hostile, &["alice@example.com"]);
    assert!(r.last().unwrap().starts_with("250 2.0.0"), "{r:?}");
    // Queued for a next hop that does not answer.
    for _ in 0..2 {
        let r = session("127.0.0.1", d.mta, "alice@example.com", &["z@dead.test"]);
        assert!(r.last().unwrap().starts_with("250 2.0.0"), "{r:?}");
    }
    // Refused: relay denied twice, an unknown user with markup.
    for _ in 0..2 {
        let r = session(
            "127.0.0.2",
            d.mta,
            "someone@example.org",
            &["u@elsewhere.com"],
        );
        assert!(r[1].starts_with("550 5.7.1"), "{r:?}");
    }
    let r = session(
        "127.0.0.2",
        d.mta,
        "someone@example.org",
        &["\"<img src=x onerror=alert(2)>\"@example.com"],
    );
    assert!(r[1].starts_with("550 5.1.1"), "{r:?}");
    wait_for("alice's delivery and the deferrals", &d, || {
        let log = d.maillog();
        log.contains("to=<alice@example.com>") && log.matches("to=<z@dead.test>").count() >= 2
    });

    // A queue history from real health runs (the cron line's output).
    let hist = d.path().join("health.jsonl");
    let mut lines = String::new();
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        let out = mxgate(&["health", "--json", "--config", d.mc.to_str().unwrap()]);
        let line = String::from_utf8(out.stdout).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["queues"][0]["state"], "queue", "{line}");
        assert_eq!(v["queues"][0]["count"], 2, "{line}");
        assert!(v["time"].as_u64().is_some(), "{line}");
        lines += &line;
    }
    std::fs::write(&hist, &lines).unwrap();

    let log = d.path().join("maillog");
    std::fs::write(&log, d.maillog()).unwrap();
    let log = log.to_str().unwrap();
    let out = mxgate(&["report", "--json", log]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = mxgate(&[
        "report",
        "--html",
        "--metrics-history",
        hist.to_str().unwrap(),
        log,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.lines().all(|l| l.len() <= 998),
        "a line over 998 bytes"
    );

    // Our own page: no markup from the log, every chart, every bar = JSON.
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("<script") && !page.contains("<img"),
        "{page}"
    );
    assert!(
        page.contains("&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;@example.org"),
        "{page}"
    );
    // Self-contained: nothing to fetch.
    for asset in [" src=\"", "href=", "url(", "<link", "@import"] {
        assert!(!page.contains(asset), "{asset} in the page");
    }
    for (id, title) in [
        ("refused-per-day", "Refusals per day by reason"),
        ("refused-per-weekday", "Refusals per weekday by reason"),
        ("sizes", "Message size distribution"),
        ("hourly", "Traffic per hour of the day"),
        ("queue-depth", "Queue depth over time"),
    ] {
        assert!(
            chart(&page, id).contains(&format!(">{title}</title>")),
            "{id}"
        );
    }
    assert_eq!(json["refused_total"], 3);
    let per_day = bars(chart(&page, "refused-per-day"));
    let reasons = json["refused"].as_object().unwrap();
    let days = json["per_day"].as_object().unwrap();
    assert_eq!(per_day.len(), reasons.len() * days.len());
    for ((day, reason), n) in &per_day {
        let want = json["refused_per_day"][day][reason].as_u64().unwrap_or(0);
        assert_eq!(*n, want, "{day} {reason}");
    }
    assert_eq!(per_day.values().sum::<u64>(), 3);
    let per_wd = bars(chart(&page, "refused-per-weekday"));
    assert_eq!(per_wd.len(), reasons.len() * 7);
    for ((wd, reason), n) in &per_wd {
        let want = json["refused_per_weekday"][wd][reason]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(*n, want, "{wd} {reason}");
    }
    let sizes = bars(chart(&page, "sizes"));
    for b in json["sizes"].as_array().unwrap() {
        let k = (b["bucket"].as_str().unwrap().to_string(), "received".into());
        assert_eq!(sizes.get(&k).copied(), b["count"].as_u64(), "{k:?}");
    }
    assert_eq!(sizes.values().sum::<u64>(), 3);
    let hourly = bars(chart(&page, "hourly"));
    assert_eq!(hourly.len(), 24 * 5);
    for (h, t) in json["per_hour"].as_array().unwrap().iter().enumerate() {
        for what in ["received", "delivered", "deferred", "bounced", "refused"] {
            let k = (format!("{h:02}"), what.to_string());
            assert_eq!(hourly.get(&k).copied(), t[what].as_u64(), "{k:?}");
        }
    }
    let q = chart(&page, "queue-depth");
    assert!(q.contains("data-series=\"queue\" data-points=\"3\""), "{q}");
    assert_eq!(q.matches("data-series=\"queue\" data-time=").count(), 3);
    assert!(q.contains("data-count=\"2\""), "{q}");

    // A bad history line stops the report with FILE:LINE:COL.
    let bad = d.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}{{\"time\": 5,,\n", lines)).unwrap();
    let out = mxgate(&[
        "report",
        "--html",
        "--metrics-history",
        bad.to_str().unwrap(),
        log,
    ]);
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4:12: key must be a string", bad.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // The history is for the page only; a missing file is exit 66.
    let out = mxgate(&["report", "--metrics-history", hist.to_str().unwrap(), log]);
    assert_eq!(out.status.code(), Some(64));
    let out = mxgate(&[
        "report",
        "--html",
        "--metrics-history",
        "/nonexistent/h",
        log,
    ]);
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/h"));

    // Chromium: the DOM it built has the charts and their bars.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &page).unwrap();
    let profile = dir.path().join("profile");
    let dom = chromium(&profile, &["--dump-dom".into()], &file);
    for id in [
        "refused-per-day",
        "refused-per-weekday",
        "sizes",
        "hourly",
        "queue-depth",
    ] {
        assert!(dom.contains(&format!("data-chart=\"{id}\"")), "{id}\n{dom}");
    }
    assert_eq!(
        dom.matches("<rect class=\"bar\"").count(),
        page.matches("<rect class=\"bar\"").count()
    );
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("alert(1)"), "the sender is text in the DOM");

    // Its screenshot: the right size, not blank, the chart colours painted.
    let shot = dir.path().join("shot.png");
    chromium(
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=900,2400".into(),
        ],
        &file,
    );
    let (w, h, px) = decode_png(&std::fs::read(&shot).unwrap());
    assert_eq!((w, h), (900, 2400));
    let white = px.iter().filter(|p| **p == [255, 255, 255]).count();
    assert!(
        (px.len() - white) * 100 > px.len() * 5,
        "the screenshot is blank: {white} of {} pixels white",
        px.len()
    );
    let near = |c: [u8; 3]| {
        px.iter()
            .filter(|p| p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 6))
            .count()
    };
    // The first series' colour fills bars in every chart (relay denied,
    // the size bar, received per hour, the queue line): thousands of pixels.
    let blue = near(rgb("#0072b2"));
    assert!(blue > 3000, "{blue} pixels of the first series' colour");
    // The second reason (unknown user) is stacked in its own colour.
    let orange = near(rgb("#e69f00"));
    assert!(orange > 500, "{orange} pixels of the second series' colour");
}

/// cf/cron.daily-report with FORMAT=html: yesterday's page, with
/// yesterday's queue samples only, mailed as text/html with `sendmail -t
/// -oi` (a stub records what would be sent) in lines mail can carry.
#[test]
fn cron_daily_report_mails_the_html_page() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let date = |args: &[&str]| {
        let out = Command::new("date").args(args).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    let line = |when: &str, qid: &str| {
        format!(
            "{} gw1 mxgate[1]: {qid}: from=<a@example.org>, size=100, class=0, nrcpts=1, msgid=<x@y>, proto=ESMTP, daemon=MTA, relay=[192.0.2.1]\n",
            date(&["-d", when, "+%b %e %H:%M:%S"])
        )
    };
    let log = d.join("mail.log");
    std::fs::write(
        &log,
        line("yesterday 12:00", "6B3LQK000000001")
            + &line("yesterday 13:00", "6B3LQK000000002")
            + &line("today 00:00:01", "6B3LQK000000003"),
    )
    .unwrap();
    // Lines as `mxgate health --json` writes them (keys in its order).
    let sample = |when: &str, n: u64| {
        format!(
            "{{\"bounces\":0,\"code\":0,\"queues\":[{{\"count\":{n},\"oldest_seconds\":0,\"state\":\"queue\"}}],\"status\":\"OK\",\"time\":{}}}\n",
            date(&["-d", when, "+%s"])
        )
    };
    let history = d.join("health.jsonl");
    std::fs::write(
        &history,
        sample("2 days ago 12:00", 9) + &sample("yesterday 12:00", 4) + &sample("today 00:30", 7),
    )
    .unwrap();
    let stub = d.join("mxgate");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nif [ \"$1\" = sendmail ]; then shift; echo \"$@\" > {d}/args; cat > {d}/mail; else exec {BIN} \"$@\"; fi\n",
            d = d.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/cf/cron.daily-report");
    let out = Command::new("sh")
        .arg(script)
        .env("MXGATE", &stub)
        .env("LOGS", &log)
        .env("TO", "postmaster@example.com")
        .env("FORMAT", "html")
        .env("HISTORY", &history)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("args")).unwrap().trim(),
        "-t -oi"
    );
    let mail = std::fs::read_to_string(d.join("mail")).unwrap();
    let (head, body) = mail.split_once("\n\n").unwrap();
    assert!(head.starts_with("To: postmaster@example.com\n"), "{head}");
    assert!(
        head.contains(&format!(
            "Subject: mail report for {}",
            date(&["-d", "yesterday", "+%F"])
        )),
        "{head}"
    );
    assert!(head.contains("\nMIME-Version: 1.0\n"), "{head}");
    assert!(
        head.contains("\nContent-Type: text/html; charset=utf-8\n"),
        "{head}"
    );
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(
        body.lines().all(|l| l.len() <= 998),
        "a line over 998 bytes"
    );
    // Two of the three messages are yesterday's; one queue sample is.
    let sizes = bars(chart(body, "sizes"));
    assert_eq!(sizes.values().sum::<u64>(), 2);
    let q = chart(body, "queue-depth");
    assert!(q.contains("data-series=\"queue\" data-points=\"1\""), "{q}");
    assert!(q.contains("data-count=\"4\""), "{q}");
    // An unknown FORMAT is refused before anything is mailed.
    std::fs::remove_file(d.join("mail")).unwrap();
    let out = Command::new("sh")
        .arg(script)
        .env("MXGATE", &stub)
        .env("LOGS", &log)
        .env("FORMAT", "pdf")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(!d.join("mail").exists());
}
