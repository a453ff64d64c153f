//! The layering rule of docs/design (house style §3), enforced: a module may
//! `use` only modules of its own layer or lower ones. Every top-level module
//! under `src/` must be listed here, so a new module is placed consciously.
//! Inside the decision layer (2) and the network layer (3) the modules are
//! ordered too ([`rank`]): a module may use only lower-ranked ones there, so
//! no back-edge (such as `queue` → `smtpd`) creeps in.

use std::path::{Path, PathBuf};

fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "addr" | "proto" => 0,
        "config" | "settings" | "table" | "site" | "generation" | "node" | "spool" | "safefile"
        | "event" | "metrics" | "dsn" | "report" | "deadline" | "readbuf" => 1,
        "users" | "alias" | "rewrite" | "route" | "policy" => 2,
        "dns" | "auth" | "tls" | "smtpd" | "milter" | "deliver" | "queue" => 3,
        "cli" | "testmode" | "daemon" | "main" | "lib" => 4,
        _ => return None,
    })
}

/// The order inside layers 2 and 3 (lower first); `None` for the other
/// layers, whose modules may use each other.
fn rank(module: &str) -> Option<u8> {
    Some(match module {
        "users" => 0,
        "alias" => 1,
        "route" => 2,
        "rewrite" => 3,
        "policy" => 4,
        "dns" | "auth" | "tls" | "milter" => 0,
        "deliver" => 1,
        "queue" => 2,
        "smtpd" => 3,
        _ => return None,
    })
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_upward_imports() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut problems = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer(&top) else {
            problems.push(format!(
                "src/{}: module {top:?} has no layer in tests/layering.rs",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            for prefix in ["use crate::", "crate::", "mxgate::"] {
                let mut rest = line;
                while let Some(i) = rest.find(prefix) {
                    let after = &rest[i + prefix.len()..];
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if let Some(l) = layer(&name)
                        && l > own
                    {
                        problems.push(format!(
                            "src/{}:{}: layer {own} module {top} uses layer {l} module {name}",
                            rel.display(),
                            n + 1
                        ));
                    }
                    if let (Some(l), Some(mine), Some(theirs)) =
                        (layer(&name), rank(&top), rank(&name))
                        && l == own
                        && name != top
                        && theirs >= mine
                    {
                        problems.push(format!(
                            "src/{}:{}: {top} (rank {mine} in layer {own}) uses {name} (rank {theirs}): a back-edge inside the layer",
                            rel.display(),
                            n + 1
                        ));
                    }
                    rest = &after[name.len()..];
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn proto_free_layers_do_no_io() {
    // L0 and the decision layer never open sockets or files: tables, the
    // password file and :include: files are read by layer 1 (table,
    // safefile), which caches what a session asks often.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(layer(&top), Some(0) | Some(2)) {
            let text = std::fs::read_to_string(&f).unwrap();
            for banned in [
                "std::net::TcpStream",
                "std::net::UdpSocket",
                "async_net",
                "smol::",
                "std::fs",
                "File::open",
            ] {
                assert!(!text.contains(banned), "src/{rel} uses {banned}");
            }
        }
    }
}

#[test]
fn the_receive_transaction_does_no_io() {
    // src/smtpd/transaction: every rule, limit and reply of an SMTP session,
    // with no socket, file, timer or thread of its own. What it needs from
    // outside it asks its `World` for (docs/design.md, "The receive
    // transaction"), so the transcript tests replay it without a socket.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/smtpd/transaction");
    let mut files = Vec::new();
    rs_files(&dir, &mut files);
    assert!(files.len() >= 3, "{}", dir.display());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for banned in [
            "std::net::TcpStream",
            "std::net::UdpSocket",
            "async_net",
            "async_io",
            "smol::",
            "blocking::",
            "std::fs",
            "File::open",
            "std::thread",
            "Instant::now",
            "SystemTime::now",
            "Arc<Server>",
            "super::Server",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", f.display());
        }
    }
}
