//! makemap / newaliases / praliases through their library entry points,
//! with the result checked by our reader and by Debian's `mdb_dump -n`.
//! Vectors K1–K10 of spec 12.6 (each checked on sendmail 8.17 with
//! `makemap hash` / `sendmail -bi` / `praliases`).

use mxgate::cli::tables::{makemap, makemap_from, newaliases, praliases};
use mxgate::table::lmdb::{Lmdb, Reloaded};
use mxgate::table::{Fold, Table};
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn run(
    tool: fn(
        &[String],
        &mut dyn std::io::Read,
        &mut dyn std::io::Write,
        &mut dyn std::io::Write,
    ) -> i32,
    args: &[&str],
    input: &str,
) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = tool(&args, &mut input.as_bytes(), &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

fn map(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

fn dump(m: &str) -> String {
    run(makemap, &["-u", "lmdb", m], "").out
}

/// `mdb_dump -n -p` of the file. A missing `mdb_dump` fails the test with
/// the package to install: an unchecked map is not a passed test.
fn mdb_dump(file: &Path) -> String {
    match std::process::Command::new("mdb_dump")
        .arg("-n")
        .arg("-p")
        .arg(file)
        .output()
    {
        Ok(o) => {
            assert!(
                o.status.success(),
                "mdb_dump: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            String::from_utf8(o.stdout).unwrap()
        }
        Err(e) => panic!("mdb_dump: {e} (apt-get install lmdb-utils, or run tools/test)"),
    }
}

const K1: &str = "# c\nFoo.Example v1\n\nfoo.example v2\n";

#[test]
fn k1_duplicate_first_kept_exit_65_db_written() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["hash", &m], K1);
    assert_eq!(r.code, 65);
    assert!(
        r.err.contains(&format!(
            "makemap: {m}: line 4: key foo.example: duplicate key"
        )),
        "{}",
        r.err
    );
    assert_eq!(
        r.err
            .matches("note: map type hash is served from LMDB")
            .count(),
        1
    );
    assert_eq!(dump(&m), "foo.example\tv1\n");
    // No lock file, no temporary file next to the map.
    let names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["m.lmdb".to_string()]);
    // (mdb_dump itself creates m.lmdb-lock: it opens the map with locking.)
    let file = PathBuf::from(format!("{m}.lmdb"));
    {
        let text = mdb_dump(&file);
        assert!(text.contains("foo.example\n v1\n"), "{text}");
    }
}

#[test]
fn k2_replace_later_wins() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["-r", "lmdb", &m], K1);
    assert_eq!((r.code, r.err.as_str()), (0, ""));
    assert_eq!(dump(&m), "foo.example\tv2\n");
}

#[test]
fn k3_keep_case() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["-f", "lmdb", &m], K1);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(dump(&m), "Foo.Example\tv1\nfoo.example\tv2\n");
}

#[test]
fn k4_value_keeps_inner_whitespace() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    assert_eq!(
        run(makemap, &["lmdb", &m], "key with  spaces here\n").code,
        0
    );
    assert_eq!(dump(&m), "key\twith  spaces here\n");
}

#[test]
fn k5_leading_space_reported_and_skipped() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["lmdb", &m], "  leading x\nok v\n");
    assert_eq!(r.code, 65);
    assert_eq!(
        r.err,
        format!("makemap: {m}: line 1: syntax error (leading space)\n")
    );
    assert_eq!(dump(&m), "ok\tv\n");
}

#[test]
fn k6_missing_value() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["lmdb", &m], "emptykey\n");
    assert_eq!(r.code, 65);
    assert_eq!(
        r.err,
        format!("makemap: {m}: line 1: no RHS for LHS emptykey\n")
    );
    let m2 = map(&d, "m2");
    let r = run(makemap, &["-e", "lmdb", &m2], "emptykey\n");
    assert_eq!(r.code, 0);
    assert_eq!(dump(&m2), "emptykey\t\n");
}

#[test]
fn k7_delimiter() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    assert_eq!(run(makemap, &["-t=", "lmdb", &m], "a=b=c\n").code, 0);
    assert_eq!(dump(&m), "a\tb=c\n");
    // `-t =` (separate argument) means the same.
    assert_eq!(run(makemap, &["-t", "=", "lmdb", &m], "x=y\n").code, 0);
    assert_eq!(dump(&m), "x\ty\n");
}

#[test]
fn k8_duplicates_kept_with_d() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["-d", "btree", &m], "k v1\nk v2\n");
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(dump(&m), "k\tv1\nk\tv2\n");
    {
        let text = mdb_dump(Path::new(&format!("{m}.lmdb")));
        assert!(text.contains("duplicates=1"), "{text}");
        assert!(text.contains("k\n v1\n k\n v2\n"), "{text}");
        // No filter and no index: LMDB keeps -d values sorted as keys.
        assert!(!text.contains("mxgate-"), "{text}");
    }
    // A lookup answers the first (smallest) value.
    let t = Lmdb::open(Path::new(&format!("{m}.lmdb")), Fold::Lower, false).unwrap();
    assert_eq!(t.lookup("K").unwrap().as_deref(), Some("v1"));
}

#[test]
fn k9_comment_char() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let r = run(makemap, &["-D%", "lmdb", &m], "%c\n#x y\n");
    assert_eq!(r.code, 0);
    assert_eq!(dump(&m), "#x\ty\n");
}

/// spec/sendmail-verify/aliases with @DIR@ = /root/svt, the directory the
/// figures below were produced in with sendmail 8.17 (`sendmail -bi`).
const ALIASES: &str = "# test aliases\npostmaster: root\nroot: admin\nstaff: alice, bob,\n\tcarol\nowner-staff: admin\nstaff-request: admin\nprog: \"|/usr/bin/logger -t mail\"\nfiler: /root/svt/mailbox\ninc: :include:/root/svt/list.inc\nMixed: dave\n";

#[test]
fn k10_newaliases_and_praliases() {
    let d = tempfile::tempdir().unwrap();
    let a = map(&d, "aliases");
    std::fs::write(&a, ALIASES).unwrap();
    let r = run(newaliases, &["-f", &a], "");
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        r.out,
        format!("{a}: 9 aliases, longest 27 bytes, 170 bytes total\n")
    );
    let p = run(praliases, &["-f", &a], "");
    assert_eq!(p.code, 0);
    let mut got: Vec<&str> = p.out.lines().collect();
    got.sort();
    // praliases -C t2.cf on sendmail 8.17, sorted.
    let mut want = vec![
        "@:@",
        "filer:/root/svt/mailbox",
        "inc::include:/root/svt/list.inc",
        "owner-staff:admin",
        "postmaster:root",
        "prog:\"|/usr/bin/logger -t mail\"",
        "root:admin",
        "staff:alice, bob,\tcarol",
        "staff-request:admin",
        "mixed:dave",
    ];
    want.sort();
    assert_eq!(got, want);
    let q = run(praliases, &["-f", &a, "MIXED", "nosuch"], "");
    assert_eq!(q.out, "mixed:dave\nnosuch: No such key\n");
    // Keys carry the NUL, as sendmail's alias maps do.
    {
        let text = mdb_dump(Path::new(&format!("{a}.lmdb")));
        assert!(text.contains("mixed\\00\n dave\\00\n"), "{text}");
        assert!(text.contains("@\\00\n @\\00\n"), "{text}");
    }
}

#[test]
fn newaliases_errors_carry_file_and_line_and_keep_old_map() {
    let d = tempfile::tempdir().unwrap();
    let a = map(&d, "aliases");
    std::fs::write(&a, "root: admin\n").unwrap();
    assert_eq!(run(newaliases, &[&a], "").code, 0);
    std::fs::write(&a, "root: other\nprog: \"|/bin/x -y\nnocolon\n").unwrap();
    let r = run(newaliases, &[&a], "");
    assert_eq!(r.code, 65);
    assert!(
        r.err
            .contains(&format!("{a}: line 2: prog... unbalanced '\"'")),
        "{}",
        r.err
    );
    assert!(
        r.err.contains(&format!("{a}: line 3: missing colon")),
        "{}",
        r.err
    );
    let q = run(praliases, &["-f", &a, "root"], "");
    assert_eq!(q.out, "root:admin\n");
    // Unreadable aliases file: clear error, non-zero exit.
    let r = run(newaliases, &[&map(&d, "nonexistent")], "");
    assert_eq!(r.code, 66);
    assert!(r.err.contains("cannot open"), "{}", r.err);
}

#[test]
fn bad_input_leaves_old_map_and_reports_lines() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    assert_eq!(run(makemap, &["lmdb", &m], "a 1\n").code, 0);
    let r = run(makemap, &["lmdb", &m], "a 2\n b\nc\n");
    assert_eq!(r.code, 65);
    assert!(r.err.contains(&format!(
        "makemap: {m}: line 2: syntax error (leading space)"
    )));
    assert!(
        r.err
            .contains(&format!("makemap: {m}: line 3: no RHS for LHS c"))
    );
    assert!(r.err.contains("not replaced"), "{}", r.err);
    assert_eq!(dump(&m), "a\t1\n");
}

struct FailingInput;

impl std::io::Read for FailingInput {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk on fire"))
    }
}

#[test]
fn unreadable_input_and_failed_build_leave_old_map() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    assert_eq!(run(makemap, &["lmdb", &m], "a 1\n").code, 0);
    let args = vec!["lmdb".to_string(), m.clone()];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = makemap(&args, &mut FailingInput, &mut out, &mut err);
    assert_eq!(code, 74);
    assert!(String::from_utf8(err).unwrap().contains("disk on fire"));
    assert_eq!(dump(&m), "a\t1\n");
    // -o over a file that is not LMDB: the update fails and the file is untouched.
    let bogus = map(&d, "bogus");
    std::fs::write(format!("{bogus}.lmdb"), b"not lmdb at all").unwrap();
    let r = run(makemap, &["-o", "lmdb", &bogus], "a 1\n");
    assert_eq!(r.code, 74, "{}", r.err);
    assert_eq!(
        std::fs::read(format!("{bogus}.lmdb")).unwrap(),
        b"not lmdb at all"
    );
    // A directory that does not exist: cannot create, 73.
    let r = run(makemap, &["lmdb", &map(&d, "no/such/m")], "a 1\n");
    assert_eq!(r.code, 73, "{}", r.err);
}

#[test]
fn reader_sees_rebuild_after_refresh() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "access");
    assert_eq!(run(makemap, &["hash", &m], "Connect:10.1 REJECT\n").code, 0);
    let t = Lmdb::open(Path::new(&format!("{m}.lmdb")), Fold::Lower, false).unwrap();
    assert_eq!(t.lookup("connect:10.1").unwrap().as_deref(), Some("REJECT"));
    assert_eq!(run(makemap, &["hash", &m], "Connect:10.1 OK\n").code, 0);
    assert_eq!(t.refresh().unwrap(), Reloaded::NewFile);
    assert_eq!(t.lookup("connect:10.1").unwrap().as_deref(), Some("OK"));
}

#[test]
fn u_round_trip_and_o_update() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let text = "b\tx  y\na 1\n";
    assert_eq!(run(makemap, &["lmdb", &m], text).code, 0);
    let dumped = dump(&m);
    assert_eq!(dumped, "a\t1\nb\tx  y\n");
    let m2 = map(&d, "m2");
    assert_eq!(run(makemap, &["lmdb", &m2], &dumped).code, 0);
    assert_eq!(dump(&m2), dumped);
    // -o: new key added, existing key kept (duplicate, exit 65, like sendmail)...
    let r = run(makemap, &["-o", "lmdb", &m], "c 3\n");
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(dump(&m), "a\t1\nb\tx  y\nc\t3\n");
    // ... and with -r the update replaces it.
    let r = run(makemap, &["-o", "-r", "lmdb", &m], "a 9\n");
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(dump(&m), "a\t9\nb\tx  y\nc\t3\n");
    let r = run(makemap, &["-o", "lmdb", &m], "a 10\n");
    assert_eq!(r.code, 65);
    assert!(r.err.contains("line 1: key a: duplicate key"), "{}", r.err);
    assert_eq!(dump(&m), "a\t9\nb\tx  y\nc\t3\n");
}

#[test]
fn usage_list_help_and_nul_keys() {
    let r = run(makemap, &[], "");
    assert_eq!(r.code, 64);
    let r = run(makemap, &["-l"], "");
    assert_eq!(r.out, "lmdb\nhash\nbtree\ndbm\n");
    let r = run(makemap, &["--help"], "");
    for flag in [
        "-N", "-c", "-C", "-d", "-D", "-e", "-f", "-l", "-o", "-r", "-s", "-t", "-u", "-v",
    ] {
        assert!(
            r.out.contains(&format!("  {flag}")),
            "{flag} missing from help"
        );
    }
    let r = run(makemap, &["-x", "lmdb", "m"], "");
    assert_eq!(r.code, 64);
    let r = run(makemap, &["cdb", "m"], "");
    assert_eq!(r.code, 73);
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "n");
    assert_eq!(run(makemap, &["-N", "lmdb", &m], "Ab c\n").code, 0);
    assert_eq!(dump(&m), "ab\tc\n");
    let t = Lmdb::open(Path::new(&format!("{m}.lmdb")), Fold::Lower, true).unwrap();
    assert_eq!(t.lookup("AB").unwrap().as_deref(), Some("c"));
    {
        let text = mdb_dump(Path::new(&format!("{m}.lmdb")));
        assert!(text.contains("ab\\00\n c\\00\n"), "{text}");
    }
}

// Security review: map permissions and LMDB's key size.

fn mode_of(file: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).unwrap().permissions().mode() & 0o7777
}

/// A source text file with `mode`.
fn source(dir: &tempfile::TempDir, name: &str, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// makemap with its input read from `src` (as `makemap ... < src`).
fn run_from(args: &[&str], src: Option<&Path>, input: &str) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let meta = src.map(|p| std::fs::metadata(p).unwrap());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = makemap_from(
        &args,
        &mut input.as_bytes(),
        meta.as_ref(),
        &mut out,
        &mut err,
    );
    Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

#[test]
fn new_map_gets_the_source_mode_or_0640_never_0644() {
    let d = tempfile::tempdir().unwrap();
    let secret = source(&d, "passwd", "alice {PLAIN}pw\n", 0o600);
    let m = map(&d, "passwd");
    let r = run_from(&["hash", &m], Some(&secret), "alice {PLAIN}pw\n");
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(mode_of(&format!("{m}.lmdb")), 0o600);
    // No regular source (a pipe, a terminal): sendmail's DBMMODE.
    let m = map(&d, "piped");
    assert_eq!(run_from(&["hash", &m], None, "a b\n").code, 0);
    assert_eq!(mode_of(&format!("{m}.lmdb")), 0o640);
    // A public source gives a public map; execute bits are never copied.
    let public = source(&d, "access", "a b\n", 0o755);
    let m = map(&d, "access");
    assert_eq!(run_from(&["hash", &m], Some(&public), "a b\n").code, 0);
    assert_eq!(mode_of(&format!("{m}.lmdb")), 0o644);
}

#[test]
fn rebuilt_map_keeps_its_mode_and_warns_when_wider_than_the_source() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let file = format!("{m}.lmdb");
    let public = source(&d, "m", "a 1\n", 0o644);
    assert_eq!(run_from(&["lmdb", &m], Some(&public), "a 1\n").code, 0);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run_from(&["lmdb", &m], Some(&public), "a 2\n");
    assert_eq!((r.code, r.err.as_str()), (0, ""));
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(dump(&m), "a\t2\n");
    // A map left 0644 by an older makemap, rebuilt from a private source:
    // kept (as sendmail), with a warning that says what to do.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let private = source(&d, "m", "a 3\n", 0o600);
    let r = run_from(&["lmdb", &m], Some(&private), "a 3\n");
    assert_eq!(r.code, 0);
    assert_eq!(
        r.err,
        format!(
            "makemap: warning: {file} is readable by everyone (mode 0644) but its source is not \
             (mode 0600); chmod o-r {file} if it holds anything private\n"
        )
    );
}

#[test]
fn the_command_takes_the_mode_of_its_redirected_input() {
    let d = tempfile::tempdir().unwrap();
    let secret = source(&d, "passwd", "alice {PLAIN}pw\n", 0o600);
    let m = map(&d, "passwd");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_mxgate"))
        .args(["makemap", "hash", &m])
        .stdin(std::fs::File::open(&secret).unwrap())
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(mode_of(&format!("{m}.lmdb")), 0o600);
    let m = map(&d, "piped");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mxgate"))
        .args(["makemap", "hash", &m])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a b\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(mode_of(&format!("{m}.lmdb")), 0o640);
}

#[test]
fn key_longer_than_lmdb_limit_names_the_line_and_keeps_the_old_map() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "m");
    let max = "k".repeat(511);
    assert_eq!(
        run(makemap, &["lmdb", &m], &format!("a 1\n{max} ok\n")).code,
        0
    );
    let long = "k".repeat(512);
    let r = run(
        makemap,
        &["lmdb", &m],
        &format!("a 2\n# c\n{long} v\nb 2\n"),
    );
    assert_eq!(r.code, 65, "{}", r.err);
    assert!(
        r.err.contains(&format!(
            "makemap: {m}: line 3: key is 512 bytes, longer than LMDB's 511-byte limit\n"
        )),
        "{}",
        r.err
    );
    assert!(r.err.contains("not replaced"), "{}", r.err);
    assert_eq!(dump(&m), format!("a\t1\n{max}\tok\n"));
    // -N stores a NUL after the key: 511 + 1 is one too many.
    let r = run(makemap, &["-N", "lmdb", &m], &format!("{max} v\n"));
    assert_eq!(r.code, 65);
    assert!(
        r.err.contains(
            "line 1: key is 512 bytes with its NUL (-N), longer than LMDB's 511-byte limit"
        ),
        "{}",
        r.err
    );
    // -d stores values as keys of a sub-database: the same limit.
    let r = run(makemap, &["-d", "lmdb", &m], &format!("k {long}\n"));
    assert_eq!(r.code, 65);
    assert!(r.err.contains("line 1: value is 512 bytes"), "{}", r.err);
    assert_eq!(dump(&m), format!("a\t1\n{max}\tok\n"));
}

#[test]
fn newaliases_reports_an_alias_name_too_long_for_lmdb() {
    let d = tempfile::tempdir().unwrap();
    let a = map(&d, "aliases");
    std::fs::write(&a, "root: admin\n").unwrap();
    assert_eq!(run(newaliases, &[&a], "").code, 0);
    std::fs::write(&a, format!("root: other\n{}: root\n", "x".repeat(600))).unwrap();
    let r = run(newaliases, &[&a], "");
    assert_eq!(r.code, 65, "{}", r.err);
    assert!(
        r.err.contains(&format!(
            "{a}:2: key is 601 bytes with its NUL (-N), longer than LMDB's 511-byte limit"
        )),
        "{}",
        r.err
    );
    assert_eq!(run(praliases, &["-f", &a, "root"], "").out, "root:admin\n");
}

/// The absent-key filter and the hash index: stored under keys starting
/// with NUL that `mdb_dump` shows and `makemap -u` does not; the same keys
/// as input data are a bad line (exit 65) and the old map stays.
#[test]
fn filter_and_index_are_stored_apart_and_their_keys_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = map(&d, "access");
    assert_eq!(run(makemap, &["hash", &m], "Connect:10.1 REJECT\n").code, 0);
    let file = PathBuf::from(format!("{m}.lmdb"));
    let raw = mdb_dump(&file);
    assert!(raw.contains(" \\00mxgate-absent-key-filter-1\n"), "{raw}");
    assert!(raw.contains(" \\00mxgate-hash-index-1\n"), "{raw}");
    // The index's one chunk holds a copy of the pair (lengths 12 and 6, LE).
    let chunk =
        " \\00mxgate-hash-index-1-chunk-00000\n \\0c\\00\\06\\00\\00\\00connect:10.1REJECT\n";
    assert!(raw.contains(chunk), "{raw}");
    assert_eq!(dump(&m), "connect:10.1\tREJECT\n");
    let t = Lmdb::open(&file, Fold::Lower, false).unwrap();
    assert_eq!(t.lookup("connect:10.2").unwrap(), None);
    for key in ["\0mxgate-absent-key-filter-1", "\0mxgate-hash-index-1"] {
        let r = run(makemap, &["hash", &m], &format!("{key} OK\n"));
        assert_eq!(r.code, 65, "{}", r.err);
        assert!(r.err.contains("line 1: key reserved"), "{}", r.err);
    }
    assert_eq!(t.lookup("connect:10.1").unwrap().as_deref(), Some("REJECT"));
    assert_eq!(dump(&m), "connect:10.1\tREJECT\n");
}
