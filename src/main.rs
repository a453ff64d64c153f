//! The `mxgate` binary: one program, many names.
//!
//! Invoked as `mxgate SUBCOMMAND ...`, or under sendmail's names through
//! symlinks (`makemap`, `newaliases`, `praliases`, `mailq`, `sendmail`;
//! `mxgate install` creates them). This file only wires argv to the library.
#![forbid(unsafe_code)]

/// The allocator: mimalloc returns the memory of freed large blocks (a
/// delivery worker's 10 MB message) to the system, where glibc's malloc
/// keeps it in each worker thread's arena (docs/benchmarks.md, "Memory").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mxgate::config;
use mxgate::site::Site;
use mxgate::testmode::run as testmode;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_UNAVAILABLE: u8 = 69;
const EX_CONFIG: u8 = 78;

const HELP: &str = "\
mxgate — a sendmail-style mail gateway

Usage: mxgate COMMAND [ARGS...]

Commands:
  compile [-D NAME=VALUE]... [-o OUT] FILE.mc
                     compile a .mc file into mxgate's compiled configuration
                     (TOML text; stdout unless -o)
  check --config FILE [-D NAME=VALUE]...
                     load a configuration (.mc or compiled) and everything it
                     refers to (tables, class files), report, and audit the
                     ownership and modes of the spool, tables and :include:
                     files (like postfix check); exit 1 on any unsafe path
  test --config FILE [-D NAME=VALUE]... [--batch]
                     address-test mode: route, policy, masquerade, map, expand,
                     header probes, explained (see docs/address-test.md)
  makemap ...        build an LMDB table from text (sendmail's makemap)
  newaliases ...     rebuild the alias databases (sendmail -bi)
  praliases ...      print the alias databases
  sendmail ...       sendmail-compatible front end: queue a message from stdin
                     (-t, -i, -f, -F), -bp, -bv, -bt, -bi, -bd (docs/sendmail-cli.md)
  mailq [--json]     list the queue (sendmail -bp)
  hoststat, purgestat
                     persistent host status (sendmail -bh), purge it (-bH)
  health [--json]    one Nagios status line: queues, <> count, disk, listeners, generation
  status [--json]    what the running daemon serves: pid, generation (loaded and on
                     disk), node values, last reload, settings waiting for a
                     restart, listeners, queue counts (exit 0 running, 3 not)
  bundle build -C FILE.mc -o DIR | bundle apply DIR --node FILE [--root DIR]
                     one generation for a fleet: the compiled configuration,
                     every table and file, a manifest with checksums; apply
                     verifies, installs, switches ROOT/current and signals the
                     daemon (--rollback goes back one generation)
  queue COMMAND      act on the queue: list, delete, hold, release, flush,
                     summary (--dry-run; selectors --id, --from, --to, ...)
  report [--json|--csv|--html] [--since D] [--until D] [FILE...]
                     summarise mail logs (mxgate's or sendmail's; plain or .gz;
                     several nodes at once), like pflogsumm; --html: a page
                     with SVG charts (docs/operations.md)
  daemon --config FILE
                     run the SMTP server
  install [--prefix DIR]
                     create the symlinks makemap, newaliases, praliases, mailq,
                     sendmail, hoststat and purgestat to this binary in DIR
                     (default /usr/local/sbin)
  help, --help       this text;  --version  the version

Each command takes --help.
";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let rest: Vec<String> = args.drain(1..).collect();
    if runs_the_daemon(&argv0, &rest) {
        tune_the_allocator();
    }
    match argv0.as_str() {
        "makemap" | "newaliases" | "praliases" | "mailq" | "sendmail" | "hoststat"
        | "purgestat" => {
            INVOKED_BY_SYSTEM_NAME.store(true, std::sync::atomic::Ordering::Relaxed);
            run(&argv0, &rest)
        }
        _ => match rest.split_first() {
            None => {
                eprint!("{HELP}");
                ExitCode::from(EX_USAGE)
            }
            Some((cmd, tail)) => run(cmd, tail),
        },
    }
}

fn run(cmd: &str, args: &[String]) -> ExitCode {
    let code = run_code(cmd, args);
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

fn run_code(cmd: &str, args: &[String]) -> i32 {
    let stdin = std::io::stdin();
    match cmd {
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            0
        }
        "--version" | "-V" | "version" => {
            println!("mxgate {}", env!("CARGO_PKG_VERSION"));
            0
        }
        "makemap" => tables_cmd(mxgate::cli::tables::makemap, args),
        "newaliases" => tables_cmd(mxgate::cli::tables::newaliases, args),
        "praliases" => tables_cmd(mxgate::cli::tables::praliases, args),
        "compile" => compile(args),
        "check" => check(args),
        "test" => test(args, &mut stdin.lock()),
        "sendmail" => sendmail(args),
        "mailq" => mailq(args),
        // sendmail's names for -bh and -bH
        "hoststat" => sendmail(&[&["-bh".to_string()], args].concat()),
        "purgestat" => sendmail(&[&["-bH".to_string()], args].concat()),
        "daemon" => daemon(args),
        "queue" => tables_cmd(mxgate::cli::queue::run, args),
        "health" => tables_cmd(mxgate::cli::health::run, args),
        "status" => tables_cmd(mxgate::cli::status::run, args),
        "bundle" => tables_cmd(mxgate::cli::bundle::run, args),
        "report" => tables_cmd(mxgate::cli::report::run, args),
        "install" => install(args),
        // Not in HELP: the packaging's man-page generator.
        "man" => man(args),
        other => {
            eprintln!("mxgate: unknown command {other:?}\n\n{HELP}");
            i32::from(EX_USAGE)
        }
    }
}

type TablesFn =
    fn(&[String], &mut dyn std::io::Read, &mut dyn std::io::Write, &mut dyn std::io::Write) -> i32;

fn tables_cmd(f: TablesFn, args: &[String]) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    f(
        args,
        &mut stdin.lock(),
        &mut stdout.lock(),
        &mut stderr.lock(),
    )
}

/// Parse `-D NAME=VALUE` exactly as `m4 -D` does (`-D NAME` defines it empty).
fn define(v: &str) -> (String, String) {
    mxgate_m4::parse_define(v)
}

const COMPILE_HELP: &str = "\
Usage: mxgate compile [-D NAME=VALUE]... [-o OUT] FILE.mc

Compile a sendmail .mc file into mxgate's compiled configuration: versioned,
human-readable TOML that `mxgate daemon` and `mxgate test` load. Errors name
file:line:col. -D defines an m4 macro before the file is read, exactly as
`m4 -D` does. Without -o, or with -o -, the result goes to standard output.
";

fn compile(args: &[String]) -> i32 {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let (mut defines, mut out, mut input) = (Vec::new(), None::<PathBuf>, None::<PathBuf>);
    loop {
        match p.next() {
            Ok(Some(Short('D'))) => match p.value() {
                Ok(v) => defines.push(define(&v.to_string_lossy())),
                Err(e) => return usage("compile", &e.to_string()),
            },
            Ok(Some(Short('o'))) => match p.value() {
                Ok(v) => out = Some(v.into()),
                Err(e) => return usage("compile", &e.to_string()),
            },
            Ok(Some(Long("help"))) | Ok(Some(Short('h'))) => {
                print!("{COMPILE_HELP}");
                return 0;
            }
            Ok(Some(Value(v))) if input.is_none() => input = Some(v.into()),
            Ok(Some(other)) => return usage("compile", &other.unexpected().to_string()),
            Ok(None) => break,
            Err(e) => return usage("compile", &e.to_string()),
        }
    }
    let Some(input) = input else {
        return usage("compile", "missing the .mc file");
    };
    // Whatever its name, the input of `compile` is .mc text.
    let opts = mxgate_m4::Options { defines };
    let cfg = match mxgate_m4::compile_file(&input, &opts) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("{w}");
            }
            c.config
        }
        Err(e) => {
            eprintln!("{e}");
            return i32::from(EX_CONFIG);
        }
    };
    let text = cfg.to_text();
    match out.filter(|p| p.as_os_str() != "-") {
        None => {
            print!("{text}");
            0
        }
        Some(path) => match write_atomic(&path, text.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("mxgate compile: {}: {e}", path.display());
                73
            }
        },
    }
}

/// Write `data` to `path`: a regular file (or a new one) is replaced
/// whole (a new file beside it, flushed, then renamed over it), so a
/// reader never sees half a configuration. Anything else that exists there
/// (`/dev/null`, `/dev/stdout`, a FIFO) is written to, not replaced: a
/// rename over it would put a regular file where the device was (as root,
/// `-o /dev/null` did that).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            if m.is_dir() {
                return Err(std::io::Error::other("is a directory"));
            }
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            return f.write_all(data);
        }
        _ => {}
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}~", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = (|| {
        // O_EXCL and O_NOFOLLOW: never through a name planted beforehand.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn usage(cmd: &str, msg: &str) -> i32 {
    eprintln!("mxgate {cmd}: {msg} (try --help)");
    i32::from(EX_USAGE)
}

/// `--config FILE`, `-C FILE`, `-D NAME=VALUE` and a few flags, shared by check/test.
#[derive(Default)]
struct ConfigArgs {
    config: Option<PathBuf>,
    defines: Vec<(String, String)>,
    batch: bool,
    help: bool,
}

fn config_args(cmd: &str, args: &[String]) -> Result<ConfigArgs, i32> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut a = ConfigArgs::default();
    loop {
        let arg = p.next().map_err(|e| usage(cmd, &e.to_string()))?;
        match arg {
            Some(Long("config")) | Some(Short('C')) => {
                a.config = Some(p.value().map_err(|e| usage(cmd, &e.to_string()))?.into())
            }
            Some(Short('D')) => {
                let v = p.value().map_err(|e| usage(cmd, &e.to_string()))?;
                a.defines.push(define(&v.to_string_lossy()));
            }
            Some(Long("batch")) => a.batch = true,
            Some(Long("help")) | Some(Short('h')) => a.help = true,
            Some(other) => return Err(usage(cmd, &other.unexpected().to_string())),
            None => break,
        }
    }
    Ok(a)
}

/// Load the configuration named by `--config`, or the embedded default.
fn load_site(a: &ConfigArgs) -> Result<Site, i32> {
    let cfg = match &a.config {
        Some(path) => config::load_with_warnings(path, &a.defines),
        None => config::compile_mc_with_warnings(
            "(embedded default.mc)",
            config::EMBEDDED_DEFAULT_MC,
            &a.defines,
        ),
    };
    let (mut cfg, mut warnings) = cfg.map_err(|e| {
        eprintln!("{e}");
        i32::from(EX_CONFIG)
    })?;
    // An installed bundle: its relative paths and ROOT/node, as the daemon.
    if let Some(path) = a.config.as_deref().filter(|p| mxgate::daemon::is_bundle(p)) {
        if let Some(dir) = path
            .canonicalize()
            .ok()
            .and_then(|r| r.parent().map(Path::to_path_buf))
        {
            mxgate::daemon::resolve_relative(&mut cfg, &dir);
        }
        if let Some(node) = mxgate::daemon::bundle_node_file(path) {
            match mxgate::node::Node::read(&node) {
                Ok(n) => n.apply(&mut cfg),
                Err(e) => {
                    eprintln!("mxgate: {e}");
                    return Err(i32::from(EX_CONFIG));
                }
            }
        }
    }
    // What the daemon would refuse is said here too (check, test).
    for r in mxgate_m4::support::refusals(&cfg) {
        warnings.push(format!("the daemon refuses to start: {r}"));
    }
    let mut site = Site::load(cfg).map_err(|e| {
        eprintln!("mxgate: {e}");
        i32::from(EX_CONFIG)
    })?;
    warnings.append(&mut site.warnings);
    site.warnings = warnings;
    for w in &site.warnings {
        eprintln!("mxgate: warning: {w}");
    }
    Ok(site)
}

const CHECK_HELP: &str = "\
Usage: mxgate check [--config FILE] [-D NAME=VALUE]...

Load a configuration (.mc or compiled; the embedded default without --config)
with every table and class file it names, and print a summary. Then judge what
the daemon will trust, as `postfix check` does: the spool directories (real
directories, owned by root or confRUN_AS_USER, not writable by group/others;
a spool others can read is a warning) and the submission socket's directory,
every table and its source (owned by root or confRUN_AS_USER, not writable by
group/others; the AUTH password table not readable by others) and every
:include: file named in the alias sources (not writable by group/others, not
in such a directory, owned by root or confRUN_AS_USER or its programs and
files are refused). One line per problem: PATH: what is wrong; what to do.
Settings mxgate does not honour are warned about with their file:line
(docs/mc.md section 9); one that would stop the daemon is a \"refused:\"
line. Each mail filter (INPUT_MAIL_FILTER, MAIL_FILTER) gets a
\"milter NAME:\" line with its socket, its failure mode (F=R reject, F=T
temp-fail, no F= left out) and timeouts; each one a listener runs is probed
(connect and milter negotiation, at most 3 seconds each) and one that does
not answer is a warning, which does not change the exit code. Exit 0 with an
\"ok\" line when nothing is unsafe or refused, 1 when something is, 78 when the
configuration does not load.
";

fn check(args: &[String]) -> i32 {
    let a = match config_args("check", args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.help {
        print!("{CHECK_HELP}");
        return 0;
    }
    let site = match load_site(&a) {
        Ok(s) => s,
        Err(code) => return code,
    };
    println!("configuration loads: $j = {}", site.hostname);
    let w: Vec<&str> = site.class_members("w").collect();
    println!("local names ($=w): {}", w.join(" "));
    for (role, spec) in &site.config.maps {
        println!("map {role}: {} {}", spec.class, spec.lmdb_path());
    }
    let audit = mxgate::cli::check::audit(&site);
    for w in &audit.warnings {
        println!("warning: {w}");
    }
    let filters = mxgate::cli::check::filters(&site.config);
    for l in &filters.lines {
        println!("{l}");
    }
    for w in &filters.warnings {
        println!("warning: {w}");
    }
    for p in &audit.problems {
        println!("unsafe: {p}");
    }
    let refused = mxgate_m4::support::refusals(&site.config);
    for r in &refused {
        println!("refused: the daemon will not start: {r}");
    }
    if !refused.is_empty() {
        println!("{} setting(s) refuse the daemon", refused.len());
        1
    } else if audit.problems.is_empty() {
        println!("ok: spool, tables and include files are safe");
        0
    } else {
        println!("{} problem(s) found", audit.problems.len());
        1
    }
}

const TEST_HELP: &str = "\
Usage: mxgate test [--config FILE] [-D NAME=VALUE]... [--batch]

Address-test mode. Without --batch: sendmail -bt style commands, each answer
explained (type ? for the list). With --batch: one JSON probe per input line,
one {\"probe\":..., \"result\":...} line out per probe, in order. Formats:
docs/address-test.md. Without --config the embedded default is used.
";

fn test(args: &[String], input: &mut dyn std::io::BufRead) -> i32 {
    let a = match config_args("test", args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.help {
        print!("{TEST_HELP}");
        return 0;
    }
    run_test(&a, input)
}

fn run_test(a: &ConfigArgs, input: &mut dyn std::io::BufRead) -> i32 {
    let site = match load_site(a) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = if a.batch {
        testmode::batch(&site, input, &mut out)
            .map(|failed| i32::from(failed > 0) * i32::from(EX_DATAERR))
    } else {
        let prompt = if std::io::stdin().is_terminal() {
            testmode::Prompt::Show
        } else {
            testmode::Prompt::Echo
        };
        testmode::interactive(&site, input, &mut out, prompt).map(|()| 0)
    };
    result.unwrap_or_else(|e| {
        eprintln!("mxgate test: {e}");
        74
    })
}

const SENDMAIL_HELP: &str = "\
Usage: sendmail [-C FILE] [-D NAME=VALUE] [-f SENDER | -r SENDER] [-F FULLNAME]
                [-t] [-i | -oi] [-v] [-N DSN] [-R RET] [-V ENVID] [--] [RECIPIENT...] < MESSAGE
       sendmail -bp [--json]   (mailq)      sendmail -bv ADDRESS...
       sendmail -bt | -bi | -bd [-q15m] | -bh | -bH | -q[f|15m|Rsubstr|Ssubstr|Isubstr]

Without a mode (-bm) the message on standard input is queued in QUEUE_DIR
for RECIPIENTs; exit 0 means it is safely on disk. The configuration is
-C FILE, else /etc/mail/mxgate.cf if it exists, else the embedded default
(spool ./spool) -- but only as `mxgate sendmail`: started by the name
sendmail or mailq without either, it refuses (exit 78) rather than queue
into the caller's directory. A user who cannot write the spool (anyone but
root once the spool belongs to confRUN_AS_USER) hands the message to the
daemon's socket (confMXGATE_SUBMIT_SOCKET); the daemon decides who the user
is from the kernel. Daemon not running: exit 75, message kept in
$HOME/dead.letter.
  -t         recipients from To:, Cc:, Bcc: (Bcc: removed), plus any named
  -i, -oi    a line with a single dot does not end the message
  -f, -r     envelope sender (others than root or $=t get a warning header)
  -F         full name for an added From: header
  -v         report the queue id on standard error
  -bp        list the queue (mailq; --json for one object per message)
  -bv        verify addresses: where each would be delivered
  -bt        address test mode (as `mxgate test`)
  -bi        rebuild the alias databases (as newaliases)
  -bd        run the daemon (-bd -q15m: full queue rescans every 15 minutes)
  -bh        persistent host status, sendmail's layout (also: hoststat)
  -bH        purge host status older than confTO_HOSTSTATUS (also: purgestat)
  -bs        one SMTP session on standard input and output
  -q         run the queue once, now (-qRsubstr, -qSsubstr, -qIsubstr select;
             -q!R..., -q!S..., -q!I... take the others; with -bp they
             select the listing, -qQ[substr] the quarantined messages)
  -Qreason   with -qI/-qR/-qS: quarantine those queued messages with the
             reason; -Q with -qQ...: release those quarantined messages
  -qf        run the queue once in the foreground, showing each message and
             copying the log lines to stderr
  -q15m      without -bd: a note (the daemon retries by itself), then one run
  -L TAG     syslog tag of the log lines (default confMXGATE_LOG_TAG, else sm-mta)
See docs/sendmail-cli.md.
";

const EX_UNAVAILABLE_I: i32 = EX_UNAVAILABLE as i32;

/// The configuration for the sendmail front end: -C, else the system file
/// when it exists (/etc/mail/mxgate.cf, else the package's
/// /etc/mail/mxgate.mc), else the embedded default (`None`).
fn sendmail_config(opts: &mxgate::cli::submit::Options) -> Option<PathBuf> {
    opts.config
        .clone()
        .or_else(|| mxgate::cli::tables::system_config().map(Path::to_path_buf))
}

fn sendmail_site(opts: &mxgate::cli::submit::Options) -> Result<std::sync::Arc<Site>, i32> {
    let o = mxgate::daemon::Options {
        config: sendmail_config(opts),
        defines: opts.defines.clone(),
        ..Default::default()
    };
    mxgate::daemon::load(&o).map_err(|e| {
        eprintln!("sendmail: {e}");
        i32::from(EX_CONFIG)
    })
}

/// The configuration alone (no tables, no class files beyond what the
/// compiler reads): enough to find the spool and the submission socket.
fn sendmail_compiled_config(opts: &mxgate::cli::submit::Options) -> Result<config::Config, i32> {
    let loaded = match sendmail_config(opts) {
        Some(p) => config::load_with_warnings(&p, &opts.defines),
        None => config::compile_mc_with_warnings(
            "(embedded default.mc)",
            config::EMBEDDED_DEFAULT_MC,
            &opts.defines,
        ),
    };
    loaded.map(|(c, _)| c).map_err(|e| {
        eprintln!("sendmail: {e}");
        i32::from(EX_CONFIG)
    })
}

/// `-bm` by a user who cannot write the spool (not root, spool owned by
/// the run-as user): the message goes to the daemon's submission socket.
/// `None`: this user writes the spool directly.
fn submit_through_daemon(opts: &mxgate::cli::submit::Options) -> Option<i32> {
    use mxgate::cli::submit::client;
    if nix::unistd::Uid::effective().is_root() {
        return None;
    }
    let cfg = match sendmail_compiled_config(opts) {
        Ok(c) => c,
        Err(code) => return Some(code),
    };
    let qdir = mxgate::settings::queue_dir(&cfg);
    if !client::must_use_socket(&qdir) {
        return None;
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let Some(socket) = mxgate::daemon::submit::socket_path(&cfg) else {
        let _ = writeln!(
            err,
            "sendmail: cannot write the spool {} as this user and no submission socket \
             is configured (confMXGATE_SUBMIT_SOCKET is none); nothing queued",
            qdir.display()
        );
        return Some(77);
    };
    let message = match client::read(opts, &mut std::io::stdin().lock(), &mut err) {
        Ok(m) => m,
        Err(code) => return Some(code),
    };
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid{uid}"));
    Some(client::deliver(&socket, opts, &user, &message, &mut err))
}

/// Set when this program was started by a sendmail command name
/// (`/usr/sbin/sendmail`, `mailq`, ...) rather than as `mxgate COMMAND`.
static INVOKED_BY_SYSTEM_NAME: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Started by a sendmail command name with no configuration (no -C and no
/// system file), the embedded default would queue into `./spool` of
/// whatever directory the caller is in (cron runs in `$HOME`), where no
/// daemon reads it: refuse instead, as sendmail does without its .cf.
fn refuse_without_system_config(cmd: &str, opts: &mxgate::cli::submit::Options) -> Option<i32> {
    if !INVOKED_BY_SYSTEM_NAME.load(std::sync::atomic::Ordering::Relaxed)
        || sendmail_config(opts).is_some()
    {
        return None;
    }
    eprintln!(
        "{cmd}: no configuration: neither {} nor {} exists and no -C FILE was given; \
         refusing to use the embedded default, whose spool is ./spool under the \
         current directory (compile the site's .mc there: mxgate compile -o {} FILE.mc)",
        mxgate::cli::tables::DEFAULT_CONFIG,
        mxgate::cli::tables::PACKAGE_CONFIG,
        mxgate::cli::tables::DEFAULT_CONFIG
    );
    Some(i32::from(EX_CONFIG))
}

fn sendmail(args: &[String]) -> i32 {
    use mxgate::cli::submit::{self, Mode};
    let opts = match submit::parse_args(args) {
        Ok(o) => o,
        Err(e) => return usage("sendmail", &e),
    };
    if opts.help {
        print!("{SENDMAIL_HELP}");
        return 0;
    }
    if let Some(code) = refuse_without_system_config("sendmail", &opts) {
        return code;
    }
    for n in &opts.notes {
        eprintln!("sendmail: {n}");
    }
    // -C/-D for the modes that reuse other commands.
    let mut cfg_args = Vec::new();
    if let Some(c) = sendmail_config(&opts) {
        cfg_args.push("-C".to_string());
        cfg_args.push(c.display().to_string());
    }
    for (k, v) in &opts.defines {
        cfg_args.push("-D".to_string());
        cfg_args.push(format!("{k}={v}"));
    }
    if let Some(reason) = &opts.quarantine {
        return quarantine(&opts, reason);
    }
    match opts.mode() {
        Mode::Test => match config_args("sendmail", &cfg_args) {
            Ok(a) => run_test(&a, &mut std::io::stdin().lock()),
            Err(code) => code,
        },
        Mode::InitAliases => tables_cmd(mxgate::cli::tables::newaliases, &cfg_args),
        Mode::Daemon => {
            let mut a = cfg_args.clone();
            if let Some(t) = &opts.log_tag {
                a.push("-L".to_string());
                a.push(t.clone());
            }
            // `-bd -q15m`: the daemon's queue interval (over the .mc's
            // confMXGATE_QUEUE_INTERVAL, as sendmail's -q sets it).
            if let Some(q) = &opts.queue {
                match mxgate::queue::QueueRun::parse(q) {
                    Ok(mxgate::queue::QueueRun {
                        style: mxgate::queue::RunStyle::Interval(secs),
                        ..
                    }) => {
                        a.push("--queue-interval".to_string());
                        a.push(format!("{secs}s"));
                    }
                    Ok(_) => eprintln!(
                        "sendmail: {q} ignored with -bd: the daemon runs the queue itself \
                         (-bd -q15m sets how often)"
                    ),
                    Err(e) => return usage("sendmail", &e),
                }
            }
            daemon(&a)
        }
        Mode::HostStatus => host_status(&opts, mxgate::cli::hoststat::Action::Print),
        Mode::PurgeHostStatus => host_status(&opts, mxgate::cli::hoststat::Action::Purge),
        Mode::Print => mailq_run(&opts),
        Mode::Verify => match sendmail_site(&opts) {
            Ok(site) => submit::run_verify(&site, &opts, &mut std::io::stdout().lock()),
            Err(code) => code,
        },
        Mode::Deliver => {
            if let Some(code) = submit_through_daemon(&opts) {
                return code;
            }
            let site = match sendmail_site(&opts) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if opts.verbosity == submit::Verbosity::Verbose {
                for w in &site.warnings {
                    eprintln!("sendmail: warning: {w}");
                }
            }
            let invoker = submit::Invoker::current(&site);
            submit::run_deliver(
                &site,
                &opts,
                &invoker,
                &mut std::io::stdin().lock(),
                &mut std::io::stderr().lock(),
            )
        }
        Mode::Smtp => mxgate::daemon::stdio_session(&mxgate::daemon::Options {
            config: sendmail_config(&opts),
            defines: opts.defines.clone(),
            log_tag: opts.log_tag.clone(),
            ..Default::default()
        }),
        Mode::QueueRun(arg) => queue_run(&opts, &arg),
        Mode::Other(m) => {
            eprintln!("sendmail: mode {m} is not available in this version");
            EX_UNAVAILABLE_I
        }
    }
}

/// `sendmail -bh` / `hoststat`, `sendmail -bH` / `purgestat`.
fn host_status(opts: &mxgate::cli::submit::Options, action: mxgate::cli::hoststat::Action) -> i32 {
    let site = match sendmail_site(opts) {
        Ok(s) => s,
        Err(code) => return code,
    };
    mxgate::cli::hoststat::run(
        &site,
        action,
        opts.verbosity,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

const MAILQ_HELP: &str = "\
Usage: mailq [-C FILE] [-D NAME=VALUE] [--json] [-q[!]{I|S|R|Q}substr]...

List the messages in QUEUE_DIR as sendmail's mailq does; --json prints
one object per message. Same as sendmail -bp. -qIsubstr, -qSsubstr and
-qRsubstr list the messages whose queue id, sender or a recipient
contains substr (-q! those that do not); -qQ[substr] lists the
quarantined messages (whose reason contains substr) instead of the
others. One letter given twice: either; different letters: all.
";

/// `mailq` / `mxgate mailq` / `sendmail -bp`: [-C FILE] [-D NAME=VALUE] [--json].
fn mailq(args: &[String]) -> i32 {
    let opts = match mxgate::cli::submit::parse_args(args) {
        Ok(o) => o,
        Err(e) => return usage("mailq", &e),
    };
    if opts.help {
        print!("{MAILQ_HELP}");
        return 0;
    }
    if let Some(code) = refuse_without_system_config("mailq", &opts) {
        return code;
    }
    mailq_run(&opts)
}

fn mailq_run(opts: &mxgate::cli::submit::Options) -> i32 {
    use mxgate::cli::mailq::{self, Format};
    use mxgate::cli::submit::client;
    // `mailq -qRfoo -qQ...`: sendmail's selections (an interval or -qf
    // is no selection).
    let select = match mxgate::queue::Select::combine_listing(&opts.queues) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mailq: {e}");
            return i32::from(EX_USAGE);
        }
    };
    // A user who cannot read the spool asks the daemon.
    if !nix::unistd::Uid::effective().is_root()
        && let Ok(cfg) = sendmail_compiled_config(opts)
        && client::must_ask_daemon(&mxgate::settings::queue_dir(&cfg))
    {
        let Some(socket) = mxgate::daemon::submit::socket_path(&cfg) else {
            eprintln!(
                "mailq: the queue {} is not readable by this user and no submission \
                 socket is configured (confMXGATE_SUBMIT_SOCKET is none)",
                mxgate::settings::queue_dir(&cfg).display()
            );
            return 77;
        };
        return client::mailq(
            &socket,
            opts.json,
            &opts.queues,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
    }
    let site = match sendmail_site(opts) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let format = if opts.json {
        Format::Json
    } else {
        Format::Text
    };
    mailq::run(
        &site,
        format,
        &select,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

const DAEMON_HELP: &str = "\
Usage: mxgate daemon [--config FILE] [--node FILE] [-D NAME=VALUE]... [--foreground|--daemon] [--pidfile FILE] [-L TAG]
                     [--queue-interval DURATION]

Run the SMTP server on the listeners of DAEMON_OPTIONS. Without --config the
embedded default is used (loopback ports 2525 and 2587, spool ./spool).
--foreground (the default) logs to standard error unless confMXGATE_LOG_FILE
is set; --daemon detaches and writes QUEUE_DIR/mxgate.pid (or --pidfile).
Log lines are tagged TAG[pid]: -L TAG, else confMXGATE_LOG_TAG, else sm-mta.
--queue-interval (or -q15m, as sendmail -bd -q15m) sets the period of full
queue rescans over confMXGATE_QUEUE_INTERVAL (0 = accept only).
Users who cannot write the spool submit through the socket
confMXGATE_SUBMIT_SOCKET (default NAME-public/submit.sock beside QUEUE_DIR;
none = no socket), which the daemon creates at start.
SIGHUP reloads the whole set (configuration, tables, class, hosts and
header-rule files) as one generation, or keeps the running one and logs
why; a table rebuilt by makemap does the same without a signal. Settings
read only at start (listeners, QUEUE_DIR, confRUN_AS_USER, ...) are named
in the log when a reload changes them and apply at the next start.
--node FILE: per-node values (confDOMAIN_NAME, QUEUE_DIR, DAEMON_OPTIONS,
...; docs/operations.md, Fleets and bundles); for an installed bundle
(--config ROOT/current/mxgate.cf) ROOT/node is used when it exists.
SIGTERM stops accepting and lets sessions in progress finish.
`mxgate status` shows what the running daemon serves. Also: sendmail -bd -C FILE.
";

/// `mxgate daemon`, `sendmail -bd` (also as `mxgate sendmail -bd`).
fn runs_the_daemon(argv0: &str, rest: &[String]) -> bool {
    let bd = |args: &[String]| args.iter().any(|a| a.starts_with("-bd"));
    match (argv0, rest.split_first()) {
        ("sendmail", _) => bd(rest),
        (_, Some((cmd, tail))) => cmd == "daemon" || cmd == "sendmail" && bd(tail),
        _ => false,
    }
}

/// The daemon asks mimalloc to give freed memory back to the system at
/// once and to commit memory only as it is used (`MIMALLOC_PURGE_DELAY=0`,
/// `MIMALLOC_ARENA_EAGER_COMMIT=0`): a burst of large messages through
/// forty delivery threads then leaves ~50 MiB resident instead of ~140
/// (docs/benchmarks.md, "Memory"). mimalloc reads these before `main`, so
/// the daemon executes itself again with them set, once, before any thread
/// or file exists; an administrator's own values are kept.
fn tune_the_allocator() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut argv = std::env::args_os();
    let Some(arg0) = argv.next() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg0(arg0).args(argv).env("MIMALLOC_PURGE_DELAY", "0");
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
        cmd.env("MIMALLOC_ARENA_EAGER_COMMIT", "0");
    }
    let err = cmd.exec();
    eprintln!(
        "mxgate: going on without the allocator settings: cannot execute myself again: {err}"
    );
}

fn daemon(args: &[String]) -> i32 {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut o = mxgate::daemon::Options::default();
    loop {
        match p.next() {
            Ok(Some(Long("config")) | Some(Short('C'))) => match p.value() {
                Ok(v) => o.config = Some(v.into()),
                Err(e) => return usage("daemon", &e.to_string()),
            },
            Ok(Some(Short('D'))) => match p.value() {
                Ok(v) => o.defines.push(define(&v.to_string_lossy())),
                Err(e) => return usage("daemon", &e.to_string()),
            },
            Ok(Some(Long("pidfile"))) => match p.value() {
                Ok(v) => o.pidfile = Some(v.into()),
                Err(e) => return usage("daemon", &e.to_string()),
            },
            Ok(Some(Long("node"))) => match p.value() {
                Ok(v) => o.node = Some(v.into()),
                Err(e) => return usage("daemon", &e.to_string()),
            },
            Ok(Some(Short('L'))) => match p.value() {
                Ok(v) => o.log_tag = Some(v.to_string_lossy().into_owned()),
                Err(e) => return usage("daemon", &e.to_string()),
            },
            Ok(Some(Long("queue-interval")) | Some(Short('q'))) => match p.value() {
                Ok(v) => o.queue_interval = Some(v.to_string_lossy().into_owned()),
                Err(e) => return usage("daemon", &e.to_string()),
            },
            Ok(Some(Long("daemon"))) => o.detach = mxgate::daemon::Detach::Background,
            Ok(Some(Long("foreground"))) => o.detach = mxgate::daemon::Detach::Foreground,
            Ok(Some(Long("help")) | Some(Short('h'))) => {
                print!("{DAEMON_HELP}");
                return 0;
            }
            Ok(Some(other)) => return usage("daemon", &other.unexpected().to_string()),
            Ok(None) => break,
            Err(e) => return usage("daemon", &e.to_string()),
        }
    }
    mxgate::daemon::run(&o)
}

/// The site and its spool for the sendmail front end's queue commands
/// (`-q`, `-Q`); `Err`: the exit status, the reason already printed.
fn sendmail_spool(
    opts: &mxgate::cli::submit::Options,
) -> Result<(std::sync::Arc<Site>, mxgate::spool::Spool), i32> {
    let site = sendmail_site(opts)?;
    let qdir = mxgate::daemon::queue_dir(&site);
    match mxgate::spool::Spool::open(&qdir, mxgate::spool::Durability::Fsync) {
        Ok(s) => Ok((site, s)),
        Err(e) => {
            eprintln!("sendmail: spool: {e}");
            Err(73)
        }
    }
}

/// `sendmail -Qreason -qI...` quarantines the selected queued messages
/// with the reason; `sendmail -Q -qQ...` (no reason) releases the selected
/// quarantined ones into the queue, due at once (sendmail 8.17's `-Q`). A
/// selection is required: sendmail's man page asks for one, and without
/// it the whole queue would go.
fn quarantine(opts: &mxgate::cli::submit::Options, reason: &str) -> i32 {
    use mxgate::queue::Select;
    use mxgate::spool::{State, status};
    let select = match Select::combine_listing(&opts.queues) {
        Ok(Select::All) => {
            eprintln!(
                "sendmail: -Q{reason}: name the messages with -qI, -qR or -qS (and -qQ to release): it would take the whole queue"
            );
            return i32::from(EX_USAGE);
        }
        Ok(s) => s,
        Err(e) => {
            eprintln!("sendmail: {e}");
            return i32::from(EX_USAGE);
        }
    };
    if !reason.is_empty() && select.quarantined() {
        eprintln!(
            "sendmail: -Q{reason} quarantines queued mail; -qQ selects mail already quarantined (-Q without a reason releases it)"
        );
        return i32::from(EX_USAGE);
    }
    let (_, spool) = match sendmail_spool(opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let from = if reason.is_empty() {
        State::Quarantine
    } else {
        State::Queue
    };
    let ids = match spool.list(from) {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("sendmail: {e}");
            return 73;
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let root = spool.root().to_path_buf();
    let mut n = 0;
    for id in ids {
        let Ok((env, _)) = spool.read(from, &id) else {
            continue;
        };
        let rcpts: Vec<String> = env
            .recipients
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        if !select.matches_parts(id.as_str(), &env.sender, &rcpts, env.fact("quarantine")) {
            continue;
        }
        let done = if reason.is_empty() {
            mxgate::spool::release_quarantined(&root, &id)
                .and_then(|()| status::Journal::append(&root, &id, &[status::Entry::Flush(now)]))
        } else {
            mxgate::spool::quarantine_message(&root, State::Queue, &id, reason)
        };
        match done {
            Ok(()) => {
                n += 1;
                let verb = if reason.is_empty() {
                    "released"
                } else {
                    "quarantined"
                };
                println!("{id}: {verb}");
            }
            Err(e) => {
                eprintln!("sendmail: {id}: {e}");
                return 73;
            }
        }
    }
    if n > 0 {
        // A running daemon looks at the queue again at once.
        let _ = status::mark_changed(&root);
    }
    eprintln!(
        "sendmail: {n} message(s) {}",
        if reason.is_empty() {
            "released"
        } else {
            "quarantined"
        }
    );
    0
}

/// `sendmail -q[I|S|R]...`: one queue pass now; `-qf` in the foreground,
/// saying what it does; `-q15m` with a note (the daemon runs the queue).
fn queue_run(opts: &mxgate::cli::submit::Options, arg: &str) -> i32 {
    use mxgate::queue::{QueueRun, RunStyle};
    let run = match QueueRun::parse_all(&opts.queues) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sendmail: {e}");
            return i32::from(EX_USAGE);
        }
    };
    if let RunStyle::Interval(secs) = run.style {
        eprintln!(
            "sendmail: {arg}: no queue-runner daemon is started: `mxgate daemon` retries \
             deferred mail itself (every {secs}s with `sendmail -bd {arg}` or \
             confMXGATE_QUEUE_INTERVAL); running the queue once now"
        );
    }
    let (site, spool) = match sendmail_spool(opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let tag = mxgate::daemon::log_tag(&site, opts.log_tag.as_deref()).to_string();
    let log = match &site.settings.log {
        mxgate::settings::LogTarget::File(p) => match mxgate::event::Log::file(&site.hostname, p) {
            Ok(l) => l.with_tag(&tag),
            Err(e) => {
                eprintln!("sendmail: {}: {e}", p.display());
                return 73;
            }
        },
        mxgate::settings::LogTarget::Syslog(sock) => {
            match mxgate::event::Log::syslog(&site.hostname, sock) {
                Ok(l) => l.with_tag(&tag),
                Err(e) => {
                    eprintln!("sendmail: syslog: {e}");
                    return 71;
                }
            }
        }
        mxgate::settings::LogTarget::Stderr => {
            mxgate::event::Log::stderr(&site.hostname).with_tag(&tag)
        }
    };
    let verbose = run.style == RunStyle::Foreground
        || opts.verbosity == mxgate::cli::submit::Verbosity::Verbose;
    let log = if verbose { log.with_stderr_copy() } else { log };
    let dns = match mxgate::daemon::resolver(&site, site.settings.dns_timeout) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sendmail: {e}");
            return 78;
        }
    };
    // sendmail -v: "Running /var/spool/mqueue/ID (sequence 1 of 2)".
    let mut progress = |n: usize, of: usize, id: &mxgate::spool::QueueId, dir: &Path| {
        if verbose {
            println!("Running {}/{id} (sequence {n} of {of})", dir.display());
        }
    };
    match mxgate::queue::run_once(site, spool, log, dns, &run.select, &mut progress) {
        Ok(n) => {
            if verbose {
                eprintln!("sendmail: {n} message(s) tried");
            }
            0
        }
        Err(e) => {
            eprintln!("sendmail: queue run: {e}");
            74
        }
    }
}

const INSTALL_HELP: &str = "\
Usage: mxgate install [--prefix DIR]

Create symlinks makemap, newaliases, praliases, mailq, sendmail, hoststat and
purgestat in DIR
(default /usr/local/sbin) pointing at this mxgate binary; existing symlinks
are replaced, existing regular files are left alone and reported.
";

fn install(args: &[String]) -> i32 {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut prefix = PathBuf::from("/usr/local/sbin");
    loop {
        match p.next() {
            Ok(Some(Long("prefix"))) => match p.value() {
                Ok(v) => prefix = v.into(),
                Err(e) => return usage("install", &e.to_string()),
            },
            Ok(Some(Long("help"))) | Ok(Some(Short('h'))) => {
                print!("{INSTALL_HELP}");
                return 0;
            }
            Ok(Some(other)) => return usage("install", &other.unexpected().to_string()),
            Ok(None) => break,
            Err(e) => return usage("install", &e.to_string()),
        }
    }
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mxgate install: cannot find this binary: {e}");
            return 71;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&prefix) {
        eprintln!("mxgate install: {}: {e}", prefix.display());
        return 73;
    }
    let mut status = 0;
    for name in [
        "makemap",
        "newaliases",
        "praliases",
        "mailq",
        "sendmail",
        "hoststat",
        "purgestat",
    ] {
        let link = prefix.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Err(e) = std::fs::remove_file(&link) {
                    eprintln!("mxgate install: {}: {e}", link.display());
                    status = 73;
                    continue;
                }
            }
            Ok(_) => {
                eprintln!(
                    "mxgate install: {} exists and is not a symlink; left alone",
                    link.display()
                );
                status = 73;
                continue;
            }
            Err(_) => {}
        }
        match std::os::unix::fs::symlink(&exe, &link) {
            Ok(()) => println!("{} -> {}", link.display(), exe.display()),
            Err(e) => {
                eprintln!("mxgate install: {}: {e}", link.display());
                status = 73;
            }
        }
    }
    status
}

const MAN_HELP: &str = "\
Usage: mxgate man PAGE | mxgate man --list

Print the manual page PAGE (roff) made from the same text as the command's
--help; --list prints every page as NAME SECTION. The Debian package's
build installs them all (debian/rules).
";

/// Every manual page: name, section, NAME line, the command whose --help it renders.
const PAGES: &[(&str, u8, &str, &str)] = &[
    ("mxgate", 8, "a sendmail-style mail gateway", "help"),
    (
        "mxgate-compile",
        8,
        "compile a sendmail .mc file",
        "compile",
    ),
    (
        "mxgate-check",
        8,
        "check a configuration and the files it trusts",
        "check",
    ),
    ("mxgate-test", 8, "address-test mode", "test"),
    ("mxgate-daemon", 8, "the SMTP server", "daemon"),
    (
        "mxgate-install",
        8,
        "create the sendmail command names",
        "install",
    ),
    ("mxgate-queue", 8, "act on the queue", "queue"),
    ("mxgate-health", 8, "one monitoring status line", "health"),
    (
        "mxgate-status",
        8,
        "what the running daemon serves",
        "status",
    ),
    (
        "mxgate-bundle",
        8,
        "build and apply configuration bundles",
        "bundle",
    ),
    ("mxgate-report", 8, "summarise mail logs", "report"),
    (
        "sendmail",
        8,
        "mxgate's sendmail-compatible front end",
        "sendmail",
    ),
    ("mailq", 8, "list the mail queue", "mailq"),
    ("makemap", 8, "build an LMDB table from text", "makemap"),
    ("newaliases", 8, "rebuild the alias databases", "newaliases"),
    ("praliases", 8, "print the alias databases", "praliases"),
];

/// Pages that are another page (`.so`).
const PAGE_ALIASES: &[(&str, u8, &str)] =
    &[("hoststat", 8, "sendmail"), ("purgestat", 8, "sendmail")];

/// The --help text of `cmd`, exactly as `mxgate CMD --help` prints it.
fn help_text(cmd: &str) -> Option<String> {
    let fixed = match cmd {
        "help" => Some(HELP),
        "compile" => Some(COMPILE_HELP),
        "check" => Some(CHECK_HELP),
        "test" => Some(TEST_HELP),
        "daemon" => Some(DAEMON_HELP),
        "install" => Some(INSTALL_HELP),
        "sendmail" => Some(SENDMAIL_HELP),
        "mailq" => Some(MAILQ_HELP),
        _ => None,
    };
    if let Some(t) = fixed {
        return Some(t.to_string());
    }
    let f: TablesFn = match cmd {
        "queue" => mxgate::cli::queue::run,
        "health" => mxgate::cli::health::run,
        "status" => mxgate::cli::status::run,
        "bundle" => mxgate::cli::bundle::run,
        "report" => mxgate::cli::report::run,
        "makemap" => mxgate::cli::tables::makemap,
        "newaliases" => mxgate::cli::tables::newaliases,
        "praliases" => mxgate::cli::tables::praliases,
        _ => return None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = f(
        &["--help".to_string()],
        &mut std::io::empty(),
        &mut out,
        &mut err,
    );
    (code == 0 && !out.is_empty()).then(|| String::from_utf8_lossy(&out).into_owned())
}

fn man(args: &[String]) -> i32 {
    let version = env!("CARGO_PKG_VERSION");
    match args.first().map(String::as_str) {
        Some("--help") | Some("-h") => {
            print!("{MAN_HELP}");
            0
        }
        Some("--list") => {
            for (name, section, _, _) in PAGES {
                println!("{name} {section}");
            }
            for (name, section, _) in PAGE_ALIASES {
                println!("{name} {section}");
            }
            println!("mxgate.mc 5");
            0
        }
        Some("mxgate.mc") => {
            print!("{}", mxgate::cli::man::mc_page(version));
            0
        }
        Some(name) => {
            if let Some((_, section, target)) = PAGE_ALIASES.iter().find(|p| p.0 == name) {
                print!("{}", mxgate::cli::man::alias(*section, target));
                return 0;
            }
            let Some((name, section, summary, cmd)) = PAGES.iter().find(|p| p.0 == name) else {
                return usage("man", &format!("no page {name:?} (mxgate man --list)"));
            };
            let Some(help) = help_text(cmd) else {
                eprintln!("mxgate man: {cmd} --help gave no text");
                return 70;
            };
            print!(
                "{}",
                mxgate::cli::man::page(name, *section, summary, &help, version)
            );
            0
        }
        None => usage("man", "missing the page name"),
    }
}
