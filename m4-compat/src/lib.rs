//! mxgate-m4: the `.mc` compiler.
//!
//! Contract: `.mc` text in, one [`config::Config`] out (or a list of
//! diagnostics, each naming file, line and column). It implements the subset
//! of m4 that sendmail `.mc` files rely on (quotes, `dnl`, `divert`,
//! `define` with rescanning, `ifdef`, `-D NAME=VALUE`) and interprets
//! sendmail's cf macros (`FEATURE`, `MAILER`, `DAEMON_OPTIONS`, ...) into
//! the compiled schema. It reads no tables and does no I/O beyond the files
//! it is asked to compile (and `include`d ones).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod content_filter;
pub mod diag;
pub mod expand;
pub mod lexer;
pub mod mc;
pub mod options;
pub mod source;
pub mod support;

use diag::Pos;
use std::path::Path;

use std::fmt;

/// Compiler options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-D NAME=VALUE` definitions, applied before the file is read, exactly as `m4 -D`.
    pub defines: Vec<(String, String)>,
}

/// A successful compilation.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The configuration.
    pub config: config::Config,
    /// Non-fatal diagnostics (`file:line:col: warning: ...`).
    pub warnings: Vec<Diagnostic>,
}

/// One diagnostic, located in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given (or the include path).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub col: u32,
    /// What was found and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// A failed compilation: one or more diagnostics.
#[derive(Debug, Clone)]
pub struct Error {
    /// The errors, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The name under which `-D` definitions appear in diagnostics.
pub const COMMAND_LINE: &str = "<command line>";

/// Split a `-D` argument exactly as `m4 -D` does: `NAME=VALUE`, or `NAME` (empty value).
pub fn parse_define(arg: &str) -> (String, String) {
    match arg.split_once('=') {
        Some((n, v)) => (n.to_string(), v.to_string()),
        None => (arg.to_string(), String::new()),
    }
}

/// Output lines become raw cf lines in the compiled configuration (UTF-8
/// text). `#` comment lines are dropped there, and the lines mxgate keeps
/// verbatim in `local_config` without acting on them (`K`, `S`, `R`, `H`,
/// `M`, `P`, `T`, `E`, `Q`, `X`, `V` and their indented continuations) keep
/// each non-UTF-8 byte as its stand-in character (U+10FE00 + byte, see
/// [`source::decode`]), which loses nothing. Any other line holding such a
/// byte sets a value mxgate uses (`D`, `C`, `F`, `O`): it is refused at the
/// first such byte.
fn raw_bytes_in_output(
    files: &diag::Files,
    diversions: &std::collections::BTreeMap<i32, Vec<(char, Pos)>>,
) -> Result<(), Diagnostic> {
    const VERBATIM: &str = "KSRHMPTEQXV";
    for chars in diversions.values() {
        let mut verbatim = false;
        for line in chars.split(|(c, _)| *c == '\n') {
            let Some(first) = line.iter().find(|(c, _)| !c.is_whitespace()) else {
                verbatim = false;
                continue;
            };
            if first.0 == '#' {
                continue;
            }
            let indented = line.first().is_some_and(|(c, _)| *c == ' ' || *c == '\t');
            if !indented {
                verbatim = VERBATIM.contains(first.0);
            }
            if verbatim {
                continue;
            }
            if let Some((c, pos)) = line.iter().find(|(c, _)| source::raw_byte(*c).is_some()) {
                let b = source::raw_byte(*c).unwrap_or(0);
                let what = format!("the raw cf line starting with `{}'", first.0);
                return Err(files.diag(*pos, source::raw_message(&what, b)));
            }
        }
    }
    Ok(())
}

/// Compile `.mc` bytes (8-bit clean, see [`source::decode`]); `name` is
/// used in diagnostics and as `source.mc`.
pub fn compile_bytes(name: &str, bytes: &[u8], opts: &Options) -> Result<Compiled, Error> {
    compile(name, &source::decode(bytes), opts, None)
}

/// Compile `.mc` text; `name` is used in diagnostics and as `source.mc`.
///
/// Relative `include`s are looked up in the current directory.
pub fn compile_str(name: &str, text: &str, opts: &Options) -> Result<Compiled, Error> {
    compile(name, text, opts, None)
}

/// Compile the `.mc` file at `path`; relative `include` and `DOMAIN`
/// files are looked up next to it first.
pub fn compile_file(path: &Path, opts: &Options) -> Result<Compiled, Error> {
    let name = path.display().to_string();
    let text = source::read(path, source::Reach::Named).map_err(|e| Error {
        diagnostics: vec![Diagnostic {
            file: name.clone(),
            line: 0,
            col: 0,
            message: format!("cannot read: {e}"),
        }],
    })?;
    let base = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".").to_path_buf()
        } else {
            p.to_path_buf()
        }
    });
    compile(&name, &text, opts, base)
}

/// The stack of the thread each compilation runs on. The engine recurses
/// once per nested macro call; at its nesting limit (256) a debug build was
/// measured to use 2–4 MiB. 32 MiB leaves eight times that, whatever thread
/// the caller is on (async executor threads have 2 MiB, the main thread
/// what `ulimit -s` says). It is address space, touched only as used.
pub const COMPILE_STACK: usize = 32 * 1024 * 1024;

/// Run the compiler on its own thread with [`COMPILE_STACK`], so that the
/// nesting limit, not the caller's stack, is what stops a runaway `.mc`; a
/// panic (a bug) becomes an error instead of taking the caller down.
fn compile(
    name: &str,
    text: &str,
    opts: &Options,
    base: Option<std::path::PathBuf>,
) -> Result<Compiled, Error> {
    let failed = |what: String| Error {
        diagnostics: vec![Diagnostic {
            file: name.to_string(),
            line: 0,
            col: 0,
            message: what,
        }],
    };
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("mxgate-m4".into())
            .stack_size(COMPILE_STACK)
            .spawn_scoped(scope, || compile_here(name, text, opts, base))
            .map_err(|e| failed(format!("cannot start the compiler thread: {e}")))?;
        worker.join().map_err(|_| {
            failed("internal error: the compiler panicked (a bug; please report it)".into())
        })?
    })
}

fn compile_here(
    name: &str,
    text: &str,
    opts: &Options,
    base: Option<std::path::PathBuf>,
) -> Result<Compiled, Error> {
    let one = |d: Diagnostic| Error {
        diagnostics: vec![d],
    };
    let mut engine = expand::Engine::new();
    let mut host = mc::Mc::new(base);
    let cmd = engine.files.add(COMMAND_LINE);
    engine.define(
        "_MXGATE_",
        "1",
        Pos {
            file: cmd,
            line: 1,
            col: 1,
        },
    );
    for (i, (k, v)) in opts.defines.iter().enumerate() {
        engine.define(
            k,
            v,
            Pos {
                file: cmd,
                line: 1,
                col: i as u32 + 1,
            },
        );
        host.config.source.defines.insert(k.clone(), v.clone());
    }
    host.config.source.mc = Some(name.to_string());
    engine.run_file(&mut host, name, text).map_err(one)?;
    for (dname, def) in engine.definitions() {
        if let Some(w) = support::define_warning(&dname) {
            host.warnings.push(engine.files.diag(def.at, w));
        }
        if !mc::Mc::wants_define(&dname) {
            continue;
        }
        let value = engine
            .expand_string(&mut host, &def.body, def.at)
            .map_err(one)?;
        if let Some((_, b)) = source::first_raw(&value) {
            let what = format!("the value of `{dname}'");
            return Err(one(engine
                .files
                .diag(def.at, source::raw_message(&what, b))));
        }
        host.apply_define(&engine.files, &dname, &value, def.at)
            .map_err(one)?;
    }
    let out = engine.diversions().clone();
    raw_bytes_in_output(&engine.files, &out).map_err(one)?;
    host.apply_output(&engine.files, &out).map_err(one)?;
    host.finish(&engine.undefined);
    host.check_content_filters(&engine.files).map_err(one)?;
    host.check_auth_trust(&engine.files);
    host.check_default_msa(&engine.files);
    host.check_idle_options(&engine.files);
    Ok(Compiled {
        config: host.config,
        warnings: host.warnings,
    })
}
