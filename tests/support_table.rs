//! Issue "Field configurations and exact sendmail behaviour — nothing is
//! silently ignored": every FEATURE and option name the compiler accepts is
//! either implemented or warned about (`mxgate_m4::support`), the table's
//! "implemented" marks are backed by code that reads the name, docs/mc.md
//! shows the same marks, and the settings that make mail less safe stop the
//! daemon.

use mxgate_m4::support::{self, Support};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mxgate");

fn compile(body: &str) -> Result<Vec<String>, String> {
    let text = format!("OSTYPE(`linux')dnl\n{body}MAILER(`local')dnl\nMAILER(`smtp')dnl\n");
    mxgate_m4::compile_str("t.mc", &text, &Default::default())
        .map(|c| c.warnings.iter().map(|w| w.to_string()).collect())
        .map_err(|e| e.to_string())
}

/// An argument list that the compiler accepts for `FEATURE(name)`.
fn feature_args(name: &str) -> &'static str {
    match name {
        "nullclient" => ", `hub.example'",
        "header_checks" | "body_checks" | "mime_header_checks" | "nested_header_checks" => {
            ", `/dev/null'"
        }
        "dnsbl" | "enhdnsbl" | "rhsbl" => ", `bl.example'",
        "greet_pause" => ", `1000'",
        "nouucp" => ", `reject'",
        _ => "",
    }
}

/// A value that the compiler accepts for option `name`.
fn option_value(name: &str) -> &'static str {
    if name.starts_with("confTO_")
        || name == "confCONNECTION_RATE_WINDOW_SIZE"
        || name == "confMIN_QUEUE_AGE"
    {
        "1h"
    } else if name == "confTLS_SRV_OPTIONS" {
        // Letters; `V` is the one mxgate reads (others are warned).
        "V"
    } else {
        "1"
    }
}

/// All Rust source text of the runtime (src/), where an implemented option
/// or feature must be read.
fn runtime_source() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut s = String::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut s);
    s
}

#[test]
fn relay_fields_the_compiler_fills_have_a_reader_besides_the_macro_expansion() {
    // confFALLBACK_SMARTHOST was compiled into relays.fallback_smarthost
    // and read nowhere but by site.rs, which only expands its macros: the
    // COMPILER_OPTIONS exemption below hid it.
    let mut readers: Vec<(String, String)> = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("src/site.rs") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut readers,
    );
    for field in [
        "smart_host",
        "mail_hub",
        "local_relay",
        "luser_relay",
        "fallback_mx",
        "fallback_smarthost",
    ] {
        let token = format!(".{field}");
        assert!(
            readers.iter().any(|(_, text)| text.contains(&token)),
            "relays.{field}: no reader outside src/site.rs"
        );
    }
}

/// Features the compiler itself turns into behaviour (fields of the
/// compiled configuration, class files), or that name what mxgate always
/// does (it never canonifies, and a configuration with DAEMON_OPTIONS has
/// no default MSA).
const COMPILER_FEATURES: &[&str] = &[
    "dnsbl",
    "enhdnsbl",
    "header_checks",
    "body_checks",
    "mime_header_checks",
    "nested_header_checks",
    "use_cw_file",
    "use_ct_file",
    "nocanonify",
    "no_default_msa",
];

/// Options the compiler turns into fields (`hostname`, `relays`, class files).
const COMPILER_OPTIONS: &[&str] = &[
    "confDOMAIN_NAME",
    "confFALLBACK_MX",
    "confFALLBACK_SMARTHOST",
    "confCW_FILE",
    "confCR_FILE",
    "confCT_FILE",
    // Read with CLIENT_OPTIONS by config::ClientOptions::of (deliver::client_options).
    "confCLIENT_OPTIONS",
];

/// A name marked implemented compiles without a warning and is read by
/// the runtime (`read`); any other mark must warn.
fn assert_marked(name: &str, support: Support, warnings: &[String], warned: bool, read: bool) {
    match support {
        Support::Implemented => {
            assert!(
                !warned,
                "{name} is marked implemented but warns: {warnings:?}"
            );
            assert!(
                read,
                "{name} is marked implemented but nothing in src/ reads it"
            );
        }
        Support::Warned(_) | Support::Refused(_) => {
            assert!(warned, "{name} is not implemented and compiles silently");
        }
    }
}

#[test]
fn every_feature_is_implemented_or_warned_at_compile() {
    let src = runtime_source();
    let features = mxgate_m4::mc::FEATURES;
    assert!(features.len() > 60, "the walk covers sendmail's features");
    for (name, _) in features {
        let support = support::feature(name).unwrap_or_else(|| panic!("{name}: no entry"));
        // ratecontrol and conncontrol need the access table before them.
        let before = match *name {
            "ratecontrol" | "conncontrol" => {
                "FEATURE(`access_db', `hash -T<TMPF> /etc/mail/access')dnl\n"
            }
            _ => "",
        };
        let warnings = compile(&format!(
            "{before}FEATURE(`{name}'{})dnl\n",
            feature_args(name)
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let warned = warnings
            .iter()
            .any(|w| w.contains(&format!("FEATURE(`{name}') has no effect in mxgate")));
        let read = src.contains(&format!("\"{name}\"")) || COMPILER_FEATURES.contains(name);
        assert_marked(name, support, &warnings, warned, read);
        if !matches!(support, Support::Implemented) {
            assert!(
                warnings[0].starts_with("t.mc:2:1: warning:"),
                "{warnings:?}"
            );
        }
    }
}

#[test]
fn every_option_is_implemented_or_warned_at_compile() {
    let src = runtime_source();
    assert!(mxgate_m4::options::OPTIONS.len() > 150);
    for (name, _) in mxgate_m4::options::OPTIONS {
        let support = support::option(name).unwrap_or_else(|| panic!("{name}: no entry"));
        let warnings = compile(&format!("define(`{name}', `{}')dnl\n", option_value(name)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let warned = warnings
            .iter()
            .any(|w| w.contains(&format!("{name} has no effect in mxgate")));
        let read = src.contains(&format!("\"{name}\"")) || COMPILER_OPTIONS.contains(name);
        assert_marked(name, support, &warnings, warned, read);
    }
}

#[test]
fn docs_mc_marks_match_the_table() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mc.md")).unwrap();
    let mark = |s: &Support| match s {
        Support::Implemented => "implemented",
        Support::Warned(_) => "warned",
        Support::Refused(_) => "refused",
    };
    let all = support::FEATURES
        .iter()
        .chain(support::MACROS)
        .chain(support::OPTIONS)
        .chain(support::DAEMON_SETTINGS);
    for (name, s) in all {
        let row = format!("| `{name}` | {} |", mark(s));
        assert!(doc.contains(&row), "docs/mc.md lacks the row {row}");
    }
}

#[test]
fn named_settings_of_the_issue_warn_with_file_and_line() {
    let w = compile(
        "define(`confCIPHER_LIST', `HIGH')dnl\n\
         CLIENT_OPTIONS(`Family=inet')dnl\n\
         FEATURE(`domaintable')dnl\n\
         FEATURE(`ldap_routing')dnl\n\
         FEATURE(`access_db', `hash -T<TMPF> /etc/mail/access')dnl\n\
         FEATURE(`ratecontrol')dnl\n\
         INPUT_MAIL_FILTER(`clamav', `S=unix:/run/clamav.sock')dnl\n",
    )
    .unwrap();
    let all = w.join("\n");
    // domaintable (route::domaintable), ratecontrol (policy::connect) and
    // CLIENT_OPTIONS (deliver::client_options) are implemented: no warning.
    assert!(!all.contains("domaintable"), "{all}");
    assert!(!all.contains("ratecontrol"), "{all}");
    assert!(!all.contains("CLIENT_OPTIONS"), "{all}");
    assert!(!all.contains("confCIPHER_LIST"), "{all}");
    // Milters are spoken (docs/milter.md): no warning either.
    assert!(!all.contains("clamav"), "{all}");
    let what = "FEATURE(`ldap_routing') has no effect";
    assert!(
        w.iter()
            .any(|x| x.starts_with("t.mc:5:") && x.contains(what)),
        "line 5: {what}\n{all}"
    );
    // Implemented: no warning.
    let w = compile("define(`confTO_QUEUERETURN_DSN', `1d')dnl\n").unwrap();
    assert!(w.is_empty(), "{w:?}");
}

fn mc_file(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("site.mc");
    std::fs::write(
        &p,
        format!(
            "OSTYPE(`linux')dnl\n\
             define(`QUEUE_DIR', `{}')dnl\n\
             define(`confDOMAIN_NAME', `t.example')dnl\n\
             DAEMON_OPTIONS(`Port=1, Addr=127.0.0.1, Name=MTA')dnl\n\
             {body}MAILER(`local')dnl\n",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_milter_with_f_t_or_f_r_compiles_and_checks_clean() {
    // Formerly refused at start (mail must not pass unscanned); the daemon
    // now speaks the protocol and F=T/F=R decide what an unusable filter
    // means (tests/milter.rs runs the daemon with them).
    for flag in ["T", "R"] {
        let d = tempfile::tempdir().unwrap();
        let mc = mc_file(
            d.path(),
            &format!("INPUT_MAIL_FILTER(`spam', `S=inet:1234@localhost, F={flag}')dnl\n"),
        );
        let cf = d.path().join("site.cf");
        let out = Command::new(BIN)
            .args(["compile", "-o"])
            .arg(&cf)
            .arg(&mc)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("spam"), "{err}");
        for config in [&mc, &cf] {
            let out = Command::new(BIN)
                .args(["check", "--config"])
                .arg(config)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // `refused:` is the daemon-refusal line (a `Connection
            // refused` from the filter probe is a warning, not that).
            assert!(!text.contains("refused:"), "{text}");
            assert!(!text.contains("filter spam"), "{text}");
            let mode = if flag == "T" {
                "F=T: temp-fail (451 4.3.2) when unusable"
            } else {
                "F=R: reject (550 5.7.1) when unusable"
            };
            assert!(
                text.contains(&format!("milter spam: S=inet:1234@localhost, {mode}")),
                "{text}"
            );
        }
    }
}

#[test]
fn milter_macro_lists_are_read_without_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let mc = mc_file(
        d.path(),
        "INPUT_MAIL_FILTER(`clamav', `S=unix:/run/clamav.sock')dnl\n\
         define(`confMILTER_MACROS_CONNECT', `j, {daemon_name}')dnl\n\
         define(`confMILTER_MACROS_EOM', `{msg_id}, i')dnl\n",
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&mc)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("confMILTER_MACROS"), "{err}");
    let w = compile("define(`confMILTER_MACROS_ENVRCPT', `{rcpt_addr}')dnl\n").unwrap();
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn mxgate_options_are_known_to_the_compiler_and_read_by_the_runtime() {
    let src = runtime_source();
    // Every conf* name the runtime reads is a sendmail option or in the list.
    let mut i = 0;
    while let Some(at) = src[i..].find("\"conf") {
        let start = i + at + 1;
        let end = start
            + src[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(0);
        let name = &src[start..end];
        i = end;
        let option_like = name.len() > 4
            && name[4..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if src[end..].starts_with('"') && option_like {
            let known = mxgate_m4::options::OPTIONS.iter().any(|(k, _)| *k == name)
                || support::MXGATE_OPTIONS.contains(&name);
            assert!(
                known,
                "{name} is read by the runtime but unknown to the compiler"
            );
        }
    }
    for name in support::MXGATE_OPTIONS {
        assert!(
            src.contains(&format!("\"{name}\"")),
            "{name} is not read by the runtime"
        );
        let value = match *name {
            "confMXGATE_CONTENT_FILTER" => "smtp:[127.0.0.1]:10024",
            _ => "1",
        };
        // The syslog socket is read only with the log going to syslog (it
        // is warned about otherwise).
        let with = match *name {
            "confMXGATE_SYSLOG_SOCKET" => "define(`confMXGATE_LOG_FILE', `syslog')dnl\n",
            _ => "",
        };
        let w = compile(&format!("{with}define(`{name}', `{value}')dnl\n")).unwrap();
        assert!(w.is_empty(), "{name}: {w:?}");
    }
    // A misspelling is still warned about.
    let w = compile("define(`confMXGATE_QUEUE_INTERVALL', `1m')dnl\n").unwrap();
    assert!(w[0].contains("is not a sendmail 8.17 option"), "{w:?}");
}

#[test]
fn a_mail_filter_counts_only_when_a_filter_list_names_it() {
    let check = |body: &str| {
        let d = tempfile::tempdir().unwrap();
        let mc = mc_file(d.path(), body);
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&mc)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // Defined, named by nothing: sendmail never calls it (nor does the
    // daemon, smtpd::milters::names_for); nothing is refused.
    let (code, out) = check("MAIL_FILTER(`spam', `S=inet:1234@localhost, F=T')dnl\n");
    assert!(!out.contains("refused:"), "{out}");
    assert_ne!(code, Some(78), "{out}");
    // Named by confINPUT_MAIL_FILTERS or a daemon's InputMailFilters=: in
    // use, and run like any filter (tests/milter.rs), so nothing to say.
    for body in [
        "MAIL_FILTER(`spam', `S=inet:1234@localhost, F=T')dnl\n\
         define(`confINPUT_MAIL_FILTERS', `spam')dnl\n",
        "MAIL_FILTER(`spam', `S=inet:1234@localhost, F=R')dnl\n\
         DAEMON_OPTIONS(`Port=2, Addr=127.0.0.1, Name=MTA2, InputMailFilters=other;spam')dnl\n",
    ] {
        let (code, out) = check(body);
        assert!(!out.contains("refused:"), "{out}");
        assert_ne!(code, Some(78), "{out}");
        assert!(!out.contains("filter spam"), "{out}");
    }
}

/// Access-map entries whose tag mxgate does not read are named by `check`
/// with the source file's line; the TLS keys it reads are not.
#[test]
fn check_warns_about_access_tags_it_does_not_read() {
    let d = tempfile::tempdir().unwrap();
    let access = d.path().join("access");
    std::fs::write(
        &access,
        "# site policy\nTLS_Srv:scanner.example\tVERIFY\nSrv_Features:10.1\tS\nConnect:10.9\tRELAY\nClt_Features:broken.example\tS\n\
         Connect:10.8\tRELAI\nFrom:spam.example\tERROR:5.7.1:550 go away\nTo:x@\t550 no such user\n\
         192.0.2\tREJECT # the scanners\nSpam:abuse@\tFRIEND\nGreetPause:10.7\t5000\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["makemap", "hash"])
        .arg(&access)
        .stdin(std::fs::File::open(&access).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mc = mc_file(
        d.path(),
        &format!(
            "FEATURE(`access_db', `hash -T<TMPF> {}')dnl\n",
            access.display()
        ),
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&mc)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let a = access.display();
    // Srv_Features: is read now (tests/srv_features.rs).
    assert!(!all.contains("Srv_Features: entries"), "{all}");
    assert!(
        all.contains(&format!("{a}:5: Clt_Features: entries are not read")),
        "{all}"
    );
    assert!(!all.contains("TLS_Srv: entries"), "{all}");
    // A value that is no action is named with what it answers (sendmail
    // 8.17's `553 5.3.0 VALUE`); ERROR:, a bare reply, FRIEND and a
    // GreetPause: number are not.
    assert!(
        all.contains(&format!(
            "{a}:6: Connect:10.8: `RELAI` is not an access action"
        )) && all.contains("answers 553 5.3.0 RELAI"),
        "{all}"
    );
    assert!(
        all.contains(&format!("{a}:9: 192.0.2: `REJECT # the scanners`")),
        "{all}"
    );
    assert_eq!(all.matches("is not an access action").count(), 2, "{all}");
}

#[test]
fn content_filter_settings_are_checked_with_file_and_line() {
    // Postfix's content_filter layout: every listener filters, the
    // re-injection listener does not.
    let good = "define(`confMXGATE_CONTENT_FILTER', `smtp:[127.0.0.1]:10024')dnl\n\
                FEATURE(`no_default_msa')dnl\n\
                DAEMON_OPTIONS(`Port=2525, Addr=127.0.0.1, Name=MTA')dnl\n\
                DAEMON_OPTIONS(`Port=10025, Addr=127.0.0.1, Name=reinject, ContentFilter=, InputMailFilters=')dnl\n";
    assert_eq!(compile(good).unwrap(), Vec::<String>::new());
    let lmtp = "FEATURE(`no_default_msa')dnl\nDAEMON_OPTIONS(`Port=2525, Addr=127.0.0.1, Name=MTA, ContentFilter=lmtp:[::1]:10024')dnl\n";
    assert_eq!(compile(lmtp).unwrap(), Vec::<String>::new());
    // A bad value, in the define and in DAEMON_OPTIONS.
    let e =
        compile("define(`confMXGATE_CONTENT_FILTER', `smtp:127.0.0.1:10024')dnl\n").unwrap_err();
    assert!(
        e.starts_with("t.mc:2:") && e.contains("confMXGATE_CONTENT_FILTER: content filter `smtp:127.0.0.1:10024': expected transport:[host]:port"),
        "{e}"
    );
    let e = compile(
        "dnl\nDAEMON_OPTIONS(`Port=2525, Name=MTA, ContentFilter=uucp:[127.0.0.1]:10024')dnl\n",
    )
    .unwrap_err();
    assert!(
        e.starts_with("t.mc:3:") && e.contains("transport `uucp' is not supported"),
        "{e}"
    );
    // The re-injection listener forgot `ContentFilter=`: mail would go
    // round; refused where the loop starts.
    let looped = "define(`confMXGATE_CONTENT_FILTER', `smtp:[127.0.0.1]:10025')dnl\n\
                  DAEMON_OPTIONS(`Port=2525, Addr=127.0.0.1, Name=MTA')dnl\n\
                  DAEMON_OPTIONS(`Port=10025, Addr=127.0.0.1, Name=reinject')dnl\n";
    let e = compile(looped).unwrap_err();
    assert!(
        e.starts_with("t.mc:2:") && e.contains("content filter loop: listener MTA sends its mail to smtp:[127.0.0.1]:10025, which is our own listener reinject"),
        "{e}"
    );
    // The filter is the re-injection listener itself: nothing scans.
    let direct = "define(`confMXGATE_CONTENT_FILTER', `smtp:[127.0.0.1]:10025')dnl\n\
                  DAEMON_OPTIONS(`Port=2525, Addr=127.0.0.1, Name=MTA')dnl\n\
                  DAEMON_OPTIONS(`Port=10025, Addr=127.0.0.1, Name=reinject, ContentFilter=')dnl\n\
                  FEATURE(`no_default_msa')dnl\n";
    let w = compile(direct).unwrap();
    assert!(
        w.len() == 1
            && w[0].starts_with("t.mc:2:")
            && w[0].contains("listener MTA sends its mail to smtp:[127.0.0.1]:10025, which is our own listener reinject (no content filter): its mail is not scanned"),
        "{w:?}"
    );
    // The filter named by this host's own name ($j): warned, not refused
    // (the name's address is not known before it is looked up).
    let named = "define(`confDOMAIN_NAME', `mx1.example.com')dnl\n\
                 DAEMON_OPTIONS(`Port=2525, Name=MTA, ContentFilter=smtp:[mx1.example.com]:10025')dnl\n\
                 DAEMON_OPTIONS(`Port=10025, Name=reinject')dnl\n\
                 FEATURE(`no_default_msa')dnl\n";
    let w = compile(named).unwrap();
    assert!(
        w.len() == 1
            && w[0].starts_with("t.mc:3:")
            && w[0].contains("listener MTA sends its mail to smtp:[mx1.example.com]:10025, a name of this host ($j or $=w), on the port of our own listener reinject, which has no content filter"),
        "{w:?}"
    );
    let own = "DAEMON_OPTIONS(`Port=2525, Addr=127.0.0.1, Name=MTA, ContentFilter=smtp:[127.0.0.1]:2525')dnl\n";
    let e = compile(own).unwrap_err();
    assert!(
        e.starts_with("t.mc:2:") && e.contains("content filter loop"),
        "{e}"
    );
    // The daemon refuses it too (with the compiler's position).
    let d = tempfile::tempdir().unwrap();
    let mc = mc_file(d.path(), looped);
    let out = Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&mc)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("site.mc:5:") && err.contains("content filter loop"),
        "{err}"
    );
}
