//! The .mc compiler end to end: every shipped config, the sendmail-verify
//! configs of the spec, a Debian sendmail.mc, and the error messages.

use mxgate_m4::config::{Config, DnsblAction, DnsblTempFail};
use mxgate_m4::{Compiled, Options, compile_file, compile_str, parse_define};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn opts(defs: &[&str]) -> Options {
    Options {
        defines: defs.iter().map(|d| parse_define(d)).collect(),
    }
}

fn ok(text: &str) -> Compiled {
    match compile_str("site.mc", text, &Options::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn err(text: &str) -> String {
    match compile_str("site.mc", text, &Options::default()) {
        Ok(c) => panic!("compiled: {}", c.config.to_text()),
        Err(e) => e.to_string(),
    }
}

fn cf(site: &str, mc: &str) -> Config {
    let dir = repo().join("cf").join(site);
    let def = format!("CFDIR={}", dir.display());
    let c = compile_file(&dir.join(mc), &opts(&[&def])).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    round_trip(&c.config);
    c.config
}

fn round_trip(c: &Config) {
    let text = c.to_text();
    assert_eq!(&Config::from_text(&text).unwrap(), c, "{text}");
}

#[test]
fn gateway_mc() {
    let dir = repo().join("cf/gateway");
    let c = cf("gateway", "gateway.mc");
    assert_eq!(c.hostname.as_deref(), Some("gateway.example.gr.jp"));
    assert_eq!(c.option("confMAX_MESSAGE_SIZE"), Some("10485760"));
    assert_eq!(c.option("confTO_QUEUERETURN"), Some("3d"));
    let access = &c.maps["access"];
    assert_eq!(access.path, format!("{}/access", dir.display()));
    assert!(access.tempfail && access.optional);
    assert_eq!(
        c.maps["mailertable"].path,
        format!("{}/mailertable", dir.display())
    );
    assert!(c.has_feature("blacklist_recipients"));
    assert_eq!(
        c.feature_args("delay_checks"),
        Some(&["friend".to_string()][..])
    );
    assert_eq!(c.dnsbl.len(), 1);
    assert_eq!(c.dnsbl[0].zone, "bl.example.net");
    assert_eq!(c.dnsbl[0].on_tempfail, DnsblTempFail::Default);
    assert_eq!(
        c.header_checks,
        Some(format!("{}/header_checks", dir.display()))
    );
    assert_eq!(c.class("R"), &["example.gr.jp".to_string()]);
    assert_eq!(
        c.relays.fallback_mx.as_deref(),
        Some("[fallback.example.gr.jp]")
    );
    assert_eq!(c.relays.smart_host, None);
    assert_eq!(c.daemons.len(), 1);
    assert_eq!(c.daemons[0].options["Port"], "smtp");
    assert_eq!(
        c.mailers,
        ["local", "prog", "smtp", "esmtp", "smtp8", "dsmtp", "relay"]
    );
    assert_eq!(
        c.class_files["R"][0].path,
        format!("{}/relay-domains", dir.display())
    );
    // The text sources referenced by the .mc exist next to it.
    for f in [
        "access",
        "mailertable",
        "header_checks",
        "aliases",
        "relay-domains",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let mt = std::fs::read_to_string(dir.join("mailertable")).unwrap();
    assert!(mt.contains(".example.gr.jp\t\tsmtp:[dist-in.example.gr.jp]"));
    let hc = std::fs::read_to_string(dir.join("header_checks")).unwrap();
    assert!(hc.contains("/^Subject: .*Make Money Fast/\t\tREJECT"));
    assert!(hc.lines().any(|l| l.contains("/i")));
}

#[test]
fn distribution_mc() {
    let c = cf("dist-in", "distribution.mc");
    assert_eq!(c.hostname.as_deref(), Some("dist-in.example.gr.jp"));
    assert_eq!(
        c.relays.smart_host.as_deref(),
        Some("esmtp:[gateway.example.gr.jp]")
    );
    assert!(c.maps.contains_key("mailertable") && c.maps.contains_key("access"));
    assert!(c.class("w").contains(&"dist-in.example.gr.jp".to_string()));
    let mt = std::fs::read_to_string(repo().join("cf/dist-in/mailertable")).unwrap();
    assert!(mt.contains("smtp:[192.0.2.25]"));
    assert!(mt.contains("sub2.example.gr.jp\tsmtp:[mbox2.example.gr.jp]"));
    let acc = std::fs::read_to_string(repo().join("cf/dist-in/access")).unwrap();
    assert!(acc.contains("Connect:192.0.2\t\t\tRELAY"));
}

#[test]
fn mailserver_mc() {
    let dir = repo().join("cf/mbox");
    let c = cf("mbox", "mailserver.mc");
    assert_eq!(
        c.relays.smart_host.as_deref(),
        Some("esmtp:[dist-in.example.gr.jp]")
    );
    assert_eq!(c.masquerade_as.as_deref(), Some("example.gr.jp"));
    assert_eq!(
        c.class("M"),
        &[
            "mbox1.example.gr.jp".to_string(),
            "sub1.example.gr.jp".to_string()
        ]
    );
    assert_eq!(c.class("E"), &["root".to_string()]);
    assert_eq!(
        c.class("w"),
        &[
            "example.gr.jp".to_string(),
            "localhost".to_string(),
            "sub1.example.gr.jp".to_string()
        ]
    );
    for f in [
        "masquerade_envelope",
        "masquerade_entire_domain",
        "always_add_domain",
        "nocanonify",
    ] {
        assert!(c.has_feature(f), "{f}");
    }
    assert!(!c.has_feature("limited_masquerade"));
    let mb = &c.maps["mailboxes"];
    assert_eq!(
        (mb.class.as_str(), mb.path.clone()),
        ("lmdb", format!("{}/mailboxes", dir.display()))
    );
    let aliases = &c.maps["aliases"];
    assert!(aliases.nul_terminated);
    assert_eq!(aliases.path, format!("{}/aliases", dir.display()));
    let msa = c
        .daemons
        .iter()
        .find(|d| d.options["Name"] == "MSA")
        .unwrap();
    assert_eq!(
        (msa.options["Port"].as_str(), msa.options["M"].as_str()),
        ("587", "Ea")
    );
    let al = std::fs::read_to_string(dir.join("aliases")).unwrap();
    assert!(al.contains(":include:") && al.contains("owner-staff:"));
    assert!(
        std::fs::read_to_string(dir.join("mailboxes"))
            .unwrap()
            .contains("DISABLED")
    );
}

#[test]
fn cf_defaults_to_etc_mail_without_cfdir() {
    let c = compile_file(&repo().join("cf/gateway/gateway.mc"), &Options::default()).unwrap();
    assert_eq!(c.config.maps["access"].path, "/etc/mail/access");
    assert_eq!(
        c.config
            .source
            .mc
            .as_deref()
            .map(|s| s.ends_with("gateway.mc")),
        Some(true)
    );
}

#[test]
fn every_cf_mc_compiles() {
    let mut n = 0;
    let mut stack = vec![repo().join("cf")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mc") {
                let c = compile_file(&p, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
                round_trip(&c.config);
                n += 1;
            }
        }
    }
    assert!(n >= 4, "found {n}");
}

#[test]
fn default_mc() {
    let c = compile_file(&repo().join("cf/default.mc"), &Options::default()).unwrap();
    assert_eq!(c.config.daemons.len(), 2);
    assert_eq!(c.config.option("QUEUE_DIR"), Some("spool"));
    assert_eq!(c.config.maps["mailertable"].path, "mailertable");
    assert!(c.config.has_feature("blocklist_recipients"));
}

fn verify_mc(name: &str) -> Config {
    let text = std::fs::read_to_string(fixtures().join("sendmail-verify").join(name))
        .unwrap()
        .replace("@DIR@", "/srv/verify");
    let c = compile_str(name, &text, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    round_trip(&c.config);
    c.config
}

/// The configs of spec section 12 (copied from shared/spec/sendmail-verify).
#[test]
fn sendmail_verify_configs() {
    let c = verify_mc("test.mc");
    assert_eq!(c.hostname.as_deref(), Some("gw.example.com"));
    assert_eq!(
        c.relays.smart_host.as_deref(),
        Some("esmtp:[smarthost.isp.net]")
    );
    assert_eq!(
        c.relays.fallback_mx.as_deref(),
        Some("fallback.example.net")
    );
    assert_eq!(c.masquerade_as.as_deref(), Some("masq.example.com"));
    assert_eq!(c.class("M"), &["other.example.com".to_string()]);
    assert_eq!(c.class("E"), &["root".to_string()]);
    assert_eq!(c.class_files["w"][0].path, "/srv/verify/local-host-names");
    assert_eq!(c.class_files["R"][0].path, "/srv/verify/relay-domains");
    assert_eq!(c.option("confHOSTS_FILE"), Some("/srv/verify/hosts"));
    assert_eq!(
        c.option("confSERVICE_SWITCH_FILE"),
        Some("/srv/verify/service.switch")
    );
    assert_eq!(c.maps["aliases"].path, "/srv/verify/aliases");
    assert_eq!(c.maps["access"].path, "/srv/verify/access");
    assert_eq!(
        c.feature_args("greet_pause"),
        Some(&["1000".to_string()][..])
    );
    assert_eq!(c.dnsbl.len(), 2);
    assert!(!c.dnsbl[0].enhanced && c.dnsbl[0].on_tempfail == DnsblTempFail::Ignore);
    assert!(c.dnsbl[1].enhanced);
    assert_eq!(c.dnsbl[1].zone, "ebl.example.org");
    assert_eq!(c.dnsbl[1].action, DnsblAction::Reject);
    assert_eq!(c.dnsbl[1].matches, ["127.0.0.2."]);
    assert_eq!(c.local_config[0], "Stest_relay");
    assert_eq!(
        c.local_config[1],
        "R$*\t\t$: $&{client_name} $| $&{client_addr}"
    );
    assert_eq!(c.local_config.len(), 6);
    let t3 = verify_mc("t3.mc");
    assert!(t3.has_feature("allmasquerade") && t3.has_feature("masquerade_envelope"));
    let t4 = verify_mc("t4.mc");
    assert!(t4.has_feature("delay_checks"));
    assert!(verify_mc("t2.mc").dnsbl.is_empty());
}

/// /etc/mail/sendmail.mc of Debian 12 (sendmail 8.17.1.9-2+deb12u2), with
/// its two includes of /etc/mail/m4/*.m4 pointed at copies.
#[test]
fn debian_sendmail_mc() {
    let dir = fixtures().join("debian");
    let text = std::fs::read_to_string(dir.join("sendmail.mc"))
        .unwrap()
        .replace("@DIR@", &dir.display().to_string());
    let c =
        compile_str("sendmail.mc", &text, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let c = c.config;
    assert_eq!(c.source.ostype.as_deref(), Some("debian"));
    assert_eq!(c.source.domains, ["debian-mta"]);
    assert!(
        c.source
            .versionid
            .as_deref()
            .unwrap()
            .contains("sendmail.mc, v 8.17.1.9")
    );
    assert_eq!(c.daemons.len(), 2);
    assert_eq!(c.daemons[1].options["Name"], "MSP-v4");
    assert_eq!(c.daemons[1].options["M"], "Ea");
    assert_eq!(c.maps["access"].path, "/etc/mail/access");
    assert!(c.maps["access"].tempfail);
    assert_eq!(c.feature_args("access_db").unwrap()[1], "skip");
    assert_eq!(
        c.feature_args("delay_checks"),
        Some(&["friend".to_string(), "n".to_string()][..])
    );
    assert_eq!(
        c.option("confPRIVACY_FLAGS"),
        Some(
            "needmailhelo,needexpnhelo,needvrfyhelo,restrictqrun,restrictexpand,nobodyreturn,authwarnings"
        )
    );
    assert_eq!(c.option("confCONNECTION_RATE_WINDOW_SIZE"), Some("10m"));
    assert!(!c.options.contains_key("confHOST_STATUS_DIRECTORY"));
    // DOMAIN(`debian-mta') is read from the cf tree the .mc's cf.m4
    // include names, as sendmail's cf.m4 reads it (tools/test installs
    // sendmail-cf): Debian's timeouts and hop count apply.
    if std::path::Path::new("/usr/share/sendmail/cf/domain/debian-mta.m4").exists() {
        assert_eq!(c.option("confMAX_HOP"), Some("100"));
        assert_eq!(c.option("confTO_COMMAND"), Some("5m"));
        assert_eq!(c.option("confTO_MAIL"), Some("2m"));
    }
    assert_eq!(c.class_files["w"][0].path, "/etc/mail/local-host-names");
    assert!(c.class_files["R"][0].optional);
    round_trip(&c);
}

#[test]
fn compiled_text_is_deterministic() {
    let a = cf("gateway", "gateway.mc").to_text();
    let b = cf("gateway", "gateway.mc").to_text();
    assert_eq!(a, b);
}

// ---- -D, m4 behaviour through the compiler ----

#[test]
fn dash_d_is_defined_before_reading() {
    let text = "ifdef(`SITE', `define(`confDOMAIN_NAME', SITE)', `define(`confDOMAIN_NAME', `none')')dnl\n";
    let c = compile_str("s.mc", text, &opts(&["SITE=mx.example.com"])).unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("mx.example.com"));
    assert_eq!(c.config.source.defines["SITE"], "mx.example.com");
    // -D NAME defines it empty (checked with `m4 -D X`: ifdef true, value empty).
    let c = compile_str(
        "s.mc",
        "ifdef(`X', `define(`confDOMAIN_NAME', `[X]')')dnl\n",
        &opts(&["X"]),
    )
    .unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("[]"));
    let c = compile_str("s.mc", text, &Options::default()).unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("none"));
}

#[test]
fn quoted_macro_names_expand_when_used_like_sendmail() {
    // m4 expands CFDIR when proto.m4 outputs the map spec; so do we.
    let c = compile_str(
        "s.mc",
        "define(`CFDIR', `/srv/mail')dnl\nFEATURE(`mailertable', `hash -o CFDIR/mailertable')dnl\n",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(c.config.maps["mailertable"].path, "/srv/mail/mailertable");
}

#[test]
fn rescanning_of_user_macros() {
    let c = ok(
        "define(`HUB', `esmtp:[hub.example.com]')dnl\ndefine(`RELAYTO', `define(`SMART_HOST', $1)')dnl\nRELAYTO(`HUB')dnl\n",
    );
    assert_eq!(
        c.config.relays.smart_host.as_deref(),
        Some("esmtp:[hub.example.com]")
    );
}

#[test]
fn divert_minus_one_discards_text() {
    let c = ok("divert(-1)\nthis is prose, not cf\nFEATURE(`nocanonify')\ndivert(0)dnl\n");
    // Macros still run while output is discarded (as in m4).
    assert!(c.config.has_feature("nocanonify"));
}

#[test]
fn dnl_and_comments() {
    let c = ok(
        "# a comment line FEATURE(`x') is not expanded\nFEATURE(`nocanonify')dnl trailing words\n",
    );
    assert!(c.config.has_feature("nocanonify"));
}

#[test]
fn raw_cf_lines() {
    let c = ok(
        "Djmx.example.com\nDmexample.com\nD{MyMacro}v\nCwa.example.com b.example.com\nC{Extra}x\nFw-o /etc/mail/more-names\nF{Pairs}/etc/mail/pairs\nO MaxMessageSize=2000\nO SomethingNew=1\n",
    );
    let cfg = c.config;
    assert_eq!(cfg.hostname.as_deref(), Some("mx.example.com"));
    assert_eq!(cfg.macros["m"], "example.com");
    assert_eq!(cfg.macros["{MyMacro}"], "v");
    assert!(cfg.class("w").contains(&"b.example.com".to_string()));
    // Long class names are kept without their braces, as the runtime
    // looks them up ($={VirtHost} is class VirtHost).
    assert_eq!(cfg.class("Extra"), &["x".to_string()]);
    assert!(cfg.class_files["w"][0].optional);
    assert_eq!(cfg.class_files["Pairs"][0].path, "/etc/mail/pairs");
    assert_eq!(cfg.option("confMAX_MESSAGE_SIZE"), Some("2000"));
    assert_eq!(cfg.local_config, ["O SomethingNew=1"]);
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn local_config_section() {
    let c = ok(
        "LOCAL_CONFIG\nKmymap hash /etc/mail/mymap\nLOCAL_RULESETS\nSLocal_check_rcpt\nR$*\t$: $1\n\t# continued\n",
    );
    assert_eq!(
        c.config.local_config,
        [
            "Kmymap hash /etc/mail/mymap",
            "SLocal_check_rcpt",
            "R$*\t$: $1"
        ]
    );
    // Kept, never run: each says so at its line (the ruleset's warning
    // covers its rules).
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with(
            "site.mc:2:1: warning: raw cf line K (map `mymap') has no effect in mxgate"
        ),
        "{w:?}"
    );
    assert!(
        w[1].starts_with(
            "site.mc:4:1: warning: raw cf line S (ruleset `Local_check_rcpt' and its rules) has no effect in mxgate: mxgate runs no sendmail rules"
        ),
        "{w:?}"
    );
    // T is the old form of Ct (sendmail 8.17: after `Tfrodo bilbo` in
    // LOCAL_CONFIG, `sendmail -bt` `$=t` lists bilbo and frodo); QUEUE_GROUP
    // is warned like a raw Q line.
    let c = ok("LOCAL_CONFIG\nTroot daemon\nQUEUE_GROUP(`slow', `P=/var/spool/slow')dnl\n");
    assert_eq!(
        c.config.class("t"),
        &["daemon".to_string(), "root".to_string()]
    );
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0]
            .to_string()
            .contains("QUEUE_GROUP(`slow') has no effect")
    );
    // Rules with no S line of their own (LOCAL_RULE_0) warn once per run.
    let c = ok("LOCAL_RULE_0\nR$+ < @ x >\t$#local $: $1\nR$+ < @ y >\t$#local $: $1\n");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].to_string().contains("rewriting rules"));
}

#[test]
fn raw_x_line_defines_a_filter_as_mail_filter_does() {
    let c = ok(
        "LOCAL_CONFIG\nXclamav, S=unix:/run/clamav.sock, F=T, T=S:4m;R:4m\n\
                define(`confINPUT_MAIL_FILTERS', `clamav')dnl\n",
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let m = &c.config.milters[0];
    assert_eq!(m.name, "clamav");
    assert_eq!(m.options["S"], "unix:/run/clamav.sock");
    assert_eq!(m.options["F"], "T");
    assert!(
        m.mail_filter_only,
        "used only where named, as sendmail's X line"
    );
    assert!(c.config.local_config.is_empty());
    assert!(err("LOCAL_CONFIG\nXbad, Q=1\n").contains("unknown equate `Q='"));
}

#[test]
fn class_macros_land_where_the_runtime_reads_them() {
    let c = ok(
        "VIRTUSER_DOMAIN(`virt.example.org')dnl\nVIRTUSER_DOMAIN_FILE(`-o /etc/mail/virthosts')dnl\n\
                TRUST_AUTH_MECH(`PLAIN LOGIN')dnl\nC{w}mx.example.org\n",
    );
    let cfg = &c.config;
    assert_eq!(cfg.class("VirtHost"), &["virt.example.org".to_string()]);
    // proto.m4: `CR$={VirtHost}`: a virtual domain may receive from anyone.
    assert!(cfg.class("R").contains(&"virt.example.org".to_string()));
    assert_eq!(cfg.class_files["R"][0].path, "/etc/mail/virthosts");
    assert_eq!(
        cfg.class("TrustAuthMech"),
        &["LOGIN".to_string(), "PLAIN".to_string()]
    );
    assert!(
        cfg.class("w").contains(&"mx.example.org".to_string()),
        "{{w}} is w"
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = ok("dnl\nCANONIFY_DOMAIN(`example.org')dnl\n");
    assert!(
        c.warnings[0]
            .to_string()
            .starts_with("site.mc:2:1: warning: CANONIFY_DOMAIN has no effect in mxgate"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn mailer_settings_domains_and_defines_not_read_are_warned() {
    let c = ok("dnl\n\
                define(`SMTP_MAILER_ARGS', `TCP $h 2525')dnl\n\
                define(`ESMTP_MAILER_MAXRCPTS', `50')dnl\n\
                define(`SMTP_MAILER_FLAGS', `e')dnl\n\
                define(`LOCAL_MAILER_PATH', `/usr/lib/dovecot/deliver')dnl\n\
                define(`LOCAL_SHELL_PATH', `/usr/sbin/smrsh')dnl\n\
                define(`RELAY_MAILER_ARGS', `IPC $h 25 extra')dnl\n\
                MODIFY_MAILER_FLAGS(`SMTP', `+O')dnl\n\
                define(`UUCP_RELAY', `uucp.example.net')dnl\n\
                define(`HELP_FILE', `/etc/mail/helpfile')dnl\n\
                DOMAIN(`generic')dnl\n\
                MAILER(`smtp')dnl\n\
                MAILER(`procmail')dnl\n");
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    let has = |line: u32, text: &str| {
        assert!(
            w.iter()
                .any(|x| x.starts_with(&format!("site.mc:{line}:")) && x.contains(text)),
            "line {line}: {text}\n{w:#?}"
        )
    };
    has(
        4,
        "SMTP_MAILER_FLAGS has no effect in mxgate: mailer flags are not applied",
    );
    has(5, "LOCAL_MAILER_PATH has no effect in mxgate");
    has(
        6,
        "LOCAL_SHELL_PATH has no effect in mxgate: a |program delivery runs under /bin/sh -c",
    );
    has(
        7,
        "RELAY_MAILER_ARGS has no effect in mxgate: only `TCP $h PORT' is read here",
    );
    has(8, "MODIFY_MAILER_FLAGS(SMTP) has no effect in mxgate");
    has(9, "UUCP_RELAY has no effect in mxgate");
    has(10, "HELP_FILE has no effect in mxgate");
    has(
        11,
        "DOMAIN(`generic') has no effect in mxgate: no file domain/generic.m4",
    );
    has(13, "MAILER(`procmail') has no effect in mxgate");
    // The port of SMTP_MAILER_ARGS and the MAXRCPTS are read: no warning.
    assert!(
        !w.iter()
            .any(|x| x.starts_with("site.mc:2:") || x.starts_with("site.mc:3:")),
        "{w:#?}"
    );
    assert_eq!(w.len(), 9, "{w:#?}");
}

#[test]
fn auth_mechanisms_without_trust_auth_mech_are_warned() {
    let c = ok("dnl\ndefine(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl\n");
    let w = c.warnings[0].to_string();
    assert!(
        w.starts_with("site.mc:2:1: warning: confAUTH_MECHANISMS without TRUST_AUTH_MECH"),
        "{w}"
    );
    let c = ok("define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl\nTRUST_AUTH_MECH(`PLAIN')dnl\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn map_feature_defaults() {
    let c = ok(
        "FEATURE(`access_db')FEATURE(`mailertable')FEATURE(`virtusertable')FEATURE(`genericstable')FEATURE(`mailboxes')dnl\n",
    );
    let m = &c.config.maps;
    assert_eq!(
        (
            m["access"].class.as_str(),
            m["access"].path.as_str(),
            m["access"].tempfail
        ),
        ("hash", "/etc/mail/access", true)
    );
    assert_eq!(m["mailertable"].path, "/etc/mail/mailertable");
    assert_eq!(m["virtuser"].path, "/etc/mail/virtusertable");
    assert_eq!(m["generics"].path, "/etc/mail/genericstable");
    assert_eq!(
        (m["mailboxes"].class.as_str(), m["mailboxes"].path.as_str()),
        ("lmdb", "/etc/mail/mailboxes")
    );
    assert_eq!(m["aliases"].path, "/etc/mail/aliases");
}

#[test]
fn access_db_options_and_missing_tmpf() {
    let c = ok("FEATURE(`access_db', `hash -o /x/access', `SKIP', `lookupdotdomain')dnl\n");
    assert!(c.config.maps["access"].tempfail);
    assert_eq!(
        c.config.feature_args("access_db").unwrap()[1..],
        ["skip", "lookupdotdomain"]
    );
    assert!(c.warnings[0].to_string().contains("missing -T<TMPF>"));
    assert_eq!(
        err("\nFEATURE(`access_db', `', `fast')dnl\n"),
        "site.mc:2:1: FEATURE(`access_db'): unknown option `fast', expected skip, lookupdotdomain or relaytofulladdress"
    );
}

#[test]
fn alias_file_lists() {
    let c = ok("define(`ALIAS_FILE', `/etc/mail/aliases,/etc/mail/lists')dnl\n");
    assert_eq!(c.config.maps["aliases"].path, "/etc/mail/aliases");
    assert_eq!(c.config.alias_files.len(), 1);
    assert!(c.config.alias_files[0].nul_terminated);
    let c = ok("undefine(`ALIAS_FILE')dnl\n");
    assert!(!c.config.maps.contains_key("aliases"));
}

#[test]
fn relays_and_classes() {
    let c = ok("define(`LOCAL_RELAY', `relay.example.com')define(`MAIL_HUB', `hub.example.com.')define(`LUSER_RELAY', `local:nobody')define(`confFALLBACK_SMARTHOST', `fb.example.com')dnl
LOCAL_USER(`root')LOCAL_USER_FILE(`-o /etc/mail/local-users')RELAY_DOMAIN_FILE(`/etc/mail/relay2')GENERICS_DOMAIN(`a.example b.example')MASQUERADE_EXCEPTION(`keep.example')MASQUERADE_DOMAIN_FILE(`/etc/mail/masq')EXPOSED_USER_FILE(`/etc/mail/exposed')dnl
");
    let cfg = c.config;
    assert_eq!(cfg.relays.local_relay.as_deref(), Some("relay.example.com"));
    assert_eq!(cfg.relays.mail_hub.as_deref(), Some("hub.example.com."));
    assert_eq!(cfg.relays.luser_relay.as_deref(), Some("local:nobody"));
    assert_eq!(
        cfg.relays.fallback_smarthost.as_deref(),
        Some("fb.example.com")
    );
    assert_eq!(cfg.class("L"), &["root".to_string()]);
    assert!(cfg.class_files["L"][0].optional);
    assert_eq!(cfg.class("G").len(), 2);
    assert_eq!(cfg.class("N"), &["keep.example".to_string()]);
    assert_eq!(cfg.class_files["M"][0].path, "/etc/mail/masq");
    assert_eq!(cfg.class_files["E"][0].path, "/etc/mail/exposed");
    assert_eq!(cfg.class_files["R"].len(), 2);
}

#[test]
fn mailer_options_milters_clients() {
    let c = ok(
        "define(`SMTP_MAILER_MAX', `50')define(`LOCAL_MAILER_PATH', `/usr/bin/procmail')dnl
INPUT_MAIL_FILTER(`clamav', `S=unix:/run/clamav/clamav-milter.ctl, F=T, T=S:4m;R:4m')dnl
CLIENT_OPTIONS(`Family=inet, Addr=192.0.2.1')dnl
FEATURE(`local_lmtp')dnl
MAILER(`local')MAILER(`smtp')MAILER(`procmail')dnl
",
    );
    let cfg = c.config;
    assert_eq!(cfg.mailer_options["SMTP_MAILER_MAX"], "50");
    assert_eq!(cfg.mailer_options["LOCAL_MAILER_PATH"], "/usr/bin/procmail");
    assert_eq!(cfg.milters[0].name, "clamav");
    assert_eq!(cfg.milters[0].options["T"], "S:4m;R:4m");
    assert_eq!(cfg.client_options[0]["Addr"], "192.0.2.1");
    assert!(cfg.mailers.contains(&"procmail".to_string()));
}

// ---- errors, with exact positions ----

#[test]
fn wrong_argument_count() {
    assert_eq!(
        err(
            "divert(0)dnl\nVERSIONID(`x')dnl\nOSTYPE(`linux')dnl\n\n\n\nFEATURE(`mailertable', `hash /a', `hash /b')dnl\n"
        ),
        "site.mc:7:1: FEATURE(`mailertable') takes one map spec, got 2 arguments"
    );
    assert_eq!(
        err("FEATURE(`nocanonify', `a', `b')"),
        "site.mc:1:1: FEATURE(`nocanonify') takes at most one argument, got 2"
    );
}

#[test]
fn unknown_feature() {
    let e = err("dnl\n  FEATURE(`acces_db')dnl\n");
    assert!(
        e.starts_with("site.mc:2:3: unknown FEATURE(`acces_db')"),
        "{e}"
    );
}

#[test]
fn feature_after_mailer() {
    // checked on sendmail 8.17: "*** ERROR: FEATURE() should be before MAILER()"
    let e = err("MAILER(`smtp')dnl\nFEATURE(`nocanonify')dnl\n");
    assert!(
        e.starts_with("site.mc:2:1: FEATURE(`nocanonify') should be before MAILER()"),
        "{e}"
    );
    let e = err("MAILER(`smtp')dnl\nMAILER(`smtp')dnl\n");
    assert_eq!(e, "site.mc:2:1: MAILER(`smtp') already included");
    let e = err("MAILER(`smpt')dnl\n");
    assert!(e.starts_with("site.mc:1:1: unknown MAILER(`smpt')"), "{e}");
}

#[test]
fn unknown_uppercase_macro() {
    let e = err("dnl\ndefine(`x', `y')dnl\nSMARTHOST(`mx.example.com')dnl\n");
    assert!(
        e.starts_with("site.mc:3:1: unknown macro SMARTHOST(...)"),
        "{e}"
    );
}

#[test]
fn leftover_text() {
    let e = err("FEATURE(`nocanonify')\nfeatur(`x')\n");
    assert!(
        e.starts_with("site.mc:2:1: unexpected text `featur(x)'"),
        "{e}"
    );
    let e = err("FEATURE(`nocanonify')\n   featur(`x')\n");
    assert!(
        e.starts_with("site.mc:2:4: unexpected indented text `featur(x)'"),
        "{e}"
    );
}

#[test]
fn unbalanced_quote_and_paren() {
    let e = err("dnl\nFEATURE(`nocanonify)dnl\n");
    assert!(e.starts_with("site.mc:2:9: unbalanced quote"), "{e}");
    let e = err("dnl\nFEATURE(`nocanonify'dnl\n");
    assert!(e.starts_with("site.mc:2:8: unclosed parenthesis"), "{e}");
}

#[test]
fn bad_option_values() {
    assert_eq!(
        err("dnl\ndefine(`confMAX_MESSAGE_SIZE', `10MB')dnl\n"),
        "site.mc:2:1: confMAX_MESSAGE_SIZE must be a whole number of bytes (sendmail takes no K/M suffix: 10 MB is 10485760), got `10MB'"
    );
    assert!(err("define(`confTO_QUEUERETURN', `5 days')").contains("must be a time such as"));
    assert!(
        err("define(`confMAX_DAEMON_CHILDREN', `many')")
            .contains("confMAX_DAEMON_CHILDREN must be a whole number")
    );
    let c = ok("define(`confMAX_MESSAGE_SIZ', `1')dnl\n");
    assert!(
        c.warnings[0]
            .to_string()
            .contains("not a sendmail 8.17 option")
    );
}

#[test]
fn daemon_options_are_validated() {
    let e = err("DAEMON_OPTIONS(`Port=25, Adr=0.0.0.0')");
    assert!(
        e.starts_with("site.mc:1:1: DAEMON_OPTIONS: unknown key `Adr'"),
        "{e}"
    );
    assert!(err("DAEMON_OPTIONS(`Port=99999')").contains("Port must be"));
    assert!(err("DAEMON_OPTIONS(`Port=25, M=Z')").contains("unknown modifier `Z'"));
    let c =
        ok("DAEMON_OPTIONS(`Family=inet6, Port=smtp, Addr=::1, Name=MTA-v6, Modifiers=O')dnl\n");
    assert_eq!(c.config.daemons[0].options["M"], "O");
    assert_eq!(c.config.daemons[0].options["Addr"], "::1");
}

#[test]
fn daemon_options_without_a_submission_listener_are_warned() {
    // sendmail 8.17's proto.m4 adds `O DaemonPortOptions=Port=587, Name=MSA,
    // M=E` whatever DAEMON_OPTIONS say, unless FEATURE(`no_default_msa');
    // mxgate opens no port the file does not name, and says so.
    let c = ok("dnl\nDAEMON_OPTIONS(`Port=25, Name=MTA')dnl\n");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0]
            .to_string()
            .starts_with("site.mc:2:1: warning: no DAEMON_OPTIONS names a submission listener"),
        "{:?}",
        c.warnings
    );
    for quiet in [
        "DAEMON_OPTIONS(`Port=25, Name=MTA')dnl\nFEATURE(`no_default_msa')dnl\n",
        "DAEMON_OPTIONS(`Port=25, Name=MTA')dnl\nDAEMON_OPTIONS(`Port=submission, Name=Sub, M=Ea')dnl\n",
        "FEATURE(`nocanonify')dnl\n",
    ] {
        let c = ok(quiet);
        assert!(c.warnings.is_empty(), "{quiet}: {:?}", c.warnings);
    }
}

#[test]
fn feature_arguments_and_prerequisites_as_sendmail_checks_them() {
    // nocanonify.m4: `canonify_hosts' or nothing ("unknown parameter").
    assert!(
        err("FEATURE(`nocanonify', `bogus')")
            .contains("unknown parameter `bogus' for FEATURE(`nocanonify')")
    );
    let c = ok("FEATURE(`nocanonify', `canonify_hosts')dnl\n");
    assert!(
        c.warnings[0]
            .to_string()
            .contains("has no effect in mxgate")
    );
    // blocklist_recipients.m4 and the others: "requires FEATURE(access_db)"
    // when it has not come before.
    let c = ok(
        "dnl\nFEATURE(`blocklist_recipients')dnl\nFEATURE(`greet_pause')dnl\n\
                FEATURE(`greet_pause', `700')dnl\n",
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("site.mc:2:1: warning: FEATURE(`blocklist_recipients') requires FEATURE(`access_db') before it"));
    assert!(w[1].starts_with("site.mc:3:1: warning: FEATURE(`greet_pause') requires"));
    let c = ok(
        "FEATURE(`access_db')dnl\nFEATURE(`relay_mail_from')dnl\nFEATURE(`lookupdotdomain')dnl\n",
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = ok("dnl\nFEATURE(`local_lmtp', `/usr/libexec/mail.local', `mail.local -l')dnl\n");
    assert!(
        c.warnings[0].to_string().starts_with(
            "site.mc:2:1: warning: FEATURE(`local_lmtp') arguments after the first have no effect"
        ),
        "{:?}",
        c.warnings
    );
    assert!(
        ok("FEATURE(`local_lmtp', `/run/dovecot/lmtp')dnl\n")
            .warnings
            .is_empty()
    );
}

#[test]
fn options_another_one_makes_idle_are_warned() {
    let c = ok(
        "dnl\ndefine(`confAUTH_PASSWORD_MAP', `lmdb /etc/mail/passwd')dnl\n\
                define(`confAUTH_DOVECOT_SOCKET', `/run/dovecot/auth-client')dnl\n\
                define(`confMXGATE_SYSLOG_SOCKET', `/dev/log')dnl\n",
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("site.mc:2:1: warning: confAUTH_PASSWORD_MAP has no effect"));
    assert!(w[1].starts_with("site.mc:4:1: warning: confMXGATE_SYSLOG_SOCKET has no effect"));
    let c = ok(
        "define(`confMXGATE_LOG_FILE', `syslog')dnl\ndefine(`confMXGATE_SYSLOG_SOCKET', `/dev/log')dnl\n",
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn privacy_flags_unknown_or_not_applied_are_warned() {
    // restrictexpand holds by construction (mxgate is never set-uid: -bv
    // reads aliases and .forward files with its caller's rights, which is
    // what the flag makes sendmail drop to), and so does noactualrecipient
    // (mxgate's reports carry no X-Actual-Recipient:).
    let c = ok(
        "dnl\ndefine(`confPRIVACY_FLAGS', `goaway, restrictqrun,restrictexpand,noactualrecipient,goawy')dnl\n",
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with(
        "site.mc:2:1: warning: confPRIVACY_FLAGS: `goawy' is not a sendmail 8.17 privacy flag"
    ));
    let again = mxgate_m4::support::config_warnings(&c.config);
    assert!(again.iter().any(|x| x.contains("`goawy'")), "{again:?}");
}

#[test]
fn map_flags_not_applied_are_warned_with_the_line() {
    // -o, -N, -f and -T are applied; any other flag was dropped silently.
    let c = ok(
        "dnl\nFEATURE(`mailertable', `hash -o -m /etc/mail/mailertable')dnl\n\
                FEATURE(`virtusertable', `hash -a.FOUND -o /etc/mail/virtusertable')dnl\n",
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "site.mc:2:1: warning: map flag `-m' in FEATURE(`mailertable') has no effect in mxgate: a lookup returns the table's value, not only whether the key matched",
            "site.mc:3:1: warning: map flag `-a.FOUND' in FEATURE(`virtusertable') has no effect in mxgate: a lookup's value is used without the text appended to it",
        ]
    );
    let again = mxgate_m4::support::config_warnings(&c.config);
    assert!(
        again
            .iter()
            .any(|x| x.contains("map flag `-m' in the mailertable map")),
        "{again:?}"
    );
    let c = ok("FEATURE(`access_db', `hash -T<TMPF> -o /etc/mail/access')dnl\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn daemon_socket_keys_are_checked_and_the_unread_ones_warned() {
    use mxgate_m4::config::DaemonTuning;
    let c = ok(
        "FEATURE(`no_default_msa')dnl\nDAEMON_OPTIONS(`Port=25, Name=MTA, Listen=64, ReceiveSize=65536, SendSize=0, children=40')dnl\n",
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        DaemonTuning::of(&c.config.daemons[0].options).unwrap(),
        DaemonTuning {
            listen: Some(64),
            receive_size: Some(65536),
            // 0: the system's default, as in sendmail.
            send_size: None,
            children: Some(40),
        }
    );
    let e = err("dnl\nDAEMON_OPTIONS(`Port=25, Listen=lots')dnl\n");
    assert_eq!(
        e,
        "site.mc:2:1: DAEMON_OPTIONS: Listen=lots: expected the listen queue's length, 1 to 65535"
    );
    assert!(err("DAEMON_OPTIONS(`Port=25, Listen=0')").contains("Listen=0: expected"));
    assert!(err("DAEMON_OPTIONS(`Port=25, ReceiveSize=64k')").contains("a buffer size in bytes"));
    assert!(err("DAEMON_OPTIONS(`Port=25, children=-1')").contains("children=-1: expected"));
    // Keys the daemon does not read: a warning with the line, never silence.
    let c = ok(
        "FEATURE(`no_default_msa')dnl\ndnl\nDAEMON_OPTIONS(`Port=25, Name=MTA, DeliveryMode=q, refuseLA=8, delayLA=6, queueLA=4')dnl\n",
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 4, "{w:?}");
    for key in ["DeliveryMode", "refuseLA", "delayLA", "queueLA"] {
        let want =
            format!("site.mc:3:1: warning: DAEMON_OPTIONS key `{key}' has no effect in mxgate: ");
        assert!(w.iter().any(|x| x.starts_with(&want)), "{want}\n{w:?}");
    }
    // The same warnings from a compiled configuration (mxgate check on a .cf).
    let again = mxgate_m4::support::config_warnings(&c.config);
    assert!(
        again
            .iter()
            .any(|x| x.contains("DAEMON_OPTIONS key `refuseLA'")),
        "{again:?}"
    );
}

#[test]
fn milter_errors() {
    assert!(err("INPUT_MAIL_FILTER(`f', `F=T')").contains("S= must give the socket"));
    assert!(err("INPUT_MAIL_FILTER(`f', `S=unix:/x, Q=1')").contains("unknown equate `Q='"));
}

#[test]
fn changequote_refused() {
    let e = err("dnl\nchangequote([, ])dnl\n");
    assert!(
        e.starts_with("site.mc:2:1: changequote is not supported"),
        "{e}"
    );
}

#[test]
fn dnsbl_needs_zone_and_parses_actions() {
    let e = err("FEATURE(`dnsbl')");
    assert!(
        e.starts_with("site.mc:1:1: FEATURE(`dnsbl') needs the blocklist zone as its first argument: write FEATURE(`dnsbl', `zen.spamhaus.org')"),
        "{e}"
    );
    assert!(
        e.contains("blackholes.mail-abuse.org no longer exists"),
        "{e}"
    );
    let e = err("FEATURE(`enhdnsbl')");
    assert!(
        e.contains("write FEATURE(`enhdnsbl', `zen.spamhaus.org')"),
        "{e}"
    );
    let c = ok(
        "FEATURE(`dnsbl', `a.example', `quarantine')FEATURE(`dnsbl', `b.example', `discard', `Try later')FEATURE(`dnsbl', `c.example', `\"554 Rejected \" $&{client_addr}')dnl\n",
    );
    let d = &c.config.dnsbl;
    assert_eq!(d[0].action, DnsblAction::Quarantine);
    assert_eq!(d[1].action, DnsblAction::Discard);
    assert_eq!(d[1].on_tempfail, DnsblTempFail::Message("Try later".into()));
    assert_eq!(
        d[2].action,
        DnsblAction::Message("\"554 Rejected \" $&{client_addr}".into())
    );
}

#[test]
fn ostype_and_domain() {
    assert!(err("OSTYPE(`plan9')").contains("unknown OSTYPE(`plan9')"));
    let c = ok("OSTYPE(`linux')DOMAIN(`generic')dnl\n");
    assert_eq!(c.config.source.domains, ["generic"]);
    assert!(err("DOMAIN(`mysite')").contains("DOMAIN(`mysite'): no file domain/mysite.m4"));
}

#[test]
fn domain_file_next_to_the_mc_is_read() {
    let tmp = tempdir();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("domain")).unwrap();
    std::fs::write(
        dir.join("domain/site.m4"),
        "divert(-1)\ndefine(`SMART_HOST', `esmtp:[hub.example.com]')\ndivert(0)dnl\n",
    )
    .unwrap();
    std::fs::write(dir.join("x.mc"), "DOMAIN(`site')dnl\ninclude(`/usr/share/sendmail/cf/m4/cf.m4')dnl\ninclude(`extra.m4')dnl\n").unwrap();
    std::fs::write(dir.join("extra.m4"), "FEATURE(`nocanonify')dnl\n").unwrap();
    let c = compile_file(&dir.join("x.mc"), &Options::default()).unwrap();
    assert_eq!(
        c.config.relays.smart_host.as_deref(),
        Some("esmtp:[hub.example.com]")
    );
    assert!(c.config.has_feature("nocanonify"));
    std::fs::write(dir.join("bad.mc"), "dnl\ninclude(`nothere.m4')\n").unwrap();
    let e = compile_file(&dir.join("bad.mc"), &Options::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.mc:2:1: include(`nothere.m4'):"), "{e}");
    // sinclude of a missing file is silent.
    std::fs::write(dir.join("s.mc"), "sinclude(`nothere.m4')dnl\n").unwrap();
    assert!(compile_file(&dir.join("s.mc"), &Options::default()).is_ok());
    // Errors inside an included file name that file.
    std::fs::write(dir.join("inc.mc"), "include(`broken.m4')dnl\n").unwrap();
    std::fs::write(dir.join("broken.m4"), "dnl\n  FEATURE(`nope')\n").unwrap();
    let e = compile_file(&dir.join("inc.mc"), &Options::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("broken.m4:2:3: unknown FEATURE(`nope')"), "{e}");
}

/// A directory of the test's own, removed when the test ends (passed or not).
fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mxgate-m4-test-")
        .tempdir()
        .unwrap()
}

// Security review: a reload must not crash the daemon or leak files (the
// limits are unit-tested in expand.rs and source.rs; these go through the
// public entry points, on the test harness's own small-stack thread).

#[test]
fn endless_recursion_is_an_error_not_a_stack_overflow() {
    let e = err("dnl\ndefine(`f',`f(f($1))')f(x)\n");
    assert!(
        e.starts_with("site.mc:2:23: recursion deeper than 256 expanding `f'"),
        "{e}"
    );
    let e = err("define(`f',`FEATURE(`f($1)')')f(x)\n");
    assert!(e.contains("recursion deeper than 256"), "{e}");
}

#[test]
fn include_of_a_device_or_fifo_is_refused_without_reading() {
    let e = err("dnl\ninclude(`/dev/zero')\n");
    assert_eq!(
        e,
        "site.mc:2:1: include(`/dev/zero'): refused: it is a character device, not a regular file; only regular files are read"
    );
    // sinclude too: the file is there, it is just not something to read.
    assert!(err("sinclude(`/dev/zero')").contains("refused: it is a character device"));
    let tmp = tempdir();
    let dir = tmp.path();
    let fifo = dir.join("pipe.m4");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo (coreutils) is needed by this test");
    assert!(st.success());
    std::fs::write(dir.join("f.mc"), "include(`pipe.m4')dnl\n").unwrap();
    let e = compile_file(&dir.join("f.mc"), &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("include(`pipe.m4'): refused: it is a FIFO"),
        "{e}"
    );
    // The .mc itself too.
    let e = compile_file(&fifo, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("refused: it is a FIFO"), "{e}");
}

#[test]
fn an_included_secret_is_never_echoed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempdir();
    let dir = tmp.path();
    let secret = dir.join("shadow");
    std::fs::write(&secret, "root:$6$SECRETHASH:20228:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    for how in ["include", "sinclude"] {
        std::fs::write(dir.join("s.mc"), format!("dnl\n{how}(`shadow')dnl\n")).unwrap();
        let e = compile_file(&dir.join("s.mc"), &Options::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "s.mc:2:1: {how}(`shadow'): refused: not readable by everyone (mode 0640)"
            )),
            "{e}"
        );
        assert!(!e.contains("SECRET") && !e.contains("root"), "{e}");
    }
    // Through DOMAIN too.
    std::fs::create_dir_all(dir.join("domain")).unwrap();
    std::fs::copy(&secret, dir.join("domain/site.m4")).unwrap();
    std::fs::set_permissions(
        dir.join("domain/site.m4"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(dir.join("d.mc"), "DOMAIN(`site')dnl\n").unwrap();
    let e = compile_file(&dir.join("d.mc"), &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("refused: not readable by everyone (mode 0600)"),
        "{e}"
    );
    assert!(!e.contains("SECRET"), "{e}");
}

#[test]
fn real_configs_stay_far_below_the_limits() {
    use mxgate_m4::expand::{Engine, Limits};
    use mxgate_m4::mc::Mc;
    let dir = fixtures().join("debian");
    let mc = std::fs::read_to_string(dir.join("sendmail.mc"))
        .unwrap()
        .replace("@DIR@", &dir.display().to_string());
    let mut engine = Engine::new();
    let mut host = Mc::new(Some(dir.clone()));
    engine.run_file(&mut host, "sendmail.mc", &mc).unwrap();
    let used = engine.text_used();
    assert!(used > 0 && used * 100 < Limits::default().text, "{used}");
}

// Issue "Field configurations and exact sendmail behaviour": 8-bit clean input.

/// A small site whose comments carry `comment` bytes in every place m4
/// allows them: `#` prose in `divert(-1)`, `dnl` lines, after `dnl` on a
/// define line, and a `#` line in the output.
fn eight_bit_mc(comment: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for part in [
        b"divert(-1)dnl\n# ".as_slice(),
        comment,
        b"\ndivert(0)dnl\nOSTYPE(`linux')dnl\ndnl ",
        comment,
        b"\ndefine(`confDOMAIN_NAME', `gw.example.gr.jp')dnl ",
        comment,
        b"\n# ",
        comment,
        b"\nFEATURE(`access_db')dnl\nMAILER(`smtp')dnl\n",
    ] {
        v.extend_from_slice(part);
    }
    v
}

fn compile_8bit(comment: &[u8]) -> Result<Compiled, String> {
    mxgate_m4::compile_bytes("site.mc", &eight_bit_mc(comment), &Options::default())
        .map_err(|e| e.to_string())
}

#[test]
fn issue_8bit_latin1_comments() {
    // "Relais refusé aux étrangers" in ISO-8859-1.
    let c = compile_8bit(b"Relais refus\xe9 aux \xe9trangers").unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("gw.example.gr.jp"));
    assert!(c.config.has_feature("access_db"));
}

#[test]
fn issue_8bit_euc_jp_comments() {
    // "メールサーバの設定" in EUC-JP.
    let c =
        compile_8bit(b"\xa5\xe1\xa1\xbc\xa5\xeb\xa5\xb5\xa1\xbc\xa5\xd0\xa4\xce\xc0\xdf\xc4\xea")
            .unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("gw.example.gr.jp"));
}

#[test]
fn issue_8bit_iso_2022_jp_comments() {
    // "チェック（表示）" in ISO-2022-JP: 7-bit, with ESC, ' and ( inside the
    // kanji, which dnl and # swallow as m4 does.
    let c = compile_8bit(b"\x1b$B%A%'%C%/!JI=<(!K\x1b(B").unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("gw.example.gr.jp"));
    assert!(
        c.config.local_config.is_empty(),
        "{:?}",
        c.config.local_config
    );
}

#[test]
fn issue_8bit_shift_jis_comments() {
    // "ソフトのチェック表示" in Shift_JIS: trail bytes 0x5C (\) and 0x60 (`).
    let c = compile_8bit(b"\x83\\\x83t\x83g\x82\xcc\x83`\x83F\x83b\x83N\x95\\\x8e\xa6").unwrap();
    assert_eq!(c.config.hostname.as_deref(), Some("gw.example.gr.jp"));
    // In the # lines the 0x60 is a quote for sendmail's m4 (cf.m4 turns m4
    // comments off): mxgate compiles the file and says so, at the byte.
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("site.mc:2:11: warning: sendmail's cf.m4 turns # comments off (changecom()), so real sendmail reads this ` as an opening quote"),
        "{w:?}"
    );
}

#[test]
fn issue_8bit_fixture_files_compile() {
    for name in ["latin1", "euc-jp", "iso-2022-jp", "shift_jis"] {
        let path = fixtures().join("8bit").join(format!("{name}.mc"));
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            std::str::from_utf8(&bytes).is_err() || name == "iso-2022-jp",
            "{name}: the fixture must hold non-UTF-8 bytes"
        );
        // sendmail's own m4 run accepts the file as it is.
        let cf_m4 = "/usr/share/sendmail/cf/m4/cf.m4";
        assert!(
            Path::new(cf_m4).is_file(),
            "{cf_m4} is missing: apt-get install sendmail-cf"
        );
        let out = std::process::Command::new("m4")
            .arg(cf_m4)
            .arg(&path)
            .output()
            .expect("m4 is needed by this test: apt-get install m4");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let c = compile_file(&path, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.config.hostname.as_deref(), Some("gw.example.gr.jp"));
        assert_eq!(
            c.config.option("confMAX_MESSAGE_SIZE"),
            Some("10485760"),
            "{name}"
        );
    }
}

#[test]
fn issue_8bit_values_are_refused_with_their_position() {
    let mc = b"OSTYPE(`linux')dnl\ndefine(`confDOMAIN_NAME', `\xe9cole.example')dnl\n";
    let e = mxgate_m4::compile_bytes("site.mc", mc, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "site.mc:2:1: the value of `confDOMAIN_NAME' holds non-UTF-8 bytes (the first is 0xE9)"
        ),
        "{e}"
    );
    let mc = b"dnl\n\nVERSIONID(`Gateway f\xfcr Schule')dnl\n";
    let e = mxgate_m4::compile_bytes("site.mc", mc, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "site.mc:3:1: argument 1 of VERSIONID holds non-UTF-8 bytes (the first is 0xFC)"
        ),
        "{e}"
    );
    // A raw cf line: the column is the byte's own.
    let mc = b"LOCAL_CONFIG\nDZcaf\xe9\n# caf\xe9 is fine here\n";
    let e = mxgate_m4::compile_bytes("site.mc", mc, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("site.mc:2:6: the raw cf line starting with `D' holds non-UTF-8 bytes"),
        "{e}"
    );
    assert!(e.contains("iconv"), "{e}");
    // Lines kept verbatim in local_config (not acted on) keep their bytes,
    // each as its stand-in U+10FE00 + byte: sendmail's knecht.mc matches
    // 8-bit Subject: headers with a regex map written in raw bytes.
    let mc =
        b"LOCAL_CONFIG\nKadvsubj regex -b -a@MATCH \xb1\xb0\xb8\xe6\nHSubject: $>+CheckSubject\n";
    let c = mxgate_m4::compile_bytes("site.mc", mc, &Options::default()).unwrap();
    assert_eq!(
        c.config.local_config[0],
        "Kadvsubj regex -b -a@MATCH \u{10FEB1}\u{10FEB0}\u{10FEB8}\u{10FEE6}"
    );
    round_trip(&c.config);
    // UTF-8 values stay as they are.
    let c = ok("VERSIONID(`Gateway f\u{fc}r Schule')dnl\n");
    assert_eq!(
        c.config.source.versionid.as_deref(),
        Some("Gateway f\u{fc}r Schule")
    );
}

#[test]
fn hack_reads_hack_dir_next_to_the_mc() {
    let tmp = tempdir();
    let dir = tmp.path().join("hack-test");
    std::fs::create_dir_all(dir.join("cf")).unwrap();
    std::fs::create_dir_all(dir.join("hack")).unwrap();
    std::fs::write(
        dir.join("hack/sub.m4"),
        "divert(-1)\ndivert(2)\nR$* < @ $=w .example.org > $*\t$: $1 < @ $j > $3\ndivert(0)\n",
    )
    .unwrap();
    std::fs::write(dir.join("cf/x.mc"), "OSTYPE(`linux')dnl\nHACK(`sub')dnl\n").unwrap();
    let c =
        compile_file(&dir.join("cf/x.mc"), &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.config.local_config,
        ["R$* < @ $=w .example.org > $*\t$: $1 < @ $j > $3"]
    );
    std::fs::write(dir.join("cf/y.mc"), "dnl\nHACK(`nothere')dnl\n").unwrap();
    let e = compile_file(&dir.join("cf/y.mc"), &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("y.mc:2:1: HACK(`nothere'): no file hack/nothere.m4"),
        "{e}"
    );
    let e = err("SITECONFIG(`uucp.x', `x', `U')");
    assert!(
        e.contains("mxgate has no UUCP mailer; remove the line"),
        "{e}"
    );
}

/// sendmail's cf.m4 runs `changecom()`: a cf macro or a quote in a `#` line
/// is live under real sendmail, so mxgate warns where the two differ.
#[test]
fn hash_comments_that_sendmail_would_run_are_warned_about() {
    let c = ok(
        "divert(-1)\n# enable FEATURE(`nocanonify') later\n# plain prose, CFDIR and `quoted FEATURE' are fine\ndivert(0)dnl\n# MASQUERADE_AS here\n",
    );
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("site.mc:2:10: warning: sendmail's cf.m4 turns # comments off (changecom()), so real sendmail runs FEATURE in this # line"), "{w:?}");
    assert!(w[1].starts_with("site.mc:5:3: warning: "), "{w:?}");
    assert!(!c.config.has_feature("nocanonify"));
}

/// sendmail's feature/ratecontrol.m4 and conncontrol.m4 errors (its
/// `*** ERROR:` lines), with the place; Debian's own lines compile.
#[test]
fn ratecontrol_and_conncontrol_arguments() {
    let access = "FEATURE(`access_db')dnl\n";
    let delay = "FEATURE(`delay_checks')dnl\n";
    for f in ["ratecontrol", "conncontrol"] {
        let c = ok(&format!(
            "{access}{delay}FEATURE(`{f}', `nodelay', `terminate')dnl\n"
        ));
        assert_eq!(
            c.config.feature_args(f),
            Some(&["nodelay".to_string(), "terminate".to_string()][..])
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            err(&format!("dnl\nFEATURE(`{f}')dnl\n")),
            format!("site.mc:2:1: FEATURE(`{f}') requires FEATURE(`access_db') before it")
        );
        assert_eq!(
            err(&format!("{access}FEATURE(`{f}', `nodelay')dnl\n")),
            format!(
                "site.mc:2:1: FEATURE(`{f}', `nodelay') requires FEATURE(`delay_checks') before it"
            )
        );
        assert_eq!(
            err(&format!("{access}FEATURE(`{f}', `now')dnl\n")),
            format!(
                "site.mc:2:1: unknown parameter `now' for FEATURE(`{f}'): expected `nodelay' or nothing"
            )
        );
        assert_eq!(
            err(&format!("{access}FEATURE(`{f}', `', `close')dnl\n")),
            format!(
                "site.mc:2:1: unknown argument `close' for FEATURE(`{f}'): expected `terminate' or nothing"
            )
        );
    }
}

/// CLIENT_OPTIONS and confCLIENT_OPTIONS are checked as sendmail's
/// ClientPortOptions: family, an address of that family, a port, the
/// modifiers A, S and h (h is warned about: HELO keeps $j).
#[test]
fn client_options_checked() {
    let c = ok("CLIENT_OPTIONS(`Family=inet, Addr=192.0.2.1, M=AS')dnl\n\
                CLIENT_OPTIONS(`Family=inet6, Addr=2001:db8::1, Port=2525')dnl\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let o = mxgate_m4::config::ClientOptions::of(&c.config).unwrap();
    assert_eq!(o.inet.addr, Some("192.0.2.1".parse().unwrap()));
    assert!(o.inet.no_auth && o.inet.no_tls);
    assert_eq!(o.inet6.port, Some(2525));
    let c = ok("CLIENT_OPTIONS(`Addr=192.0.2.1, M=h')dnl\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let o = mxgate_m4::config::ClientOptions::of(&c.config).unwrap();
    assert!(o.inet.helo_from_interface && !o.inet6.helo_from_interface);
    assert_eq!(
        err("dnl\nCLIENT_OPTIONS(`Family=inet, Addr=2001:db8::1')dnl\n"),
        "site.mc:2:1: CLIENT_OPTIONS Addr=2001:db8::1: expected an address of family inet"
    );
    assert_eq!(
        err("CLIENT_OPTIONS(`Family=local')dnl\n"),
        "site.mc:1:1: CLIENT_OPTIONS Family=local: expected inet or inet6"
    );
    assert_eq!(
        err("CLIENT_OPTIONS(`Addr=mail.example.org')dnl\n"),
        "site.mc:1:1: CLIENT_OPTIONS Addr=mail.example.org: expected an IP address"
    );
    assert_eq!(
        err("define(`confCLIENT_OPTIONS', `Addr=192.0.2.1, M=x')dnl\n"),
        "site.mc:1:1: confCLIENT_OPTIONS: CLIENT_OPTIONS M=x: expected modifiers among A, S and h"
    );
}

/// Issue 13: the content-check FEATUREs take one rules file (a path,
/// `regexp:` or `pcre:`); a missing or foreign-type argument names the line.
#[test]
fn content_check_features() {
    let c = ok("OSTYPE(`linux')dnl\n\
         FEATURE(`header_checks', `pcre:/etc/mail/header_checks.pcre')dnl\n\
         FEATURE(`body_checks', `regexp:/etc/mail/body_checks')dnl\n\
         FEATURE(`mime_header_checks', `/etc/mail/mime_header_checks')dnl\n\
         FEATURE(`nested_header_checks', `/etc/mail/nested')dnl\n\
         define(`confMXGATE_BODY_CHECKS_SIZE_LIMIT', `102400')dnl\n\
         MAILER(`smtp')dnl\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let cfg = &c.config;
    assert_eq!(
        cfg.header_checks.as_deref(),
        Some("pcre:/etc/mail/header_checks.pcre")
    );
    assert_eq!(
        cfg.body_checks.as_deref(),
        Some("regexp:/etc/mail/body_checks")
    );
    assert_eq!(
        cfg.mime_header_checks.as_deref(),
        Some("/etc/mail/mime_header_checks")
    );
    assert_eq!(
        cfg.nested_header_checks.as_deref(),
        Some("/etc/mail/nested")
    );
    assert_eq!(
        cfg.option("confMXGATE_BODY_CHECKS_SIZE_LIMIT"),
        Some("102400")
    );
    round_trip(cfg);
    let e = err("OSTYPE(`linux')dnl\nFEATURE(`body_checks')dnl\n");
    assert!(
        e.starts_with("site.mc:2:1:") && e.contains("FEATURE(`body_checks') needs the rules file"),
        "{e}"
    );
    let e = err("OSTYPE(`linux')dnl\n\nFEATURE(`mime_header_checks', `hash:/etc/mail/m')dnl\n");
    assert!(
        e.starts_with("site.mc:3:1:") && e.contains("not hash:"),
        "{e}"
    );
}

// Issue 15: FEATURE(`nouucp') needs `reject' or `nospecial' (sendmail's
// feature/nouucp.m4 reads the first letter; without one it errprints
// `missing argument' and builds a config that neither refuses nor keeps `!').
#[test]
fn nouucp_needs_reject_or_nospecial() {
    for arg in ["reject", "nospecial", "r", "n"] {
        let c = ok(&format!("FEATURE(`nouucp', `{arg}')dnl\n"));
        assert_eq!(
            c.config.feature_args("nouucp"),
            Some(&[arg.to_string()][..]),
            "{arg}"
        );
        assert!(c.warnings.is_empty(), "{arg}: {:?}", c.warnings);
    }
    for mc in ["FEATURE(`nouucp')dnl\n", "FEATURE(`nouucp', `yes')dnl\n"] {
        let e = err(mc);
        assert!(
            e.contains(":1:1: FEATURE(`nouucp') needs `reject'") && e.contains("`nospecial'"),
            "{e}"
        );
    }
}

/// `DOMAIN(`x')` and `HACK(`x')` files are read from the cf tree whose
/// `cf.m4` the `.mc` includes (`CFDIR/m4/cf.m4` gives `CFDIR/domain/x.m4`),
/// as sendmail's cf.m4 reads them; without such an include, an unknown
/// domain is still refused with where it was looked for.
#[test]
fn domain_files_come_from_the_included_cf_tree() {
    let d = tempfile::tempdir().unwrap();
    let cf = d.path().join("cf");
    std::fs::create_dir_all(cf.join("domain")).unwrap();
    std::fs::create_dir_all(cf.join("m4")).unwrap();
    std::fs::write(
        cf.join("domain/site-policy.m4"),
        "divert(-1)\nVERSIONID(`site-policy.m4 1.0')\ndefine(`confMAX_HOP', `40')dnl\ndivert(0)dnl\n",
    )
    .unwrap();
    let text = format!(
        "include(`{}/m4/cf.m4')dnl\nVERSIONID(`site.mc 7')dnl\nDOMAIN(`site-policy')dnl\n",
        cf.display()
    );
    let c = compile_str("site.mc", &text, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.config.option("confMAX_HOP"), Some("40"));
    assert_eq!(c.config.source.versionid.as_deref(), Some("site.mc 7"));
    let e = compile_str("site.mc", "DOMAIN(`site-policy')dnl\n", &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("DOMAIN(`site-policy'): no file domain/site-policy.m4"),
        "{e}"
    );
}
