//! `sendmail` run by a user who cannot write the spool: hand the message to
//! the daemon's submission socket (sendmail's `smmsp` client queue,
//! Postfix's `postdrop`, without a setuid or setgid binary).
//!
//! Contract: [`deliver`] sends the command line's submission options and
//! the message as [`wire`] frames and exits 0 only after the daemon
//! answered [`Frame::Queued`], which it sends after the spool commit (file
//! fsync, rename, directory fsync). A refusal is printed as the direct
//! path prints it, with its exit status. When the daemon cannot be reached
//! (no socket, connection refused, connection lost before an answer) the
//! message is appended to `$HOME/dead.letter` (mbox `From ` line, mode
//! 0600, not through a symlink), as sendmail's `savemail()` does, and the
//! exit status is 75 (EX_TEMPFAIL): nothing is lost and the caller knows.
//! [`mailq`] asks the daemon for the queue listing. Who the caller is, is
//! never sent as a fact: the daemon reads it from the kernel.

use super::wire::{self, Frame};
use super::{EX_IOERR, EX_TEMPFAIL, Options, RecipientSource, Verbosity};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the client waits for the daemon's answer after the last byte
/// (the daemon's own deadline is shorter).
const ANSWER_WAIT: Duration = Duration::from_secs(2 * 3600);

/// Whether this process must go through the daemon: not root, and the
/// spool's `queue/` is not writable (a spool owned by the run-as user). A
/// spool that does not exist yet counts as writable when this user could
/// create it (a developer's `./spool`), as the direct path creates it.
pub fn must_use_socket(queue_dir: &Path) -> bool {
    use nix::unistd::AccessFlags;
    !direct_access(queue_dir, AccessFlags::W_OK | AccessFlags::X_OK)
}

/// Whether `mailq` must ask the daemon: not root and the queue is not
/// readable (a spool this user could create is read directly).
pub fn must_ask_daemon(queue_dir: &Path) -> bool {
    use nix::unistd::AccessFlags;
    !direct_access(queue_dir, AccessFlags::R_OK | AccessFlags::X_OK)
}

/// Root, or `queue/` allows `flags`, or it does not exist and its nearest
/// existing ancestor is writable (the direct path would create it).
fn direct_access(queue_dir: &Path, flags: nix::unistd::AccessFlags) -> bool {
    use nix::unistd::{AccessFlags, Uid, access};
    if Uid::effective().is_root() {
        return true;
    }
    let queue = queue_dir.join("queue");
    if queue.exists() {
        return access(&queue, flags).is_ok();
    }
    let existing = queue
        .ancestors()
        .skip(1)
        .find(|p| p.as_os_str().is_empty() || p.exists())
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("/"));
    access(existing, AccessFlags::W_OK | AccessFlags::X_OK).is_ok()
}

/// The frames for a submission's options (everything but the message).
pub fn option_frames(opts: &Options, claimed_user: &str) -> Vec<Frame> {
    let mut f = vec![
        Frame::Hello(wire::VERSION.to_string()),
        Frame::ClaimedUser(claimed_user.to_string()),
    ];
    if let Some((addr, flag)) = &opts.sender {
        f.push(Frame::Sender(*flag, addr.clone()));
    }
    if let Some(n) = &opts.full_name {
        f.push(Frame::FullName(n.clone()));
    }
    if opts.recipients_from == RecipientSource::Headers {
        f.push(Frame::HeaderRecipients);
    }
    for r in &opts.operands {
        f.push(Frame::Recipient(r.clone()));
    }
    if let Some(v) = &opts.notify {
        f.push(Frame::Notify(v.clone()));
    }
    if let Some(v) = &opts.ret {
        f.push(Frame::Ret(v.clone()));
    }
    if let Some(v) = &opts.envid {
        f.push(Frame::EnvId(v.clone()));
    }
    if let Some(v) = &opts.body {
        f.push(Frame::Body(v.clone()));
    }
    f
}

/// What became of a conversation with the daemon.
enum Talk {
    /// The daemon answered.
    Answer(Vec<Frame>),
    /// It could not be reached, or went away before answering.
    Unreachable(std::io::Error),
}

/// Send `frames`, then read answer frames until a final one.
fn talk(socket: &Path, frames: &[Frame]) -> Talk {
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => return Talk::Unreachable(e),
    };
    let _ = s.set_read_timeout(Some(ANSWER_WAIT));
    let mut write_error = None;
    for f in frames {
        if let Err(e) = s.write_all(&f.encode()) {
            // The daemon may have refused early (a limit) and closed: its
            // answer is still readable.
            write_error = Some(e);
            break;
        }
    }
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        loop {
            match wire::decode(&buf) {
                Ok(Some((f, used))) => {
                    buf.drain(..used);
                    let last = matches!(f, Frame::Queued(_) | Frame::Refused(..) | Frame::Exit(_));
                    answers.push(f);
                    if last {
                        return Talk::Answer(answers);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Talk::Unreachable(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("bad answer from the daemon: {e}"),
                    ));
                }
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                return Talk::Unreachable(write_error.unwrap_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the daemon closed the connection without an answer",
                    )
                }));
            }
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) => return Talk::Unreachable(write_error.unwrap_or(e)),
        }
    }
}

/// The message as frames of at most [`wire::MAX_CHUNK`] bytes, then `End`.
fn message_frames(message: &[u8]) -> impl Iterator<Item = Frame> + '_ {
    message
        .chunks(wire::MAX_CHUNK)
        .map(|c| Frame::Message(c.to_vec()))
        .chain(std::iter::once(Frame::End))
}

/// Submit `message` (already read, CRLF) through `socket`. Returns the exit status.
pub fn deliver(
    socket: &Path,
    opts: &Options,
    user: &str,
    message: &[u8],
    err: &mut dyn Write,
) -> i32 {
    let mut frames = option_frames(opts, user);
    frames.extend(message_frames(message));
    match talk(socket, &frames) {
        Talk::Answer(answers) => match answers.last() {
            Some(Frame::Queued(qid)) => {
                if opts.verbosity == Verbosity::Verbose {
                    let _ = writeln!(
                        err,
                        "{qid}: queued by the daemon through {}",
                        socket.display()
                    );
                }
                0
            }
            Some(Frame::Refused(status, text)) => {
                let _ = writeln!(err, "sendmail: {text} (nothing queued)");
                *status
            }
            _ => {
                let _ = writeln!(err, "sendmail: unexpected answer from the daemon");
                EX_TEMPFAIL
            }
        },
        Talk::Unreachable(e) => {
            let _ = writeln!(
                err,
                "sendmail: cannot submit to the mail daemon at {}: {e} (is mxgate running?)",
                socket.display()
            );
            let sender = opts
                .sender
                .as_ref()
                .map(|(s, _)| s.clone())
                .unwrap_or_else(|| user.to_string());
            match save_dead_letter(&sender, message) {
                Ok(path) => {
                    let _ = writeln!(
                        err,
                        "sendmail: the message was saved in {}; nothing was queued",
                        path.display()
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        err,
                        "sendmail: cannot save the message in dead.letter: {e}; it is LOST"
                    );
                }
            }
            EX_TEMPFAIL
        }
    }
}

/// `mailq` through the daemon. Returns the exit status.
pub fn mailq(
    socket: &Path,
    json: bool,
    select: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut request = if json { "json" } else { "text" }.to_string();
    for q in select {
        request.push('\n');
        request.push_str(q);
    }
    let frames = [
        Frame::Hello(wire::VERSION.to_string()),
        Frame::MailQ(request),
    ];
    match talk(socket, &frames) {
        Talk::Answer(answers) => {
            let mut status = EX_TEMPFAIL;
            for a in answers {
                match a {
                    Frame::Output(b) => {
                        let _ = out.write_all(&b);
                    }
                    Frame::Exit(s) => status = s,
                    Frame::Refused(s, text) => {
                        let _ = writeln!(err, "mailq: {text}");
                        status = s;
                    }
                    _ => {}
                }
            }
            status
        }
        Talk::Unreachable(e) => {
            let _ = writeln!(
                err,
                "mailq: the queue is readable only by the mail daemon, and it cannot be \
                 reached at {}: {e} (is mxgate running?)",
                socket.display()
            );
            EX_TEMPFAIL
        }
    }
}

/// The caller's home directory: the password entry's, else `$HOME`.
fn home() -> Option<PathBuf> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .filter(|d| d.is_dir())
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
}

/// Append the message to `$HOME/dead.letter` as sendmail's `savemail()`:
/// a `From sender DATE` line, the message with LF line ends (a body line
/// starting `From ` gets `>`), a blank line. Created 0600; a symlink is
/// not followed.
pub fn save_dead_letter(sender: &str, message: &[u8]) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let home = home()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no home directory"))?;
    let path = home.join("dead.letter");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path)?;
    f.write_all(&mbox_entry(
        sender,
        message,
        crate::queue::runner::unix_now(),
    ))?;
    f.sync_all()?;
    Ok(path)
}

/// One mbox entry (pure).
pub fn mbox_entry(sender: &str, message: &[u8], now: u64) -> Vec<u8> {
    let sender = if sender.is_empty() || sender == "<>" {
        "MAILER-DAEMON"
    } else {
        sender.trim_start_matches('<').trim_end_matches('>')
    };
    let mut out = format!("From {sender} {}\n", asctime(now)).into_bytes();
    for line in message.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// `Thu Dec  3 22:50:33 2026` (UTC), the mbox `From ` line's date.
fn asctime(now: u64) -> String {
    let (y, mo, d, h, mi, s) = crate::spool::ids::civil(now);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = DAYS
        .get(usize::try_from((now / 86_400) % 7).unwrap_or(0))
        .unwrap_or(&"Thu");
    let m = MONTHS
        .get(usize::try_from(mo).unwrap_or(1).saturating_sub(1))
        .unwrap_or(&"Jan");
    format!("{wd} {m} {d:>2} {h:02}:{mi:02}:{s:02} {y}")
}

/// Read the message for a submission; `Err` is the exit status (printed).
pub fn read(
    opts: &Options,
    input: &mut dyn std::io::BufRead,
    err: &mut dyn Write,
) -> Result<Vec<u8>, i32> {
    super::read_message(input, opts.dots).map_err(|e| {
        let _ = writeln!(err, "sendmail: reading the message: {e}");
        EX_IOERR
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_entry_is_an_mbox_message() {
        // 1_795_480_213 = Tue, 24 Nov 2026 00:30:13 UTC
        let e = mbox_entry(
            "joe",
            b"Subject: s\r\n\r\nFrom here\r\nbody\r\n",
            1_795_480_213,
        );
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "From joe Tue Nov 24 00:30:13 2026\nSubject: s\n\n>From here\nbody\n\n"
        );
        assert!(
            mbox_entry("<>", b"x\r\n", 0)
                .starts_with(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n")
        );
    }

    #[test]
    fn option_frames_carry_the_command_line_not_an_identity() {
        let o = super::super::parse_args(
            &["-t", "-f", "a@b", "-F", "A B", "-N", "never", "x@y"]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let f = option_frames(&o, "joe");
        assert_eq!(f[0], Frame::Hello(wire::VERSION.into()));
        assert!(f.contains(&Frame::Sender('f', "a@b".into())));
        assert!(f.contains(&Frame::HeaderRecipients));
        assert!(f.contains(&Frame::Recipient("x@y".into())));
        assert!(f.contains(&Frame::Notify("never".into())));
        assert_eq!(message_frames(&vec![b'x'; wire::MAX_CHUNK + 1]).count(), 3);
    }
}
