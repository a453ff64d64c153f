//! Golden transcripts of the address-test mode, as an administrator reads
//! them: `tests/transcripts/*.t`. Each file names a shipped site (`# site:
//! cf/<dir>/<file>.mc`) and the tables to build (`# tables: access
//! mailertable`); the rest is what `mxgate test` prints for the `> ` lines
//! when its input is not a terminal. The site folder is copied to a temp
//! dir, its tables are built with `mxgate makemap` / `newaliases`, and the
//! temp path is shown as `CFDIR`. Re-bless with `MXGATE_BLESS=1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;
use support::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_mxgate");

fn run_transcript(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut site = None;
    let mut tables = Vec::new();
    let mut header = String::new();
    let mut inputs = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("# site: ") {
            site = Some(s.trim().to_string());
        } else if let Some(t) = line.strip_prefix("# tables: ") {
            tables = t.split_whitespace().map(str::to_string).collect();
        }
        if line.starts_with('#') && inputs.is_empty() {
            header += line;
            header += "\n";
        }
        if let Some(i) = line.strip_prefix("> ") {
            inputs.push(i.to_string());
        }
    }
    let site = site.ok_or("no `# site:` line")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mc_rel = PathBuf::from(&site);
    let folder = root.join(mc_rel.parent().unwrap());
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&folder, dir.path());
    let cfdir = dir.path().display().to_string();
    let aliases = dir.path().join("aliases");
    if let Ok(a) = std::fs::read_to_string(&aliases) {
        std::fs::write(&aliases, a.replace("/etc/mail/", &format!("{cfdir}/"))).unwrap();
    }
    for t in &tables {
        let src = dir.path().join(t);
        let out = Command::new(BIN)
            .args(["makemap", "hash"])
            .arg(&src)
            .stdin(std::fs::File::open(&src).unwrap())
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!(
                "makemap {t}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let mc = dir.path().join(mc_rel.file_name().unwrap());
    let define = format!("CFDIR={cfdir}");
    let out = Command::new(BIN)
        .args(["newaliases", "-D", &define, "-C"])
        .arg(&mc)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "newaliases: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut child = Command::new(BIN)
        .args(["test", "-D", &define, "--config"])
        .arg(&mc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in &inputs {
            writeln!(stdin, "{i}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let got = format!(
        "{header}{}",
        String::from_utf8_lossy(&out.stdout).replace(&cfdir, "CFDIR")
    );
    if std::env::var_os("MXGATE_BLESS").is_some() {
        std::fs::write(path, &got).unwrap();
        return Ok(());
    }
    if got != text {
        return Err(format!(
            "{} differs (re-bless with MXGATE_BLESS=1 after checking):\n--- expected\n{text}\n--- got\n{got}",
            path.display()
        ));
    }
    Ok(())
}

#[test]
fn transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "t"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the three sites have transcripts");
    let errors: Vec<String> = files
        .iter()
        .filter_map(|f| run_transcript(f).err())
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}
