//! `sendmail` as scripts and cron jobs use it: the command line, local
//! message submission into the spool, and `-bv` address verification.
//!
//! Contract: [`parse_args`] reads a sendmail command line (getopt style,
//! bundled flags, `-oX` options, `-bX` modes, `-q...`) into [`Options`]
//! and says which [`Mode`] was asked for; it never touches the system.
//! For `-bm` (the default mode) the flow is one direction:
//!
//! ```text
//! stdin ─► read_message (CRLF, lone-dot rule) ─► prepare (pure: recipients,
//!          sender, header edits) ─► Prepared::headers(QID) ─► spool Writer
//!          ─► commit(Queue) ─► exit 0, log `from=..., relay=user@localhost`
//! ```
//!
//! Local submission is trusted (no relay or access checks, like sendmail
//! for a client with an empty `${client_addr}`), but every address must be
//! valid: a bad one stops the run with exit 65 (EX_DATAERR) before anything
//! is spooled; a missing recipient list is exit 64 (EX_USAGE). Exit 0 only
//! after the spool commit (file fsync, rename, directory fsync) returned.
//!
//! sendmail semantics reproduced (checked on sendmail 8.17.1.9, see
//! `docs/sendmail-cli.md`): with `-t`, recipients come from `To:`, `Cc:`
//! and `Bcc:`, `Bcc:` is removed, and addresses named on the command line
//! are *added* to that list (sendmail 8.17's behaviour, whatever older man
//! pages and other MTAs' notes say); without `-i`/`-oi` a line
//! holding a single `.` ends the input and a leading `..` loses one dot;
//! unqualified addresses get `@$j`; an untrusted user's `-f` adds
//! `X-Authentication-Warning:`; missing `From:`, `Date:`, `Message-ID:` are
//! added after the `Received: (from user@localhost)` trace header.

use crate::addr::{Address, Domain, Mailbox};
use crate::alias::{self, Target};
use crate::route::{self, Resolution};
use crate::site::Site;
use crate::smtpd::received::rfc5322_date;
use crate::spool::envelope::{Envelope, Forward, Recipient, parse_notify};
use crate::spool::ids::civil;
use std::io::BufRead;
use std::path::PathBuf;

pub mod client;
pub mod wire;

/// Command line usage error.
pub const EX_USAGE: i32 = 64;
/// Data format error (a bad address).
pub const EX_DATAERR: i32 = 65;
/// Addressee unknown (`-bv`).
pub const EX_NOUSER: i32 = 67;
/// Service unavailable (a mode mxgate does not have yet).
pub const EX_UNAVAILABLE: i32 = 69;
/// Input/output error (reading the message).
pub const EX_IOERR: i32 = 74;
/// Temporary failure (spool, tables): try again later.
pub const EX_TEMPFAIL: i32 = 75;
/// Configuration error (a bad option value).
pub const EX_CONFIG: i32 = 78;

/// What the command line asks for (`-bX`, `-q`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `-bm` (the default): read a message from stdin and queue it.
    Deliver,
    /// `-bp`, or invoked as `mailq`: list the queue.
    Print,
    /// `-bv`: verify the addresses named.
    Verify,
    /// `-bt`: address test mode.
    Test,
    /// `-bi` or `-I`: rebuild the alias databases.
    InitAliases,
    /// `-bd` / `-bD`: run the daemon.
    Daemon,
    /// `-bs`: SMTP on standard input and output.
    Smtp,
    /// `-q`, `-qR...`, `-qS...`, `-qI...`, `-q1h`: the queue runner (the argument as given).
    QueueRun(String),
    /// `-bh` (or invoked as `hoststat`): print the persistent host status.
    HostStatus,
    /// `-bH` (or invoked as `purgestat`): purge expired host status.
    PurgeHostStatus,
    /// Another `-bX` mode mxgate does not have (`-ba`, `-bP`, `-bC`).
    Other(String),
}

/// Where the recipients come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecipientSource {
    /// The command line (the default).
    #[default]
    Arguments,
    /// `-t`: `To:`, `Cc:`, `Bcc:` of the message, plus the command-line addresses.
    Headers,
}

/// What a line holding a single `.` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dots {
    /// It ends the message (the default; `..` at a line start loses a dot).
    #[default]
    EndInput,
    /// `-i` / `-oi`: it is an ordinary line.
    Ignore,
}

/// `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Say nothing on success.
    #[default]
    Quiet,
    /// Report the queue id and log line on standard error.
    Verbose,
}

/// A parsed sendmail command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The mode (`None` = `-bm`).
    pub mode: Option<Mode>,
    /// `-C FILE`.
    pub config: Option<PathBuf>,
    /// `-D NAME=VALUE` (mxgate: an m4 define, as for every mxgate command).
    pub defines: Vec<(String, String)>,
    /// `-f`/`-r` sender as given, with the flag letter used.
    pub sender: Option<(String, char)>,
    /// `-F full name`.
    pub full_name: Option<String>,
    /// `-t`.
    pub recipients_from: RecipientSource,
    /// `-i` / `-oi`.
    pub dots: Dots,
    /// `-v`.
    pub verbosity: Verbosity,
    /// `-N` DSN notify list (`never`, `success,delay,failure`).
    pub notify: Option<String>,
    /// `-R full|hdrs`.
    pub ret: Option<String>,
    /// `-V envid`.
    pub envid: Option<String>,
    /// `-B 7bit|8bitmime`.
    pub body: Option<String>,
    /// `-L tag`: the syslog tag of this run's log lines.
    pub log_tag: Option<String>,
    /// The `-q...` argument as given (also with `-bd`: `-bd -q15m`).
    pub queue: Option<String>,
    /// Every `-q...` argument, in order (`-qRfoo -qSbar` select together).
    pub queues: Vec<String>,
    /// `-Q[reason]`: quarantine the selected queued messages with the
    /// reason, or (empty) release the selected quarantined ones.
    pub quarantine: Option<String>,
    /// `--json` (mailq only).
    pub json: bool,
    /// `--help`.
    pub help: bool,
    /// Operands: recipients (`-bm`), addresses (`-bv`).
    pub operands: Vec<String>,
    /// Options accepted but ignored whose effect the user may have wanted.
    pub notes: Vec<String>,
}

impl Options {
    /// The mode, `-bm` when none was given.
    pub fn mode(&self) -> Mode {
        self.mode.clone().unwrap_or(Mode::Deliver)
    }
}

/// sendmail options that take a value (attached or as the next argument).
const WITH_VALUE: &str = "ABCDFLMNORVXbdefhopr";

/// Parse a sendmail command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut i = 0;
    let mut operands_only = false;
    while let Some(arg) = args.get(i) {
        i += 1;
        if operands_only || !arg.starts_with('-') || arg == "-" {
            o.operands.push(arg.clone());
            continue;
        }
        match arg.as_str() {
            "--" => {
                operands_only = true;
                continue;
            }
            "--help" => {
                o.help = true;
                continue;
            }
            "--json" => {
                o.json = true;
                continue;
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => {}
        }
        let body = &arg[1..];
        for (pos, c) in body.char_indices() {
            let rest = &body[pos + c.len_utf8()..];
            if c == 'q' {
                // `-bd -q15m` (either order): the daemon with a queue
                // interval; `-bp -qRfoo`: the listing, selected.
                if o.mode != Some(Mode::Daemon) && o.mode != Some(Mode::Print) {
                    o.mode = Some(Mode::QueueRun(arg.clone()));
                }
                o.queue = Some(arg.clone());
                o.queues.push(arg.clone());
                break;
            }
            if c == 'Q' {
                // sendmail 8.17's `-Q[reason]`: the reason is attached
                // (or absent), never the next argument (`-Q -qQ...`).
                o.quarantine = Some(rest.to_string());
                break;
            }
            if WITH_VALUE.contains(c) {
                let value = if rest.is_empty() {
                    let v = args
                        .get(i)
                        .ok_or_else(|| format!("option -{c} requires an argument"))?;
                    i += 1;
                    v.clone()
                } else {
                    rest.to_string()
                };
                option_with_value(&mut o, c, value)?;
                break;
            }
            match c {
                't' => o.recipients_from = RecipientSource::Headers,
                'i' => o.dots = Dots::Ignore,
                'v' => o.verbosity = Verbosity::Verbose,
                'I' => o.mode = Some(Mode::InitAliases),
                'h' => {}
                // -m (me too), -n (no aliasing), -G (gateway), -U (initial
                // submission), -c, -s: historic or without effect here.
                'm' | 'G' | 'U' | 'c' | 's' => {}
                'n' => o
                    .notes
                    .push("-n ignored: aliases are always expanded (at delivery)".to_string()),
                other => return Err(format!("unknown option -{other}")),
            }
        }
    }
    Ok(o)
}

fn option_with_value(o: &mut Options, c: char, v: String) -> Result<(), String> {
    match c {
        'b' => {
            o.mode = Some(match v.as_str() {
                "m" => Mode::Deliver,
                "p" => Mode::Print,
                "v" => Mode::Verify,
                "t" => Mode::Test,
                "i" => Mode::InitAliases,
                "d" | "D" => Mode::Daemon,
                "s" => Mode::Smtp,
                "h" => Mode::HostStatus,
                "H" => Mode::PurgeHostStatus,
                "a" | "P" | "C" => Mode::Other(format!("-b{v}")),
                other => return Err(format!("invalid operation mode {other}")),
            })
        }
        'C' => o.config = Some(v.into()),
        'D' => o.defines.push(mxgate_m4::parse_define(&v)),
        'f' | 'r' => {
            if o.sender.is_some() {
                return Err("more than one \"from\" person".to_string());
            }
            o.sender = Some((v, c));
        }
        'F' => o.full_name = Some(v),
        'N' => {
            // `-N bogus` is a usage error, not a value passed on unchecked.
            if parse_notify(&v).is_none() {
                return Err(format!(
                    "Invalid -N argument {v:?} (never, or success,delay,failure)"
                ));
            }
            o.notify = Some(v)
        }
        'R' => o.ret = Some(v),
        'V' => o.envid = Some(v),
        'B' => o.body = Some(v),
        'o' => option_o(o, &v),
        'O' => o
            .notes
            .push(format!("-O{v} ignored: set options in the configuration")),
        'X' => o
            .notes
            .push(format!("-X{v} ignored: no SMTP transcript is kept")),
        'd' => o.notes.push(format!("-d{v} ignored: no debug output")),
        'L' => o.log_tag = Some(v),
        'h' => o.notes.push(format!(
            "-h{v} ignored: the hop count is counted from the Received: lines"
        )),
        'p' => o.notes.push(format!(
            "-p{v} ignored: the protocol is recorded as local submission"
        )),
        'M' => o.notes.push(format!(
            "-M{v} ignored: sendmail macros cannot be set per message"
        )),
        'A' => o.notes.push(format!(
            "-A{v} ignored: one configuration serves submission and relay (-C names it)"
        )),
        // -e (error mode): as -oe, mxgate reports errors by DSN whatever it says.
        _ => {}
    }
    Ok(())
}

/// `-oX...`: sendmail's one-letter options.
fn option_o(o: &mut Options, v: &str) {
    match v.chars().next() {
        Some('i') => o.dots = Dots::Ignore,
        // -oem/-oep/-oeq/-oew/-oee (error mode), -om (me too), -oo (old
        // headers), -odb/-odq (deliver in background / queue only: what
        // mxgate always does) change nothing here.
        Some('e') | Some('m') | Some('o') => {}
        Some('d') if matches!(&v[1..], "" | "b" | "q" | "background" | "queue") => {}
        Some('d') => o.notes.push(format!(
            "-o{v} ignored: the message is always queued for the daemon"
        )),
        _ => o
            .notes
            .push(format!("-o{v} ignored: set options in the configuration")),
    }
}

/// Who runs the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoker {
    /// Login name (from the password database for the real uid; `$USER` if it has none).
    pub user: String,
    /// Full name (the GECOS field up to the first comma).
    pub full_name: Option<String>,
    /// Whether `-f` is allowed without a warning header.
    pub trust: Trust,
}

/// sendmail's trusted users (`$=t`; root always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// root or a member of `$=t` (confTRUSTED_USERS).
    Trusted,
    /// Anybody else: `-f` adds `X-Authentication-Warning:`.
    Untrusted,
}

impl Invoker {
    /// The real user of this process.
    pub fn current(site: &Site) -> Invoker {
        let uid = nix::unistd::getuid();
        let pw = nix::unistd::User::from_uid(uid).ok().flatten();
        let user = pw
            .as_ref()
            .map(|u| u.name.clone())
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .unwrap_or_else(|| format!("uid{uid}"));
        let full_name = pw.as_ref().and_then(|u| {
            let g = u.gecos.to_string_lossy();
            let first = g.split(',').next().unwrap_or("").trim().to_string();
            (!first.is_empty()).then_some(first)
        });
        let trust = if uid.is_root() || site.in_class("t", &user) {
            Trust::Trusted
        } else {
            Trust::Untrusted
        };
        Invoker {
            user,
            full_name,
            trust,
        }
    }
}

/// Why a submission was refused before anything was spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Exit status (64 or 65).
    pub status: i32,
    /// The message, sendmail style (`addr... reason`).
    pub text: String,
}

fn refuse(status: i32, text: String) -> Refusal {
    Refusal { status, text }
}

/// Read a message from standard input: bare LF and CRLF line ends both
/// become CRLF; without [`Dots::Ignore`] a line holding only `.` ends the
/// input and a leading `..` loses one dot (sendmail's `collect()` in
/// non-SMTP mode).
pub fn read_message(input: &mut dyn BufRead, dots: Dots) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let mut text: &[u8] = &line;
        if let Some(t) = text.strip_suffix(b"\n") {
            text = t;
        }
        if let Some(t) = text.strip_suffix(b"\r") {
            text = t;
        }
        if dots == Dots::EndInput {
            if text == b"." {
                break;
            }
            if text.starts_with(b"..") {
                text = &text[1..];
            }
        }
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// One header field: its name and its full raw text (all lines, CRLF included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    raw: String,
}

impl Field {
    /// The value, unfolded, without the name.
    fn value(&self) -> String {
        let v = self.raw.split_once(':').map_or("", |(_, v)| v);
        v.replace("\r\n", "").trim().to_string()
    }
}

/// Split CRLF content into header fields and the body (after the empty line).
/// A leading mbox `From ` line is dropped, as sendmail does. The header
/// section ends at the first empty line or the first line that is not a
/// header field (that line starts the body).
fn split_message(msg: &[u8]) -> (Vec<Field>, Vec<u8>) {
    let text = String::from_utf8_lossy(msg);
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = 0;
    let mut first = true;
    while pos < text.len() {
        let end = text[pos..].find("\r\n").map_or(text.len(), |e| pos + e + 2);
        let line = &text[pos..end];
        let bare = line.trim_end_matches("\r\n");
        if first && bare.starts_with("From ") {
            first = false;
            pos = end;
            continue;
        }
        first = false;
        if bare.is_empty() {
            return (fields, msg.get(end..).unwrap_or_default().to_vec());
        }
        if bare.starts_with([' ', '\t']) {
            if let Some(f) = fields.last_mut() {
                f.raw.push_str(line);
                pos = end;
                continue;
            }
            break;
        }
        match header_name(bare) {
            Some(name) => fields.push(Field {
                name,
                raw: if line.ends_with("\r\n") {
                    line.to_string()
                } else {
                    format!("{line}\r\n")
                },
            }),
            None => break,
        }
        pos = end;
    }
    (fields, msg.get(pos..).unwrap_or_default().to_vec())
}

/// `Name:` (printable ASCII without `:` or space, optional white space before `:`).
fn header_name(line: &str) -> Option<String> {
    let (name, _) = line.split_once(':')?;
    let name = name.trim_end_matches([' ', '\t']);
    let ok = !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    ok.then(|| name.to_string())
}

/// Split an address list (`a@b, "Last, First" <c@d>, group: e@f, g@h;`)
/// into the addresses, comments and display names removed.
pub fn address_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut raw = String::new();
    let mut angle: Option<String> = None;
    let (mut in_quote, mut depth, mut in_angle, mut broken) = (false, 0u32, false, false);
    let mut flush = |cur: &mut String, raw: &mut String, angle: &mut Option<String>, bad: bool| {
        // An unbalanced `<`/`>` is passed on as written, for the parser to refuse.
        let a = if bad {
            raw.trim().to_string()
        } else {
            match angle.take() {
                // `<>`: the null address, for the caller to refuse as a recipient.
                Some(a) if a.trim().is_empty() => "<>".to_string(),
                Some(a) => a,
                None => cur.trim().to_string(),
            }
        };
        if !a.trim().is_empty() {
            out.push(a.trim().to_string());
        }
        *angle = None;
        cur.clear();
        raw.clear();
    };
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        let separator = matches!(c, ',' | ';') && !in_quote && depth == 0 && !in_angle;
        if !separator {
            raw.push(c);
        }
        match c {
            '\\' if in_quote => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                    raw.push(n);
                }
            }
            '"' if depth == 0 => {
                in_quote = !in_quote;
                match angle.as_mut() {
                    Some(a) if in_angle => a.push(c),
                    _ => cur.push(c),
                }
            }
            _ if in_quote => match angle.as_mut() {
                Some(a) if in_angle => a.push(c),
                _ => cur.push(c),
            },
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '<' if in_angle => broken = true,
            '<' => {
                in_angle = true;
                angle = Some(String::new());
            }
            '>' if in_angle => in_angle = false,
            '>' => broken = true,
            _ if in_angle => {
                if let Some(a) = angle.as_mut() {
                    a.push(c);
                }
            }
            // `group:` starts a group: what came before is its display name.
            ':' if angle.is_none() && !cur.contains('@') && !cur.trim_start().starts_with('@') => {
                cur.clear();
                raw.clear();
            }
            ',' | ';' => {
                flush(&mut cur, &mut raw, &mut angle, broken);
                broken = false;
            }
            _ => cur.push(c),
        }
    }
    flush(
        &mut cur,
        &mut raw,
        &mut angle,
        broken || in_angle || in_quote,
    );
    out
}

/// Parse one address for the envelope: unqualified → `@$j`. `<>` only where allowed.
fn envelope_address(site: &Site, text: &str, null: NullAddress) -> Result<Address, Refusal> {
    let addr = Address::parse(text).map_err(|e| refuse(EX_DATAERR, format!("{text}... {e}")))?;
    match addr {
        Address::Null if null == NullAddress::Refused => Err(refuse(
            EX_DATAERR,
            format!("{text}... User address required"),
        )),
        Address::Null => Ok(Address::Null),
        Address::Mailbox(mut m) => {
            if m.domain.is_none() {
                m.domain = Some(Domain::Name(site.hostname.to_ascii_lowercase()));
            }
            Ok(Address::Mailbox(m))
        }
    }
}

/// Whether `<>` is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NullAddress {
    /// As a sender (`-f '<>'`).
    Allowed,
    /// As a recipient.
    Refused,
}

fn same_mailbox(a: &Mailbox, b: &Mailbox) -> bool {
    a.local.eq_ignore_ascii_case(&b.local) && a.domain == b.domain
}

/// A message ready to be spooled (everything but the parts that need the queue id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The envelope (sender, recipients, facts); the spool sets the id.
    pub envelope: Envelope,
    /// The sender without brackets (`user@$j`; empty for `<>`), for `From:` and the log.
    pub sender: String,
    /// The invoking user (`(from user@localhost)`).
    pub user: String,
    /// `X-Authentication-Warning:` value, when an untrusted user used `-f`/`-r`.
    pub auth_warning: Option<String>,
    /// Full name for an added `From:`.
    pub full_name: Option<String>,
    /// Headers the message lacks, to be added: `from`, `date`, `message-id`.
    pub missing: Vec<&'static str>,
    /// The message as it will follow the added headers (Bcc removed, CRLF).
    pub message: Vec<u8>,
    /// `Message-ID:` of the message, if it has one.
    pub msgid: Option<String>,
}

/// Decide sender, recipients and header edits for a submission (pure).
pub fn prepare(
    site: &Site,
    opts: &Options,
    invoker: &Invoker,
    message: &[u8],
) -> Result<Prepared, Refusal> {
    let (mut fields, body) = split_message(message);
    // The sender.
    let (sender, auth_warning) = match &opts.sender {
        None => (
            envelope_address(site, &invoker.user, NullAddress::Allowed)?,
            None,
        ),
        Some((given, flag)) => {
            let a = envelope_address(site, given, NullAddress::Allowed)?;
            let own = match &a {
                Address::Mailbox(m) => {
                    m.local == invoker.user
                        && m.domain
                            .as_ref()
                            .and_then(|d| d.name())
                            .is_some_and(|d| site.is_local_host(d) || d == site.hostname)
                }
                Address::Null => false,
            };
            // sendmail's auth_warning() writes it only with PrivacyOptions
            // authwarnings (the cf default).
            let warn =
                (site.settings.privacy.auth_warnings && invoker.trust == Trust::Untrusted && !own)
                    .then(|| {
                        format!(
                            "{}: {} set sender to {given} using -{flag}",
                            site.hostname, invoker.user
                        )
                    });
            (a, warn)
        }
    };
    // The recipients.
    let mut named = Vec::new();
    for op in &opts.operands {
        for a in address_list(op) {
            named.push(envelope_address(site, &a, NullAddress::Refused)?);
        }
    }
    let candidates = match opts.recipients_from {
        RecipientSource::Arguments => named.clone(),
        RecipientSource::Headers => {
            let mut from_headers = Vec::new();
            for f in &fields {
                if ["to", "cc", "bcc"].contains(&f.name.to_ascii_lowercase().as_str()) {
                    for a in address_list(&f.value()) {
                        from_headers.push(envelope_address(site, &a, NullAddress::Refused)?);
                    }
                }
            }
            // Checked on sendmail 8.17.1.9: with -t, command-line
            // addresses are added (command line first, then the headers);
            // duplicates are queued once.
            let mut all = named.clone();
            all.extend(from_headers);
            all
        }
    };
    let mut rcpts: Vec<Mailbox> = Vec::new();
    for a in candidates {
        if let Address::Mailbox(m) = a
            && !rcpts.iter().any(|r| same_mailbox(r, &m))
        {
            rcpts.push(m);
        }
    }
    if rcpts.is_empty() {
        return Err(refuse(
            EX_USAGE,
            match opts.recipients_from {
                RecipientSource::Headers => "No recipient addresses found in header".to_string(),
                RecipientSource::Arguments => "Recipient names must be specified".to_string(),
            },
        ));
    }
    // Header edits.
    fields.retain(|f| !f.name.eq_ignore_ascii_case("bcc"));
    let has = |n: &str| fields.iter().any(|f| f.name.eq_ignore_ascii_case(n));
    let mut missing = Vec::new();
    for (name, key) in [
        ("from", "from"),
        ("date", "date"),
        ("message-id", "message-id"),
    ] {
        if !has(name) {
            missing.push(key);
        }
    }
    let msgid = fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("message-id"))
        .map(|f| f.value());
    let mut content = Vec::with_capacity(message.len());
    for f in &fields {
        content.extend_from_slice(f.raw.as_bytes());
    }
    content.extend_from_slice(b"\r\n");
    content.extend_from_slice(&body);
    let sender_text = match &sender {
        Address::Null => String::new(),
        Address::Mailbox(m) => m.to_string(),
    };
    let mut envelope = Envelope::new(&format!("<{sender_text}>"));
    for r in &rcpts {
        // As written: the next hop gets the sender's case (sendmail 8.17).
        let mut rc = Recipient::of(Forward::Mailbox(r.clone()));
        rc.notify = opts.notify.as_deref().and_then(parse_notify);
        envelope.recipients.push(rc);
    }
    envelope.facts = vec![
        ("proto".to_string(), "local".to_string()),
        ("user".to_string(), invoker.user.clone()),
    ];
    if let Some(e) = &opts.envid {
        envelope.facts.push(("envid".into(), e.clone()));
    }
    if let Some(r) = &opts.ret {
        envelope.facts.push(("ret".into(), r.to_ascii_uppercase()));
    }
    if opts
        .body
        .as_ref()
        .is_some_and(|b| b.eq_ignore_ascii_case("8bitmime"))
    {
        envelope.facts.push(("body".into(), "8BITMIME".into()));
    }
    // sendmail sets the full name ($x: -F, else the password entry's) only
    // for a local sender (checked on 8.17.1.9: `-f x@elsewhere -F name`
    // gives `From: x@elsewhere`).
    let local_sender = sender
        .mailbox()
        .and_then(|m| m.domain.as_ref())
        .and_then(|d| d.name())
        .is_some_and(|d| site.is_local_host(d) || d == site.hostname.to_ascii_lowercase());
    let full_name = if local_sender {
        opts.full_name.clone().or_else(|| match sender.mailbox() {
            Some(m) if m.local == invoker.user => invoker.full_name.clone(),
            _ => None,
        })
    } else {
        None
    };
    Ok(Prepared {
        envelope,
        sender: sender_text,
        user: invoker.user.clone(),
        auth_warning,
        full_name,
        missing,
        message: content,
        msgid,
    })
}

impl Prepared {
    /// The header lines that go before the message: `Received:`,
    /// `X-Authentication-Warning:`, then the missing `Date:`, `From:`,
    /// `Message-ID:` (sendmail's order for added headers).
    pub fn headers(&self, qid: &str, host: &str, now: u64) -> String {
        let mut h = format!(
            "Received: (from {}@localhost)\r\n\tby {host} (mxgate/{}) id {qid}",
            self.user,
            env!("CARGO_PKG_VERSION")
        );
        match self.envelope.recipients.as_slice() {
            [one] => {
                let bare = one.address.written();
                h += &format!("\r\n\tfor {bare}; {}\r\n", rfc5322_date(now));
            }
            _ => h += &format!(";\r\n\t{}\r\n", rfc5322_date(now)),
        }
        if let Some(w) = &self.auth_warning {
            h += &format!("X-Authentication-Warning: {w}\r\n");
        }
        if self.missing.contains(&"date") {
            h += &format!("Date: {}\r\n", rfc5322_date(now));
        }
        if self.missing.contains(&"from") {
            let addr = if self.sender.is_empty() {
                format!("MAILER-DAEMON@{host}")
            } else {
                self.sender.clone()
            };
            h += &match &self.full_name {
                Some(name) => format!("From: {} <{addr}>\r\n", display_name(name)),
                None => format!("From: {addr}\r\n"),
            };
        }
        if self.missing.contains(&"message-id") {
            h += &format!("Message-ID: <{}>\r\n", message_id(qid, host, now));
        }
        h
    }
}

/// `202611261109.QID@host`, as sendmail's `<$t.$i@$j>`.
pub fn message_id(qid: &str, host: &str, now: u64) -> String {
    let (y, mo, d, h, mi, _) = civil(now);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}.{qid}@{host}")
}

/// A full name as an RFC 5322 display name (quoted when it has specials).
fn display_name(name: &str) -> String {
    // A line break in -F would start a new header field: it becomes a space.
    let name = &name.replace(|c: char| c.is_control(), " ");
    let special = name
        .chars()
        .any(|c| "()<>[]:;@\\,.\"".contains(c) || c.is_control());
    if special {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_string()
    }
}

/// The `from=` log line for a committed message.
pub fn log_line(p: &Prepared, size: u64, msgid: &str) -> String {
    format!(
        "from=<{}>, size={size}, class=0, nrcpts={}, msgid={msgid}, relay={}@localhost",
        p.sender,
        p.envelope.recipients.len(),
        p.user
    )
}

/// One `-bv` answer line and whether the address is deliverable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `addr... deliverable: mailer esmtp, host x, user y` or `addr... User unknown`.
    pub line: String,
    /// Exit status contribution: 0, 67 (unknown), 65 (syntax), 75 (table failure).
    pub status: i32,
}

/// Verify one address as `sendmail -bv` does (routing only: no delivery,
/// no DNS). A local name with an alias is expanded and each target
/// verified, as sendmail prints the expansion; one line per result.
pub fn verify(site: &Site, text: &str) -> Vec<Verified> {
    let addr = match Address::parse(text) {
        Ok(a) => a,
        Err(e) => {
            return vec![Verified {
                line: format!("{text}... {e}"),
                status: EX_DATAERR,
            }];
        }
    };
    let fail = |line: String, status: i32| vec![Verified { line, status }];
    let route = match route::resolve(site, &addr) {
        Err(e) => return fail(format!("{text}... Temporary failure: {e}"), EX_TEMPFAIL),
        Ok((Resolution::Error(r), _)) => {
            let status = if r.is_transient() {
                EX_TEMPFAIL
            } else {
                EX_NOUSER
            };
            return fail(format!("{text}... {}", r.text()), status);
        }
        Ok((Resolution::Deliver(route), _)) => route,
    };
    if route.mailer != "local" {
        return vec![deliverable(text, &route)];
    }
    let local = Address::Mailbox(Mailbox {
        route: Vec::new(),
        local: route.user.clone(),
        domain: None,
        spelling: None,
    });
    let exp = match alias::expand(site, &local) {
        Ok(e) => e,
        Err(e) => {
            let reply = e.reply();
            let status = if reply.is_transient() {
                EX_TEMPFAIL
            } else {
                EX_DATAERR
            };
            return fail(format!("{text}... {}", reply.text()), status);
        }
    };
    if exp.expanded.is_empty() {
        return vec![local_user(site, text, &route.user)];
    }
    exp.targets
        .iter()
        .flat_map(|t| match t {
            // Ruleset 5 sees what the alias expanded to (LOCAL_RELAY, MAIL_HUB).
            Target::Local(u) => match route::localaddr(site, u) {
                Ok((Resolution::Deliver(r), _)) if r.mailer != "local" => {
                    vec![deliverable(u, &r)]
                }
                Ok((Resolution::Deliver(r), _)) => vec![local_user(site, u, &r.user)],
                Ok((Resolution::Error(r), _)) => vec![Verified {
                    line: format!("{u}... {}", r.text()),
                    status: if r.is_transient() {
                        EX_TEMPFAIL
                    } else {
                        EX_NOUSER
                    },
                }],
                Err(e) => vec![Verified {
                    line: format!("{u}... Temporary failure: {e}"),
                    status: EX_TEMPFAIL,
                }],
            },
            Target::Address(a) => match Address::parse(a).map(|x| route::resolve(site, &x)) {
                Ok(Ok((Resolution::Deliver(r), _))) if r.mailer != "local" => {
                    vec![deliverable(a, &r)]
                }
                Ok(Ok((Resolution::Deliver(r), _))) => vec![local_user(site, a, &r.user)],
                _ => verify(site, a),
            },
            Target::Program(p) => vec![Verified {
                line: format!("\"|{p}\"... deliverable: mailer prog, user \"|{p}\""),
                status: 0,
            }],
            Target::File(f) => vec![Verified {
                line: format!("{f}... deliverable: mailer *file*, user {f}"),
                status: 0,
            }],
            Target::Refused { origin, reason, .. } => vec![Verified {
                line: format!(":include: {origin}... {reason}"),
                status: EX_DATAERR,
            }],
        })
        .collect()
}

fn deliverable(text: &str, route: &route::Route) -> Verified {
    Verified {
        line: match &route.host {
            Some(h) => format!(
                "{text}... deliverable: mailer {}, host {h}, user {}",
                route.mailer, route.user
            ),
            None => format!(
                "{text}... deliverable: mailer {}, user {}",
                route.mailer, route.user
            ),
        },
        status: 0,
    }
}

fn local_user(site: &Site, text: &str, user: &str) -> Verified {
    match route::check_local_user(site, user) {
        Err(e) => Verified {
            line: format!("{text}... Temporary failure: {e}"),
            status: EX_TEMPFAIL,
        },
        Ok(Some(r)) => Verified {
            line: format!("{text}... {}", r.text()),
            status: EX_NOUSER,
        },
        Ok(None) => Verified {
            line: format!("{text}... deliverable: mailer local, user {user}"),
            status: 0,
        },
    }
}

/// `-bv`: one line per address (or alias target) on `out`; the exit status
/// is 0 when all are deliverable, else the last failure's (67 unknown user,
/// 65 bad syntax, 75 temporary) — sendmail exits 67 for an unknown user too.
pub fn run_verify(site: &Site, opts: &Options, out: &mut dyn std::io::Write) -> i32 {
    if opts.operands.is_empty() {
        let _ = writeln!(out, "Recipient names must be specified");
        return EX_USAGE;
    }
    let mut status = 0;
    for op in &opts.operands {
        for a in address_list(op) {
            for v in verify(site, &a) {
                let _ = writeln!(out, "{}", v.line);
                if v.status != 0 {
                    status = v.status;
                }
            }
        }
    }
    status
}

/// `-bm`: read the message, check it, spool it, log it. Returns the exit
/// status (0 only after the commit).
pub fn run_deliver(
    site: &Site,
    opts: &Options,
    invoker: &Invoker,
    input: &mut dyn BufRead,
    err: &mut dyn std::io::Write,
) -> i32 {
    let message = match read_message(input, opts.dots) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(err, "sendmail: reading the message: {e}");
            return EX_IOERR;
        }
    };
    // The daemon's reading of confMAX_MESSAGE_SIZE (default 10240000, 0 =
    // unlimited): a local submission gets the same limit as an SMTP one.
    let max = site.settings.max_message_size;
    if max > 0 && message.len() as u64 > max {
        let _ = writeln!(
            err,
            "sendmail: Message is too large; {max} bytes max (nothing queued)"
        );
        return EX_DATAERR;
    }
    let prepared = match prepare(site, opts, invoker, &message) {
        Ok(p) => p,
        Err(r) => {
            let _ = writeln!(err, "sendmail: {} (nothing queued)", r.text);
            return r.status;
        }
    };
    let qdir = crate::daemon::queue_dir(site);
    let spooled = crate::spool::Spool::open(&qdir, crate::spool::Durability::Fsync)
        .and_then(|spool| commit(&spool, site, &prepared, None));
    let Committed { qid, size, msgid } = match spooled {
        Ok(x) => x,
        Err(e) => {
            let _ = writeln!(err, "sendmail: cannot queue the message: {e}");
            return EX_TEMPFAIL;
        }
    };
    let line = log_line(&prepared, size, &msgid);
    let tag = crate::daemon::log_tag(site, opts.log_tag.as_deref());
    let log = match &site.settings.log {
        crate::settings::LogTarget::File(path) => {
            Some(crate::event::Log::file(&site.hostname, path).map_err(|e| (path.display(), e)))
        }
        crate::settings::LogTarget::Syslog(sock) => {
            Some(crate::event::Log::syslog(&site.hostname, sock).map_err(|e| (sock.display(), e)))
        }
        crate::settings::LogTarget::Stderr => None,
    };
    match log {
        Some(Ok(log)) => log.with_tag(tag).line(Some(&qid), &line),
        // The message is safe in the queue; a log we cannot open is only reported.
        Some(Err((path, e))) => {
            let _ = writeln!(err, "sendmail: warning: log {path}: {e}");
        }
        None => {}
    }
    if opts.verbosity == Verbosity::Verbose {
        crate::event::Log::stderr(&site.hostname)
            .with_tag(tag)
            .line(Some(&qid), &line);
        let _ = writeln!(
            err,
            "{qid}: queued for {} recipient(s) in {}",
            prepared.envelope.recipients.len(),
            qdir.display()
        );
    }
    0
}

/// A committed submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The queue id.
    pub qid: String,
    /// Bytes spooled (added headers and message).
    pub size: u64,
    /// The message's `Message-ID:` (added or its own).
    pub msgid: String,
}

/// Write a prepared submission into `spool` with its added headers and
/// commit it (file fsync, rename, directory fsync). Shared by the direct
/// path (no `handoff`: a running daemon is told through `status/.arrived`)
/// and the daemon's submission socket (its queue runner's hand-off).
pub fn commit(
    spool: &crate::spool::Spool,
    site: &Site,
    prepared: &Prepared,
    handoff: Option<&crate::queue::runner::Handoff>,
) -> Result<Committed, crate::spool::Error> {
    let mut w = spool.create(&prepared.envelope)?;
    let qid = w.id().to_string();
    let now = prepared.envelope.arrival;
    let headers = prepared.headers(&qid, &site.hostname, now);
    let msgid = prepared
        .msgid
        .clone()
        .unwrap_or_else(|| format!("<{}>", message_id(&qid, &site.hostname, now)));
    w.write(headers.as_bytes())?;
    w.write(&prepared.message)?;
    let size = w.size();
    crate::queue::runner::commit_new(w, handoff)?;
    Ok(Committed { qid, size, msgid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::BTreeMap;

    fn site() -> Site {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        Site::from_parts(c, BTreeMap::new()).unwrap()
    }

    fn args(s: &[&str]) -> Options {
        parse_args(&s.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn user(trust: Trust) -> Invoker {
        Invoker {
            user: "joe".into(),
            full_name: Some("Joe User".into()),
            trust,
        }
    }

    #[test]
    fn getopt_style_command_lines() {
        let o = args(&[
            "-oi",
            "-t",
            "-fbob@x.example",
            "-F",
            "Bob B",
            "u1",
            "--",
            "-u2",
        ]);
        assert_eq!(o.dots, Dots::Ignore);
        assert_eq!(o.recipients_from, RecipientSource::Headers);
        assert_eq!(o.sender, Some(("bob@x.example".to_string(), 'f')));
        assert_eq!(o.full_name.as_deref(), Some("Bob B"));
        assert_eq!(o.operands, ["u1", "-u2"]);
        assert_eq!(o.mode(), Mode::Deliver);
        // bundled flags, value in the next argument
        let o = args(&["-ti", "-r", "s@x", "-C", "/c.mc", "-DX=1", "a"]);
        assert_eq!(
            (o.dots, o.recipients_from),
            (Dots::Ignore, RecipientSource::Headers)
        );
        assert_eq!(o.sender, Some(("s@x".to_string(), 'r')));
        assert_eq!(o.config, Some(PathBuf::from("/c.mc")));
        assert_eq!(o.defines, [("X".to_string(), "1".to_string())]);
        assert_eq!(args(&["-bp", "--json"]).mode(), Mode::Print);
        assert!(args(&["-bp", "--json"]).json);
        assert_eq!(args(&["-b", "v", "x"]).mode(), Mode::Verify);
        assert_eq!(args(&["-qR@x"]).mode(), Mode::QueueRun("-qR@x".into()));
        assert_eq!(args(&["-bs"]).mode(), Mode::Smtp);
        assert_eq!(args(&["-bh"]).mode(), Mode::HostStatus);
        assert_eq!(args(&["-bH"]).mode(), Mode::PurgeHostStatus);
        assert_eq!(args(&["-ba"]).mode(), Mode::Other("-ba".into()));
        // -bd -q15m in either order: the daemon, with the interval kept
        for a in [["-bd", "-q15m"], ["-q15m", "-bd"]] {
            let o = args(&a);
            assert_eq!(
                (o.mode(), o.queue.as_deref()),
                (Mode::Daemon, Some("-q15m"))
            );
        }
        assert_eq!(args(&["-qf"]).mode(), Mode::QueueRun("-qf".into()));
        // -oem, -odq change nothing and say nothing; -odi and -O say they are ignored
        assert!(args(&["-oem", "-odq", "-om"]).notes.is_empty());
        assert_eq!(args(&["-odi", "-OQueueDirectory=/x"]).notes.len(), 2);
        // Accepted, said to be ignored: never dropped in silence.
        let n = args(&["-h", "5", "-pSMTP", "-Mrfoo", "-Am", "-em"]).notes;
        assert_eq!(n.len(), 4, "{n:?}");
        assert!(n[0].starts_with("-h5 ignored"), "{n:?}");
        // -Q takes its reason attached only: the next argument is a -q.
        let o = args(&["-Q", "-qQspam"]);
        assert_eq!(o.quarantine.as_deref(), Some(""));
        assert_eq!(o.queues, ["-qQspam"]);
        assert_eq!(
            args(&["-Qvirus found", "-qIx"]).quarantine.as_deref(),
            Some("virus found")
        );
        assert!(parse_args(&["-f".to_string()]).is_err());
        assert!(parse_args(&["-k".to_string()]).is_err());
        assert!(parse_args(&["-bz".to_string()]).is_err());
    }

    #[test]
    fn lone_dot_ends_input_unless_dash_i() {
        // checked on sendmail 8.17.1.9 (-bm -odq): "..two" → ".two", "." ends input.
        let input = b"Subject: x\n\nhello\n..two\n.\nafter\n";
        let m = read_message(&mut &input[..], Dots::EndInput).unwrap();
        assert_eq!(m, b"Subject: x\r\n\r\nhello\r\n.two\r\n");
        let m = read_message(&mut &input[..], Dots::Ignore).unwrap();
        assert_eq!(m, b"Subject: x\r\n\r\nhello\r\n..two\r\n.\r\nafter\r\n");
        // CRLF input stays CRLF; a last line without newline gets one; .\r\n ends too
        let m = read_message(&mut &b"a\r\nb\r\n.\r\nc"[..], Dots::EndInput).unwrap();
        assert_eq!(m, b"a\r\nb\r\n");
        let m = read_message(&mut &b"a\r\nlast"[..], Dots::Ignore).unwrap();
        assert_eq!(m, b"a\r\nlast\r\n");
    }

    #[test]
    fn address_lists_as_in_headers() {
        assert_eq!(
            address_list(r#"a@x, "Doe, J" <d@x> (comment, here), Group: g1@x, <g2@x>;, b"#),
            ["a@x", "d@x", "g1@x", "g2@x", "b"]
        );
        assert!(address_list("undisclosed-recipients:;").is_empty());
        assert_eq!(address_list("<@r1,@r2:u@x>"), ["@r1,@r2:u@x"]);
        // unbalanced brackets are passed on for the parser to refuse
        assert_eq!(address_list("bad<"), ["bad<"]);
        assert!(Address::parse(&address_list("bad<")[0]).is_err());
        assert_eq!(address_list("x>, y@z"), ["x>", "y@z"]);
    }

    #[test]
    fn dash_t_takes_header_recipients_plus_arguments_and_drops_bcc() {
        // checked on sendmail 8.17.1.9: `-t d@x e@x` with To: a, d / Cc: b / Bcc: c
        // queues d, e, a, b, c (command line first, d once).
        let o = args(&["-t", "d@x.example", "e@x.example"]);
        let msg = b"To: a@x.example,\r\n d@x.example\r\nCc: b\r\nBcc: c@x.example\r\nSubject: t\r\n\r\nbody\r\n";
        let p = prepare(&site(), &o, &user(Trust::Trusted), msg).unwrap();
        let r: Vec<String> = p
            .envelope
            .recipients
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(
            r,
            [
                "<d@x.example>",
                "<e@x.example>",
                "<a@x.example>",
                "<b@gw.example.com>",
                "<c@x.example>"
            ]
        );
        let text = String::from_utf8(p.message.clone()).unwrap();
        assert!(!text.to_ascii_lowercase().contains("bcc"), "{text}");
        assert!(
            text.starts_with("To: a@x.example,\r\n d@x.example\r\nCc: b\r\nSubject: t\r\n\r\nbody")
        );
        assert_eq!(p.envelope.sender, "<joe@gw.example.com>");
        assert_eq!(p.missing, ["from", "date", "message-id"]);
    }

    #[test]
    fn no_recipients_and_bad_addresses_are_refused() {
        let s = site();
        let r = prepare(
            &s,
            &args(&["-t"]),
            &user(Trust::Trusted),
            b"Subject: x\r\n\r\n",
        )
        .unwrap_err();
        assert_eq!(r.status, EX_USAGE);
        assert!(r.text.contains("No recipient addresses found in header"));
        let r = prepare(&s, &args(&[]), &user(Trust::Trusted), b"\r\n").unwrap_err();
        assert_eq!(r.status, EX_USAGE);
        let r = prepare(
            &s,
            &args(&["good@x", "bad@"]),
            &user(Trust::Trusted),
            b"\r\n",
        )
        .unwrap_err();
        assert_eq!(r.status, EX_DATAERR);
        assert!(r.text.starts_with("bad@... "), "{}", r.text);
        let r = prepare(
            &s,
            &args(&["-f", "x@[1.2.3]", "a"]),
            &user(Trust::Trusted),
            b"\r\n",
        )
        .unwrap_err();
        assert_eq!(r.status, EX_DATAERR);
        let r = prepare(&s, &args(&["-t"]), &user(Trust::Trusted), b"To: <>\r\n\r\n").unwrap_err();
        assert!(r.text.contains("User address required"));
        // the null sender is allowed with -f
        let p = prepare(
            &s,
            &args(&["-f", "<>", "a"]),
            &user(Trust::Trusted),
            b"\r\n",
        )
        .unwrap();
        assert_eq!(p.envelope.sender, "<>");
    }

    #[test]
    fn untrusted_dash_f_gets_a_warning_header() {
        let s = site();
        let p = prepare(
            &s,
            &args(&["-f", "boss@corp.example", "a"]),
            &user(Trust::Untrusted),
            b"\r\n",
        )
        .unwrap();
        assert_eq!(
            p.auth_warning.as_deref(),
            Some("gw.example.com: joe set sender to boss@corp.example using -f")
        );
        let h = p.headers("QID1", "gw.example.com", 1_795_480_213);
        assert!(h.contains("\r\nX-Authentication-Warning: gw.example.com: joe set sender to boss@corp.example using -f\r\n"));
        // checked on sendmail 8.17.1.9: -f to a non-local sender drops the full name.
        assert!(h.contains("\r\nFrom: boss@corp.example\r\n"), "{h}");
        // root / $=t: no warning; -r names its flag; one's own address: no warning
        let p = prepare(
            &s,
            &args(&["-f", "boss@corp.example", "a"]),
            &user(Trust::Trusted),
            b"\r\n",
        )
        .unwrap();
        assert_eq!(p.auth_warning, None);
        let p = prepare(
            &s,
            &args(&["-r", "x@y.example", "a"]),
            &user(Trust::Untrusted),
            b"\r\n",
        )
        .unwrap();
        assert!(p.auth_warning.unwrap().ends_with("using -r"));
        let p = prepare(
            &s,
            &args(&["-f", "joe", "a"]),
            &user(Trust::Untrusted),
            b"\r\n",
        )
        .unwrap();
        assert_eq!(p.auth_warning, None);
    }

    #[test]
    fn added_headers_in_sendmail_order_and_layout() {
        // checked on sendmail 8.17.1.9: Received (from user@localhost) ... id QID;
        // DATE for several recipients, `id QID\n\tfor rcpt; DATE` for one; then Date,
        // From ("Full Name <addr>"), Message-Id <YYYYMMDDhhmm.QID@$j>.
        let s = site();
        let p = prepare(
            &s,
            &args(&["-F", "Joe Q. User", "a@x.example"]),
            &user(Trust::Trusted),
            b"Subject: s\r\n\r\nb\r\n",
        )
        .unwrap();
        let h = p.headers("6AO0UD000007581", "gw.example.com", 1_795_480_213);
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            h,
            format!(
                "Received: (from joe@localhost)\r\n\tby gw.example.com (mxgate/{v}) id 6AO0UD000007581\r\n\
                 \tfor a@x.example; Tue, 24 Nov 2026 00:30:13 +0000\r\n\
                 Date: Tue, 24 Nov 2026 00:30:13 +0000\r\n\
                 From: \"Joe Q. User\" <joe@gw.example.com>\r\n\
                 Message-ID: <202611240030.6AO0UD000007581@gw.example.com>\r\n"
            )
        );
        let p = prepare(
            &s,
            &args(&["a", "b"]),
            &user(Trust::Trusted),
            b"From: me@x\r\nDate: now\r\nMessage-ID: <m@x>\r\n\r\n",
        )
        .unwrap();
        let h = p.headers("Q", "gw.example.com", 1_795_480_213);
        assert_eq!(
            h,
            format!(
                "Received: (from joe@localhost)\r\n\tby gw.example.com (mxgate/{v}) id Q;\r\n\tTue, 24 Nov 2026 00:30:13 +0000\r\n"
            )
        );
        assert_eq!(p.msgid.as_deref(), Some("<m@x>"));
        // a line break in -F cannot add a header field
        let p = prepare(
            &s,
            &args(&["-F", "Eve\r\nBcc: x@y", "a"]),
            &user(Trust::Untrusted),
            b"\r\n",
        )
        .unwrap();
        let h = p.headers("Q", "gw.example.com", 0);
        assert!(
            h.contains("From: \"Eve  Bcc: x@y\" <joe@gw.example.com>\r\n"),
            "{h}"
        );
        // the GECOS name is used without -F for the user's own address
        let p = prepare(&s, &args(&["a"]), &user(Trust::Trusted), b"\r\n").unwrap();
        assert!(
            p.headers("Q", "gw.example.com", 0)
                .contains("From: Joe User <joe@gw.example.com>\r\n")
        );
    }

    #[test]
    fn headerless_message_gets_a_separator() {
        let p = prepare(
            &site(),
            &args(&["a"]),
            &user(Trust::Trusted),
            b"just text\r\nmore\r\n",
        )
        .unwrap();
        assert_eq!(p.message, b"\r\njust text\r\nmore\r\n");
        let p = prepare(
            &site(),
            &args(&["a"]),
            &user(Trust::Trusted),
            b"From joe Tue Nov 24\r\nSubject: s\r\n\r\nb\r\n",
        )
        .unwrap();
        assert_eq!(p.message, b"Subject: s\r\n\r\nb\r\n");
    }
}
