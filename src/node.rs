//! The per-node file: the few values that differ between the nodes of one
//! bundle.
//!
//! Contract: [`Node::parse`] reads `KEY=VALUE` lines (`#` comments and
//! blank lines skipped; white space around the key and the value is
//! trimmed). The keys are [`KEYS`]; any other key, a line without `=` or
//! an empty value is an error naming `file:line:col`. [`Node::apply`] puts
//! the values into a loaded configuration; the daemon does that *after*
//! the generation's configuration text was taken, so the values are not
//! part of the generation id ([`crate::generation`]) and two nodes of one
//! bundle report the same generation. The shared `.mc` is never edited for
//! a node.
//!
//! `DAEMON_OPTIONS` may be given several times; together they replace the
//! bundle's listeners (`Port=25, Addr=192.0.2.10, Name=MTA`, sendmail's
//! syntax).

use crate::config::{Config, Daemon};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keys a node file may set.
pub const KEYS: [&str; 11] = [
    "confDOMAIN_NAME",
    "QUEUE_DIR",
    "DAEMON_OPTIONS",
    "confMXGATE_LOG_FILE",
    "confMXGATE_LOG_TAG",
    "confMXGATE_METRICS_ADDR",
    "confMXGATE_NAMESERVERS",
    "confSERVER_CERT",
    "confSERVER_KEY",
    // Each gateway's own client certificate, for a hub that relays by it.
    "confCLIENT_CERT",
    "confCLIENT_KEY",
];

/// One node's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The file they were read from.
    pub path: PathBuf,
    /// `(key, value)` in file order.
    pub values: Vec<(String, String)>,
    /// 16 hex digits of SHA-256 of the file's bytes.
    pub sha: String,
}

/// A node file that cannot be used.
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
    /// A line is wrong.
    #[error("{path}:{line}:{col}: {what}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        what: String,
    },
}

impl Node {
    /// Read and check a node file.
    pub fn read(path: &Path) -> Result<Node, Error> {
        let bytes = std::fs::read(path).map_err(|err| Error::Read {
            path: path.into(),
            err,
        })?;
        Node::parse(path, &bytes)
    }

    /// Check the text of a node file named `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Node, Error> {
        let err = |line: usize, col: usize, what: String| Error::Line {
            path: path.into(),
            line,
            col,
            what,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            err(line, col, "not UTF-8 text".into())
        })?;
        let mut values = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let body = raw.split('#').next().unwrap_or("");
            if body.trim().is_empty() {
                continue;
            }
            let indent = body.len() - body.trim_start().len();
            let Some((key, value)) = body.split_once('=') else {
                return Err(err(
                    n,
                    indent + 1,
                    format!("expected KEY=VALUE, found {:?}", body.trim()),
                ));
            };
            let key = key.trim();
            if !KEYS.contains(&key) {
                return Err(err(
                    n,
                    indent + 1,
                    format!("unknown key {key:?} (a node file sets {})", KEYS.join(", ")),
                ));
            }
            let value = value.trim();
            if value.is_empty() {
                return Err(err(
                    n,
                    key.len() + indent + 2,
                    format!("{key}: empty value"),
                ));
            }
            if key == "DAEMON_OPTIONS"
                && let Err(what) = daemon_options(value)
            {
                return Err(err(n, indent + key.len() + 2, what));
            }
            values.push((key.to_string(), value.to_string()));
        }
        Ok(Node {
            path: path.into(),
            values,
            sha: crate::generation::short_sha256(bytes),
        })
    }

    /// The node's name: its `confDOMAIN_NAME`, else the file's name.
    pub fn name(&self) -> String {
        self.value("confDOMAIN_NAME")
            .map(str::to_string)
            .unwrap_or_else(|| {
                self.path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
    }

    /// The last value given for `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Put the node's values into `config`.
    pub fn apply(&self, config: &mut Config) {
        let mut listeners = Vec::new();
        for (k, v) in &self.values {
            match k.as_str() {
                "confDOMAIN_NAME" => config.hostname = Some(v.clone()),
                "QUEUE_DIR" => {
                    config.options.remove("confQUEUE_DIR");
                    config.options.insert(k.clone(), v.clone());
                }
                "DAEMON_OPTIONS" => {
                    if let Ok(options) = daemon_options(v) {
                        listeners.push(Daemon { options });
                    }
                }
                _ => {
                    config.options.insert(k.clone(), v.clone());
                }
            }
        }
        if !listeners.is_empty() {
            config.daemons = listeners;
        }
    }
}

/// sendmail's `DAEMON_OPTIONS` text: `Key=Value` pairs separated by commas.
fn daemon_options(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in text.split(',') {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!(
                "DAEMON_OPTIONS: expected Key=Value pairs separated by commas, found {:?}",
                pair.trim()
            ));
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_apply_and_errors_name_the_line() {
        let text = b"# gw1\nconfDOMAIN_NAME = gw1.example.net\n\nQUEUE_DIR=/var/spool/gw1\n\
                     DAEMON_OPTIONS=Port=2525, Addr=127.0.0.1, Name=MTA\n\
                     confCLIENT_CERT=/etc/mail/tls/gw1.pem\n";
        let n = Node::parse(Path::new("node"), text).unwrap();
        assert_eq!(n.name(), "gw1.example.net");
        assert_eq!(n.sha.len(), 16);
        let mut c = Config::new();
        c.options.insert("confQUEUE_DIR".into(), "/shared".into());
        n.apply(&mut c);
        assert_eq!(c.hostname.as_deref(), Some("gw1.example.net"));
        assert_eq!(c.option("QUEUE_DIR"), Some("/var/spool/gw1"));
        assert_eq!(c.option("confQUEUE_DIR"), None);
        assert_eq!(c.daemons.len(), 1);
        assert_eq!(c.daemons[0].options["Port"], "2525");
        assert_eq!(c.option("confCLIENT_CERT"), Some("/etc/mail/tls/gw1.pem"));

        let e = Node::parse(
            Path::new("/etc/node"),
            b"confDOMAIN_NAME=a\n  confMAX_HOP=3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("/etc/node:2:3: unknown key \"confMAX_HOP\""),
            "{e}"
        );
        let e = Node::parse(Path::new("n"), b"QUEUE_DIR\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("n:1:1: expected KEY=VALUE"), "{e}");
        let e = Node::parse(Path::new("n"), b"QUEUE_DIR= \n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "n:1:11: QUEUE_DIR: empty value");
        let e = Node::parse(Path::new("n"), b"DAEMON_OPTIONS=Port\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("n:1:16: DAEMON_OPTIONS: expected"), "{e}");
    }
}
