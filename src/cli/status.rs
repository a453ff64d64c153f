//! `mxgate status [--json]`: what the running daemon serves.
//!
//! Contract: reads what the daemon records in `QUEUE_DIR/daemon.json`
//! ([`crate::daemon::state`]) and judges whether its pid is alive; adds the
//! queue counts (files in `queue/`, `hold/`, `quarantine/`) and the
//! generation of the set on disk now, so an edited but not reloaded set,
//! or one that does not load, shows. The queue directory comes from
//! `--queue-dir`, else from the configuration (with the node file's
//! `QUEUE_DIR`), read without opening its tables, so status works when
//! the set on disk is broken. Exit status as LSB `status` actions: 0
//! running, 3 not running, 4 unknown (no queue directory can be found).

use crate::daemon::state::{self, State};
use crate::daemon::{self, Options};
use std::io::Write;
use std::path::{Path, PathBuf};

const HELP: &str = "\
Usage: mxgate status [--config FILE] [--node FILE] [-D NAME=VALUE]... [--queue-dir DIR] [--json]

Without --config: /etc/mail/mxgate.cf, else /etc/mail/mxgate.mc (the
package's), else the embedded default.

What the running daemon serves, from QUEUE_DIR/daemon.json (written by the
daemon at start and after every reload): whether its pid is alive, when it
started, the generation it loaded and when and why, the node file's values,
the last reload's result (with the reason when it failed), settings changed
in the configuration that take effect only at a restart, the listeners, and
the queue counts. It also computes the generation of the set on disk now
(\"on disk\"), so an edited but not reloaded configuration or table shows.
--json prints one object. Exit 0 running, 3 not running, 4 unknown.
";

/// `mxgate status`.
pub fn run(
    args: &[String],
    _stdin: &mut dyn std::io::Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut opts = Options::default();
    let (mut json, mut qdir) = (false, None::<PathBuf>);
    let parsed = (|| -> Result<bool, String> {
        use lexopt::prelude::*;
        let mut p = lexopt::Parser::from_args(args);
        let val = |p: &mut lexopt::Parser| -> Result<String, String> {
            p.value()
                .map(|v| v.to_string_lossy().into_owned())
                .map_err(|e| e.to_string())
        };
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                Long("config") | Short('C') => opts.config = Some(val(&mut p)?.into()),
                Long("node") => opts.node = Some(val(&mut p)?.into()),
                Short('D') => opts.defines.push(mxgate_m4::parse_define(&val(&mut p)?)),
                Long("queue-dir") => qdir = Some(val(&mut p)?.into()),
                Long("json") => json = true,
                Long("help") | Short('h') => return Ok(true),
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(false)
    })();
    match parsed {
        Ok(true) => {
            let _ = write!(out, "{HELP}");
            return 0;
        }
        Ok(false) => {}
        Err(e) => {
            let _ = writeln!(err, "mxgate status: {e}\n\n{HELP}");
            return 4;
        }
    }
    opts.config = crate::cli::tables::ops_config(opts.config.take());
    let qdir = match qdir.map_or_else(|| queue_dir(&opts), Ok) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(
                err,
                "mxgate status: cannot tell the queue directory: {e} (give --queue-dir DIR)"
            );
            return 4;
        }
    };
    let on_disk = match daemon::load_set(&opts) {
        Ok(l) => Ok(l.generation.id),
        Err(e) => Err(e),
    };
    let report = Report::gather(&qdir, on_disk);
    let text = if json {
        format!("{}\n", report.json())
    } else {
        report.text()
    };
    let _ = out.write_all(text.as_bytes());
    if report.running { 0 } else { 3 }
}

/// The queue directory of the configuration (node values applied), without
/// loading its tables.
fn queue_dir(opts: &Options) -> Result<PathBuf, String> {
    let mut cfg = match &opts.config {
        Some(p) => crate::config::load(p, &opts.defines),
        None => crate::config::compile_mc(
            "(embedded default.mc)",
            crate::config::EMBEDDED_DEFAULT_MC,
            &opts.defines,
        ),
    }
    .map_err(|e| e.to_string())?;
    let node = opts.node.clone().or_else(|| {
        opts.config
            .as_deref()
            .filter(|p| daemon::is_bundle(p))
            .and_then(daemon::bundle_node_file)
    });
    if let Some(f) = node {
        crate::node::Node::read(&f)
            .map_err(|e| e.to_string())?
            .apply(&mut cfg);
    }
    Ok(crate::settings::queue_dir(&cfg))
}

/// What status found.
#[derive(Debug)]
struct Report {
    queue_dir: PathBuf,
    running: bool,
    /// Why not running, or why the record cannot be read.
    why_not: Option<String>,
    state: Option<State>,
    on_disk: Result<String, String>,
    queues: Vec<(&'static str, usize)>,
}

impl Report {
    fn gather(qdir: &Path, on_disk: Result<String, String>) -> Report {
        let (state, running, why_not) = match state::read(qdir) {
            Ok(s) if pid_alive(s.pid) => (Some(s), true, None),
            Ok(s) => {
                let why = format!("pid {} recorded at {} is gone", s.pid, s.started);
                (Some(s), false, Some(why))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                None,
                false,
                Some(format!("no {} in {}", state::FILE, qdir.display())),
            ),
            Err(e) => (None, false, Some(e.to_string())),
        };
        let queues = ["queue", "hold", "quarantine"]
            .into_iter()
            .map(|d| (d, count_files(&qdir.join(d))))
            .collect();
        Report {
            queue_dir: qdir.to_path_buf(),
            running,
            why_not,
            state,
            on_disk,
            queues,
        }
    }

    fn text(&self) -> String {
        let mut t = String::new();
        let s = self.state.clone().unwrap_or_default();
        if self.running {
            t += &format!(
                "mxgate is running (pid {}, started {}, mxgate {})\n",
                s.pid, s.started, s.version
            );
        } else {
            t += &format!(
                "mxgate is not running ({})\n",
                self.why_not.as_deref().unwrap_or("")
            );
        }
        if self.state.is_some() {
            t += &format!("config: {}\n", s.config);
            t += &format!(
                "generation: {} (since {}, {})\n",
                s.generation.id, s.generation.since, s.generation.reason
            );
        }
        t += &format!("on disk: {}\n", self.on_disk_text(&s));
        if let Some(n) = &s.node {
            t += &format!(
                "node: {} (overrides sha {}, {}: {})\n",
                n.name,
                n.sha,
                n.file,
                n.keys.join(", ")
            );
        }
        if let Some(r) = &s.last_reload {
            match &r.error {
                None => t += &format!("last reload: {} at {} ({})\n", r.result, r.at, r.reason),
                Some(e) => {
                    t += &format!(
                        "last reload: {} at {} ({}): {e}\n",
                        r.result, r.at, r.reason
                    )
                }
            }
        }
        if self.state.is_some() {
            if s.pending_restart.is_empty() {
                t += "pending restart: none\n";
            } else {
                t += "pending restart (changed; take effect at restart):\n";
                for p in &s.pending_restart {
                    t += &format!("  {p}\n");
                }
            }
            t += &format!("listeners: {}\n", s.listeners.join(", "));
        }
        t += &format!(
            "queue: {} ({})\n",
            self.queues
                .iter()
                .map(|(d, n)| format!("{d} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.queue_dir.display()
        );
        t
    }

    fn on_disk_text(&self, s: &State) -> String {
        match &self.on_disk {
            Ok(g) if self.state.is_none() => g.clone(),
            Ok(g) if *g == s.generation.id => format!("{g} (the same)"),
            Ok(g) if self.running => format!("{g} (differs: reload with kill -HUP {})", s.pid),
            Ok(g) => format!("{g} (differs)"),
            Err(e) => format!("does not load: {e}"),
        }
    }

    fn json(&self) -> serde_json::Value {
        let s = self.state.as_ref();
        serde_json::json!({
            "running": self.running,
            "why_not_running": self.why_not,
            "pid": s.map(|s| s.pid),
            "started": s.map(|s| &s.started),
            "version": s.map(|s| &s.version),
            "config": s.map(|s| &s.config),
            "generation": s.map(|s| &s.generation),
            "on_disk_generation": self.on_disk.as_ref().ok(),
            "on_disk_error": self.on_disk.as_ref().err(),
            "node": s.and_then(|s| s.node.as_ref()),
            "last_reload": s.and_then(|s| s.last_reload.as_ref()),
            "pending_restart": s.map(|s| &s.pending_restart),
            "listeners": s.map(|s| &s.listeners),
            "queue_dir": self.queue_dir.display().to_string(),
            "queues": self.queues.iter().map(|(d, n)| (d.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        })
    }
}

/// Is process `pid` alive (signal 0; `EPERM` means it exists)?
fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_running_without_a_record_and_with_a_dead_pid() {
        let d = tempfile::tempdir().unwrap();
        let r = Report::gather(d.path(), Ok("abc".into()));
        assert!(!r.running);
        assert!(
            r.text()
                .starts_with("mxgate is not running (no daemon.json in ")
        );
        let s = State {
            pid: u32::MAX,
            started: "2026-12-03T00:00:00Z".into(),
            ..State::default()
        };
        state::write(d.path(), &s).unwrap();
        let r = Report::gather(d.path(), Err("map access: gone".into()));
        assert!(!r.running);
        let t = r.text();
        assert!(t.contains("is gone"), "{t}");
        assert!(
            t.contains("on disk: does not load: map access: gone"),
            "{t}"
        );
        let s = State {
            pid: std::process::id(),
            ..s
        };
        state::write(d.path(), &s).unwrap();
        assert!(Report::gather(d.path(), Ok("x".into())).running);
    }
}
