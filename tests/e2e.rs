//! Runs the end-to-end harness `tests/e2e/run` (a virtual network of
//! namespaces with Postfix, nsd, Dovecot and six mxgate hosts; see
//! tests/e2e/README.md) and asserts its last line is `N passed, 0 failed`.
//! Needs root (network namespaces); as another user it says so and passes.

use std::process::Command;

#[test]
#[ignore = "scenario 2 fails until mbox1 masquerades relayed mail (bug reported); run with --ignored"]
fn e2e_network() {
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("e2e: not root, skipped (tests/e2e/run needs network namespaces)");
        return;
    }
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/run"))
        .env("MXGATE", env!("CARGO_BIN_EXE_mxgate"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let parts: Vec<&str> = last.split_whitespace().collect();
    assert!(
        parts.len() == 4 && parts[1] == "passed," && parts[3] == "failed" && parts[2] == "0",
        "e2e: {last}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "tests/e2e/run exited {}", out.status);
}
