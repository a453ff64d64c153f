//! The compiled configuration, as the runtime loads it.
//!
//! Contract: the schema is [`mxgate_m4::config::Config`] (the `.mc` compiler
//! produces it; re-exported here). [`load`] reads either a compiled file
//! (TOML, as written by `mxgate compile`) or a `.mc` file, which it compiles
//! on the fly with the same compiler and the given `-D` definitions.

pub use mxgate_m4::config::*;

use std::path::{Path, PathBuf};

/// The configuration built into the binary: the gateway on loopback ports with
/// the spool under the working directory (see `cf/default.mc`).
pub const EMBEDDED_DEFAULT_MC: &str = include_str!("../cf/default.mc");

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {err}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        err: std::io::Error,
    },
    /// The compiled file did not parse.
    #[error("{path}: {err}")]
    Compiled {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        err: ConfigTextError,
    },
    /// The `.mc` did not compile (each diagnostic names file:line:col).
    #[error("{0}")]
    Mc(String),
}

/// Load a configuration: `.mc` files are compiled (with `defines`, like
/// `m4 -D`), anything else is read as a compiled configuration.
pub fn load(path: &Path, defines: &[(String, String)]) -> Result<Config, Error> {
    load_with_warnings(path, defines).map(|(c, _)| c)
}

/// [`load`], also returning the compiler's warnings (`file:line:col:
/// warning: ...`; for a compiled file, the same warnings without positions,
/// [`mxgate_m4::support::config_warnings`]).
pub fn load_with_warnings(
    path: &Path,
    defines: &[(String, String)],
) -> Result<(Config, Vec<String>), Error> {
    if path.extension().is_some_and(|e| e == "mc") {
        // compile_file resolves relative includes and DOMAIN files next to the .mc.
        let opts = mxgate_m4::Options {
            defines: defines.to_vec(),
        };
        return mxgate_m4::compile_file(path, &opts)
            .map(|c| (c.config, c.warnings.iter().map(warning_text).collect()))
            .map_err(|e| Error::Mc(e.to_string()));
    }
    let text = std::fs::read_to_string(path).map_err(|err| Error::Read {
        path: path.into(),
        err,
    })?;
    Config::from_text(&text)
        .map(|c| {
            let w = mxgate_m4::support::config_warnings(&c)
                .into_iter()
                .map(|w| w.strip_prefix("warning: ").unwrap_or(&w).to_string())
                .collect();
            (c, w)
        })
        .map_err(|err| Error::Compiled {
            path: path.into(),
            err,
        })
}

/// Compile `.mc` text named `name` (for diagnostics).
pub fn compile_mc(name: &str, text: &str, defines: &[(String, String)]) -> Result<Config, Error> {
    compile_mc_with_warnings(name, text, defines).map(|(c, _)| c)
}

/// [`compile_mc`], also returning the compiler's warnings.
pub fn compile_mc_with_warnings(
    name: &str,
    text: &str,
    defines: &[(String, String)],
) -> Result<(Config, Vec<String>), Error> {
    let opts = mxgate_m4::Options {
        defines: defines.to_vec(),
    };
    mxgate_m4::compile_str(name, text, &opts)
        .map(|c| (c.config, c.warnings.iter().map(warning_text).collect()))
        .map_err(|e| Error::Mc(e.to_string()))
}

/// A compiler warning as a site warning: `file:line:col: text` (the
/// callers say "warning").
fn warning_text(d: &mxgate_m4::Diagnostic) -> String {
    let m = d.message.strip_prefix("warning: ").unwrap_or(&d.message);
    format!("{}:{}:{}: {m}", d.file, d.line, d.col)
}

/// Seconds in one unit of a bare number (`parse_duration`'s second argument).
pub mod unit {
    /// Bare numbers are seconds.
    pub const SECONDS: u64 = 1;
    /// Bare numbers are minutes (sendmail's `Timeout.*` options and `-q`).
    pub const MINUTES: u64 = 60;
}

/// sendmail's time syntax (`convtime`): `30s`, `5m`, `1h30m`, `2d`, `1w`;
/// a bare number counts `bare` seconds per unit (see [`unit`]).
pub fn parse_duration(s: &str, bare: u64) -> Option<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let per = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(per)?)?;
    }
    if !num.is_empty() {
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(bare)?)?;
    }
    Some(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_as_sendmail_writes_them() {
        assert_eq!(
            parse_duration("30s", unit::MINUTES),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_duration("1h30m", unit::SECONDS),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("5d", unit::MINUTES),
            Some(Duration::from_secs(432_000))
        );
        assert_eq!(
            parse_duration("2", unit::MINUTES),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_duration("90", unit::SECONDS),
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse_duration("5x", unit::MINUTES), None);
        assert_eq!(parse_duration("", unit::MINUTES), None);
    }
}
