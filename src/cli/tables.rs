//! `makemap`, `newaliases` and `praliases`: the table tools.
//!
//! Contract: each entry point takes its arguments (without the program
//! name), standard input and two output streams, and returns the exit
//! status (sysexits: 0 ok, 64 usage, 65 bad input, 66 unreadable aliases
//! file, 73 cannot create or open a map, 74 read/write error). They print
//! sendmail's messages (`makemap: <map>: line <n>: <message>`). Building
//! goes through [`crate::table::build`], so a failed run leaves the old
//! map as it was; a run with bad lines (exit 65) still writes the good
//! ones, as sendmail does.
//!
//! Every option is defined once, in the `*_OPTIONS` tables below, from
//! which the parser and `--help` both come.

use crate::config::MapSpec;
use crate::table::aliases::{Severity, parse_aliases};
use crate::table::build::{
    self, BuildError, BuildOptions, Builder, Duplicates, KeyForm, Mode, Perms,
};
use crate::table::lmdb::Lmdb;
use crate::table::text::{self, EmptyValues, ParseOptions, Record};
use crate::table::{self, Fold};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Successful termination.
const EX_OK: i32 = 0;
/// Command line usage error.
const EX_USAGE: i32 = 64;
/// Data format error (bad lines, duplicate keys).
const EX_DATAERR: i32 = 65;
/// An input file could not be read.
const EX_NOINPUT: i32 = 66;
/// A map could not be created or opened.
const EX_CANTCREAT: i32 = 73;
/// Input/output error.
const EX_IOERR: i32 = 74;

/// The configuration newaliases and praliases read without `-C`.
pub const DEFAULT_CONFIG: &str = "/etc/mail/mxgate.cf";

/// The Debian package's configuration (a `.mc`), read when
/// [`DEFAULT_CONFIG`] does not exist.
pub const PACKAGE_CONFIG: &str = "/etc/mail/mxgate.mc";

/// The system configuration the sendmail names read without `-C`:
/// [`DEFAULT_CONFIG`] when it exists, else [`PACKAGE_CONFIG`] when that
/// exists (what the daemon of the Debian package runs), else `None`.
pub fn system_config() -> Option<&'static Path> {
    [DEFAULT_CONFIG, PACKAGE_CONFIG]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// The configuration an operations command (`mxgate queue`, `health`,
/// `status`) reads: the one given, else the system's ([`system_config`]),
/// so on an installed system they find the running daemon's spool; else
/// `None` (the embedded default, as `mxgate daemon` without `--config`).
pub fn ops_config(given: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    given.or_else(|| system_config().map(Path::to_path_buf))
}

/// One command-line option: letter, argument name (if it takes one), help.
struct Opt(char, Option<&'static str>, &'static str);

const MAKEMAP_OPTIONS: &[Opt] = &[
    Opt(
        'N',
        None,
        "include the trailing NUL byte in keys and values (alias maps)",
    ),
    Opt(
        'c',
        Some("size"),
        "cache size (accepted for compatibility; LMDB has none)",
    ),
    Opt(
        'C',
        Some("cf"),
        "configuration file (accepted for compatibility)",
    ),
    Opt('d', None, "keep duplicate keys: every value is stored"),
    Opt('D', Some("char"), "comment character (default #)"),
    Opt('e', None, "allow empty values"),
    Opt('f', None, "do not fold keys to lower case"),
    Opt('l', None, "list the supported map types and exit"),
    Opt('o', None, "update the existing map instead of replacing it"),
    Opt('r', None, "a later duplicate key replaces the earlier one"),
    Opt(
        's',
        None,
        "skip safety checks (accepted; the map is always replaced by rename)",
    ),
    Opt(
        't',
        Some("delim"),
        "key/value delimiter (default: any run of white space)",
    ),
    Opt('u', None, "dump the map as key<TAB>value lines"),
    Opt('v', None, "verbose: print each key and value"),
];

/// `-C`: the configuration (newaliases, praliases).
const OPT_CONFIG: Opt = Opt(
    'C',
    Some("config"),
    "configuration (compiled or .mc); default /etc/mail/mxgate.cf, else /etc/mail/mxgate.mc",
);

/// `-D`: an m4 define (newaliases, praliases).
const OPT_DEFINE: Opt = Opt(
    'D',
    Some("NAME=VALUE"),
    "define an m4 macro before a .mc configuration is read (as m4 -D)",
);

const NEWALIASES_OPTIONS: &[Opt] = &[
    OPT_CONFIG,
    OPT_DEFINE,
    Opt(
        'f',
        Some("file"),
        "build this aliases file instead of the configured ones (repeatable)",
    ),
];

const PRALIASES_OPTIONS: &[Opt] = &[
    OPT_CONFIG,
    OPT_DEFINE,
    Opt(
        'f',
        Some("file"),
        "read the map built from this aliases file (FILE.lmdb)",
    ),
];

/// Map types makemap accepts; all are written as LMDB.
const MAP_TYPES: &[&str] = &["lmdb", "hash", "btree", "dbm"];

/// Parsed command line: flags in order, then operands.
struct Args {
    flags: Vec<(char, String)>,
    operands: Vec<String>,
    help: bool,
}

impl Args {
    fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }
    fn value(&self, c: char) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == c)
            .map(|(_, v)| v.as_str())
    }
    fn values(&self, c: char) -> impl Iterator<Item = &str> {
        self.flags
            .iter()
            .filter(move |(f, _)| *f == c)
            .map(|(_, v)| v.as_str())
    }
}

/// getopt-style parsing: `-Nf`, `-t=`, `-t =`, `-D%`, `--` (lexopt would read `-t=` as an empty value).
fn parse_args(args: &[String], opts: &[Opt]) -> Result<Args, String> {
    let mut out = Args {
        flags: Vec::new(),
        operands: Vec::new(),
        help: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--help" || a == "-h" {
            out.help = true;
            continue;
        }
        if a == "--" {
            out.operands.extend(it.by_ref().cloned());
            break;
        }
        let Some(letters) = a.strip_prefix('-').filter(|s| !s.is_empty()) else {
            out.operands.push(a.clone());
            continue;
        };
        for (i, c) in letters.char_indices() {
            let Some(opt) = opts.iter().find(|o| o.0 == c) else {
                return Err(format!("illegal option -- {c}"));
            };
            if opt.1.is_some() {
                let rest = letters.get(i + c.len_utf8()..).unwrap_or_default();
                let v = if rest.is_empty() {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("option requires an argument -- {c}"))?
                } else {
                    rest.to_string()
                };
                out.flags.push((c, v));
                break;
            }
            out.flags.push((c, String::new()));
        }
    }
    Ok(out)
}

/// The arguments of tool `name`, or its exit status when there is nothing
/// more to do: usage on standard error (`EX_USAGE`) for bad arguments, or
/// `--help` on standard output (`EX_OK`).
fn arguments(
    name: &str,
    synopsis: &str,
    opts: &[Opt],
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Args, i32> {
    match parse_args(args, opts) {
        Err(m) => {
            let _ = writeln!(err, "{name}: {m}");
            let _ = write!(err, "{}", help(name, synopsis, opts));
            Err(EX_USAGE)
        }
        Ok(a) if a.help => {
            let _ = write!(out, "{}", help(name, synopsis, opts));
            Err(EX_OK)
        }
        Ok(a) => Ok(a),
    }
}

fn help(name: &str, synopsis: &str, opts: &[Opt]) -> String {
    let mut s = format!("usage: {name} {synopsis}\n\noptions:\n");
    for o in opts {
        let flag = match o.1 {
            Some(a) => format!("-{} {a}", o.0),
            None => format!("-{}", o.0),
        };
        s.push_str(&format!("  {flag:<12} {}\n", o.2));
    }
    s.push_str("  --help       print this help\n");
    s
}

const MAKEMAP_SYNOPSIS: &str = "[-N] [-c size] [-C cf] [-d] [-D char] [-e] [-f] [-l] [-o] [-r] [-s] [-t delim] [-u] [-v] type mapname < text\n\ntype is lmdb; hash, btree and dbm are accepted and also written as LMDB.\nThe map is written to mapname.lmdb (one file, readable by mdb_dump -n).\n\nPermissions: a rebuilt map keeps the mode, owner and group of the map it\nreplaces (as sendmail). A new map gets the mode and group of the input file\nwhen standard input is a regular file (makemap hash access < access), else\nmode 0640 (sendmail's DBMMODE). Keys (and, with -d, values) longer than\nLMDB's 511 bytes are reported by line; the old map is then kept.";

/// The file a map name is served from: `NAME.lmdb` (a `.lmdb`, or `.db`
/// for hash/btree, already on the name is not doubled).
pub fn map_file(map_type: &str, name: &str) -> PathBuf {
    if name.ends_with(".lmdb") {
        return PathBuf::from(name);
    }
    let base = match map_type {
        "hash" | "btree" => name.strip_suffix(".db").unwrap_or(name),
        "dbm" => name.strip_suffix(".dir").unwrap_or(name),
        _ => name,
    };
    PathBuf::from(format!("{base}.lmdb"))
}

/// `makemap [-N] [-c size] [-d] [-e] [-f] [-l] [-o] [-r] [-s] [-t delim] [-u] [-v] [-D char] [-C cf] TYPE MAPNAME < text`.
///
/// The command: `stdin` is read as the input, and the process's standard
/// input is looked at (`fstat`) for the mode a new map gets (see
/// [`build::Perms`]). [`makemap_from`] takes the input's metadata instead.
pub fn makemap(
    args: &[String],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let source = stdin_metadata();
    makemap_from(args, stdin, source.as_ref(), out, err)
}

/// The metadata of the process's standard input (a regular file when the
/// input is redirected from the table's text file).
fn stdin_metadata() -> Option<std::fs::Metadata> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    std::fs::File::from(fd).metadata().ok()
}

/// [`makemap`] with the input's metadata given: `source` is the file the
/// input comes from (`None`, or not a regular file: a pipe or terminal).
pub fn makemap_from(
    args: &[String],
    stdin: &mut dyn Read,
    source: Option<&std::fs::Metadata>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let a = match arguments("makemap", MAKEMAP_SYNOPSIS, MAKEMAP_OPTIONS, args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.has('l') {
        for t in MAP_TYPES {
            let _ = writeln!(out, "{t}");
        }
        return EX_OK;
    }
    let usage = |err: &mut dyn Write, m: &str| {
        let _ = writeln!(err, "makemap: {m}");
        let _ = writeln!(
            err,
            "usage: makemap {}",
            MAKEMAP_SYNOPSIS.lines().next().unwrap_or("")
        );
        EX_USAGE
    };
    let [map_type, map_name] = a.operands.as_slice() else {
        return usage(err, "expected a map type and a map name");
    };
    if let Some(c) = a.value('c')
        && c.parse::<u64>().is_err()
    {
        return usage(err, &format!("-c {c}: not a number"));
    }
    let single_byte = |c: char| -> Result<Option<u8>, String> {
        match a.value(c) {
            None => Ok(None),
            Some(v) if v.len() == 1 => Ok(v.bytes().next()),
            Some(v) => Err(format!("-{c} {v}: expected one character")),
        }
    };
    let (comment, delimiter) = match (single_byte('D'), single_byte('t')) {
        (Ok(d), Ok(t)) => (d.unwrap_or(b'#'), t),
        (Err(m), _) | (_, Err(m)) => return usage(err, &m),
    };
    let map_type = map_type.to_ascii_lowercase();
    if !MAP_TYPES.contains(&map_type.as_str()) {
        let _ = writeln!(
            err,
            "makemap: error opening type {map_type} map {map_name}: Unknown database type (use lmdb; makemap -l lists types)"
        );
        return EX_CANTCREAT;
    }
    let file = map_file(&map_type, map_name);
    let nul = if a.has('N') {
        KeyForm::NulTerminated
    } else {
        KeyForm::Plain
    };
    if a.has('u') {
        return dump(&map_type, map_name, &file, out, err);
    }
    if map_type != "lmdb" {
        let _ = writeln!(
            err,
            "makemap: note: map type {map_type} is served from LMDB: {}",
            file.display()
        );
    }
    let popts = ParseOptions {
        fold: if a.has('f') { Fold::Keep } else { Fold::Lower },
        comment,
        delimiter,
        empty: if a.has('e') {
            EmptyValues::Allow
        } else {
            EmptyValues::Reject
        },
    };
    let bopts = BuildOptions {
        duplicates: if a.has('d') {
            Duplicates::KeepAll
        } else if a.has('r') {
            Duplicates::Replace
        } else {
            Duplicates::KeepFirst
        },
        keys: nul,
        mode: if a.has('o') {
            Mode::Update
        } else {
            Mode::Replace
        },
        perms: Perms::of_source(source),
    };
    // The input streams into the builder, which sorts it in bounded memory.
    let mut builder = Builder::new(&file, &bopts);
    if let Some(m) = source.filter(|m| m.is_file()) {
        builder.expect_input(m.len());
    }
    let verbose = a.has('v');
    let read = text::parse_reader(
        std::io::BufReader::new(stdin),
        &popts,
        |key, value, line| {
            if verbose {
                let _ = writeln!(
                    out,
                    "key=`{}', val=`{}'",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(value)
                );
            }
            builder.push(key, value, line)
        },
    );
    let diags = match read {
        Ok(diags) => diags,
        Err(text::Stop::Read(e)) => {
            let _ = writeln!(err, "makemap: {map_name}: error reading input: {e}");
            return EX_IOERR;
        }
        Err(text::Stop::Each(e)) => {
            let _ = writeln!(err, "makemap: {map_name}: {e} (the old map is unchanged)");
            return build_error_status(&e);
        }
    };
    let mut messages: Vec<(u32, String)> =
        diags.iter().map(|d| (d.line, d.message.clone())).collect();
    messages.extend(builder.oversized().iter().map(|o| (o.line, o.to_string())));
    let result = builder.plan().and_then(|plan| {
        for d in plan.duplicates() {
            messages.push((
                d.line,
                format!("key {}: duplicate key", String::from_utf8_lossy(&d.key)),
            ));
        }
        messages.sort_by_key(|m| m.0);
        for (line, m) in &messages {
            let _ = writeln!(err, "makemap: {map_name}: line {line}: {m}");
        }
        if !messages.is_empty() && file.exists() {
            // Bad input never replaces a working map (a first build is still
            // written, as sendmail does: spec K1).
            let _ = writeln!(
                err,
                "makemap: {map_name}: input has errors: {} not replaced",
                file.display()
            );
            return Ok(());
        }
        let report = plan.publish(&file)?;
        warn_if_wider(source, report.mode, &file, "makemap", err);
        Ok(())
    });
    match result {
        Err(e) => {
            let _ = writeln!(err, "makemap: {map_name}: {e} (the old map is unchanged)");
            build_error_status(&e)
        }
        Ok(()) if messages.is_empty() => EX_OK,
        Ok(()) => EX_DATAERR,
    }
}

fn build_error_status(e: &BuildError) -> i32 {
    match e {
        BuildError::Create { .. } => EX_CANTCREAT,
        BuildError::Write { .. } | BuildError::ReadOld(_) => EX_IOERR,
        BuildError::Oversized(_) | BuildError::Reserved { .. } => EX_DATAERR,
    }
}

/// A rebuilt map keeps its old mode; say so when that lets everyone read
/// what its source keeps from them (a map made by an older makemap, 0644).
fn warn_if_wider(
    source: Option<&std::fs::Metadata>,
    map_mode: u32,
    file: &Path,
    tool: &str,
    err: &mut dyn Write,
) {
    use std::os::unix::fs::MetadataExt;
    if let Some(src) = source.filter(|m| m.is_file())
        && src.mode() & 0o004 == 0
        && map_mode & 0o004 != 0
    {
        let _ = writeln!(
            err,
            "{tool}: warning: {} is readable by everyone (mode {:04o}) but its source is not \
             (mode {:04o}); chmod o-r {} if it holds anything private",
            file.display(),
            map_mode & 0o7777,
            src.mode() & 0o7777,
            file.display()
        );
    }
}

fn strip_nul(b: &[u8]) -> &[u8] {
    b.strip_suffix(&[0]).unwrap_or(b)
}

fn dump(
    map_type: &str,
    map_name: &str,
    file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let entries = match Lmdb::open(file, Fold::Keep, false).and_then(|m| m.entries()) {
        Ok(e) => e,
        Err(e) => {
            let why = match &e {
                table::Error::Missing { .. } => "No such file or directory".to_string(),
                other => other.to_string(),
            };
            let _ = writeln!(
                err,
                "makemap: error opening type {map_type} map {map_name}: {why}"
            );
            return EX_CANTCREAT;
        }
    };
    let mut buf = Vec::new();
    for (k, v) in &entries {
        buf.extend_from_slice(strip_nul(k));
        buf.push(b'\t');
        buf.extend_from_slice(strip_nul(v));
        buf.push(b'\n');
    }
    match out.write_all(&buf) {
        Ok(()) => EX_OK,
        Err(e) => {
            let _ = writeln!(err, "makemap: {map_name}: write error: {e}");
            EX_IOERR
        }
    }
}

/// The alias maps of a configuration, or of explicit files (`-f`): each a
/// text source path and whether keys carry a NUL.
fn alias_specs(a: &Args, tool: &str, err: &mut dyn Write) -> Result<Vec<MapSpec>, i32> {
    // newaliases takes files as operands too; praliases' operands are keys.
    let operands = match tool {
        "newaliases" => a.operands.as_slice(),
        _ => &[],
    };
    let files: Vec<&str> = a
        .values('f')
        .chain(operands.iter().map(String::as_str))
        .collect();
    if !files.is_empty() {
        return Ok(files
            .iter()
            .map(|f| MapSpec {
                class: "hash".into(),
                path: (*f).to_string(),
                optional: false,
                tempfail: false,
                // sendmail's alias maps always carry the NUL (makemap -N).
                nul_terminated: true,
                keep_case: false,
                other_flags: Vec::new(),
            })
            .collect());
    }
    let cf: &Path = match a.value('C') {
        Some(c) => Path::new(c),
        None => system_config().unwrap_or(Path::new(DEFAULT_CONFIG)),
    };
    let defines: Vec<(String, String)> = a.values('D').map(mxgate_m4::parse_define).collect();
    let config = match crate::config::load(cf, &defines) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{tool}: {e}");
            return Err(EX_NOINPUT);
        }
    };
    let specs: Vec<MapSpec> = config
        .maps
        .get("aliases")
        .cloned()
        .into_iter()
        .chain(config.alias_files.iter().cloned())
        .collect();
    if specs.is_empty() {
        let _ = writeln!(
            err,
            "{tool}: {}: no alias file configured (ALIAS_FILE)",
            cf.display()
        );
        return Err(EX_DATAERR);
    }
    Ok(specs)
}

/// `newaliases [-C config] [-f file]... [file...]`: build every alias map.
pub fn newaliases(
    args: &[String],
    _stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let synopsis = "[-C config] [-D NAME=VALUE]... [-f file]... [file...]\n\nBuilds FILE.lmdb from each aliases file: those of the configuration, or the files named.";
    let a = match arguments("newaliases", synopsis, NEWALIASES_OPTIONS, args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let specs = match alias_specs(&a, "newaliases", err) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut status = EX_OK;
    for spec in &specs {
        let code = build_aliases(spec, out, err);
        if code != EX_OK && (status == EX_OK || status == EX_DATAERR) {
            status = code;
        }
    }
    status
}

fn build_aliases(spec: &MapSpec, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    build_alias_map(
        &spec.path,
        Path::new(&spec.lmdb_path()),
        spec.nul_terminated,
        out,
        err,
    )
}

/// Build the alias map `target` from the aliases file `source` as
/// newaliases does (`nul_terminated`: keys with their NUL, `-N`).
pub fn build_alias_map(
    source: &str,
    target: &Path,
    nul_terminated: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let source_meta = std::fs::metadata(source).ok();
    let text = match std::fs::read(source) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            let _ = writeln!(err, "newaliases: cannot open {source}: {e}");
            return EX_NOINPUT;
        }
    };
    let (entries, diags) = parse_aliases(source, &text);
    let mut bad = false;
    for d in &diags {
        bad |= d.severity == Severity::Error;
        let _ = writeln!(err, "{d}");
    }
    let (mut longest, mut total) = (0usize, 0usize);
    for e in &entries {
        longest = longest.max(e.value.len());
        total += e.name.len() + e.value.len();
    }
    let count = entries.len();
    let mut records: Vec<Record> = entries
        .into_iter()
        .map(|e| Record {
            key: e.name.into_bytes(),
            value: e.value.into_bytes(),
            line: e.line,
        })
        .collect();
    // The sentinel sendmail writes last: "this map is complete".
    records.push(Record {
        key: b"@".to_vec(),
        value: b"@".to_vec(),
        line: u32::MAX,
    });
    let opts = BuildOptions {
        duplicates: Duplicates::Replace,
        keys: if nul_terminated {
            KeyForm::NulTerminated
        } else {
            KeyForm::Plain
        },
        mode: Mode::Replace,
        perms: Perms::of_source(source_meta.as_ref()),
    };
    let (records, too_big) = build::oversized(records, &opts);
    for o in &too_big {
        bad = true;
        let _ = writeln!(err, "{}:{}: {o}", source, o.line);
    }
    if bad && target.exists() {
        let _ = writeln!(
            err,
            "newaliases: {}: errors above: {} not replaced",
            source,
            target.display()
        );
        return EX_DATAERR;
    }
    match build::build(target, records, &opts) {
        Ok(report) => warn_if_wider(source_meta.as_ref(), report.mode, target, "newaliases", err),
        Err(e) => {
            let _ = writeln!(err, "newaliases: {e} (the old map is unchanged)");
            return build_error_status(&e);
        }
    }
    let _ = writeln!(
        out,
        "{}: {count} aliases, longest {longest} bytes, {total} bytes total",
        source
    );
    if bad { EX_DATAERR } else { EX_OK }
}

/// `praliases [-C config] [-f file] [key...]`: dump the alias maps, or look keys up.
pub fn praliases(
    args: &[String],
    _stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let synopsis = "[-C config] [-D NAME=VALUE]... [-f file] [key...]\n\nPrints every alias as key:value, or the given keys (case-insensitive).";
    let a = match arguments("praliases", synopsis, PRALIASES_OPTIONS, args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let specs: Vec<MapSpec> = match alias_specs(&a, "praliases", err) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut text = Vec::new();
    for spec in &specs {
        let file = PathBuf::from(spec.lmdb_path());
        let map = match Lmdb::open(&file, Fold::Lower, spec.nul_terminated) {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(err, "praliases: {e}");
                return EX_CANTCREAT;
            }
        };
        let keys = &a.operands;
        if keys.is_empty() {
            match map.entries() {
                Ok(entries) => {
                    for (k, v) in entries {
                        text.extend_from_slice(strip_nul(&k));
                        text.push(b':');
                        text.extend_from_slice(strip_nul(&v));
                        text.push(b'\n');
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "praliases: {e}");
                    return EX_IOERR;
                }
            }
            continue;
        }
        for k in keys {
            match table::Table::lookup(&map, k) {
                Ok(Some(v)) => {
                    text.extend_from_slice(format!("{}:{v}\n", k.to_ascii_lowercase()).as_bytes())
                }
                Ok(None) => text.extend_from_slice(format!("{k}: No such key\n").as_bytes()),
                Err(e) => {
                    let _ = writeln!(err, "praliases: {e}");
                    return EX_IOERR;
                }
            }
        }
    }
    match out.write_all(&text) {
        Ok(()) => EX_OK,
        Err(_) => EX_IOERR,
    }
}
