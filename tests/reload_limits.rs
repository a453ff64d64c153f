//! Security review: a SIGHUP with a hostile or broken `.mc` must leave the
//! running daemon alive, serving with its old configuration, with the
//! reason in the log — and must not copy an included file into the log.
//! (The limits themselves are unit-tested in m4-compat.)

mod support;
use std::time::Duration;
use support::*;

fn start() -> Daemon {
    Daemon::start(Setup {
        mc: "LOCAL_DOMAIN(`example.com')dnl\ndefine(`confMAX_MESSAGE_SIZE', `20000')dnl\n",
        tables: &[],
        tls: false,
    })
}

/// The daemon process is still running.
fn alive(d: &mut Daemon) -> bool {
    matches!(d.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
}

/// A new session sees the size limit of the configuration in force.
fn ehlo(d: &Daemon) -> String {
    let mut c = Raw::connect(d.mta);
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}");
    c.cmd("EHLO client.example.org")
}

/// Replace the .mc with the good one plus `bad`, send SIGHUP and wait for
/// the `n`th refusal; returns the log.
fn reload_with(d: &mut Daemon, good: &str, bad: &str, n: usize) -> String {
    std::fs::write(&d.mc, format!("{good}{bad}")).unwrap();
    d.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while d.maillog().matches("reload refused").count() < n {
        assert!(
            alive(d),
            "the daemon died on reload: {}\n{}",
            d.stderr(),
            d.maillog()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged: {}",
            d.maillog()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(alive(d), "{}", d.stderr());
    let e = ehlo(d);
    assert!(e.contains("SIZE 20000"), "old configuration lost: {e}");
    d.maillog()
}

#[test]
fn sighup_with_a_runaway_mc_keeps_the_daemon_and_its_configuration() {
    let mut d = start();
    assert!(ehlo(&d).contains("SIZE 20000"));
    let good = std::fs::read_to_string(&d.mc).unwrap();
    let lines = good.lines().count();

    // Endless recursion: used to overflow the stack and abort the daemon.
    let log = reload_with(&mut d, &good, "define(`f',`f(f($1))')f(x)\n", 1);
    let at = format!(
        "test.mc:{}:23: recursion deeper than 256 expanding `f'",
        lines + 1
    );
    assert!(log.contains(&at), "{log}");

    // include(/dev/zero): used to read without end.
    let log = reload_with(&mut d, &good, "include(`/dev/zero')dnl\n", 2);
    assert!(
        log.contains("include(`/dev/zero'): refused: it is a character device"),
        "{log}"
    );

    // A file only root may read is refused unread; nothing of it is logged.
    let secret = d.path().join("secret.m4");
    std::fs::write(&secret, "root:$6$SECRETHASH:20228:0:99999:7:::\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = reload_with(
        &mut d,
        &good,
        &format!("include(`{}')dnl\n", secret.display()),
        3,
    );
    assert!(
        log.contains("refused: not readable by everyone (mode 0600)"),
        "{log}"
    );
    assert!(!log.contains("SECRETHASH"), "{log}");

    // And the daemon still takes a good configuration afterwards.
    std::fs::write(&d.mc, good.replace("`20000'", "`5000'")).unwrap();
    d.signal("HUP");
    assert!(
        d.wait_log("configuration reloaded (SIGHUP)", Duration::from_secs(10)),
        "{}",
        d.maillog()
    );
    assert!(ehlo(&d).contains("SIZE 5000"));
}
