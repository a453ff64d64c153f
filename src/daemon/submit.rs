//! The daemon's local submission socket: mail from users who may not
//! write the spool (`sendmail` run from a crontab, `mail(1)`, scripts).
//!
//! Contract: [`bind`] creates the socket (`confMXGATE_SUBMIT_SOCKET`,
//! default [`socket_path`]) as root before the privilege drop: its
//! directory is created 0755 if missing, opened without following a
//! symlink and judged like the spool (a real directory owned by root or
//! the run-as user, not writable by group or others), handed to the
//! run-as user; a stale socket is removed only if it is a socket; the
//! socket is mode 0666. [`serve`] answers each connection in its own task:
//! the caller's uid comes from the kernel (`SO_PEERCRED`), never from the
//! client; [`Request`] (sans-IO) collects the frames under the limits
//! (the message size while it arrives, the recipient count, a frame
//! bound); then, as for an SMTP message, the submission is prepared by
//! [`crate::cli::submit::prepare`] for that uid (its own address as the
//! sender, `X-Authentication-Warning:` for `-f` by a uid not in `$=t`) and
//! committed (fsync before the answer). Bounds: [`PER_UID`] connections
//! per uid at once, `confTO_COMMAND` between frames and
//! `confMXGATE_TO_DATA` for the whole submission. Every refusal is
//! answered with a sendmail exit status and text, and logged with the uid.

use crate::cli::submit::wire::{self, Frame, WireError};
use crate::cli::submit::{self, Dots, Invoker, Options, RecipientSource, Trust};
use crate::config::Config;
use crate::site::Site;
use crate::smtpd::Server;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Connections one uid may have open at once (a user's scripts queue
/// mail; a loop cannot take every slot of the daemon).
pub const PER_UID: usize = 4;

/// The submission socket a configuration names: `confMXGATE_SUBMIT_SOCKET`,
/// else `submit.sock` in `NAME-public/` beside the spool directory
/// (`/var/spool/mxgate` → `/var/spool/mxgate-public/submit.sock`, as
/// Postfix's `public/` is beside its private queue); `none` = no socket.
pub fn socket_path(config: &Config) -> Option<PathBuf> {
    crate::settings::submit_socket(config)
}

/// Create the socket (see the module doc). `owner`: the run-as user the
/// directory and socket are handed to.
pub fn bind(
    path: &Path,
    owner: Option<&nix::unistd::User>,
) -> Result<std::os::unix::net::UnixListener, String> {
    use crate::safefile::{Kind, Rule, check, open_dir};
    use nix::sys::stat::{Mode, fchmod};
    use nix::unistd::{FchownatFlags, Uid, fchown, fchownat};
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
    let where_ = |e: &dyn std::fmt::Display| format!("submission socket {}: {e}", path.display());
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(where_(&"not a file path"));
    };
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let mut owners = vec![Uid::from_raw(0), Uid::effective()];
    if let Some(u) = owner {
        owners.push(u.uid);
    }
    let rule = Rule {
        kind: Kind::Dir,
        owners,
        forbid: 0o022,
        owner_name: owner.map_or("root".to_string(), |u| u.name.clone()),
    };
    let fd = open_dir(dir).map_err(|p| format!("unsafe submission socket directory: {p}"))?;
    check(&fd, dir, &rule).map_err(|p| format!("unsafe submission socket directory: {p}"))?;
    if let Some(u) = owner {
        fchown(&fd, Some(u.uid), Some(u.gid))
            .map_err(|e| format!("{}: chown {}: {e}", dir.display(), u.name))?;
    }
    fchmod(&fd, Mode::from_bits_truncate(0o755))
        .map_err(|e| format!("{}: chmod: {e}", dir.display()))?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| where_(&format!("removing the stale socket: {e}")))?,
        Ok(_) => {
            return Err(where_(
                &"exists and is not a socket; remove it or name another path (confMXGATE_SUBMIT_SOCKET)",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(where_(&e)),
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|e| where_(&e))?;
    // In a directory only root and the daemon's user may write: the name
    // is the socket just bound.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| where_(&e))?;
    if let Some(u) = owner {
        fchownat(
            &fd,
            name,
            Some(u.uid),
            Some(u.gid),
            FchownatFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| where_(&format!("chown {}: {e}", u.name)))?;
    }
    Ok(listener)
}

/// Remove the socket at stop (only if it is still a socket).
pub fn remove(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Connections per uid in progress.
type Slots = Arc<Mutex<HashMap<u32, usize>>>;

/// One uid's connection slot, released when dropped.
struct Slot {
    slots: Slots,
    uid: u32,
}

impl Slot {
    fn take(slots: &Slots, uid: u32) -> Option<Slot> {
        let mut m = slots.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(uid).or_insert(0);
        if *n >= PER_UID {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: slots.clone(),
            uid,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.uid);
            }
        }
    }
}

/// Accept connections until the server stops (the caller drops the task).
pub async fn serve(server: Arc<Server>, listener: async_net::unix::UnixListener) {
    let slots: Slots = Arc::default();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let server = server.clone();
                let slots = slots.clone();
                smol::spawn(async move { handle(server, stream, slots).await }).detach();
            }
            Err(e) => {
                server.log.line(None, &format!("submit: accept: {e}"));
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a client asked for, as the frames arrive (sans-IO).
#[derive(Debug, Default)]
pub struct Request {
    hello: bool,
    /// The submission options the frames gave.
    pub opts: Options,
    /// The message so far.
    pub message: Vec<u8>,
    /// What the client said its login name is (never used but to log a difference).
    pub claimed: Option<String>,
    max_size: u64,
    max_rcpts: usize,
}

/// What to do after a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read the next frame.
    More,
    /// The message is complete: prepare and commit it.
    Submit,
    /// List the queue in this format.
    MailQ(String),
    /// Answer with this exit status and text, and close.
    Refuse(i32, String),
}

impl Request {
    /// A request under the daemon's limits (`0` = unlimited).
    pub fn new(max_size: u64, max_rcpts: usize) -> Request {
        Request {
            max_size,
            max_rcpts,
            // The client has already handled dots and line ends.
            opts: Options {
                dots: Dots::Ignore,
                ..Options::default()
            },
            ..Request::default()
        }
    }

    /// Take one frame.
    pub fn take(&mut self, frame: Frame) -> Step {
        if !self.hello {
            return match frame {
                Frame::Hello(v) if v == wire::VERSION => {
                    self.hello = true;
                    Step::More
                }
                Frame::Hello(v) => Step::Refuse(
                    submit::EX_USAGE,
                    format!(
                        "protocol {v:?} is not {:?}; use the sendmail of this mxgate",
                        wire::VERSION
                    ),
                ),
                _ => Step::Refuse(
                    submit::EX_USAGE,
                    "protocol error: expected Hello first".into(),
                ),
            };
        }
        let o = &mut self.opts;
        match frame {
            Frame::Sender(flag, addr) => {
                if o.sender.is_some() {
                    return Step::Refuse(submit::EX_USAGE, "more than one \"from\" person".into());
                }
                o.sender = Some((addr, flag));
            }
            Frame::FullName(n) => o.full_name = Some(n),
            Frame::HeaderRecipients => o.recipients_from = RecipientSource::Headers,
            Frame::Recipient(r) => {
                if self.max_rcpts > 0 && o.operands.len() >= self.max_rcpts {
                    return Step::Refuse(
                        submit::EX_USAGE,
                        format!("Too many recipients; {} max", self.max_rcpts),
                    );
                }
                o.operands.push(r);
            }
            Frame::Notify(v) => o.notify = Some(v),
            Frame::Ret(v) => o.ret = Some(v),
            Frame::EnvId(v) => o.envid = Some(v),
            Frame::Body(v) => o.body = Some(v),
            Frame::ClaimedUser(u) => self.claimed = Some(u),
            Frame::Message(chunk) => {
                let len = (self.message.len() + chunk.len()) as u64;
                if self.max_size > 0 && len > self.max_size {
                    return Step::Refuse(
                        submit::EX_DATAERR,
                        format!("Message is too large; {} bytes max", self.max_size),
                    );
                }
                self.message.extend_from_slice(&chunk);
            }
            Frame::End => return Step::Submit,
            Frame::MailQ(f) => return Step::MailQ(f),
            Frame::Hello(_)
            | Frame::Queued(_)
            | Frame::Refused(..)
            | Frame::Output(_)
            | Frame::Exit(_) => {
                return Step::Refuse(submit::EX_USAGE, "protocol error: unexpected frame".into());
            }
        }
        Step::More
    }
}

/// The invoker a uid is: its password entry's name and full name (a uid
/// without one is `uidN`); trusted when root or in `$=t`.
pub fn invoker(site: &Site, uid: u32) -> Invoker {
    let pw = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten();
    let user = pw
        .as_ref()
        .map_or_else(|| format!("uid{uid}"), |u| u.name.clone());
    let full_name = pw.as_ref().and_then(|u| {
        let g = u.gecos.to_string_lossy();
        let first = g.split(',').next().unwrap_or("").trim().to_string();
        (!first.is_empty()).then_some(first)
    });
    let trust = if uid == 0 || site.in_class("t", &user) {
        Trust::Trusted
    } else {
        Trust::Untrusted
    };
    Invoker {
        user,
        full_name,
        trust,
    }
}

/// Why reading frames stopped.
enum ReadEnd {
    Step(Step),
    Closed,
    Timeout,
    Bad(WireError),
    Io(std::io::Error),
}

async fn handle(server: Arc<Server>, mut stream: async_net::unix::UnixStream, slots: Slots) {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = match getsockopt(&stream, PeerCredentials) {
        Ok(c) => c,
        Err(e) => {
            server.log.line(
                None,
                &format!("submit: cannot read the peer's credentials: {e}"),
            );
            return;
        }
    };
    let uid = cred.uid();
    let site = server.site();
    let who = format!("uid {uid} ({})", invoker(&site, uid).user);
    // What a client sent may hold line breaks: never more than one log line.
    let log = |text: &str| {
        let clean = text.replace(|c: char| c.is_control(), " ");
        server.log.line(None, &format!("submit: {who}: {clean}"))
    };
    let _slot = match Slot::take(&slots, uid) {
        Some(s) => s,
        None => {
            let text = format!(
                "Too many submissions in progress for this user ({PER_UID} max); try again later"
            );
            log(&format!("refused: {text}"));
            let _ = stream
                .write_all(&Frame::Refused(submit::EX_TEMPFAIL, text).encode())
                .await;
            return;
        }
    };
    let settings = server.settings();
    let mut req = Request::new(settings.max_message_size, settings.max_rcpts);
    let deadline = Instant::now() + settings.data_deadline;
    let end = read_frames(&mut stream, &mut req, settings.command_timeout, deadline).await;
    if let Some(claimed) = &req.claimed
        && *claimed != invoker(&site, uid).user
    {
        log(&format!(
            "client claims to be {claimed:?}; ignored (the kernel says uid {uid})"
        ));
    }
    let answer: Vec<Frame> = match end {
        ReadEnd::Closed => {
            log("connection closed before the end of the message; nothing queued");
            return;
        }
        ReadEnd::Io(e) => {
            log(&format!("read error: {e}; nothing queued"));
            return;
        }
        ReadEnd::Timeout => {
            let text = "Timeout waiting for input; nothing queued".to_string();
            log(&text);
            vec![Frame::Refused(submit::EX_TEMPFAIL, text)]
        }
        ReadEnd::Bad(e) => {
            log(&format!("bad frame: {e}"));
            vec![Frame::Refused(
                submit::EX_USAGE,
                format!("protocol error: {e}"),
            )]
        }
        ReadEnd::Step(Step::Refuse(status, text)) => {
            log(&format!("refused: {text}"));
            vec![Frame::Refused(status, text)]
        }
        ReadEnd::Step(Step::MailQ(format)) => {
            mailq(&server, &site, uid, cred.gid(), &format, &log).await
        }
        ReadEnd::Step(Step::Submit) => submit(&server, site.clone(), uid, req, &log).await,
        ReadEnd::Step(Step::More) => return,
    };
    for f in answer {
        if stream.write_all(&f.encode()).await.is_err() {
            return;
        }
    }
    let _ = stream.flush().await;
}

async fn read_frames(
    stream: &mut async_net::unix::UnixStream,
    req: &mut Request,
    idle: Duration,
    deadline: Instant,
) -> ReadEnd {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        loop {
            match wire::decode(&buf) {
                Ok(Some((f, used))) => {
                    buf.drain(..used);
                    match req.take(f) {
                        Step::More => {}
                        other => return ReadEnd::Step(other),
                    }
                }
                Ok(None) => break,
                Err(e) => return ReadEnd::Bad(e),
            }
        }
        let wait = idle.min(deadline.saturating_duration_since(Instant::now()));
        let read = futures_lite::future::or(async { Some(stream.read(&mut chunk).await) }, async {
            smol::Timer::after(wait).await;
            None
        })
        .await;
        match read {
            None => return ReadEnd::Timeout,
            Some(Ok(0)) => return ReadEnd::Closed,
            Some(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Some(Err(e)) => return ReadEnd::Io(e),
        }
    }
}

async fn submit(
    server: &Arc<Server>,
    site: Arc<Site>,
    uid: u32,
    req: Request,
    log: &(dyn Fn(&str) + Sync),
) -> Vec<Frame> {
    if let Err(text) = server.has_room() {
        log(&format!("refused: {text}"));
        return vec![Frame::Refused(submit::EX_TEMPFAIL, text.to_string())];
    }
    let invoker = invoker(&site, uid);
    let mut prepared = match submit::prepare(&site, &req.opts, &invoker, &req.message) {
        Ok(p) => p,
        Err(r) => {
            log(&format!("refused: {}", r.text));
            return vec![Frame::Refused(r.status, r.text)];
        }
    };
    prepared
        .envelope
        .facts
        .push(("uid".into(), uid.to_string()));
    let s = server.clone();
    let committed = blocking::unblock(move || {
        submit::commit(&s.spool, &site, &prepared, s.handoff.get()).map(|c| (c, prepared))
    })
    .await;
    match committed {
        Ok((c, prepared)) => {
            crate::metrics::global().inc(crate::metrics::RECEIVED, &[("listener", "submit")]);
            server
                .log
                .line(Some(&c.qid), &submit::log_line(&prepared, c.size, &c.msgid));
            vec![Frame::Queued(c.qid)]
        }
        Err(e) => {
            log(&format!("SYSERR: cannot queue the message: {e}"));
            vec![Frame::Refused(
                submit::EX_TEMPFAIL,
                "cannot queue the message now (spool error, logged); try again later".into(),
            )]
        }
    }
}

/// Queue listings for users run one at a time, daemon-wide: a listing of
/// a large queue reads every envelope and holds the whole text in memory
/// (a million messages: a minute and a half, 100 MB and more), and every
/// local user may ask for one (4 at a time per user).
static LISTING: smol::lock::Semaphore = smol::lock::Semaphore::new(1);

/// `mailq` for a user who cannot read the spool: allowed unless
/// `confPRIVACY_FLAGS` has `restrictmailq` (then only root and the spool's
/// group, as sendmail) or `restrictqrun`. One listing at a time
/// ([`LISTING`]); the others wait their turn.
async fn mailq(
    server: &Arc<Server>,
    site: &Arc<Site>,
    uid: u32,
    gid: u32,
    format: &str,
    log: &(dyn Fn(&str) + Sync),
) -> Vec<Frame> {
    use std::os::unix::fs::MetadataExt;
    let privacy = site.settings.privacy;
    let qdir = server.spool.root().to_path_buf();
    let group = std::fs::metadata(&qdir).map(|m| m.gid()).ok();
    if (privacy.restrict_mailq || privacy.restrict_qrun) && uid != 0 && group != Some(gid) {
        let text =
            "permission denied: the queue is private (confPRIVACY_FLAGS restrictmailq)".to_string();
        log(&format!("mailq refused: {text}"));
        return vec![Frame::Refused(77, text)];
    }
    // The format, then the caller's `-q...` selections, one per line.
    let mut lines = format.split('\n');
    let format = if lines.next() == Some("json") {
        crate::cli::mailq::Format::Json
    } else {
        crate::cli::mailq::Format::Text
    };
    let args: Vec<String> = lines.map(str::to_string).collect();
    let select = match crate::queue::Select::combine_listing(&args) {
        Ok(s) => s,
        Err(text) => return vec![Frame::Refused(submit::EX_USAGE, text)],
    };
    let site = site.clone();
    let _turn = LISTING.acquire().await;
    let (status, out, err) = blocking::unblock(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = crate::cli::mailq::run(&site, format, &select, &mut out, &mut err);
        (status, out, err)
    })
    .await;
    let mut frames: Vec<Frame> = out
        .chunks(wire::MAX_CHUNK)
        .map(|c| Frame::Output(c.to_vec()))
        .collect();
    if status != 0 && !err.is_empty() {
        frames.push(Frame::Refused(
            status,
            String::from_utf8_lossy(&err).trim().to_string(),
        ));
    } else {
        frames.push(Frame::Exit(status));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Request {
        let mut r = Request::new(10, 2);
        assert_eq!(r.take(Frame::Hello(wire::VERSION.into())), Step::More);
        r
    }

    #[test]
    fn hello_first_then_options_and_message_under_the_limits() {
        let mut r = Request::new(10, 2);
        assert!(matches!(r.take(Frame::End), Step::Refuse(64, _)));
        let mut r = Request::new(10, 2);
        assert!(matches!(
            r.take(Frame::Hello("other/9".into())),
            Step::Refuse(64, _)
        ));
        let mut r = started();
        assert_eq!(r.take(Frame::Sender('f', "a@b".into())), Step::More);
        assert!(matches!(
            r.take(Frame::Sender('r', "c@d".into())),
            Step::Refuse(64, _)
        ));
        let mut r = started();
        assert_eq!(r.take(Frame::Recipient("a".into())), Step::More);
        assert_eq!(r.take(Frame::Recipient("b".into())), Step::More);
        assert_eq!(
            r.take(Frame::Recipient("c".into())),
            Step::Refuse(64, "Too many recipients; 2 max".into())
        );
        let mut r = started();
        assert_eq!(r.take(Frame::Message(b"12345".to_vec())), Step::More);
        assert_eq!(r.take(Frame::Message(b"67890".to_vec())), Step::More);
        assert_eq!(
            r.take(Frame::Message(b"x".to_vec())),
            Step::Refuse(65, "Message is too large; 10 bytes max".into())
        );
        let mut r = started();
        assert_eq!(r.take(Frame::ClaimedUser("root".into())), Step::More);
        assert_eq!(r.take(Frame::End), Step::Submit);
        assert_eq!(r.claimed.as_deref(), Some("root"));
        let mut r = started();
        assert!(matches!(
            r.take(Frame::Queued("x".into())),
            Step::Refuse(64, _)
        ));
    }

    #[test]
    fn the_default_socket_is_beside_the_spool() {
        let mut c = Config::new();
        c.options
            .insert("QUEUE_DIR".into(), "/var/spool/mxgate".into());
        assert_eq!(
            socket_path(&c),
            Some(PathBuf::from("/var/spool/mxgate-public/submit.sock"))
        );
        c.options.insert(
            "confMXGATE_SUBMIT_SOCKET".into(),
            "/run/mxgate/submit.sock".into(),
        );
        assert_eq!(
            socket_path(&c),
            Some(PathBuf::from("/run/mxgate/submit.sock"))
        );
        c.options
            .insert("confMXGATE_SUBMIT_SOCKET".into(), "none".into());
        assert_eq!(socket_path(&c), None);
    }
}
