//! The local mailer: Maildir delivery, and `|program` / `/file` targets
//! where the configuration allows them.
//!
//! Contract: [`LocalMailer::deliver`] handles the three local mailers the
//! queue routes to — `local` (the recipient address is a local user name,
//! `user` or `user+detail`), `prog` (the address is a shell command from an
//! alias) and `*file*` (the address is an absolute path from an alias) —
//! and returns one [`Outcome`] per recipient. For `local`:
//! [`crate::users::local_user`] decides first: unknown → `5.1.1 User
//! unknown`, disabled → `5.2.1` with the table's text, lookup error →
//! deferred `4.3.0`. The Maildir is the `mailboxes` table's value when that
//! is an absolute path, otherwise `confMXGATE_MAILDIR` with `%u` replaced by
//! the user name without `+detail` (default [`DEFAULT_MAILDIR`]). Each copy
//! gets `Return-Path: <sender>` and `Delivered-To: user@$j` prepended and
//! is written by [`super::maildir::deliver`] under a name made of arrival
//! time, queue id and user, so a repeated attempt after a crash finds the
//! earlier copy instead of writing a second one. The path is never walked
//! through a symlink, and a directory on it owned by another user than
//! root, the daemon's or the recipient's defers the delivery (`4.3.0`,
//! "unsafe path", the message stays queued). A recipient that is a user of
//! this host (passwd) gets the directories and files created for it owned
//! by it when the daemon is root; otherwise (virtual mailboxes read by an
//! IMAP server running as the daemon's user) they belong to the daemon's
//! user. The name service's answer for a recipient is kept a minute
//! ([`OWNER_TTL`]), as nscd keeps its answers (its defaults: ten minutes
//! for a user found, 20 s for one not found).
//!
//! `prog` and `*file*` are refused (`5.7.1`) unless
//! `define(`confMXGATE_ALLOW_PROGRAMS', `True')`: sendmail restricts them
//! with smrsh; mxgate has no restricted shell, so the safe default is off.
//! When allowed, a program runs as `/bin/sh -c COMMAND` with the message on
//! standard input and `PATH=/usr/bin:/bin`, `SENDER`, `RECIPIENT` in its
//! environment; exit 0 is delivered, 75 (`EX_TEMPFAIL`) deferred, anything
//! else failed `5.3.0`. A file gets the message appended in mbox format
//! (`From ` line, `>From ` quoting, LF line ends) and is fsynced; a symlink
//! at the file's path is not followed (deferred, `ELOOP`).

use super::maildir::{self, Delivered};
use super::{Batch, NextHop, Outcome};
use super::{EnhancedStatus, Said};
use crate::site::Site;
use crate::users::{self, LocalUser};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a recipient's passwd entry, or its absence, is trusted.
pub const OWNER_TTL: Duration = Duration::from_secs(60);
/// Names remembered at most (all are forgotten when it is reached).
const OWNERS_MAX: usize = 4096;

type Owners = HashMap<String, (Option<maildir::Owner>, Instant)>;
static OWNERS: LazyLock<Mutex<Owners>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The passwd owner of `user`'s Maildir (`None`: not a user of this host,
/// a virtual mailbox), asked of the name service at most once per
/// [`OWNER_TTL`] per name. A miss is the expensive answer: with
/// `passwd: files systemd` in nsswitch.conf (Debian's default) each one
/// also queries systemd's user database, ~75 µs against ~7 for a hit, and
/// every recipient of a `mailboxes` site is a miss. A lookup error is not
/// remembered.
fn owner_of(user: &str) -> Result<Option<maildir::Owner>, nix::Error> {
    let now = Instant::now();
    let owners = || OWNERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((o, at)) = owners().get(user)
        && now.duration_since(*at) < OWNER_TTL
    {
        return Ok(*o);
    }
    let found = nix::unistd::User::from_name(user)?.map(|u| maildir::Owner {
        uid: u.uid,
        gid: u.gid,
    });
    let mut map = owners();
    if map.len() >= OWNERS_MAX {
        map.clear();
    }
    map.insert(user.to_string(), (found, now));
    Ok(found)
}

/// Where Maildirs are when the configuration does not say.
pub const DEFAULT_MAILDIR: &str = crate::settings::DEFAULT_MAILDIR;

/// May aliases deliver to programs and files?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Programs {
    /// Refused (the default).
    Refused,
    /// Allowed (`confMXGATE_ALLOW_PROGRAMS` = `True`).
    Allowed,
}

/// The local mailer's settings.
#[derive(Debug, Clone)]
pub struct LocalMailer {
    /// Maildir template with `%u`.
    pub maildir: String,
    /// `$j`, for `Delivered-To:` and file names.
    pub hostname: String,
    /// Programs and files.
    pub programs: Programs,
}

impl LocalMailer {
    /// Settings from the site's options.
    pub fn from_site(site: &Site) -> LocalMailer {
        let allowed = site.settings.allow_programs;
        LocalMailer {
            maildir: site.settings.maildir.clone(),
            hostname: site.hostname.clone(),
            programs: if allowed {
                Programs::Allowed
            } else {
                Programs::Refused
            },
        }
    }

    /// Deliver a batch for the `local`, `prog` or `*file*` mailer (blocking I/O).
    pub fn deliver(&self, site: &Site, hop: &NextHop, batch: &Batch<'_>) -> Vec<Outcome> {
        batch
            .recipients
            .iter()
            .map(|r| match hop.mailer.as_str() {
                "prog" | "*file*" if self.programs == Programs::Refused => failed(
                    EnhancedStatus::new(5, 7, 1),
                    &format!(
                        "{}... {} delivery not allowed (confMXGATE_ALLOW_PROGRAMS)",
                        r.address,
                        if hop.mailer == "prog" {
                            "Program"
                        } else {
                            "File"
                        }
                    ),
                ),
                "prog" => self.program(batch, &r.address),
                "*file*" => self.file(batch, &r.address),
                _ => self.mailbox(site, batch, &r.address),
            })
            .collect()
    }

    /// The Maildir of `user` (without `+detail`), from the mailboxes table or the template.
    pub fn maildir_of(&self, site: &Site, user: &str) -> Result<PathBuf, Outcome> {
        if let Some(t) = site.table("mailboxes") {
            match t.lookup(&user.to_ascii_lowercase()) {
                Ok(Some(v)) if v.trim().starts_with('/') => return Ok(PathBuf::from(v.trim())),
                Ok(_) => {}
                Err(e) => {
                    return Err(deferred(
                        EnhancedStatus::new(4, 3, 0),
                        &format!("mailboxes table: {e}"),
                    ));
                }
            }
        }
        Ok(PathBuf::from(self.maildir.replace("%u", user)))
    }

    fn mailbox(&self, site: &Site, batch: &Batch<'_>, address: &str) -> Outcome {
        let user = address.split_once('+').map_or(address, |(b, _)| b);
        let user = user.to_ascii_lowercase();
        if !maildir::safe_name(&user) || user.contains('%') {
            return failed(
                EnhancedStatus::new(5, 1, 3),
                &format!("{address}... Bad mailbox name"),
            );
        }
        match users::local_user(site, &user) {
            Err(e) => {
                return deferred(
                    EnhancedStatus::new(4, 3, 0),
                    &format!("{address}... user lookup: {e}"),
                );
            }
            Ok((LocalUser::Unknown, _)) => {
                return failed(
                    EnhancedStatus::new(5, 1, 1),
                    &format!("{address}... User unknown"),
                );
            }
            Ok((LocalUser::Disabled(text), _)) => {
                return failed(
                    EnhancedStatus::new(5, 2, 1),
                    &format!("{address}... {text}"),
                );
            }
            Ok((LocalUser::Alias | LocalUser::Mailbox, _)) => {}
        }
        let dir = match self.maildir_of(site, &user) {
            Ok(d) => d,
            Err(o) => return o,
        };
        let id = batch.id.as_str();
        let name = format!(
            "{}.{id}_{}.{}",
            batch.envelope.arrival,
            file_safe(address),
            file_safe(&self.hostname)
        );
        let head = format!(
            "Return-Path: <{}>\r\nDelivered-To: {address}@{}\r\n",
            batch.sender, self.hostname
        );
        // A user of this host (passwd) owns their Maildir: a root daemon
        // creates it for them; otherwise (virtual mailboxes) the daemon's
        // user does.
        let owner = match owner_of(&user) {
            Ok(o) => o,
            Err(e) => {
                return deferred(
                    EnhancedStatus::new(4, 3, 0),
                    &format!("{address}... passwd lookup: {e}"),
                );
            }
        };
        match maildir::deliver(&dir, &name, &[head.as_bytes(), batch.message], owner) {
            Ok(Delivered::New(_)) => Outcome::Delivered {
                reply: Said::text(format!(
                    "{address}... Delivered to Maildir {}",
                    dir.display()
                )),
                relay: "local".into(),
            },
            Ok(Delivered::Already(_)) => Outcome::Delivered {
                reply: Said::text(format!("{address}... Already in Maildir {}", dir.display())),
                relay: "local".into(),
            },
            Err(e) => deferred(
                if e.raw_os_error() == Some(28) {
                    EnhancedStatus::new(4, 2, 2)
                } else {
                    EnhancedStatus::new(4, 3, 0)
                },
                &format!("{address}... Maildir {}: {e}", dir.display()),
            ),
        }
    }

    fn program(&self, batch: &Batch<'_>, command: &str) -> Outcome {
        use std::process::{Command, Stdio};
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("SENDER", &batch.sender)
            .env("RECIPIENT", command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                return deferred(
                    EnhancedStatus::new(4, 3, 0),
                    &format!("|{command}... cannot run: {e}"),
                );
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            let head = format!("Return-Path: <{}>\r\n", batch.sender);
            // A program that does not read its input is its own business.
            let _ = stdin
                .write_all(head.as_bytes())
                .and_then(|()| stdin.write_all(batch.message));
        }
        match child.wait() {
            Ok(st) if st.success() => Outcome::Delivered {
                reply: Said::text(format!("|{command}... Delivered to program")),
                relay: "local".into(),
            },
            Ok(st) if st.code() == Some(75) => deferred(
                EnhancedStatus::new(4, 0, 0),
                &format!("|{command}... temporary failure (exit 75)"),
            ),
            Ok(st) => failed(
                EnhancedStatus::new(5, 3, 0),
                &format!(
                    "|{command}... unknown mailer error {}",
                    st.code().unwrap_or(-1)
                ),
            ),
            Err(e) => deferred(EnhancedStatus::new(4, 3, 0), &format!("|{command}... {e}")),
        }
    }

    fn file(&self, batch: &Batch<'_>, path: &str) -> Outcome {
        if !path.starts_with('/') {
            return failed(
                EnhancedStatus::new(5, 1, 3),
                &format!("{path}... not an absolute path"),
            );
        }
        let r = append_mbox(
            std::path::Path::new(path),
            &batch.sender,
            batch.envelope.arrival,
            batch.message,
        );
        match r {
            Ok(()) => Outcome::Delivered {
                reply: Said::text(format!("{path}... Appended to file")),
                relay: "local".into(),
            },
            Err(e) => deferred(EnhancedStatus::new(4, 3, 0), &format!("{path}... {e}")),
        }
    }
}

/// Append `message` to the mbox file `path` (`From ` line, `Return-Path:`,
/// `>From ` quoting, LF line ends), creating it mode 0600, never through a
/// symlink at the file itself (sendmail's SafeFileEnvironment refuses them
/// too: a link there could point at any file root can write), and fsync it.
/// Used for `/file` targets and for `confDEAD_LETTER_DROP`.
pub fn append_mbox(
    path: &std::path::Path,
    sender: &str,
    arrival: u64,
    message: &[u8],
) -> std::io::Result<()> {
    let mut text = format!(
        "From {} {}\n",
        if sender.is_empty() {
            "MAILER-DAEMON"
        } else {
            sender
        },
        crate::dsn::date(arrival)
    )
    .into_bytes();
    text.extend_from_slice(format!("Return-Path: <{sender}>\n").as_bytes());
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"From ") {
            text.push(b'>');
        }
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    text.push(b'\n');
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .and_then(|mut f| f.write_all(&text).and_then(|()| f.sync_data()))
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn failed(status: EnhancedStatus, reply: &str) -> Outcome {
    Outcome::Failed {
        status,
        reply: Said::text(reply),
        relay: None,
    }
}

fn deferred(status: EnhancedStatus, reply: &str) -> Outcome {
    Outcome::Deferred {
        status,
        reply: Said::text(reply),
        relay: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::deliver::BatchRcpt;
    use crate::spool::{Envelope, QueueId};
    use crate::table::{MemTable, TableRef};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn the_owner_lookup_is_remembered_for_a_minute_hits_and_misses_alike() {
        let root = owner_of("root").unwrap().expect("root is in /etc/passwd");
        assert_eq!(root.uid.as_raw(), 0);
        let ghost = "no-such-user-mxgate-owner-test";
        assert_eq!(owner_of(ghost).unwrap(), None);
        assert!(
            OWNERS
                .lock()
                .unwrap()
                .get(ghost)
                .is_some_and(|(o, _)| o.is_none())
        );
        // A name the name service does not know, remembered as an owner a
        // moment ago: the cache answers, not the name service.
        let fake = "no-such-user-mxgate-owner-cached";
        let now = Instant::now();
        OWNERS
            .lock()
            .unwrap()
            .insert(fake.into(), (Some(root), now));
        assert_eq!(owner_of(fake).unwrap(), Some(root));
        // Remembered longer ago than OWNER_TTL: asked again.
        if let Some(old) = now.checked_sub(OWNER_TTL) {
            OWNERS
                .lock()
                .unwrap()
                .insert(fake.into(), (Some(root), old));
            assert_eq!(owner_of(fake).unwrap(), None);
        }
    }

    fn site(dir: &std::path::Path, extra: &[(&str, &str)]) -> Site {
        let mut c = Config::new();
        c.hostname = Some("gw.example.com".into());
        c.options.insert(
            "confMXGATE_MAILDIR".into(),
            format!("{}/%u/Maildir", dir.display()),
        );
        for (k, v) in extra {
            c.options.insert((*k).into(), (*v).into());
        }
        let mut tables: BTreeMap<String, TableRef> = BTreeMap::new();
        let mb = format!(
            "alice OK\nbob DISABLED:gone fishing\ncarol {}/carol-box\n",
            dir.display()
        );
        tables.insert("mailboxes".into(), Arc::new(MemTable::from_lines(&mb)));
        Site::from_parts(c, tables).unwrap()
    }

    fn run(site: &Site, mailer: &str, users: &[&str]) -> Vec<Outcome> {
        let id = QueueId::parse("6AO0UD000007581").unwrap();
        // One arrival time for every run: the file name is made of it, and
        // a repeated delivery must find the earlier copy even when the
        // second run starts in the next second.
        let mut env = Envelope::new("<s@example.org>");
        env.arrival = 1_764_892_800;
        let batch = Batch {
            id: &id,
            envelope: &env,
            sender: "s@example.org".into(),
            recipients: users
                .iter()
                .enumerate()
                .map(|(i, u)| BatchRcpt {
                    index: i,
                    address: (*u).into(),
                    notify: None,
                    orcpt: None,
                })
                .collect(),
            message: b"Subject: t\r\n\r\nFrom here\r\n",
            tries: 0,
        };
        let m = LocalMailer::from_site(site);
        m.deliver(
            site,
            &NextHop {
                mailer: mailer.into(),
                host: None,
            },
            &batch,
        )
    }

    #[test]
    fn maildir_unknown_disabled_and_table_path() {
        let d = tempfile::tempdir().unwrap();
        let s = site(d.path(), &[]);
        let out = run(
            &s,
            "local",
            &["alice+tag", "nobody", "bob", "carol", "../x"],
        );
        assert!(matches!(out[0], Outcome::Delivered { .. }), "{out:?}");
        let files: Vec<_> = std::fs::read_dir(d.path().join("alice/Maildir/new"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.starts_with(
            b"Return-Path: <s@example.org>\r\nDelivered-To: alice+tag@gw.example.com\r\nSubject: t\r\n"
        ));
        assert_eq!(out[1].dsn().to_string(), "5.1.1");
        assert!(matches!(out[1], Outcome::Failed { .. }));
        assert_eq!(out[2].dsn().to_string(), "5.2.1");
        assert!(out[2].stat().contains("gone fishing"));
        assert!(matches!(out[3], Outcome::Delivered { .. }));
        assert!(d.path().join("carol-box/new").is_dir());
        assert_eq!(out[4].dsn().to_string(), "5.1.3");
        // The same delivery again finds the earlier copy.
        let again = run(&s, "local", &["alice+tag"]);
        assert!(again[0].stat().contains("Already"), "{again:?}");
    }

    #[test]
    fn programs_and_files_need_the_option() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("archive");
        let s = site(d.path(), &[]);
        let out = run(&s, "*file*", &[f.to_str().unwrap()]);
        assert_eq!(out[0].dsn().to_string(), "5.7.1");
        assert!(!f.exists());
        let s = site(d.path(), &[("confMXGATE_ALLOW_PROGRAMS", "True")]);
        let out = run(&s, "*file*", &[f.to_str().unwrap()]);
        assert!(matches!(out[0], Outcome::Delivered { .. }), "{out:?}");
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("From s@example.org "));
        assert!(text.contains("\n>From here\n"), "{text}");
        let copy = d.path().join("copy");
        let cmd = format!("cat > {}", copy.display());
        let out = run(&s, "prog", &[&cmd, "exit 75", "exit 3"]);
        assert!(matches!(out[0], Outcome::Delivered { .. }), "{out:?}");
        assert!(
            std::fs::read_to_string(&copy)
                .unwrap()
                .contains("Subject: t")
        );
        assert!(matches!(out[1], Outcome::Deferred { .. }));
        assert_eq!(out[2].dsn().to_string(), "5.3.0");
    }

    #[test]
    fn file_delivery_does_not_follow_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let link = d.path().join("archive");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let s = site(d.path(), &[("confMXGATE_ALLOW_PROGRAMS", "True")]);
        let out = run(&s, "*file*", &[link.to_str().unwrap()]);
        assert!(matches!(out[0], Outcome::Deferred { .. }), "{out:?}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    }
}
