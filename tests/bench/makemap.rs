//! makemap benchmark: mxgate's LMDB builder and reader side by side with
//! sendmail's `makemap hash` and Postfix's `postmap lmdb:`, on the same
//! 1,000,000-line access table, in one run.
//!
//! Figures: each tool's build as an admin runs it (`mxgate makemap hash NAME
//! < input`, the real binary), its wall time and peak resident memory (GNU
//! `/usr/bin/time`'s `%M`), the file size, and random lookups per second on
//! one thread (keys drawn among present and absent ones); then mxgate's
//! time and memory as ratios of `postmap lmdb:`'s. sendmail has no bulk
//! query tool, so its lookup figure is "n/a". A missing peer is reported as
//! "skipped: <reason>". Nothing here asserts a time.
//!
//! Peers: sendmail's `/usr/sbin/makemap` (installed); Postfix unpacked under
//! `$PEERS_ROOT` (default `~/.cache/mtapeers`)`/root/postfix` by
//! `/work/shared/bench/setup.sh`, with Debian's `postfix-lmdb` and
//! `liblmdb0` unpacked under `root/postfix-lmdb`
//! (`apt-get download postfix-lmdb liblmdb0; dpkg-deb -x ... root/postfix-lmdb`).
//! Environment: `MAKEMAP_BENCH_LINES` (default 1000000);
//! `MAKEMAP_BENCH_BEFORE=/path/to/older/mxgate` adds that binary's build.

use mxgate::table::lmdb::Lmdb;
use mxgate::table::{Fold, Table};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// xorshift64*: a fixed, dependency-free sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const VALUES: &[&str] = &[
    "REJECT",
    "OK",
    "RELAY",
    "DISCARD",
    "ERROR:5.7.1:550 Spam not accepted",
    "ERROR:\"550 We do not accept mail from spammers\"",
    "ERROR:4.7.1:451 Try again later",
];
const TLDS: &[&str] = &["com", "net", "org", "example", "jp", "de", "info"];
const WORDS: &[&str] = &[
    "mail", "spam", "cheap", "news", "promo", "offers", "relay", "bulk", "host", "mx",
];

/// Key number `i` of the table (unique by construction: `i` is in every key).
fn key(i: u64, rng: &mut Rng) -> String {
    let w = WORDS[rng.below(WORDS.len() as u64) as usize];
    let t = TLDS[rng.below(TLDS.len() as u64) as usize];
    match i % 5 {
        0 => format!(
            "connect:{}.{}.{}.{}",
            1 + (i >> 16) % 223,
            (i >> 8) % 256,
            i % 256,
            rng.below(256)
        ),
        1 => format!("from:{w}{}@{w}{}.{t}", i, rng.below(1000)),
        2 => format!("{w}-{i}.{t}"),
        3 => format!("to:user{i}@dept{}.{w}.{t}", rng.below(100)),
        _ => format!("from:{w}{i}.{t}"),
    }
}

fn generate(lines: u64) -> (String, Vec<String>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut text = String::with_capacity(lines as usize * 48);
    let mut keys = Vec::with_capacity(lines as usize);
    for i in 0..lines {
        let k = key(i, &mut rng);
        let v = VALUES[rng.below(VALUES.len() as u64) as usize];
        text.push_str(&k);
        text.push(' ');
        text.push_str(v);
        text.push('\n');
        keys.push(k);
    }
    (text, keys)
}

/// Lookup keys: half present (random), half absent. An absent key has the
/// shape of a present one with a number past the table's, so it lands
/// anywhere in the key order, as a stranger's address does.
fn probes(keys: &[String], n: usize) -> Vec<String> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let lines = keys.len() as u64;
    (0..n)
        .map(|_| {
            if rng.below(2) == 0 {
                keys[rng.below(lines) as usize].clone()
            } else {
                let i = lines + rng.below(2 * lines);
                key(i, &mut rng)
            }
        })
        .collect()
}

fn size(p: &Path) -> Option<u64> {
    std::fs::metadata(p).ok().map(|m| m.len())
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct Row {
    tool: &'static str,
    build: String,
    peak: String,
    size: String,
    lookups: String,
    /// Build seconds and peak KiB, for the ratios.
    figures: Option<(f64, Option<u64>)>,
}

fn skipped(tool: &'static str, why: &str) -> Row {
    Row {
        tool,
        build: format!("skipped: {why}"),
        peak: "-".into(),
        size: "-".into(),
        lookups: "-".into(),
        figures: None,
    }
}

/// What one build command took: wall time, peak resident memory (KiB, from
/// GNU time's `%M`, when `/usr/bin/time` is there) and its output.
struct Timed {
    took: Duration,
    peak_kib: Option<u64>,
    output: std::process::Output,
}

/// Run `cmd` (program and arguments) with `stdin`, under `/usr/bin/time` when
/// it exists, and return what it took.
fn timed(cmd: &mut Command, stdin: Stdio) -> std::io::Result<Timed> {
    let time = Path::new("/usr/bin/time");
    let mut run = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f")
            .arg("mxbench-peak %M")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    } else {
        std::mem::replace(cmd, Command::new("true"))
    };
    let t0 = Instant::now();
    let output = run
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let took = t0.elapsed();
    let peak_kib = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("mxbench-peak "))
        .next_back()
        .and_then(|n| n.trim().parse().ok());
    Ok(Timed {
        took,
        peak_kib,
        output,
    })
}

fn peak(t: &Timed) -> String {
    t.peak_kib
        .map(|k| mib(k * 1024))
        .unwrap_or_else(|| "n/a (no /usr/bin/time)".into())
}

/// `mxgate makemap hash` from `bin` on the input, the way an admin runs it.
fn makemap_row(
    tool: &'static str,
    bin: &Path,
    dir: &Path,
    name: &str,
    input: &Path,
) -> (Row, PathBuf) {
    let target = dir.join(name);
    let lmdb = dir.join(format!("{name}.lmdb"));
    let mut cmd = Command::new(bin);
    cmd.arg("makemap").arg("hash").arg(&target);
    let row = match timed(
        &mut cmd,
        Stdio::from(std::fs::File::open(input).expect("input")),
    ) {
        Ok(t) if t.output.status.success() => Row {
            tool,
            build: secs(t.took),
            peak: peak(&t),
            size: size(&lmdb).map(mib).unwrap_or_default(),
            lookups: String::new(),
            figures: Some((t.took.as_secs_f64(), t.peak_kib)),
        },
        Ok(t) => skipped(
            tool,
            &format!(
                "exited {}: {}",
                t.output.status,
                String::from_utf8_lossy(&t.output.stderr).trim()
            ),
        ),
        Err(e) => skipped(tool, &e.to_string()),
    };
    (row, lmdb)
}

fn ours(dir: &Path, input: &Path, probes: &[String]) -> Vec<Row> {
    let bin = Path::new(env!("CARGO_BIN_EXE_mxgate"));
    let (mut row, target) = makemap_row("mxgate makemap", bin, dir, "ours", input);
    if row.figures.is_none() {
        return vec![row];
    }
    let map = Lmdb::open(&target, Fold::Lower, false).expect("open");
    // Every page in memory first, as in a daemon that has served a while.
    let mut stored = 0usize;
    map.for_each_entry(|_, _| stored += 1).expect("walk");
    assert!(stored > 0, "the map is empty");
    // Fast path: one read transaction per batch of 10,000, no allocation per lookup.
    let t0 = Instant::now();
    let mut hits = 0usize;
    for chunk in probes.chunks(10_000) {
        hits += map
            .with_reader(|r| {
                chunk
                    .iter()
                    .filter(|k| r.lookup(k.as_bytes()).expect("lookup").is_some())
                    .count()
            })
            .expect("reader");
    }
    let fast = t0.elapsed();
    // Table trait: one transaction and one String per lookup (what a Site does).
    let t0 = Instant::now();
    let mut hits2 = 0usize;
    for k in probes {
        hits2 += usize::from(map.lookup(k).expect("lookup").is_some());
    }
    let single = t0.elapsed();
    assert_eq!(hits, hits2);
    // The same path on present keys only, then on absent keys only.
    let (present, absent): (Vec<&String>, Vec<&String>) = probes
        .iter()
        .partition(|k| map.lookup(k).expect("lookup").is_some());
    let rate = |keys: &[&String]| {
        let t0 = Instant::now();
        let n = keys
            .iter()
            .filter(|k| map.lookup(k).expect("lookup").is_some())
            .count();
        (n, keys.len() as f64 / t0.elapsed().as_secs_f64())
    };
    let (found, hit_rate) = rate(&present);
    let (wrong, miss_rate) = rate(&absent);
    assert_eq!((found, wrong), (present.len(), 0));
    let per_s = |d: Duration| format!("{:.0}/s", probes.len() as f64 / d.as_secs_f64());
    row.lookups = format!(
        "{} (Table::lookup; present only {hit_rate:.0}/s, absent only {miss_rate:.0}/s); \
         {} batch reader, {hits} hits",
        per_s(single),
        per_s(fast)
    );
    vec![row]
}

/// The same command from an older build (`MAKEMAP_BENCH_BEFORE=/path/to/mxgate`).
fn before(dir: &Path, input: &Path) -> Option<Row> {
    let bin = PathBuf::from(std::env::var_os("MAKEMAP_BENCH_BEFORE")?);
    Some(makemap_row("mxgate makemap (before)", &bin, dir, "before", input).0)
}

fn sendmail(dir: &Path, input: &Path) -> Row {
    let makemap = Path::new("/usr/sbin/makemap");
    if !makemap.exists() {
        return skipped("sendmail makemap hash", "/usr/sbin/makemap not installed");
    }
    let target = dir.join("sm");
    let mut cmd = Command::new(makemap);
    cmd.arg("hash").arg(&target);
    match timed(
        &mut cmd,
        Stdio::from(std::fs::File::open(input).expect("input")),
    ) {
        Ok(t) if t.output.status.success() => Row {
            tool: "sendmail makemap hash",
            build: secs(t.took),
            peak: peak(&t),
            size: size(&dir.join("sm.db")).map(mib).unwrap_or_default(),
            lookups: "n/a (no bulk query tool)".into(),
            figures: Some((t.took.as_secs_f64(), t.peak_kib)),
        },
        Ok(t) => skipped(
            "sendmail makemap hash",
            &format!("makemap exited {}", t.output.status),
        ),
        Err(e) => skipped("sendmail makemap hash", &e.to_string()),
    }
}

fn postfix(dir: &Path, input: &Path, probes: &[String]) -> Row {
    let tool = "postfix postmap lmdb:";
    let peers = std::env::var_os("PEERS_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mtapeers")));
    let Some(peers) = peers else {
        return skipped(tool, "no PEERS_ROOT or HOME");
    };
    let pf = peers.join("root/postfix");
    let lm = peers.join("root/postfix-lmdb");
    let postmap = pf.join("usr/sbin/postmap");
    if !postmap.exists() {
        return skipped(
            tool,
            "Postfix not unpacked (run /work/shared/bench/setup.sh)",
        );
    }
    let so = lm.join("usr/lib/postfix/postfix-lmdb.so");
    if !so.exists() {
        return skipped(
            tool,
            "postfix-lmdb not unpacked under root/postfix-lmdb (apt-get download postfix-lmdb liblmdb0; dpkg-deb -x)",
        );
    }
    // A private main.cf and meta directory whose dynamicmaps.cf names the lmdb plugin.
    let cfdir = dir.join("pfconf");
    let meta = cfdir.join("meta");
    std::fs::create_dir_all(&meta).expect("mkdir");
    let _ = Command::new("cp")
        .arg("-r")
        .arg(pf.join("etc/postfix/."))
        .arg(&meta)
        .status();
    std::fs::write(
        meta.join("dynamicmaps.cf"),
        format!("lmdb {} dict_lmdb_open mkmap_lmdb_open\n", so.display()),
    )
    .expect("dynamicmaps");
    std::fs::write(
        cfdir.join("main.cf"),
        format!(
            "compatibility_level = 3.6\nshlib_directory = {pf}/usr/lib/postfix\nmeta_directory = {meta}\ndaemon_directory = {pf}/usr/lib/postfix/sbin\ncommand_directory = {pf}/usr/sbin\nqueue_directory = {q}\n",
            pf = pf.display(),
            meta = meta.display(),
            q = dir.display()
        ),
    )
    .expect("main.cf");
    let libpath = lm.join("usr/lib/x86_64-linux-gnu");
    let table = dir.join("pf");
    std::fs::copy(input, &table).expect("copy input");
    let command = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new(&postmap);
        c.env("LD_LIBRARY_PATH", &libpath)
            .arg("-c")
            .arg(&cfdir)
            .args(args);
        c
    };
    let spec = format!("lmdb:{}", table.display());
    let built = match timed(&mut command(&[spec.as_ref()]), Stdio::null()) {
        Ok(t) if t.output.status.success() => t,
        Ok(t) => {
            return skipped(
                tool,
                &format!(
                    "postmap failed: {}",
                    String::from_utf8_lossy(&t.output.stderr).trim()
                ),
            );
        }
        Err(e) => return skipped(tool, &e.to_string()),
    };
    let keys = dir.join("probes");
    let mut f = std::fs::File::create(&keys).expect("probes");
    for k in probes {
        writeln!(f, "{k}").expect("write probes");
    }
    drop(f);
    let t0 = Instant::now();
    let q = command(&["-q".as_ref(), "-".as_ref(), spec.as_ref()])
        .stdin(Stdio::from(std::fs::File::open(&keys).expect("probes")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let qt = t0.elapsed();
    let lookups = match q {
        // postmap -q - exits 1 when some key is absent; that is expected here.
        Ok(_) => format!(
            "{:.0}/s (one postmap -q - process)",
            probes.len() as f64 / qt.as_secs_f64()
        ),
        Err(e) => format!("skipped: {e}"),
    };
    Row {
        tool,
        build: secs(built.took),
        peak: peak(&built),
        size: size(&dir.join("pf.lmdb")).map(mib).unwrap_or_default(),
        lookups,
        figures: Some((built.took.as_secs_f64(), built.peak_kib)),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let lines: u64 = std::env::var("MAKEMAP_BENCH_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let (text, keys) = generate(lines);
    let input = dir.path().join("access");
    std::fs::write(&input, &text).expect("write input");
    let probes = probes(&keys, 2_000_000.max(lines as usize));
    println!(
        "makemap bench: {lines} lines ({}) of access table, {} random lookups (half absent)",
        mib(text.len() as u64),
        probes.len()
    );
    drop(text);
    let mut rows = ours(dir.path(), &input, &probes);
    rows.extend(before(dir.path(), &input));
    rows.push(sendmail(dir.path(), &input));
    rows.push(postfix(dir.path(), &input, &probes));
    println!();
    println!("| tool | build | peak memory | file size | lookups, one thread |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.tool, r.build, r.peak, r.size, r.lookups
        );
    }
    let find = |t: &str| rows.iter().find(|r| r.tool == t).and_then(|r| r.figures);
    if let (Some((ot, om)), Some((pt, pm))) =
        (find("mxgate makemap"), find("postfix postmap lmdb:"))
    {
        println!();
        print!("mxgate / postmap lmdb: build time {:.2}x", ot / pt);
        if let (Some(om), Some(pm)) = (om, pm) {
            print!(", peak memory {:.2}x", om as f64 / pm as f64);
        }
        println!(" (goals: <= 0.5x time, <= 1x memory)");
    }
}
