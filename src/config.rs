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

/// [`load`], also returning the compiler's warnings (`file:line:col: warning: ...`).
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
            .map(|c| (c.config, c.warnings.iter().map(|w| w.to_string()).collect()))
            .map_err(|e| Error::Mc(e.to_string()));
    }
    let text = std::fs::read_to_string(path).map_err(|err| Error::Read {
        path: path.into(),
        err,
    })?;
    Config::from_text(&text)
        .map(|c| (c, Vec::new()))
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
        .map(|c| (c.config, c.warnings.iter().map(|w| w.to_string()).collect()))
        .map_err(|e| Error::Mc(e.to_string()))
}
