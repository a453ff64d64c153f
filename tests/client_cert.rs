//! STARTTLS client certificates, as sendmail's server treats them: every
//! client is asked for one (unless `confTLS_SRV_OPTIONS` has `V`), the
//! handshake never fails for what it sends, `${verify}` says what it was
//! worth (`OK`, `FAIL`, `NO`), and a verified certificate relays when the
//! access map names its issuer (`CERTISSUER:... RELAY`) or, with
//! `SUBJECT`, its subject (`CERTSUBJECT:... RELAY`): proto.m4's RelayTLS.
//! The certificates are made with openssl; the client is Python's smtplib
//! with `SSLContext.load_cert_chain`.

mod support;

use std::path::Path;
use std::process::Command;
use support::{Daemon, Setup, python};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `dir`: `ca.pem` (subject `/C=DE/O=Example CA/CN=Branch Root`), a
/// client certificate it signed (`branch.pem`, `/C=DE/O=Example
/// Branch/CN=relay.branch.example`, X.509 v3 for TLS clients), the same
/// request signed as `openssl x509 -req` does without extensions (`v1.pem`,
/// X.509 v1, as many sendmail guides make them), and a self-signed one with
/// the same subject (`selfsigned.pem`); keys beside them.
#[rustfmt::skip]
fn certificates(dir: &Path) {
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let subject = "/C=DE/O=Example Branch/CN=relay.branch.example";
    let key = |k: &'static str| ["-newkey", "rsa:2048", "-nodes", "-keyout", k];
    let sign = |extfile: &[&str], out: &str| {
        let mut a = vec!["x509", "-req", "-in", "branch.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                         "-CAcreateserial", "-days", "2", "-out", out];
        a.extend(extfile);
        openssl(dir, &a);
    };
    openssl(dir, &[&["req", "-x509", "-days", "2", "-subj", "/C=DE/O=Example CA/CN=Branch Root",
                     "-out", "ca.pem"][..], &key("ca.key")].concat());
    openssl(dir, &[&["req", "-subj", subject, "-out", "branch.csr"][..], &key("branch.key")].concat());
    sign(&["-extfile", "client.ext"], "branch.pem");
    sign(&[], "v1.pem");
    std::fs::copy(dir.join("branch.key"), dir.join("v1.key")).unwrap();
    openssl(dir, &[&["req", "-x509", "-days", "2", "-subj", subject, "-out", "selfsigned.pem"][..],
                   &key("selfsigned.key")].concat());
}

/// One message over STARTTLS to a remote recipient, with the client
/// certificate `cert` (a file stem in `dir`) or none, from 127.0.0.2 (the
/// test hosts file's stranger.example.org, which may not relay by its
/// address): the RCPT reply, as `RCPT 250 ...` (`mail`: the MAIL reply's
/// line before it).
fn exchange(port: u16, dir: &Path, cert: Option<&str>, mail: bool) -> String {
    exchange_with(port, dir, cert, mail, "")
}

/// [`exchange`] with one more line of Python setting up `ctx`.
fn exchange_with(port: u16, dir: &Path, cert: Option<&str>, mail: bool, setup: &str) -> String {
    let load = match cert {
        Some(c) => format!(
            "ctx.load_cert_chain('{d}/{c}.pem', '{d}/{c}.key')",
            d = dir.display()
        ),
        None => String::new(),
    };
    let out = python(&format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
{setup}
{load}
s = smtplib.SMTP('127.0.0.1', {port}, timeout=20, source_address=('127.0.0.2', 0))
s.ehlo('client.example.org')
s.starttls(context=ctx)
s.ehlo('client.example.org')
code, msg = s.mail('sender@example.org')
print('MAIL', code, msg.decode())
code, msg = s.rcpt('someone@elsewhere.example')
print('RCPT', code, msg.decode())
s.quit()
"#
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match mail {
        true => out,
        false => out.lines().last().unwrap_or_default().to_string(),
    }
}

/// `log` has sendmail's two lines for the branch certificate, verified,
/// from 127.0.0.2 over TLS `version`.
fn verified_logged(log: &str, version: &str) {
    assert!(
        log.contains(&format!(
            "STARTTLS=server, cert-subject={SUBJECT}, cert-issuer={ISSUER}, verifymsg=ok"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "STARTTLS=server, relay=stranger.example.org [127.0.0.2], version={version}, verify=OK, "
        )),
        "{log}"
    );
}

const ISSUER: &str = "/C=DE/O=Example+20CA/CN=Branch+20Root";
const SUBJECT: &str = "/C=DE/O=Example+20Branch/CN=relay.branch.example";

fn daemon(access: &str, extra_mc: &str) -> (Daemon, tempfile::TempDir) {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let d = Daemon::start(Setup {
        mc: &format!(
            "define(`confCACERT', `{ca}')dnl\n\
             FEATURE(`access_db', `lmdb @DIR@/access')dnl\n{extra_mc}",
            ca = certs.path().join("ca.pem").display()
        ),
        tables: &[("access", access)],
        tls: true,
    });
    (d, certs)
}

#[test]
fn a_verified_certificate_relays_by_its_issuer() {
    let (d, certs) = daemon(&format!("CERTISSUER:{ISSUER}\tRELAY\n"), "");
    let dir = certs.path();
    // Without the rule for it (before), nobody relayed by certificate.
    assert_eq!(
        send(d.mta, dir, Some("branch")),
        "RCPT 250 2.1.5 <someone@elsewhere.example>... Recipient ok"
    );
    verified_logged(&d.maillog(), "TLSv1.3");
    // The same subject, self-signed: presented, not verified, no relay;
    // the handshake itself goes through (sendmail's tls_verify_cb).
    let said = send(d.mta, dir, Some("selfsigned"));
    assert!(said.starts_with("RCPT 550 5.7.1 "), "{said}");
    assert_eq!(
        d.maillog().matches(", verify=FAIL, ").count(),
        1,
        "{}",
        d.maillog()
    );
    // Signed by the CA but X.509 v1: TLS works (the handshake signature is
    // checked with its key), the certificate does not verify (webpki
    // takes v3 only), no relay.
    let said = send(d.mta, dir, Some("v1"));
    assert!(said.starts_with("RCPT 550 5.7.1 "), "{said}");
    assert_eq!(
        d.maillog().matches(", verify=FAIL, ").count(),
        2,
        "{}",
        d.maillog()
    );
    // No certificate at all: asked for, none sent.
    let said = send(d.mta, dir, None);
    assert!(said.starts_with("RCPT 550 5.7.1 "), "{said}");
    assert!(d.maillog().contains(", verify=NO, "), "{}", d.maillog());
}

#[test]
fn subject_sends_the_decision_to_the_subject() {
    // CERTISSUER:... SUBJECT: the subject must be listed too.
    let (d, certs) = daemon(
        &format!("CERTISSUER:{ISSUER}\tSUBJECT\nCERTSUBJECT:{SUBJECT}\tRELAY\n"),
        "",
    );
    assert_eq!(
        send(d.mta, certs.path(), Some("branch")),
        "RCPT 250 2.1.5 <someone@elsewhere.example>... Recipient ok"
    );
    let (d, certs) = daemon(
        &format!("CERTISSUER:{ISSUER}\tSUBJECT\nCERTSUBJECT:/CN=other.example\tRELAY\n"),
        "",
    );
    let said = send(d.mta, certs.path(), Some("branch"));
    assert!(said.starts_with("RCPT 550 5.7.1 "), "{said}");
}

#[test]
fn tls_srv_options_v_asks_for_no_certificate() {
    let (d, certs) = daemon(
        &format!("CERTISSUER:{ISSUER}\tRELAY\n"),
        "define(`confTLS_SRV_OPTIONS', `V')dnl\n",
    );
    let said = send(d.mta, certs.path(), Some("branch"));
    assert!(said.starts_with("RCPT 550 5.7.1 "), "{said}");
    let log = d.maillog();
    assert!(log.contains(", verify=NOT, "), "{log}");
    assert!(!log.contains("cert-subject="), "{log}");
}

fn send(port: u16, dir: &Path, cert: Option<&str>) -> String {
    exchange(port, dir, cert, false)
}

#[test]
fn tls_clt_verify_is_met_by_a_verified_certificate() {
    // sendmail's tls_client: `TLS_Clt:127.0.0.2 VERIFY` needs ${verify} OK.
    let (d, certs) = daemon("TLS_Clt:127.0.0.2\tVERIFY\n", "");
    let ok = exchange(d.mta, certs.path(), Some("branch"), true);
    assert!(ok.starts_with("MAIL 250 2.1.0 "), "{ok}");
    let none = exchange(d.mta, certs.path(), None, true);
    assert!(
        none.starts_with("MAIL 454 4.7.0 not authenticated"),
        "{none}"
    );
    let fail = exchange(d.mta, certs.path(), Some("selfsigned"), true);
    assert!(fail.starts_with("MAIL 454 4.7.0 "), "{fail}");
    // +CS: the subject as ${cert_subject} writes it (they were refused
    // as "cannot be checked").
    let (d, certs) = daemon(&format!("TLS_Clt:127.0.0.2\tVERIFY+CS:{SUBJECT}\n"), "");
    let ok = exchange(d.mta, certs.path(), Some("branch"), true);
    assert!(ok.starts_with("MAIL 250 2.1.0 "), "{ok}");
    let (d, certs) = daemon("TLS_Clt:127.0.0.2\tVERIFY+CS:/CN=other.example\n", "");
    let other = exchange(d.mta, certs.path(), Some("branch"), true);
    assert!(
        other.starts_with(&format!(
            "MAIL 454 4.7.0 Cert Subject {SUBJECT} does not match /CN=other.example"
        )),
        "{other}"
    );
}

#[test]
fn a_gateway_presents_its_certificate_and_the_hub_relays_for_it() {
    // The other half: sendmail's ClientCertFile/ClientKeyFile
    // (confCLIENT_CERT, confCLIENT_KEY) on the sending mxgate. It relays
    // to the hub from 127.0.0.2 (CLIENT_OPTIONS), which may not relay by
    // its address; the hub relays for it by the certificate's issuer.
    let (hub, certs) = daemon(&format!("CERTISSUER:{ISSUER}\tRELAY\n"), "");
    let c = certs.path();
    let branch = |cert: bool| {
        let client = match cert {
            true => format!(
                "define(`confCLIENT_CERT', `{}')dnl\ndefine(`confCLIENT_KEY', `{}')dnl\n",
                c.join("branch.pem").display(),
                c.join("branch.key").display()
            ),
            false => String::new(),
        };
        Daemon::start(Setup {
            mc: &format!(
                "define(`confMXGATE_QUEUE_INTERVAL', `1m')dnl\n\
                 define(`SMTP_MAILER_ARGS', `TCP $h {port}')dnl\n\
                 define(`SMART_HOST', `smtp:[127.0.0.1]')dnl\n\
                 CLIENT_OPTIONS(`Family=inet, Addr=127.0.0.2')dnl\n{client}",
                port = hub.mta
            ),
            tables: &[],
            tls: false,
        })
    };
    let submit = |d: &Daemon| {
        let mut r = support::Raw::connect(d.mta);
        assert!(r.reply().starts_with("220"));
        assert!(r.cmd("EHLO client.example.org").starts_with("250"));
        assert!(r.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(
            r.cmd("RCPT TO:<someone@elsewhere.example>")
                .starts_with("250")
        );
        assert!(r.cmd("DATA").starts_with("354"));
        assert!(
            r.cmd("Subject: by certificate\r\n\r\nhello\r\n.")
                .starts_with("250")
        );
        let _ = r.cmd("QUIT");
    };
    // Without its certificate the hub refuses to relay for it.
    let without = branch(false);
    submit(&without);
    assert!(
        without.wait_log("Relaying denied", std::time::Duration::from_secs(20)),
        "{}",
        without.maillog()
    );
    assert!(hub.queued("queue").is_empty());
    let with = branch(true);
    submit(&with);
    assert!(
        with.wait_log("stat=Sent", std::time::Duration::from_secs(20)),
        "{}\n---hub---\n{}",
        with.maillog(),
        hub.maillog()
    );
    verified_logged(&hub.maillog(), "TLSv1.3");
    assert_eq!(hub.queued("queue").len(), 1, "{}", hub.maillog());
}

#[test]
fn check_names_a_client_certificate_that_cannot_be_read() {
    // The daemon defers outgoing mail while confCLIENT_CERT cannot be
    // loaded; `mxgate check` says so before it happens.
    let d = Daemon::prepare(Setup {
        mc: "define(`confCLIENT_CERT', `@DIR@/missing.pem')dnl\n\
             define(`confCLIENT_KEY', `@DIR@/missing.key')dnl\n",
        tables: &[],
        tls: false,
    });
    let (_, text) = d.check();
    assert!(
        text.contains("missing.pem")
            && text.contains("outgoing SMTP mail will be deferred until it is fixed"),
        "{text}"
    );
}

#[test]
fn a_tls_1_2_client_proves_its_key_too() {
    // The handshake signature of TLS 1.2 (CertificateVerify over the
    // whole handshake, PKCS#1 or PSS) is checked by its own path.
    let (d, certs) = daemon(&format!("CERTISSUER:{ISSUER}\tRELAY\n"), "");
    let tls12 = "ctx.maximum_version = ssl.TLSVersion.TLSv1_2";
    let said = exchange_with(d.mta, certs.path(), Some("branch"), false, tls12);
    assert_eq!(
        said,
        "RCPT 250 2.1.5 <someone@elsewhere.example>... Recipient ok"
    );
    let said = exchange_with(d.mta, certs.path(), Some("v1"), false, tls12);
    assert!(said.starts_with("RCPT 550 5.7.1 "), "{said}");
    let log = d.maillog();
    verified_logged(&log, "TLSv1.2");
    assert!(log.contains(", version=TLSv1.2, verify=FAIL, "), "{log}");
}

#[test]
fn check_warns_of_relaying_by_certificate_against_the_system_bundle() {
    let check = |extra: &str| {
        let d = Daemon::prepare(Setup {
            mc: &format!("FEATURE(`access_db', `lmdb @DIR@/access')dnl\n{extra}"),
            tables: &[("access", &format!("CERTISSUER:{ISSUER}\tRELAY\n"))],
            tls: false,
        });
        d.check().1
    };
    let warn = "client certificates are verified against the system's bundle";
    let text = check("");
    assert!(
        text.contains(&format!("CERTISSUER:{ISSUER}: {warn}")),
        "{text}"
    );
    let text = check("define(`confCACERT', `/etc/ssl/certs/ca-certificates.crt')dnl\n");
    assert!(!text.contains(warn), "{text}");
}
