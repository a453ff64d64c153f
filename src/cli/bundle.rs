//! `mxgate bundle build` and `mxgate bundle apply`: one generation for a
//! fleet of gateways.
//!
//! Contract. `build -C site.mc -o DIR` loads the configuration as the
//! daemon does (a `.mc` is compiled with the `-D` definitions; a compiled
//! file is read), builds every table it names from its text source into
//! `DIR/maps/ROLE.lmdb` (makemap's rules: the source is the map's path
//! without `.lmdb`; aliases as newaliases builds them), copies the class
//! files, the header-rules file and a configured hosts or service-switch
//! file into `DIR/files/`, writes the configuration with those relative
//! paths as `DIR/mxgate.cf`, and last `DIR/manifest` (JSON: every file's
//! SHA-256 and size, the generation id, mxgate's version and the build
//! time). The bundle is built in a temporary directory next to `DIR` and
//! renamed into place, so `DIR` is never half-built. Every file but the
//! manifest's `built` stamp is byte-identical for identical inputs
//! (`SOURCE_DATE_EPOCH` fixes the stamp too).
//!
//! `apply DIR --node FILE [--root ROOT]` verifies every checksum (a file
//! changed, missing or not in the manifest refuses the bundle, naming the
//! file), checks the node file ([`crate::node`]), installs the bundle as
//! `ROOT/generations/ID/` (temporary directory, fsync, rename; an
//! installed generation is verified and reused), installs the node file as
//! `ROOT/node`, loads the whole set as the daemon will and refuses it if
//! it does not load or its generation is not the manifest's, then points
//! `ROOT/current` at it (a new symlink renamed over the old one),
//! remembers the generation it replaced as `ROOT/previous`, and sends
//! SIGHUP to the daemon recorded in the spool (`QUEUE_DIR/daemon.json`)
//! or named by `--pidfile`, waiting up to 10 s for it to report the new
//! generation. `apply --rollback [--root ROOT]` swaps `current` and
//! `previous` and signals the same way. The daemon runs with
//! `--config ROOT/current/mxgate.cf` and finds `ROOT/node` itself.
//!
//! Old generations are pruned after an apply ([`prune`]): at most `--keep
//! N` (default [`DEFAULT_KEEP`]) stay in `ROOT/generations/`, always with
//! `current`, `previous` and the one the daemon reports serving, and none
//! installed within the last hour; `--keep all` keeps every one. A cron
//! job applying each day's tables would otherwise fill the disk that the
//! spool shares.

use crate::config::{self, Config, MapSpec};
use crate::daemon::{self, MANIFEST};
use crate::generation::Generation;
use crate::node::Node;
use crate::site::Site;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const EX_USAGE: i32 = 64;
const EX_DATAERR: i32 = 65;
const EX_SOFTWARE: i32 = 70;
const EX_CANTCREAT: i32 = 73;
const EX_CONFIG: i32 = 78;

/// The configuration file in a bundle.
pub const CONFIG_FILE: &str = "mxgate.cf";

/// Where `apply` installs by default.
pub const DEFAULT_ROOT: &str = "/etc/mail/mxgate";

/// Generations `apply` keeps by default (`--keep`).
pub const DEFAULT_KEEP: usize = 5;

/// A generation installed more recently than this is never pruned: a
/// session that began under it may still open its files.
const PRUNE_MIN_AGE: Duration = Duration::from_secs(3600);

const HELP: &str = "\
Usage: mxgate bundle build -C FILE [-D NAME=VALUE]... -o DIR
       mxgate bundle apply DIR --node FILE [--root ROOT] [--pidfile FILE] [--no-signal] [--keep N|all]
       mxgate bundle apply --rollback [--root ROOT] [--pidfile FILE] [--no-signal]

build: compile FILE (.mc, or a compiled configuration) and build every table
it names from its text source (makemap's rules) into DIR: mxgate.cf with
relative paths, maps/ROLE.lmdb, files/ (class, header-rule, hosts files),
and manifest (every file's sha256 and size, the generation id, the mxgate
version, the build time). Identical inputs give identical files.

apply: verify every checksum of DIR (a changed, missing or extra file
refuses it), check the node file (KEY=VALUE lines: confDOMAIN_NAME,
QUEUE_DIR, DAEMON_OPTIONS, confMXGATE_LOG_FILE, ...), install the bundle as
ROOT/generations/ID and the node file as ROOT/node, load the set as the
daemon will, switch ROOT/current to it atomically (ROOT/previous keeps the
one before), signal the daemon (SIGHUP) and print the generation.
--rollback switches back to ROOT/previous. Default ROOT: /etc/mail/mxgate.
After an apply, older generations are removed from ROOT/generations: at
most N stay (--keep, default 5, at least 2), always current, previous and
the one the daemon serves, and every one installed within the last hour;
--keep all removes none.
Run the daemon as: mxgate daemon --config ROOT/current/mxgate.cf
";

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format (1).
    pub format: u32,
    /// The generation id of the set.
    pub generation: String,
    /// The mxgate version that built it.
    pub mxgate_version: String,
    /// When (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
    pub built: String,
    /// Every file but the manifest: relative path → checksum and size.
    pub files: BTreeMap<String, FileSum>,
}

/// One file's checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSum {
    /// SHA-256, hex.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// `mxgate bundle`.
pub fn run(
    args: &[String],
    _stdin: &mut dyn std::io::Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match args.split_first() {
        Some((c, rest)) if c == "build" => build_cmd(rest, out, err),
        Some((c, rest)) if c == "apply" => apply_cmd(rest, out, err),
        Some((c, _)) if c == "--help" || c == "-h" || c == "help" => {
            let _ = write!(out, "{HELP}");
            0
        }
        _ => {
            let _ = write!(err, "mxgate bundle: expected build or apply\n\n{HELP}");
            EX_USAGE
        }
    }
}

fn usage(err: &mut dyn Write, m: &str) -> i32 {
    let _ = write!(err, "mxgate bundle: {m}\n\n{HELP}");
    EX_USAGE
}

fn build_cmd(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let (mut input, mut output, mut defines) = (None::<PathBuf>, None::<PathBuf>, Vec::new());
    loop {
        let v = |p: &mut lexopt::Parser| p.value().map(|v| v.to_string_lossy().into_owned());
        match p.next() {
            Ok(Some(Short('C') | Long("config"))) => match v(&mut p) {
                Ok(x) => input = Some(x.into()),
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Short('o'))) => match v(&mut p) {
                Ok(x) => output = Some(x.into()),
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Short('D'))) => match v(&mut p) {
                Ok(x) => defines.push(mxgate_m4::parse_define(&x)),
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Long("help") | Short('h'))) => {
                let _ = write!(out, "{HELP}");
                return 0;
            }
            Ok(Some(other)) => return usage(err, &other.unexpected().to_string()),
            Ok(None) => break,
            Err(e) => return usage(err, &e.to_string()),
        }
    }
    let (Some(input), Some(output)) = (input, output) else {
        return usage(err, "build needs -C FILE and -o DIR");
    };
    match build(&input, &defines, &output, err) {
        Ok(m) => {
            let _ = writeln!(
                out,
                "{}: generation {} ({} files)",
                output.display(),
                m.generation,
                m.files.len() + 1
            );
            0
        }
        Err((code, e)) => {
            let _ = writeln!(err, "mxgate bundle build: {e}");
            code
        }
    }
}

type Failure = (i32, String);

/// Build the bundle of `input` into `output` (see the module contract).
pub fn build(
    input: &Path,
    defines: &[(String, String)],
    output: &Path,
    err: &mut dyn Write,
) -> Result<Manifest, Failure> {
    let (cfg, warnings) =
        config::load_with_warnings(input, defines).map_err(|e| (EX_CONFIG, e.to_string()))?;
    for w in &warnings {
        let _ = writeln!(err, "{w}");
    }
    let refused = mxgate_m4::support::refusals(&cfg);
    if !refused.is_empty() {
        return Err((EX_CONFIG, refused.join("; ")));
    }
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output.file_name().ok_or((
        EX_USAGE,
        format!("{}: not a directory name", output.display()),
    ))?;
    let tmp = parent.join(format!(
        ".{}.build-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let io = |what: &Path, e: std::io::Error| (EX_CANTCREAT, format!("{}: {e}", what.display()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("maps")).map_err(|e| io(&tmp, e))?;
    std::fs::create_dir_all(tmp.join("files")).map_err(|e| io(&tmp, e))?;
    let result = fill(&cfg, &tmp, err).and_then(|()| {
        let m = manifest(&tmp)?;
        let text = serde_json::to_string_pretty(&m).map_err(|e| (EX_SOFTWARE, e.to_string()))?;
        write_synced(&tmp.join(MANIFEST), format!("{text}\n").as_bytes())
            .map_err(|e| io(&tmp.join(MANIFEST), e))?;
        Ok(m)
    });
    let m = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if output.exists() {
        std::fs::remove_dir_all(output).map_err(|e| io(output, e))?;
    }
    std::fs::rename(&tmp, output).map_err(|e| io(output, e))?;
    Ok(m)
}

/// Write the configuration, maps and files of `cfg` into `dir`.
fn fill(cfg: &Config, dir: &Path, err: &mut dyn Write) -> Result<(), Failure> {
    let mut shipped = cfg.clone();
    // Informational, and the only place a build machine's path would show.
    shipped.source.mc = cfg.source.mc.as_deref().map(|m| {
        Path::new(m)
            .file_name()
            .map_or_else(|| m.to_string(), |f| f.to_string_lossy().into_owned())
    });
    for (role, spec) in &cfg.maps {
        let rel = format!("maps/{role}");
        build_map(role, spec, &dir.join(&rel), err)?;
        if let Some(s) = shipped.maps.get_mut(role) {
            s.path = rel;
        }
    }
    for (i, spec) in cfg.alias_files.iter().enumerate() {
        let rel = format!("maps/aliases.{}", i + 1);
        build_map("aliases", spec, &dir.join(&rel), err)?;
        if let Some(s) = shipped.alias_files.get_mut(i) {
            s.path = rel;
        }
    }
    for (class, files) in &cfg.class_files {
        for (i, f) in files.iter().enumerate() {
            let rel = format!("files/class-{}-{}", file_safe(class), i + 1);
            match std::fs::read(&f.path) {
                Ok(b) => write_synced(&dir.join(&rel), &b)
                    .map_err(|e| (EX_CANTCREAT, format!("{rel}: {e}")))?,
                Err(e) if f.optional && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err((EX_DATAERR, format!("{}: {e}", f.path))),
            }
            if let Some(s) = shipped
                .class_files
                .get_mut(class)
                .and_then(|v| v.get_mut(i))
            {
                s.path = rel;
            }
        }
    }
    for (role, src, slot) in [
        (
            "header_checks",
            &cfg.header_checks,
            &mut shipped.header_checks,
        ),
        ("body_checks", &cfg.body_checks, &mut shipped.body_checks),
        (
            "mime_header_checks",
            &cfg.mime_header_checks,
            &mut shipped.mime_header_checks,
        ),
        (
            "nested_header_checks",
            &cfg.nested_header_checks,
            &mut shipped.nested_header_checks,
        ),
    ] {
        if let Some(h) = src {
            let (kind, path) = crate::config::split_rules_spec(h);
            let rel = format!("files/{role}");
            copy_file(Path::new(path), &dir.join(&rel))?;
            *slot = Some(format!("{kind}{rel}"));
        }
    }
    for (opt, rel) in [
        ("confHOSTS_FILE", "files/hosts"),
        ("confSERVICE_SWITCH_FILE", "files/service.switch"),
    ] {
        if let Some(p) = cfg.option(opt) {
            copy_file(Path::new(p), &dir.join(rel))?;
            shipped.options.insert(opt.to_string(), rel.to_string());
        }
    }
    write_synced(&dir.join(CONFIG_FILE), shipped.to_text().as_bytes())
        .map_err(|e| (EX_CANTCREAT, format!("{CONFIG_FILE}: {e}")))?;
    Ok(())
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn copy_file(from: &Path, to: &Path) -> Result<(), Failure> {
    let b = std::fs::read(from).map_err(|e| (EX_DATAERR, format!("{}: {e}", from.display())))?;
    write_synced(to, &b).map_err(|e| (EX_CANTCREAT, format!("{}: {e}", to.display())))
}

/// Build one map from its text source (`spec.path`) into `target` + `.lmdb`.
fn build_map(
    role: &str,
    spec: &MapSpec,
    target: &Path,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let source = Path::new(&spec.path);
    if !source.is_file() {
        if spec.optional || role == "aliases" {
            // An optional map without a source is absent in the bundle too
            // (the daemon serves it empty); so is an alias file not yet
            // written (the daemon warns, as sendmail does).
            let _ = writeln!(
                err,
                "mxgate bundle build: note: map {role}: no source {} (absent in the bundle)",
                spec.path
            );
            return Ok(());
        }
        return Err((
            EX_DATAERR,
            format!(
                "map {role}: no text source {} (the bundle builds every map from its source, as makemap does)",
                spec.path
            ),
        ));
    }
    let lmdb = PathBuf::from(format!("{}.lmdb", target.display()));
    let mut msgs = Vec::new();
    let code = if role == "aliases" {
        super::tables::build_alias_map(
            &spec.path,
            &lmdb,
            spec.nul_terminated,
            &mut std::io::sink(),
            &mut msgs,
        )
    } else {
        let mut args = Vec::new();
        if spec.keep_case {
            args.push("-f".to_string());
        }
        if spec.nul_terminated {
            args.push("-N".to_string());
        }
        args.push("lmdb".into());
        args.push(target.display().to_string());
        let meta = std::fs::metadata(source).ok();
        let mut text = std::fs::File::open(source)
            .map_err(|e| (EX_DATAERR, format!("{}: {e}", source.display())))?;
        super::tables::makemap_from(
            &args,
            &mut text,
            meta.as_ref(),
            &mut std::io::sink(),
            &mut msgs,
        )
    };
    let msgs = String::from_utf8_lossy(&msgs);
    if code != 0 {
        return Err((
            EX_DATAERR,
            format!("map {role} from {}: {}", spec.path, msgs.trim_end()),
        ));
    }
    let _ = err.write_all(msgs.as_bytes());
    Ok(())
}

/// The manifest of a filled bundle directory: checksums, and the
/// generation computed by loading the set as the daemon will.
fn manifest(dir: &Path) -> Result<Manifest, Failure> {
    let real = dir
        .canonicalize()
        .map_err(|e| (EX_CANTCREAT, format!("{}: {e}", dir.display())))?;
    let generation = generation_of(&real)?;
    let built = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(secs) => daemon::state::rfc3339(secs),
        None => daemon::state::now(),
    };
    Ok(Manifest {
        format: 1,
        generation,
        mxgate_version: env!("CARGO_PKG_VERSION").to_string(),
        built,
        files: checksums(&real).map_err(|e| (EX_CANTCREAT, e))?,
    })
}

/// The generation of the bundle in `dir` (node values are not part of it).
fn generation_of(dir: &Path) -> Result<String, Failure> {
    let (mut cfg, _) = config::load_with_warnings(&dir.join(CONFIG_FILE), &[])
        .map_err(|e| (EX_CONFIG, e.to_string()))?;
    let text = cfg.to_text();
    daemon::resolve_relative(&mut cfg, dir);
    let site = Site::load(cfg).map_err(|e| (EX_CONFIG, e.to_string()))?;
    Generation::of(&text, &site)
        .map(|g| g.id)
        .map_err(|e| (EX_CONFIG, e.to_string()))
}

/// Every file under `dir` but the manifest: relative path → checksum.
fn checksums(dir: &Path) -> Result<BTreeMap<String, FileSum>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let rd = std::fs::read_dir(&abs).map_err(|e| format!("{}: {e}", abs.display()))?;
        for e in rd {
            let e = e.map_err(|e| format!("{}: {e}", abs.display()))?;
            let r = rel.join(e.file_name());
            let t = e.file_type().map_err(|e| format!("{}: {e}", r.display()))?;
            if t.is_dir() {
                stack.push(r);
            } else if r.as_os_str() != MANIFEST {
                let b = std::fs::read(dir.join(&r)).map_err(|e| format!("{}: {e}", r.display()))?;
                out.insert(
                    r.display().to_string(),
                    FileSum {
                        sha256: hex(&sha2::Sha256::digest(&b)),
                        size: b.len() as u64,
                    },
                );
            }
        }
    }
    Ok(out)
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Read the manifest of `dir` and check every file against it.
pub fn verify(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if m.generation.len() != 16 || !m.generation.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{}: generation {:?} is not 16 hex digits",
            path.display(),
            m.generation
        ));
    }
    let found = checksums(dir)?;
    for (name, want) in &m.files {
        match found.get(name) {
            None => {
                return Err(format!(
                    "{}: missing (listed in the manifest)",
                    dir.join(name).display()
                ));
            }
            Some(got) if got != want => {
                return Err(format!(
                    "{}: checksum mismatch (manifest sha256 {} size {}, file sha256 {} size {})",
                    dir.join(name).display(),
                    want.sha256,
                    want.size,
                    got.sha256,
                    got.size
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|k| !m.files.contains_key(*k)) {
        return Err(format!(
            "{}: not in the manifest",
            dir.join(extra).display()
        ));
    }
    Ok(m)
}

struct ApplyArgs {
    dir: Option<PathBuf>,
    node: Option<PathBuf>,
    root: PathBuf,
    pidfile: Option<PathBuf>,
    signal: bool,
    rollback: bool,
    /// `--keep N`; `None` for `--keep all`.
    keep: Option<usize>,
}

fn apply_cmd(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    use lexopt::prelude::*;
    let mut a = ApplyArgs {
        dir: None,
        node: None,
        root: PathBuf::from(DEFAULT_ROOT),
        pidfile: None,
        signal: true,
        rollback: false,
        keep: Some(DEFAULT_KEEP),
    };
    let mut p = lexopt::Parser::from_args(args);
    loop {
        let v = |p: &mut lexopt::Parser| p.value().map(PathBuf::from);
        match p.next() {
            Ok(Some(Long("node"))) => match v(&mut p) {
                Ok(x) => a.node = Some(x),
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Long("root"))) => match v(&mut p) {
                Ok(x) => a.root = x,
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Long("pidfile"))) => match v(&mut p) {
                Ok(x) => a.pidfile = Some(x),
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Long("no-signal"))) => a.signal = false,
            Ok(Some(Long("keep"))) => match p.value().map(|v| v.to_string_lossy().into_owned()) {
                Ok(v) if v == "all" => a.keep = None,
                Ok(v) => match v.parse::<usize>() {
                    Ok(n) if n >= 2 => a.keep = Some(n),
                    _ => {
                        return usage(
                            err,
                            &format!(
                                "--keep: expected a number of generations (2 or more) or all, found {v:?}"
                            ),
                        );
                    }
                },
                Err(e) => return usage(err, &e.to_string()),
            },
            Ok(Some(Long("rollback"))) => a.rollback = true,
            Ok(Some(Long("help") | Short('h'))) => {
                let _ = write!(out, "{HELP}");
                return 0;
            }
            Ok(Some(Value(d))) if a.dir.is_none() => a.dir = Some(d.into()),
            Ok(Some(other)) => return usage(err, &other.unexpected().to_string()),
            Ok(None) => break,
            Err(e) => return usage(err, &e.to_string()),
        }
    }
    let result = match (&a.dir, &a.node, a.rollback) {
        (None, _, true) => rollback(&a, out),
        (Some(dir), Some(node), false) => apply(&a, dir, node, out),
        (Some(_), None, false) => return usage(err, "apply needs --node FILE"),
        (None, _, false) => return usage(err, "apply needs the bundle directory"),
        (Some(_), _, true) => return usage(err, "--rollback takes no bundle directory"),
    };
    match result {
        Ok(()) => 0,
        Err((code, e)) => {
            let _ = writeln!(err, "mxgate bundle apply: {e}");
            code
        }
    }
}

fn apply(a: &ApplyArgs, dir: &Path, node_file: &Path, out: &mut dyn Write) -> Result<(), Failure> {
    let m = verify(dir).map_err(|e| (EX_DATAERR, format!("refused: {e}")))?;
    let node_bytes = std::fs::read(node_file)
        .map_err(|e| (EX_DATAERR, format!("{}: {e}", node_file.display())))?;
    Node::parse(node_file, &node_bytes).map_err(|e| (EX_DATAERR, e.to_string()))?;
    let io = |what: &Path, e: std::io::Error| (EX_CANTCREAT, format!("{}: {e}", what.display()));
    let gens = a.root.join("generations");
    std::fs::create_dir_all(&gens).map_err(|e| io(&gens, e))?;
    let target = gens.join(&m.generation);
    if target.exists() {
        // Installed before (a cron job applying the same bundle again):
        // it must still be intact.
        verify(&target).map_err(|e| (EX_DATAERR, format!("installed generation damaged: {e}")))?;
    } else {
        let tmp = gens.join(format!(".{}.tmp-{}", m.generation, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let copied = copy_tree(dir, &tmp).and_then(|()| {
            // What was copied is what was verified.
            verify(&tmp).map_err(std::io::Error::other)?;
            std::fs::rename(&tmp, &target)?;
            sync_dir(&gens)
        });
        if let Err(e) = copied {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(io(&target, e));
        }
    }
    let node_dest = a.root.join("node");
    if std::fs::read(&node_dest).ok().as_deref() != Some(node_bytes.as_slice()) {
        let tmp = a.root.join(".node.tmp");
        write_synced(&tmp, &node_bytes).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &node_dest).map_err(|e| io(&node_dest, e))?;
    }
    // Load it as the daemon will, before anything points at it.
    let opts = daemon::Options {
        config: Some(target.join(CONFIG_FILE)),
        node: Some(node_dest.clone()),
        ..daemon::Options::default()
    };
    let loaded = daemon::load_set(&opts).map_err(|e| (EX_CONFIG, format!("refused: {e}")))?;
    if loaded.generation.id != m.generation {
        return Err((
            EX_DATAERR,
            format!(
                "refused: the manifest says generation {} but the set loads as {}",
                m.generation, loaded.generation.id
            ),
        ));
    }
    let current = a.root.join("current");
    let before = std::fs::read_link(&current).ok();
    let rel = PathBuf::from("generations").join(&m.generation);
    if before.as_deref() == Some(rel.as_path()) {
        // Applied again (a cron job, an unchanged bundle): nothing to do
        // when the daemon already serves it.
        let qdir = daemon::queue_dir(&loaded.site);
        if let Ok(s) = daemon::state::read(&qdir)
            && s.generation.id == m.generation
            && a.pidfile.is_none()
            && i32::try_from(s.pid).is_ok_and(|p| {
                p > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok()
            })
        {
            let _ = writeln!(
                out,
                "generation {} is current; daemon pid {} serves it",
                m.generation, s.pid
            );
            prune_and_say(a, Some(&s.generation.id), out);
            return Ok(());
        }
    } else {
        if let Some(b) = &before {
            switch_link(&a.root, "previous", b).map_err(|e| io(&a.root.join("previous"), e))?;
        }
        switch_link(&a.root, "current", &rel).map_err(|e| io(&current, e))?;
    }
    let _ = writeln!(
        out,
        "generation {} installed as {} (node {}, overrides sha {})",
        m.generation,
        target.display(),
        loaded.node.as_ref().map_or(String::new(), |n| n.name()),
        loaded
            .node
            .as_ref()
            .map_or(String::new(), |n| n.sha.clone()),
    );
    signal_daemon(a, &loaded.site, &m.generation, out)?;
    let serving = daemon::state::read(&daemon::queue_dir(&loaded.site))
        .ok()
        .map(|s| s.generation.id);
    prune_and_say(a, serving.as_deref(), out);
    Ok(())
}

/// [`prune`] with `a`'s `--keep`, saying what went; a failure to prune is
/// reported, not fatal (the generation is applied).
fn prune_and_say(a: &ApplyArgs, serving: Option<&str>, out: &mut dyn Write) {
    let Some(keep) = a.keep else {
        return;
    };
    match prune(&a.root, keep, serving, PRUNE_MIN_AGE) {
        Ok(gone) if gone.is_empty() => {}
        Ok(gone) => {
            let _ = writeln!(
                out,
                "removed {} old generation(s) from {} (--keep {keep}): {}",
                gone.len(),
                a.root.join("generations").display(),
                gone.join(" ")
            );
        }
        Err(e) => {
            let _ = writeln!(out, "old generations not removed: {e}");
        }
    }
}

/// Remove old generations from `root/generations`, keeping at most `keep`:
/// always the ones `current` and `previous` point at and `serving` (the
/// daemon's), then the most recently installed; a generation installed
/// less than `min_age` ago stays whatever the count. Only directories
/// named as generation ids are touched (never a symlink), and leftovers
/// of an interrupted install (`.ID.tmp-PID` of a process gone) go too.
/// Returns the ids removed.
pub fn prune(
    root: &Path,
    keep: usize,
    serving: Option<&str>,
    min_age: Duration,
) -> std::io::Result<Vec<String>> {
    let gens = root.join("generations");
    let linked = |name: &str| {
        std::fs::read_link(root.join(name))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
    };
    let mut kept: Vec<String> = [
        linked("current"),
        linked("previous"),
        serving.map(String::from),
    ]
    .into_iter()
    .flatten()
    .collect();
    kept.sort();
    kept.dedup();
    let is_id = |n: &str| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit());
    let mut others = Vec::new();
    let mut gone = Vec::new();
    for e in std::fs::read_dir(&gens)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(e.path())?;
        if !meta.is_dir() {
            continue;
        }
        if let Some(pid) = name
            .strip_prefix('.')
            .and_then(|n| n.split_once(".tmp-"))
            .and_then(|(id, pid)| is_id(id).then_some(pid))
            .and_then(|pid| pid.parse::<i32>().ok())
        {
            let alive =
                pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
            if !alive {
                std::fs::remove_dir_all(e.path())?;
            }
            continue;
        }
        if !is_id(&name) || kept.contains(&name) {
            continue;
        }
        let installed = meta.modified()?;
        others.push((installed, name));
    }
    // Newest first; the first `room` of them stay.
    others.sort_by(|a, b| b.cmp(a));
    let room = keep.saturating_sub(kept.len());
    for (installed, name) in others.into_iter().skip(room) {
        if installed.elapsed().unwrap_or_default() < min_age {
            continue;
        }
        std::fs::remove_dir_all(gens.join(&name))?;
        gone.push(name);
    }
    if !gone.is_empty() {
        sync_dir(&gens)?;
    }
    gone.sort();
    Ok(gone)
}

fn rollback(a: &ApplyArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let io = |what: &Path, e: std::io::Error| (EX_CANTCREAT, format!("{}: {e}", what.display()));
    let prev_link = a.root.join("previous");
    let prev = std::fs::read_link(&prev_link).map_err(|e| io(&prev_link, e))?;
    let cur_link = a.root.join("current");
    let cur = std::fs::read_link(&cur_link).map_err(|e| io(&cur_link, e))?;
    let dir = a.root.join(&prev);
    let m = verify(&dir).map_err(|e| (EX_DATAERR, format!("refused: {e}")))?;
    let opts = daemon::Options {
        config: Some(dir.join(CONFIG_FILE)),
        node: Some(a.root.join("node")).filter(|n| n.is_file()),
        ..daemon::Options::default()
    };
    let loaded = daemon::load_set(&opts).map_err(|e| (EX_CONFIG, format!("refused: {e}")))?;
    switch_link(&a.root, "current", &prev).map_err(|e| io(&cur_link, e))?;
    switch_link(&a.root, "previous", &cur).map_err(|e| io(&prev_link, e))?;
    let _ = writeln!(
        out,
        "rolled back to generation {} ({})",
        m.generation,
        dir.display()
    );
    signal_daemon(a, &loaded.site, &m.generation, out)
}

/// SIGHUP to the daemon (the pidfile, else the pid the spool records),
/// then wait for it to report `generation`.
fn signal_daemon(
    a: &ApplyArgs,
    site: &Site,
    generation: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if !a.signal {
        return Ok(());
    }
    let qdir = daemon::queue_dir(site);
    let pid = match &a.pidfile {
        Some(p) => std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok()),
        None => daemon::state::read(&qdir)
            .ok()
            .and_then(|s| i32::try_from(s.pid).ok()),
    };
    let Some(pid) = pid.filter(|p| *p > 0) else {
        let _ = writeln!(
            out,
            "no daemon recorded in {}: it loads generation {generation} when it starts",
            qdir.display()
        );
        return Ok(());
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    let seen = |s: &daemon::state::State| s.last_reload.as_ref().map(|r| r.at.clone());
    let before = daemon::state::read(&qdir).ok().and_then(|s| seen(&s));
    if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).is_err() {
        let _ = writeln!(
            out,
            "daemon pid {pid} is not running: it loads generation {generation} when it starts"
        );
        return Ok(());
    }
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = daemon::state::read(&qdir) {
            if s.generation.id == generation {
                let _ = writeln!(out, "daemon pid {pid} serves generation {generation}");
                return Ok(());
            }
            if let Some(r) = s
                .last_reload
                .as_ref()
                .filter(|r| r.result == crate::daemon::state::Outcome::Failed)
                && seen(&s) != before
            {
                return Err((
                    EX_CONFIG,
                    format!(
                        "daemon pid {pid} refused the reload: {}; it still serves generation {}",
                        r.error.as_deref().unwrap_or(""),
                        s.generation.id
                    ),
                ));
            }
        }
        if std::time::Instant::now() >= until {
            return Err((
                EX_SOFTWARE,
                format!(
                    "daemon pid {pid} did not report generation {generation} within 10 s (see mxgate status)"
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Point `root/name` at `target` atomically: a new symlink renamed over the old.
fn switch_link(root: &Path, name: &str, target: &Path) -> std::io::Result<()> {
    let tmp = root.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, root.join(name))?;
    sync_dir(root)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            // The mode comes along: a map may hold secrets.
            std::fs::copy(e.path(), &dest)?;
            std::fs::File::open(&dest)?.sync_all()?;
        }
    }
    sync_dir(to)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> String {
        format!("{n:016x}")
    }

    /// `root/generations/ID` installed `ago` before now.
    fn install(root: &Path, name: &str, ago: Duration) {
        let d = root.join("generations").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("mxgate.cf"), name).unwrap();
        let when = std::time::SystemTime::now() - ago;
        std::fs::File::open(&d).unwrap().set_modified(when).unwrap();
    }

    fn left(root: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root.join("generations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn prune_keeps_the_linked_the_served_and_the_newest() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let day = Duration::from_secs(86_400);
        // id(0) is the oldest, id(7) the newest.
        for n in 0..8 {
            install(root, &id(n), day * (10 - n as u32));
        }
        let link = |name: &str, n: usize| {
            std::os::unix::fs::symlink(Path::new("generations").join(id(n)), root.join(name))
                .unwrap()
        };
        link("current", 7);
        link("previous", 6);
        // Leftovers of installs: one of a process gone, one of ours
        // (still copying), a directory of the administrator's, and a
        // symlink named as a generation.
        let gens = root.join("generations");
        std::fs::create_dir(gens.join(format!(".{}.tmp-999999999", id(9)))).unwrap();
        let ours = format!(".{}.tmp-{}", id(10), std::process::id());
        std::fs::create_dir(gens.join(&ours)).unwrap();
        std::fs::create_dir(gens.join("notes")).unwrap();
        std::os::unix::fs::symlink(gens.join(id(0)), gens.join(id(11))).unwrap();

        let gone = prune(root, 5, Some(&id(2)), PRUNE_MIN_AGE).unwrap();
        // current, previous and the served one, then the two newest others.
        assert_eq!(gone, vec![id(0), id(1), id(3)]);
        let mut want = vec![
            ours,
            id(2),
            id(4),
            id(5),
            id(6),
            id(7),
            id(11),
            "notes".into(),
        ];
        want.sort();
        assert_eq!(left(root), want);
        // Applied again: nothing more to remove.
        assert!(
            prune(root, 5, Some(&id(2)), PRUNE_MIN_AGE)
                .unwrap()
                .is_empty()
        );
        // The minimum: current and previous (the daemon serves current).
        assert_eq!(
            prune(root, 2, Some(&id(7)), PRUNE_MIN_AGE).unwrap(),
            vec![id(2), id(4), id(5)]
        );
    }

    #[test]
    fn prune_spares_a_generation_installed_within_the_hour() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        for n in 0..4 {
            install(root, &id(n), Duration::from_secs(60 * (4 - n as u64)));
        }
        std::os::unix::fs::symlink(Path::new("generations").join(id(3)), root.join("current"))
            .unwrap();
        // Four applies within minutes: all stay, whatever --keep says.
        assert!(prune(root, 2, None, PRUNE_MIN_AGE).unwrap().is_empty());
        assert_eq!(left(root).len(), 4);
        // An hour later, the count applies.
        assert_eq!(
            prune(root, 2, None, Duration::ZERO).unwrap(),
            vec![id(0), id(1)]
        );
    }
}
