//! `mxgate check`'s safety audit: who owns what the daemon trusts.
//!
//! Contract: [`audit`] looks at a loaded site's files the way `postfix
//! check` and sendmail's safefile checks do, before the daemon starts, and
//! returns one [`Problem`] per unsafe path (path, what is wrong, what to
//! do) plus [`Audit::warnings`] that do not fail the check. It reads only
//! metadata and the alias *sources* (to find `:include:` files); it never
//! changes anything. Judged:
//!
//! * the spool (`QUEUE_DIR` and its state directories, when they exist):
//!   [`crate::spool::audit`] — real directories, owned by root or the
//!   run-as user, not writable by group or others;
//! * every table the configuration names (`MAPNAME.lmdb` and its text
//!   source `MAPNAME` when present, alias files, `confAUTH_PASSWORD_MAP`):
//!   real files, owned by root or the run-as user, not writable by group or
//!   others, in a directory not writable by group or others; the password
//!   table also not readable by others;
//! * every `:include:` file named in an alias source: a real file, not
//!   writable by group or others, not in a group/world-writable directory
//!   without the sticky bit; one owned by another user is reported because
//!   its `|programs` and `/files` will be refused at delivery.
//!
//! * the local submission socket's directory (`confMXGATE_SUBMIT_SOCKET`),
//!   when it exists, by the spool's rule; a spool readable by others is a
//!   warning.
//!
//! postmaster must reach a mailbox: a local user without one is a warning
//! (double bounces would be kept in `hold/`).
//!
//! A missing `confRUN_AS_USER` user is a problem (the daemon refuses to
//! start); no `confRUN_AS_USER` at all is a warning (the daemon runs as root).
//!
//! [`filters`] lists the mail filters with their socket and `F=` failure
//! mode and probes the ones a listener runs (connect, `SMFIC_OPTNEG`,
//! each within [`PROBE_CAP`]); one that does not answer is a warning.

use crate::safefile::{Kind, Problem, Rule, check, open_file, user_name};
use crate::site::Site;
use nix::unistd::{Uid, User};
use std::path::{Path, PathBuf};

/// What [`audit`] found.
#[derive(Debug, Default)]
pub struct Audit {
    /// Unsafe paths: `mxgate check` fails.
    pub problems: Vec<Problem>,
    /// Worth saying, not failing for.
    pub warnings: Vec<String>,
}

/// The submission socket's directory is judged as the daemon judges it at
/// start; a spool others may read is a warning (they submit through the
/// socket and list the queue through the daemon: it can be 0700).
fn submission_socket(site: &Site, qdir: &Path, owners: &[Uid], owner_name: &str, a: &mut Audit) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(qdir)
        && m.permissions().mode() & 0o077 != 0
    {
        a.warnings.push(format!(
            "{}: readable by other users (mode {:o}); chmod 0700: users submit through \
             the daemon's socket and list the queue through it",
            qdir.display(),
            m.permissions().mode() & 0o7777
        ));
    }
    let Some(dir) = crate::daemon::submit::socket_path(&site.config)
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|d| d.exists())
    else {
        return;
    };
    let rule = Rule {
        kind: Kind::Dir,
        owners: std::iter::once(Uid::from_raw(0))
            .chain(owners.iter().copied())
            .collect(),
        forbid: 0o022,
        owner_name: owner_name.to_string(),
    };
    match crate::safefile::open_dir(&dir) {
        Ok(fd) => {
            if let Err(p) = check(&fd, &dir, &rule) {
                a.problems.push(p);
            }
        }
        Err(p) => a.problems.push(p),
    }
}

/// Judge the site's spool, tables and include files (see the module doc).
pub fn audit(site: &Site) -> Audit {
    let mut a = Audit::default();
    let run_as = run_as(site, &mut a);
    let owners: Vec<Uid> = run_as.iter().map(|u| u.uid).collect();
    let owner_name = run_as
        .as_ref()
        .map_or("root".to_string(), |u| u.name.clone());
    let qdir = crate::daemon::queue_dir(site);
    if qdir.exists() {
        a.problems.extend(
            crate::spool::audit(&qdir, &owners)
                .into_iter()
                .filter(|p| p.what != "does not exist"),
        );
    }
    submission_socket(site, &qdir, &owners, &owner_name, &mut a);
    let mut rule = Rule {
        kind: Kind::File,
        owners: std::iter::once(Uid::from_raw(0))
            .chain(owners.iter().copied())
            .collect(),
        forbid: 0o022,
        owner_name: "root".into(),
    };
    let cfg = &site.config;
    let mut maps: Vec<&crate::config::MapSpec> = cfg.maps.values().collect();
    maps.extend(&cfg.alias_files);
    for m in &maps {
        table_files(m, &rule, &mut a);
    }
    if let Some(spec) = site.settings.auth_password_map.as_deref()
        && let Some(path) = spec.split_whitespace().last()
    {
        rule.forbid = 0o027;
        let m = crate::config::MapSpec {
            class: "lmdb".into(),
            path: path.into(),
            optional: false,
            tempfail: true,
            nul_terminated: false,
            keep_case: false,
            other_flags: vec![],
        };
        table_files(&m, &rule, &mut a);
        if run_as.is_some() {
            a.warnings.push(format!(
                "{path}: the password table must be readable by {owner_name} \
                 (owner {owner_name}, or group {owner_name} with mode 0640)"
            ));
        }
        rule.forbid = 0o022;
    }
    postmaster(site, &mut a);
    access_lines(site, &mut a);
    tls_files(site, &mut a);
    let mut seen = Vec::new();
    for m in cfg.maps.get("aliases").into_iter().chain(&cfg.alias_files) {
        let Ok(text) = std::fs::read_to_string(&m.path) else {
            continue;
        };
        for inc in includes(&text) {
            if !seen.contains(&inc) {
                include_file(Path::new(&inc), &owners, &mut a);
                seen.push(inc);
            }
        }
    }
    a
}

/// The TLS files, loaded as the daemon and the SMTP client load them: the
/// server's certificate and key (the daemon refuses to start without
/// them), the trust anchors clients' certificates are verified against
/// (none: no client relays by certificate), and the client certificate
/// (mail to a server that asks for one would wait, deferred).
fn tls_files(site: &Site, a: &mut Audit) {
    let opt = |n: &str| site.config.option(n).map(str::to_string);
    if let (Some(c), Some(k)) = (opt("confSERVER_CERT"), opt("confSERVER_KEY")) {
        if let Err(e) = crate::tls::load_cert_and_key(Path::new(&c), Path::new(&k)) {
            a.warnings.push(format!(
                "confSERVER_CERT/confSERVER_KEY: {e}: the daemon will not start"
            ));
        }
        if let (_, Some(why)) = crate::tls::client_certs(opt) {
            a.warnings.push(format!("STARTTLS: {why}"));
        }
    }
    match (opt("confCLIENT_CERT"), opt("confCLIENT_KEY")) {
        (Some(c), Some(k)) => {
            if let Err(e) = crate::tls::load_cert_and_key(Path::new(&c), Path::new(&k)) {
                a.warnings.push(format!(
                    "confCLIENT_CERT/confCLIENT_KEY: {e}: outgoing SMTP mail will be deferred until it is fixed"
                ));
            }
        }
        (None, None) => {}
        _ => a.warnings.push(
            "confCLIENT_CERT and confCLIENT_KEY must be given together: outgoing SMTP mail will be deferred until they are".into(),
        ),
    }
}

/// sendmail access-map tags mxgate does not read, and what that means.
const UNREAD_ACCESS_TAGS: &[(&str, &str)] = &[
    (
        "Clt_Features",
        "sendmail 8.17's letters here are D and M, which turn off DANE and MTA-STS for these servers; mxgate's client uses neither, so there is nothing for them to turn off",
    ),
    (
        "Compat",
        "FEATURE(compat_check) is not applied: the pair is not refused",
    ),
];

/// Access tags whose values are actions (`OK`, `REJECT`, `ERROR:...`);
/// `IPv6` stands for an untagged IPv6 key. The other tags have values of
/// their own (`AuthInfo:`, `TLS_Srv:`, `GreetPause:` ...).
const ACTION_TAGS: &[&str] = &["Connect", "From", "To", "Spam", "IPv6"];

/// At most this many doubtful access values are named (then a count).
const VALUE_WARNINGS_MAX: usize = 20;

/// An access value that is none of the actions, nor `ERROR:` or a reply
/// code (`550 text`), nor `QUARANTINE:`: sendmail 8.17 answers `553 5.3.0
/// VALUE` for its key (`RELAI` for a network refuses its every
/// connection), and so does mxgate. Also a value sendmail cannot
/// tokenize. `None` for a sound value.
fn doubtful_access_value(value: &str) -> Option<String> {
    use crate::policy::access::{Value, parse_value};
    let v = value.trim();
    let Value::Error(reply) = parse_value(v) else {
        return None;
    };
    if reply.about.is_some() {
        return Some(format!(
            "`{v}` cannot be tokenized: the key answers {reply}"
        ));
    }
    let explicit = v.len() >= 3 && v.as_bytes()[..3].iter().all(u8::is_ascii_digit);
    if explicit || v.to_ascii_uppercase().starts_with("ERROR:") {
        return None;
    }
    Some(format!(
        "`{v}` is not an access action (OK, RELAY, REJECT, DISCARD, SKIP, \
         QUARANTINE:reason, ERROR:text or a reply such as `550 text`): the key \
         answers {reply}, as in sendmail"
    ))
}

/// Warn, with file:line, about access-map entries whose tag mxgate does
/// not read, and about values that are no action (read from the map's
/// text source, as makemap does).
fn access_lines(site: &Site, a: &mut Audit) {
    let Some(m) = site.config.maps.get("access") else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&m.path) else {
        return;
    };
    let mut doubtful = 0;
    for (n, line) in text.lines().enumerate() {
        let mut words = line.splitn(2, char::is_whitespace);
        let key = words.next().unwrap_or("");
        if key.starts_with('#') || key.is_empty() {
            continue;
        }
        let tag = key.split_once(':').map(|(t, _)| t);
        let value = words.next().unwrap_or("").trim();
        if tag.is_none_or(|t| ACTION_TAGS.iter().any(|a| a.eq_ignore_ascii_case(t)))
            && !value.is_empty()
            && let Some(why) = doubtful_access_value(value)
        {
            doubtful += 1;
            if doubtful <= VALUE_WARNINGS_MAX {
                a.warnings
                    .push(format!("{}:{}: {key}: {why}", m.path, n + 1));
            }
        }
        let Some(tag) = tag else {
            continue;
        };
        // Relaying by certificate against the system's bundle: anyone a
        // public CA signed would relay.
        if tag.eq_ignore_ascii_case("CERTISSUER")
            && (value.eq_ignore_ascii_case("RELAY") || value.eq_ignore_ascii_case("SUBJECT"))
            && site.config.option("confCACERT").is_none()
            && site.config.option("confCACERT_PATH").is_none()
        {
            a.warnings.push(format!(
                "{}:{}: {key}: client certificates are verified against the system's bundle (no confCACERT or confCACERT_PATH): if this issuer is a public CA, anyone holding a certificate it signed relays",
                m.path,
                n + 1
            ));
        }
        if let Some((t, means)) = UNREAD_ACCESS_TAGS
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case(tag))
        {
            a.warnings.push(format!(
                "{}:{}: {t}: entries are not read by mxgate: {means}",
                m.path,
                n + 1
            ));
        }
    }
    if doubtful > VALUE_WARNINGS_MAX {
        a.warnings.push(format!(
            "{}: {} more values that are not access actions",
            m.path,
            doubtful - VALUE_WARNINGS_MAX
        ));
    }
}

/// Does postmaster reach a mailbox (RFC 5321 §4.5.1)? Double bounces go
/// there; when it names a local user without a mailbox they are kept in
/// `hold/` instead (see `queue::runner`), so say so before it happens.
fn postmaster(site: &Site, a: &mut Audit) {
    use crate::alias::Target;
    use crate::users::LocalUser;
    let Ok(addr) = crate::addr::Address::parse("postmaster") else {
        return;
    };
    let targets = match crate::alias::expand(site, &addr) {
        Ok(x) => x.targets,
        Err(e) => {
            a.warnings.push(format!(
                "postmaster: {e}: bounces nobody can take would be kept in hold/"
            ));
            return;
        }
    };
    for t in &targets {
        let Target::Local(user) = t else { continue };
        let base = user.split('+').next().unwrap_or(user);
        if let Ok((LocalUser::Unknown, _)) = crate::users::local_user(site, base) {
            a.warnings.push(format!(
                "postmaster resolves to local user {user}, who has no mailbox: \
                 bounces nobody can take would be kept in hold/; give postmaster \
                 an alias to a real mailbox (RFC 5321 requires postmaster)"
            ));
        }
    }
}

fn run_as(site: &Site, a: &mut Audit) -> Option<User> {
    let Some(name) = site.settings.run_as_user.as_deref() else {
        a.warnings.push(
            "confRUN_AS_USER is not set: the daemon runs as root; \
             define(`confRUN_AS_USER', `mxgate') and run tools/adduser.sh"
                .into(),
        );
        return None;
    };
    if name == "root" || name == "0" {
        a.warnings
            .push("confRUN_AS_USER is root: the daemon runs as root".into());
        return None;
    }
    let user = match name.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(name),
    };
    match user {
        Ok(Some(u)) => Some(u),
        Ok(None) | Err(_) => {
            a.problems.push(Problem {
                path: PathBuf::from("confRUN_AS_USER"),
                what: format!("names {name:?}, which is not a user of this host"),
                fix: "create it (tools/adduser.sh) or name an existing user; \
                      the daemon refuses to start until then"
                    .into(),
            });
            None
        }
    }
}

fn table_files(m: &crate::config::MapSpec, rule: &Rule, a: &mut Audit) {
    let mut paths = vec![PathBuf::from(&m.path)];
    if m.class != "text" {
        paths.push(PathBuf::from(m.lmdb_path()));
    }
    if let Some(dir) = paths.first().and_then(|p| p.parent()) {
        writable_dir(dir, "holds tables", a);
    }
    for p in paths {
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        match open_file(&p) {
            Ok(fd) => {
                if let Err(pr) = check(&fd, &p, rule) {
                    a.problems.push(pr);
                }
            }
            Err(pr) => a.problems.push(pr),
        }
    }
}

fn include_file(p: &Path, owners: &[Uid], a: &mut Audit) {
    let rule = Rule {
        kind: Kind::File,
        owners: Vec::new(),
        forbid: 0o022,
        owner_name: "root".into(),
    };
    let st = match open_file(p).and_then(|fd| check(&fd, p, &rule)) {
        Ok(st) => st,
        Err(pr) => {
            a.problems.push(pr);
            return;
        }
    };
    let uid = Uid::from_raw(st.st_uid);
    if !uid.is_root() && !owners.contains(&uid) {
        a.problems.push(Problem {
            path: p.into(),
            what: format!(
                "is an :include: file owned by {}: its |programs and /files will be refused",
                user_name(st.st_uid)
            ),
            fix: "chown root it if they are meant to run, or remove them".into(),
        });
    }
    for dir in p.ancestors().skip(1) {
        writable_dir(dir, &format!("holds :include: file {}", p.display()), a);
    }
}

/// A directory (followed: it is the admin's path) writable by group or
/// others without the sticky bit lets them replace what it holds. Reported once.
fn writable_dir(dir: &Path, role: &str, a: &mut Audit) {
    use std::os::unix::fs::MetadataExt;
    if a.problems.iter().any(|p| p.path == dir) {
        return;
    }
    if let Ok(m) = std::fs::metadata(dir)
        && m.mode() & 0o022 != 0
        && m.mode() & 0o1000 == 0
    {
        a.problems.push(Problem {
            path: dir.into(),
            what: format!(
                "{role} and is writable by group or others (mode {:04o})",
                m.mode() & 0o7777
            ),
            fix: "chmod go-w it".into(),
        });
    }
}

/// The `:include:` paths named in an alias source.
fn includes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        let mut from = 0;
        while let Some(i) = lower.get(from..).and_then(|l| l.find(":include:")) {
            let start = from + i + ":include:".len();
            let rest = line.get(start..).unwrap_or("");
            let end = rest.find([',', '"']).unwrap_or(rest.len());
            let path = rest.get(..end).unwrap_or("").trim();
            if !path.is_empty() {
                out.push(path.to_string());
            }
            from = start;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_paths_are_found() {
        assert_eq!(
            includes(
                "# :include:/no\nstaff: :include:/etc/mail/lists/staff, bob\nx: \":include:/a b\"\n"
            ),
            vec!["/etc/mail/lists/staff", "/a b"]
        );
    }

    #[test]
    fn access_values_that_are_no_action_are_doubtful() {
        for sound in [
            "OK",
            "relay",
            "REJECT",
            "DISCARD",
            "SKIP",
            "FRIEND",
            "QUARANTINE:held for review",
            "QUARANTINE:",
            "ERROR:5.7.1:550 go away",
            "error:450 later",
            "550 no such user",
            "421 4.3.2 closing",
        ] {
            assert_eq!(doubtful_access_value(sound), None, "{sound}");
        }
        let typo = doubtful_access_value("RELAI").unwrap();
        assert!(typo.contains("answers 553 5.3.0 RELAI"), "{typo}");
        assert!(doubtful_access_value("REJECT # scanners").is_some());
        assert!(doubtful_access_value("TEMP:try later").is_some());
        let bad = doubtful_access_value("ERROR:550 a > b").unwrap();
        assert!(bad.contains("cannot be tokenized"), "{bad}");
    }
}

/// What `mxgate check` says about the mail filters.
#[derive(Debug, Default)]
pub struct FilterReport {
    /// One line per `INPUT_MAIL_FILTER`/`MAIL_FILTER`: socket, failure
    /// mode, timeouts, whether it answered.
    pub lines: Vec<String>,
    /// A filter the daemon runs that does not answer (or does not speak
    /// the milter protocol), or a definition it cannot use.
    pub warnings: Vec<String>,
}

/// The longest `mxgate check` waits for one filter to connect or to
/// answer the negotiation (the filter's `T=C`/`T=R` when shorter).
pub const PROBE_CAP: std::time::Duration = std::time::Duration::from_secs(3);

/// List the configured filters with their socket and `F=` failure mode,
/// and probe each filter a listener runs: connect (within `T=C`, at most
/// [`PROBE_CAP`]), send `SMFIC_OPTNEG` and read the answer (within `T=R`,
/// at most [`PROBE_CAP`]). A filter that does not answer is a warning, not
/// a problem: the daemon starts, and the filter's `F=` decides.
pub fn filters(config: &crate::config::Config) -> FilterReport {
    use crate::milter::filter::{Filter, OnError};
    let mut r = FilterReport::default();
    let run = run_filters(config);
    for m in &config.milters {
        let s = m.options.get("S").map_or("", String::as_str);
        let f = match Filter::parse(m) {
            Ok(f) => f,
            Err(e) => {
                r.lines
                    .push(format!("milter {}: S={s}: unusable definition", m.name));
                r.warnings.push(format!(
                    "milter {}: {e} (the daemon temp-fails mail while it is used)",
                    m.name
                ));
                continue;
            }
        };
        let mode = match f.on_error {
            OnError::Reject => "F=R: reject (550 5.7.1) when unusable",
            OnError::TempFail => "F=T: temp-fail (451 4.3.2) when unusable",
            OnError::Skip => "no F=: left out (mail passes unscanned) when unusable",
        };
        let t = f.timeouts;
        let mut line = format!(
            "milter {}: S={s}, {mode}, T=C:{}s;S:{}s;R:{}s;E:{}s",
            m.name,
            t.connect.as_secs(),
            t.send.as_secs(),
            t.read.as_secs(),
            t.eom.as_secs()
        );
        if !run.contains(&m.name) {
            line += ", not run (a MAIL_FILTER no filter list names)";
            r.lines.push(line);
            continue;
        }
        match probe(&f) {
            Ok(version) => line += &format!(", answers (milter protocol version {version})"),
            Err(why) => {
                line += ", NOT ANSWERING";
                r.warnings
                    .push(format!("milter {}: S={s} does not answer: {why}", m.name));
            }
        }
        r.lines.push(line);
    }
    r
}

/// The names of the filters some listener runs (smtpd's rule).
fn run_filters(config: &crate::config::Config) -> Vec<String> {
    use crate::smtpd::milters::names_for;
    let mut names = Vec::new();
    let mut default_listener = config.daemons.is_empty();
    for d in &config.daemons {
        match d.options.get("InputMailFilters") {
            Some(list) => names.extend(names_for(config, Some(list))),
            None => default_listener = true,
        }
    }
    if default_listener {
        names.extend(names_for(config, None));
    }
    names
}

/// Connect, negotiate, quit: the filter's protocol version, or why not.
fn probe(f: &crate::milter::filter::Filter) -> Result<u32, String> {
    use crate::milter::codec::{self, Command, Decoder, Response, action, step};
    use crate::milter::filter::Socket;
    use std::io::{Read, Write};
    let connect_wait = f.timeouts.connect.min(PROBE_CAP);
    let read_wait = f.timeouts.read.min(PROBE_CAP);
    let mut stream: Box<dyn ReadWrite> = match &f.socket {
        Socket::Inet { host, port } => {
            use std::net::ToSocketAddrs;
            let addrs: Vec<_> = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            let mut last = format!("{host} has no address");
            let mut found = None;
            for a in addrs {
                match std::net::TcpStream::connect_timeout(&a, connect_wait) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = format!("{a}: {e}"),
                }
            }
            let s = found.ok_or(last)?;
            s.set_read_timeout(Some(read_wait))
                .map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(read_wait))
                .map_err(|e| e.to_string())?;
            Box::new(s)
        }
        Socket::Unix(path) => {
            let s = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            s.set_read_timeout(Some(read_wait))
                .map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(read_wait))
                .map_err(|e| e.to_string())?;
            Box::new(s)
        }
    };
    stream
        .write_all(&codec::encode(&Command::OptNeg {
            version: codec::VERSION,
            actions: action::OFFERED,
            protocol: step::OFFERED,
        }))
        .map_err(|e| format!("sending the negotiation: {e}"))?;
    let mut d = Decoder::new();
    let mut buf = [0u8; 4096];
    let answer = loop {
        match d.next_response() {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(e) => return Err(format!("not the milter protocol: {e}")),
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err("closed the connection during the negotiation".into()),
            Ok(n) => d.receive(&buf[..n]),
            Err(e) => return Err(format!("no answer to the negotiation: {e}")),
        }
    };
    let _ = stream.write_all(&codec::encode(&Command::Quit));
    match answer {
        Response::OptNeg { version, .. } => Ok(version),
        other => Err(format!("answered the negotiation with {other:?}")),
    }
}

/// A connected stream of either kind.
trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}
