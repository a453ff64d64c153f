//! Issue 13, "Body, MIME and header checks": Postfix `header_checks` /
//! `body_checks` files work unchanged.
//!
//! The table semantics are proven equal to Postfix's, not asserted by
//! hand: every probe is asked of the REAL `postmap -q` (Debian's postfix
//! package, unpacked by tools/postfix-unpack.sh as the e2e harness does)
//! and of our `HeaderRules`, and the answers must be the same. Then the
//! same files drive a real daemon over SMTP (Python's smtplib).

mod support;
use mxgate::policy::HeaderRules;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/content");

/// The unpacked postfix's `postmap`, and a config dir with an empty main.cf.
fn postmap() -> (PathBuf, tempfile::TempDir) {
    let cache = std::env::var("PEERS_ROOT").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mtapeers",
            std::env::var("HOME").unwrap_or_else(|_| "/root".into())
        )
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/postfix-unpack.sh");
    let out = Command::new(script)
        .arg(&cache)
        .output()
        .expect("run tools/postfix-unpack.sh");
    assert!(
        out.status.success(),
        "cannot unpack postfix (apt-get install -y patchelf file; apt-get download postfix must work): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let conf = tempfile::tempdir().unwrap();
    // pcre: is a dynamically loaded map (postfix-pcre), found through
    // $meta_directory/dynamicmaps.cf.
    std::fs::write(
        conf.path().join("main.cf"),
        format!("meta_directory = {}\n", conf.path().display()),
    )
    .unwrap();
    std::fs::write(
        conf.path().join("dynamicmaps.cf"),
        format!("pcre\t{root}/usr/lib/postfix/postfix-pcre.so\tdict_pcre_open\n"),
    )
    .unwrap();
    (Path::new(&root).join("usr/sbin/postmap"), conf)
}

/// Postfix's answer for each probe (`None`: no rule matched); `kind` is
/// `regexp` or `pcre`.
fn postfix_answers(kind: &str, rules: &Path, probes: &[&str]) -> Vec<Option<String>> {
    let (bin, conf) = postmap();
    probes
        .iter()
        .map(|p| {
            let out = Command::new(&bin)
                .arg("-c")
                .arg(conf.path())
                .arg("-q")
                .arg(p)
                .arg(format!("{kind}:{}", rules.display()))
                .output()
                .expect("postmap");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains("warning"),
                "postmap warns about the file: {err}"
            );
            match out.status.code() {
                Some(0) => Some(
                    String::from_utf8_lossy(&out.stdout)
                        .trim_end_matches('\n')
                        .to_string(),
                ),
                Some(1) => None,
                c => panic!("postmap -q {p:?}: exit {c:?}: {err}"),
            }
        })
        .collect()
}

/// Ours and Postfix's answers agree for every probe (a `regexp:` table).
fn agree(rules: &Path, probes: &[&str]) {
    agree_as("regexp", rules, probes);
}

/// The same for a table of type `kind` (`regexp` or `pcre`); the answers.
fn agree_as(kind: &str, rules: &Path, probes: &[&str]) -> Vec<Option<String>> {
    let text = std::fs::read_to_string(rules).unwrap();
    let ours = HeaderRules::parse(&format!("{kind}:{}", rules.display()), &text).unwrap();
    let theirs = postfix_answers(kind, rules, probes);
    let mut matched = 0;
    for (p, want) in probes.iter().zip(&theirs) {
        let got = ours.lookup(p).map(|h| h.result);
        assert_eq!(&got, want, "probe {p:?}");
        matched += usize::from(want.is_some());
    }
    // The probes exercise both outcomes.
    assert!(
        matched > 0 && matched < probes.len(),
        "{matched} of {}",
        probes.len()
    );
    theirs
}

#[test]
fn postfix_agrees_on_the_sites_header_checks() {
    agree(
        &Path::new(FIXTURES).join("header_checks"),
        &[
            "Subject: Make money fast",
            "SUBJECT: MAKE MONEY FAST",
            "Subject: make MONEY fast today",
            "Subject: Cheap Meds here",
            "Subject: cheap meds here",
            "Subject: CHEAP MEDS HERE",
            "Subject: Viagra",
            "Subject: you can earn $500 today",
            "Subject: earn money",
            "Subject: Weight Loss secrets",
            "Subject: weight loss secrets",
            "Subject: Your mailbox full warning",
            "Subject: Rolex for you",
            "Subject: ROLEX",
            "Subject: hello",
            "Subject: Re: meeting tomorrow",
            "Subject: 未承諾広告 セール",
            "Subject: [SPAM] buy now",
            "subject: [spam] Buy Now",
            "Subject: [list] weekly digest",
            "Subject: [staff][list] weekly digest",
            "Subject: [announce] [list] new release",
            "Subject: folded\n\tmake money fast",
            "Subject: folded\n second line",
            "X-Mailer: Mass Mailer 2.1",
            "x-mailer: bulk mailer 10.0.3",
            "X-Mailer: Thunderbird",
            "X-Spam-Flag: YES",
            "X-Internal-Trace: abc",
            "X-Archive: yes",
            "X-Archive: no",
            "Received: from localhost (127.0.0.1)",
            "To: someone@old-campus.example",
            "To: someone@campus.example",
            "From: bad guy <x@spam.example>",
            "From: ok <x@campus.example>",
            "Subject: test header_checks",
            "Subject: ok rule",
            "Content-Type: application/octet-stream; name=\"run.exe\"",
            "Content-Disposition: attachment;\n\tfilename=\"Invoice.PDF.scr\"",
            "Content-Type: text/plain; charset=us-ascii",
            "Subject: a subject that is long enough: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ],
    );
}

#[test]
fn postfix_agrees_on_the_sites_body_checks() {
    agree(
        &Path::new(FIXTURES).join("body_checks"),
        &[
            "We offer guaranteed returns on your money",
            "GUARANTEED INCOME for all",
            "a normal line",
            "<iframe src=3Dcid:abc height=3D0 width=3D0>",
            "<iframe src=cid:abc height=0 width=0>",
            "Online pharmacy without prescription!",
            "Click the secret link below",
            "click the secret link below",
            "this needs review by staff",
            "Confidential footer line",
            "今すぐ登録してください",
            "Crème brûlée recipe inside",
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3",
        ],
    );
}

#[test]
fn postfix_agrees_on_flags_and_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("syntax");
    std::fs::write(
        &rules,
        "# flags, delimiters, continuation lines, if/endif, substitution\n\
         /^a\\(b\\)+c{2}$/x REJECT basic $1\n\
         /^first.second$/ WARN dot matches newline\n\
         /^second$/m INFO multi-line\n\
         /^Case Only$/i DUNNO exact case\n\
         /^case (only)$/ HOLD $1\n\
         @^path: /usr/(.*)@ FILTER smtp:[127.0.0.1]:$1\n\
         /^continued/ PREPEND X-A:\n  b  c\n\
         if !/^skip/\n\
         if /^nest/\n\
         /one/ REDIRECT a@b.example\n\
         endif\n\
         /^nest/ BCC c@d.example\n\
         endif\n\
         /^(x)(y)?z/ REPLACE X: [$2] ${1} $$ end\n",
    )
    .unwrap();
    agree(
        &rules,
        &[
            "ab+c{2}",
            "abbcc",
            "first\nsecond",
            "first second",
            "zero\nsecond\nthird",
            "Case Only",
            "case only",
            "CASE ONLY",
            "path: /usr/10024",
            "continued line",
            "nest one",
            "nest two",
            "skip nest one",
            "xz",
            "xyz",
            "nothing",
        ],
    );
}

#[test]
fn postfix_agrees_on_pcre_tables() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("header_checks.pcre");
    // header_checks(5)'s own example (the /x attachment rule) and the flags.
    std::fs::write(
        &rules,
        "/^Content-(Disposition|Type).*name\\s*=\\s*\"?([^;]*(\\.|=2E)(\n\
         \x20 ade|adp|asp|bas|bat|chm|cmd|com|cpl|crt|dll|exe|\n\
         \x20 hlp|ht[at]|\n\
         \x20 inf|ins|isp|jse?|lnk|md[betw]|ms[cipt]|nws|\n\
         \x20 \\{[[:xdigit:]]{8}(?:-[[:xdigit:]]{4}){3}-[[:xdigit:]]{12}\\}|\n\
         \x20 ops|pcd|pif|prf|reg|sc[frt]|sh[bsm]|swf|\n\
         \x20 vb[esx]?|vxd|ws[cfh]))(\\?=)?\"?\\s*(;|$)/x\n\
         \x20   REJECT Attachment name \"$2\" may not end with \".$4\"\n\
         /^Subject: make money/ REJECT default caseless\n\
         /^Subject: Exact/i WARN case-sensitive\n\
         /^X-A: a.b$/ INFO dotall by default\n\
         /^X-B: a.b$/s INFO dot without newline\n\
         /^second$/m INFO multi-line\n\
         /X-C: (a+?)/U INFO ungreedy $1\n\
         /X-D/A INFO anchored\n\
         if /^Received:/\n\
         /from (\\S+) \\(/ PREPEND X-Hop: $1\n\
         endif\n",
    )
    .unwrap();
    let answers = agree_as(
        "pcre",
        &rules,
        &[
            "Content-Type: application/octet-stream; name=\"run.exe\"",
            "Content-Disposition: attachment; filename=\"a.PIF\"; size=3",
            "Content-Type: text/plain; name=\"notes.txt\"",
            "Content-Type: application/x; name=\"x.{12345678-1234-1234-1234-123456789abc}\"",
            "SUBJECT: MAKE MONEY now",
            "Subject: Exact",
            "Subject: exact",
            "X-A: a\nb",
            "X-B: a\nb",
            "X-B: a-b",
            "first\nsecond",
            "X-C: aaa",
            "X-D: 1",
            "Y: X-D",
            "Received: from mx.example (mx.example [192.0.2.1])",
            "Subject: nothing",
        ],
    );
    let answers: Vec<&str> = answers
        .iter()
        .map(|a| a.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(
        answers,
        [
            "REJECT Attachment name \"run.exe\" may not end with \".exe\"",
            "REJECT Attachment name \"a.PIF\" may not end with \".PIF\"",
            "-",
            "REJECT Attachment name \"x.{12345678-1234-1234-1234-123456789abc}\" may not end with \".{12345678-1234-1234-1234-123456789abc}\"",
            "REJECT default caseless",
            "WARN case-sensitive",
            "-",
            "INFO dotall by default",
            "-",
            "INFO dot without newline",
            "INFO multi-line",
            "INFO ungreedy aaa",
            "INFO anchored",
            "-",
            "PREPEND X-Hop: mx.example",
            "-",
        ]
    );
}

// ---------------------------------------------------------------- daemon

/// A daemon with the sites' files, unchanged.
fn daemon() -> Daemon {
    let d = Daemon::prepare(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n\
             FEATURE(`header_checks', `@DIR@/header_checks')dnl\n\
             FEATURE(`body_checks', `@DIR@/body_checks')dnl\n",
        tables: &[("mailboxes", "alice OK\n")],
        tls: false,
    });
    for f in ["header_checks", "body_checks"] {
        std::fs::copy(Path::new(FIXTURES).join(f), d.path().join(f)).unwrap();
    }
    let mut d = d;
    d.spawn();
    d
}

/// Send `msg` (a Python string literal) with smtplib: `OK` or `DATA code text`.
fn send(port: u16, msg: &str) -> String {
    let out = python(&format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test", timeout=60)
try:
    s.sendmail("sender@example.org", ["alice@example.com"], {msg})
    print("OK")
except smtplib.SMTPDataError as e:
    print("DATA", e.smtp_code, e.smtp_error.decode())
s.quit()
"#
    ));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "smtplib: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Everything spooled in a state directory, as text.
fn spooled(d: &Daemon, state: &str) -> String {
    d.queued(state)
        .iter()
        .filter(|p| p.is_file())
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

/// The envelope of the one queue file that is new since `before`.
fn new_envelope(d: &Daemon, before: &[PathBuf]) -> mxgate::spool::Envelope {
    let new: Vec<_> = d
        .queued("queue")
        .into_iter()
        .filter(|p| p.is_file() && !before.contains(p))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    mxgate::spool::Envelope::split(&std::fs::read(&new[0]).unwrap())
        .unwrap()
        .0
}

fn fact<'a>(env: &'a mxgate::spool::Envelope, key: &str) -> Option<&'a str> {
    env.facts
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A header rule's FILTER is not applied again on the content filter's
/// re-injection listener (`ContentFilter=`): the mail there came back from
/// the filter, and filtering it again would loop (Postfix's answer is
/// `receive_override_options` on that listener).
#[test]
fn filter_is_not_applied_again_on_the_reinjection_listener() {
    let reinject = free_port();
    let mc = format!(
        "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n\
         FEATURE(`header_checks', `@DIR@/header_checks')dnl\n\
         DAEMON_OPTIONS(`Port={reinject}, Addr=127.0.0.1, Name=reinject, ContentFilter=')dnl\n"
    );
    let mut d = Daemon::prepare(Setup {
        mc: Box::leak(mc.into_boxed_str()),
        tables: &[("mailboxes", "alice OK\n")],
        tls: false,
    });
    std::fs::write(
        d.path().join("header_checks"),
        "/^X-Spam-Flag: YES/\tFILTER smtp:[127.0.0.1]:10025\n",
    )
    .unwrap();
    d.spawn();
    let msg = r#""X-Spam-Flag: YES\r\nSubject: once\r\n\r\nhi\r\n""#;
    let before = d.queued("queue");
    assert_eq!(send(d.mta, msg), "OK");
    let env = new_envelope(&d, &before);
    assert_eq!(fact(&env, "filter"), Some("smtp:[127.0.0.1]:10025"));
    let before = d.queued("queue");
    assert_eq!(send(reinject, msg), "OK");
    let env = new_envelope(&d, &before);
    assert_eq!(
        fact(&env, "filter"),
        None,
        "filtered mail is not filtered again"
    );
    let log = d.maillog();
    assert!(
        log.contains("FILTER smtp:[127.0.0.1]:10025 not applied: daemon reinject is the content filter's re-injection listener"),
        "{log}"
    );
}

#[test]
fn issue_13_sites_rule_files_drive_a_real_daemon() {
    let d = daemon();
    let port = d.mta;
    // REJECT with the rule's text: case-insensitive by default, a folded
    // subject is one logical header; a /i rule matches its exact case only.
    assert_eq!(
        send(port, r#""Subject: Buy\r\n CIALIS now\r\n\r\nhi\r\n""#),
        "DATA 550 5.7.1 Message rejected: spam subject"
    );
    assert_eq!(
        send(port, r#""Subject: Lottery results\r\n\r\nhi\r\n""#),
        "DATA 550 5.7.1 Spam (lottery) not accepted here"
    );
    // ISO-2022-JP encoded subject, matched in its decoded form.
    assert_eq!(
        send(
            port,
            r#""Subject: =?ISO-2022-JP?B?GyRCTCQ+NUJ6OS05cBsoQg==?= sale\r\n\r\nhi\r\n""#
        ),
        "DATA 550 5.7.1 unsolicited advertising"
    );
    // A base64 attachment whose decoded text matches a body rule.
    let attach = "import base64; b64 = base64.b64encode('Our fund has guaranteed returns!\\n'.encode()).decode()";
    let out = python(&format!(
        r#"
import smtplib
{attach}
msg = ("Subject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
       "--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
       "--XX\r\nContent-Type: application/octet-stream; name=\"r.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--XX--\r\n")
s = smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.test", timeout=60)
try:
    s.sendmail("sender@example.org", ["alice@example.com"], msg); print("OK")
except smtplib.SMTPDataError as e:
    print("DATA", e.smtp_code, e.smtp_error.decode())
"#
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "DATA 550 5.7.1 body rejected: guaranteed returns"
    );
    // An attachment name rule (RFC 2231 encoded name) through mime_header_checks = header_checks.
    assert_eq!(
        send(
            port,
            r#""Subject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=YY\r\n\r\n--YY\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''setup%2Eexe\r\n\r\nTVqQ\r\n--YY--\r\n""#
        ),
        "DATA 550 5.7.1 bad attachment setup.exe"
    );
    // A quoted-printable Latin-1 line, decoded before matching.
    assert_eq!(
        send(
            port,
            r#""Subject: dessert\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCr=E8me br=FBl=E9e recipe\r\n""#
        ),
        "DATA 550 5.7.1 body rejected: dessert spam"
    );
    assert!(
        spooled(&d, "queue").is_empty(),
        "nothing refused was spooled"
    );
    // HOLD lands in the quarantine; IGNORE, PREPEND, REPLACE edit the message.
    assert_eq!(
        send(
            port,
            r#""Subject: [SPAM] [list] digest\r\nX-Internal-Trace: secret\r\nSubject: Work from home\r\n\r\nConfidential footer line\r\nkeep me\r\n""#
        ),
        "OK"
    );
    let held = spooled(&d, "quarantine");
    assert!(
        held.contains("Subject: [spam-tagged] [list] digest"),
        "{held}"
    );
    assert!(!held.contains("X-Internal-Trace"), "{held}");
    assert!(!held.contains("Confidential footer line"), "{held}");
    assert!(held.contains("keep me"), "{held}");
    // DISCARD: accepted, never spooled.
    assert_eq!(
        send(
            port,
            r#""Subject: hi\r\n\r\nClick the secret link now\r\n""#
        ),
        "OK"
    );
    assert_eq!(
        send(port, r#""Subject: make money fast\r\n\r\nhi\r\n""#),
        "OK"
    );
    assert_eq!(
        send(port, r#""Subject: [list] news\r\n\r\nhello\r\n""#),
        "OK"
    );
    let queued = spooled(&d, "queue");
    assert!(
        queued.contains("X-List-Tag: yes\r\nSubject: [list] news"),
        "{queued}"
    );
    assert!(!queued.contains("Click the secret link"), "{queued}");
    // FILTER sets the envelope fact `filter`; REDIRECT replaces the
    // recipients and overrides FILTER; BCC adds a recipient without DSN.
    let before = d.queued("queue");
    assert_eq!(
        send(
            port,
            r#""X-Spam-Flag: YES\r\nX-Archive: yes\r\nSubject: r1\r\n\r\nhi\r\n""#
        ),
        "OK"
    );
    let env = new_envelope(&d, &before);
    assert_eq!(fact(&env, "filter"), Some("smtp:[127.0.0.1]:10025"));
    let rcpts: Vec<_> = env
        .recipients
        .iter()
        .map(|r| (r.address.to_string(), r.notify.map(|n| n.keywords())))
        .collect();
    assert_eq!(
        rcpts,
        [
            ("<alice@example.com>".to_string(), None),
            (
                "<archive@campus.example>".to_string(),
                Some("NEVER".to_string())
            )
        ]
    );
    let before = d.queued("queue");
    assert_eq!(
        send(
            port,
            r#""X-Spam-Flag: YES\r\nTo: Bob <bob@old-campus.example>\r\nSubject: r2\r\n\r\nhi\r\n""#
        ),
        "OK"
    );
    let env = new_envelope(&d, &before);
    assert_eq!(fact(&env, "filter"), None, "REDIRECT overrides FILTER");
    let rcpts: Vec<_> = env
        .recipients
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(rcpts, ["<postmaster@campus.example>"]);
    let log = d.maillog();
    assert!(
        log.contains("redirect: header To: Bob <bob@old-campus.example> from "),
        "{log}"
    );
    assert!(
        log.contains("filter: header X-Spam-Flag: YES from "),
        "{log}"
    );
    assert!(log.contains("discarded (phishing body)"), "{log}");
    assert!(log.contains("discarded (spam subject)"), "{log}");
    assert!(!queued.contains("make money fast"), "{queued}");
    assert!(
        log.contains("reject: header Subject: Lottery results from "),
        "{log}"
    );
    // `mxgate report` still counts header-rule refusals from this log.
    let report = Command::new(env!("CARGO_BIN_EXE_mxgate"))
        .arg("report")
        .arg(d.path().join("maillog"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.contains("header rule"), "{report}");
    assert!(
        log.contains("header rule ")
            && log.contains(": reject=550 5.7.1 Message rejected: spam subject"),
        "{log}"
    );
}

#[test]
fn a_bad_rule_refuses_start_with_file_and_line() {
    let d = Daemon::prepare(Setup {
        mc: "FEATURE(`body_checks', `@DIR@/body_checks')dnl\n",
        tables: &[],
        tls: false,
    });
    std::fs::write(d.path().join("body_checks"), "/ok/ DUNNO\n/bad(/ REJECT\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mxgate"))
        .args(["daemon", "--config"])
        .arg(&d.mc)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the daemon refused to start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("body_checks:2: bad regular expression"),
        "{err}"
    );
}

/// The size limit: a body rule past `confMXGATE_BODY_CHECKS_SIZE_LIMIT`
/// bytes of a part does not fire and the log says so; a reload with a
/// broken rules file is refused with `file:line` and the old rules stay.
#[test]
fn size_limit_and_refused_reload() {
    let mut d = Daemon::prepare(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n\
             FEATURE(`body_checks', `regexp:@DIR@/body_checks')dnl\n\
             define(`confMXGATE_BODY_CHECKS_SIZE_LIMIT', `200')dnl\n",
        tables: &[("mailboxes", "alice OK\n")],
        tls: false,
    });
    std::fs::write(
        d.path().join("body_checks"),
        "/forbidden word/ REJECT 5.7.1 no\n",
    )
    .unwrap();
    d.spawn();
    let port = d.mta;
    assert_eq!(
        send(port, r#""Subject: a\r\n\r\nthe forbidden word\r\n""#),
        "DATA 550 5.7.1 no"
    );
    let filler = "x".repeat(70);
    let late = format!(
        r#""Subject: b\r\n\r\n{filler}\r\n{filler}\r\n{filler}\r\nthe forbidden word\r\n""#
    );
    assert_eq!(send(port, &late), "OK", "past the limit: not inspected");
    assert!(
        d.wait_log(
            "body_checks size limit 200 bytes reached in a part; the rest of it (2 lines) is not inspected",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        d.maillog()
    );
    // A broken file: the reload is refused and the old rules keep working.
    std::fs::write(
        d.path().join("body_checks"),
        "/forbidden word/ REJECT 5.7.1 no\n/other(/ REJECT\n",
    )
    .unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log(
            "reload refused (SIGHUP): ",
            std::time::Duration::from_secs(10)
        ),
        "{}",
        d.maillog()
    );
    let log = d.maillog();
    let refused = log
        .lines()
        .find(|l| l.contains("reload refused (SIGHUP): "))
        .unwrap();
    assert!(
        refused.contains("body_checks:2: bad regular expression"),
        "{refused}"
    );
    assert_eq!(
        send(port, r#""Subject: c\r\n\r\nthe forbidden word\r\n""#),
        "DATA 550 5.7.1 no"
    );
}

/// A bundle ships the rule files (a `pcre:` type kept) and a daemon run
/// from it applies them.
#[test]
fn bundle_ships_rule_files_with_their_type() {
    let mut d = Daemon::prepare(Setup {
        mc: "FEATURE(`mailboxes', `lmdb @DIR@/mailboxes')dnl\nLOCAL_DOMAIN(`example.com')dnl\n\
             FEATURE(`header_checks', `pcre:@DIR@/hc.pcre')dnl\n\
             FEATURE(`body_checks', `@DIR@/bc')dnl\n",
        tables: &[("mailboxes", "alice OK\n")],
        tls: false,
    });
    std::fs::write(
        d.path().join("hc.pcre"),
        "/^Subject: (\\S+) offer/ REJECT no $1 offers\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("bc"),
        "/^stop here$/ REJECT 5.7.1 body stop\n",
    )
    .unwrap();
    let bundle = d.path().join("bundle");
    let out = Command::new(env!("CARGO_BIN_EXE_mxgate"))
        .args(["bundle", "build", "-C"])
        .arg(&d.mc)
        .arg("-o")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cf = std::fs::read_to_string(bundle.join("mxgate.cf")).unwrap();
    assert!(cf.contains("\"pcre:files/header_checks\""), "{cf}");
    assert!(cf.contains("\"files/body_checks\""), "{cf}");
    for f in ["files/header_checks", "files/body_checks"] {
        assert!(bundle.join(f).is_file(), "{f}");
    }
    d.mc = bundle.join("mxgate.cf");
    d.spawn();
    assert_eq!(
        send(d.mta, r#""Subject: SPECIAL offer\r\n\r\nhi\r\n""#),
        "DATA 550 5.7.1 no SPECIAL offers"
    );
    assert_eq!(
        send(d.mta, r#""Subject: hi\r\n\r\nstop here\r\n""#),
        "DATA 550 5.7.1 body stop"
    );
}
