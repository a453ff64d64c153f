//! The daemon's write-ahead log: one flush shared by many sessions' commits.
//!
//! Without it each commit flushes the message's file, then its state
//! directory: two round trips to the disk per 250. With it, a commit
//! appends a copy of the whole queue file to the log and waits for one
//! `fdatasync` of the log, shared with every commit appended before that
//! flush started (group commit). Then it links the file, not flushed, into
//! its state directory, and the client hears 250. A checkpoint every
//! [`CHECKPOINT`] (sooner when a segment is half full) makes those files
//! durable with one `syncfs(2)` and frees the log for reuse.
//!
//! Layout: two segments, `wal.0` and `wal.1` in the spool's root, each
//! [`SEGMENT`] bytes of zeros written once when created, so a commit
//! writes over blocks already allocated and its flush carries no change of
//! size. Commits append to the active segment. A checkpoint makes the
//! other segment active, waits for the commits still using the old one,
//! runs `syncfs`, then clears the old one's header. A message too large
//! for a record ([`RECORD_MAX`]), or one that finds the active segment
//! full, commits the way it does without the log (its own flushes).
//!
//! Recovery ([`Wal::open`], at the daemon's start): a segment with a valid
//! header holds records no checkpoint covered. If the machine has not
//! restarted since they were written (the same kernel `boot_id`), nothing
//! was lost with the page cache and the files are as written. Otherwise
//! each record is compared with its file (looked for in every state
//! directory), and the file is written again when missing or different.
//! A message delivered after its record but before the next checkpoint
//! comes back then and is delivered again: at least once, never lost.

use super::{Error, QueueId, State};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes in each of the two segments.
pub const SEGMENT: u64 = 16 << 20;
/// The largest queue file logged: 99% of a university gateway's messages
/// (those of `mix` up to 256 KiB). A larger one is flushed on its own: its
/// data outweighs the flush, and logging it would write it twice. Logged
/// up to 32 KiB before, the one message in seven between 32 and 256 KiB
/// made two flushes of its own (file, directory) per 250.
pub const RECORD_MAX: usize = 256 << 10;
/// The largest record buffer a committing thread keeps between commits.
const RECORD_KEPT: usize = 64 << 10;
/// Flushes of the log at once (see [`Wal::flush`]).
pub const FLUSHES: usize = 2;
/// How often a checkpoint runs while commits arrive.
pub const CHECKPOINT: Duration = Duration::from_millis(250);
/// The segment file names, in the spool's root.
pub const FILES: [&str; 2] = ["wal.0", "wal.1"];

/// The header block at the start of each segment; records follow it.
const HEAD: u64 = 4096;
const SEG_MAGIC: &[u8; 8] = b"MXGWAL01";
const REC_MAGIC: &[u8; 4] = b"MXGR";
/// magic, epoch, boot id (36), checksum.
const HEADER_LEN: usize = 8 + 8 + 36 + 8;
/// magic, epoch, payload length, state, id length.
const REC_FIXED: usize = 4 + 8 + 4 + 1 + 1;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sum(parts: &[&[u8]]) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x6d78_6761_7465, 0x0077_616c);
    for p in parts {
        h.write(p);
    }
    h.finish()
}

/// The running kernel's boot id (`/proc/sys/kernel/random/boot_id`), or
/// zeros when it cannot be read (then every recovery compares files).
fn boot_id() -> [u8; 36] {
    let mut id = [0u8; 36];
    if let Ok(s) = std::fs::read("/proc/sys/kernel/random/boot_id")
        && s.len() >= 36
    {
        id.copy_from_slice(&s[..36]);
    }
    id
}

fn header(epoch: u64, boot: &[u8; 36]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(SEG_MAGIC);
    h[8..16].copy_from_slice(&epoch.to_le_bytes());
    h[16..52].copy_from_slice(boot);
    let s = sum(&[&h[..52]]);
    h[52..].copy_from_slice(&s.to_le_bytes());
    h
}

/// A segment's epoch and boot id, if its header is valid.
fn parse_header(b: &[u8]) -> Option<(u64, [u8; 36])> {
    let h = b.get(..HEADER_LEN)?;
    if &h[..8] != SEG_MAGIC || sum(&[&h[..52]]).to_le_bytes() != h[52..] {
        return None;
    }
    let epoch = u64::from_le_bytes(h[8..16].try_into().ok()?);
    let mut boot = [0u8; 36];
    boot.copy_from_slice(&h[16..52]);
    (epoch != 0).then_some((epoch, boot))
}

/// One logged commit, as read back by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where the message was committed.
    pub state: State,
    /// Its queue id (its file name).
    pub id: QueueId,
    /// The whole queue file.
    pub data: Vec<u8>,
}

fn state_byte(s: State) -> u8 {
    s.index() as u8
}

fn state_of(b: u8) -> Option<State> {
    [State::Queue, State::Hold, State::Quarantine]
        .get(usize::from(b))
        .copied()
}

/// A record's bytes but for the epoch (filled in under the lock), in `r`,
/// its `len` bytes of payload put in place by `fill`.
fn encode_into<E>(
    r: &mut Vec<u8>,
    state: State,
    id: &QueueId,
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
) -> Result<(), E> {
    let idb = id.as_str().as_bytes();
    let start = REC_FIXED + idb.len();
    r.clear();
    r.resize(start + len + 8, 0);
    r[..4].copy_from_slice(REC_MAGIC);
    r[12..16].copy_from_slice(&(len as u32).to_le_bytes());
    r[16] = state_byte(state);
    r[17] = idb.len() as u8;
    r[REC_FIXED..start].copy_from_slice(idb);
    fill(&mut r[start..start + len])
}

#[cfg(test)]
fn encode(state: State, id: &QueueId, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    encode_into(&mut r, state, id, data.len(), |b| {
        b.copy_from_slice(data);
        Ok::<(), ()>(())
    })
    .expect("in memory");
    r
}

/// Stamp `epoch` into an encoded record and seal it with its checksum.
fn seal(r: &mut [u8], epoch: u64) {
    r[4..12].copy_from_slice(&epoch.to_le_bytes());
    let end = r.len() - 8;
    let s = sum(&[&r[..end]]);
    r[end..].copy_from_slice(&s.to_le_bytes());
}

/// The records of one segment's bytes, given its epoch: from the header
/// on, up to the first that is not whole, not of this epoch or not valid.
fn records(seg: &[u8], epoch: u64) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = HEAD as usize;
    while let Some(fixed) = seg.get(at..at + REC_FIXED) {
        if &fixed[..4] != REC_MAGIC || fixed[4..12] != epoch.to_le_bytes() {
            break;
        }
        let len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]) as usize;
        let Some(state) = state_of(fixed[16]) else {
            break;
        };
        let idl = usize::from(fixed[17]);
        let end = at + REC_FIXED + idl + len;
        let Some(whole) = seg.get(at..end + 8) else {
            break;
        };
        if sum(&[&whole[..end - at]]).to_le_bytes() != whole[end - at..] {
            break;
        }
        let id = std::str::from_utf8(&whole[REC_FIXED..REC_FIXED + idl])
            .ok()
            .and_then(QueueId::parse);
        let Some(id) = id else {
            break;
        };
        out.push(Record {
            state,
            id,
            data: whole[REC_FIXED + idl..end - at].to_vec(),
        });
        at = end + 8;
    }
    out
}

#[derive(Debug)]
struct Inner {
    active: usize,
    offset: u64,
    epoch: u64,
    /// Per segment: commits appended and not yet linked.
    inflight: [usize; 2],
    /// Per segment: records appended (the group commit's tickets).
    written: [u64; 2],
    stop: bool,
}

/// One segment's group commit: records covered by a completed flush, and
/// the flushes running.
#[derive(Debug, Default)]
struct Flushes {
    synced: u64,
    running: usize,
}

/// What recovery found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Records no checkpoint had covered.
    pub records: usize,
    /// Files written again from them (missing or different).
    pub restored: usize,
    /// Whether the machine had restarted since they were written.
    pub rebooted: bool,
}

/// The open log; see the module doc.
#[derive(Debug)]
pub struct Wal {
    root: PathBuf,
    files: [File; 2],
    /// An exclusive `flock` on `wal.0`: one daemon per spool.
    _owner: nix::fcntl::Flock<File>,
    boot: [u8; 36],
    inner: Mutex<Inner>,
    /// A commit left a segment (the checkpoint waits for the old one's).
    left: Condvar,
    /// A checkpoint is due (a segment half full, or the daemon stopping).
    due: Condvar,
    /// Per segment: the group commit's flushes.
    synced: [Mutex<Flushes>; 2],
    /// A flush ended (a commit waiting for a free flush, or for one that
    /// covers it, looks again).
    flushed: Condvar,
    /// Serialises checkpoints; holds a segment whose clearing failed.
    checkpointing: Mutex<Option<usize>>,
    /// When the last successful `syncfs` started.
    covered: Mutex<Option<Instant>>,
}

/// A commit appended to the log: [`Wal::flush`] it, link its file, drop it.
#[derive(Debug)]
pub struct Pending<'w> {
    wal: &'w Wal,
    seg: usize,
    ticket: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut g = lock(&self.wal.inner);
        g.inflight[self.seg] -= 1;
        if g.inflight[self.seg] == 0 {
            self.wal.left.notify_all();
        }
    }
}

impl Wal {
    /// Open the log of the spool at `root`, recovering what it holds (see
    /// the module doc), and leave both segments empty. Creates them the
    /// first time.
    pub fn open(root: &Path) -> Result<(Wal, Recovered), Error> {
        Wal::open_as(root, boot_id())
    }

    fn open_as(root: &Path, boot: [u8; 36]) -> Result<(Wal, Recovered), Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut files = Vec::new();
        let mut found = Vec::new();
        let mut owner = None;
        for name in FILES {
            let p = root.join(name);
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(&p)
                .map_err(|e| Error::io(&p, e))?;
            if files.is_empty() {
                let dup = f.try_clone().map_err(|e| Error::io(&p, e))?;
                owner = Some(
                    nix::fcntl::Flock::lock(dup, nix::fcntl::FlockArg::LockExclusiveNonblock)
                        .map_err(|(_, e)| match e {
                            nix::errno::Errno::EWOULDBLOCK => Error::Io {
                                path: p.clone(),
                                err: std::io::Error::other(
                                    "locked: another mxgate daemon uses this spool",
                                ),
                            },
                            e => Error::io(&p, e.into()),
                        })?,
                );
            }
            let len = f.metadata().map_err(|e| Error::io(&p, e))?.len();
            // The segment is read whole only when its header says it
            // holds records (after a crash); the daemon keeps no segment-sized
            // buffer from an ordinary start.
            let mut head = [0u8; HEADER_LEN];
            let valid = f.read_exact_at(&mut head, 0).is_ok() && parse_header(&head).is_some();
            if valid {
                let mut bytes = Vec::new();
                {
                    use std::io::Read;
                    (&f).read_to_end(&mut bytes).map_err(|e| Error::io(&p, e))?;
                }
                if let Some((epoch, was)) = parse_header(&bytes) {
                    found.push((epoch, was, records(&bytes, epoch)));
                }
            }
            files.push((f, p, len));
        }
        found.sort_by_key(|(epoch, _, _)| *epoch);
        let mut rec = Recovered::default();
        for (_, was, list) in &found {
            rec.records += list.len();
            if list.is_empty() || (*was == boot && boot != [0; 36]) {
                continue;
            }
            rec.rebooted = true;
            for r in list {
                if restore(root, r)? {
                    rec.restored += 1;
                }
            }
        }
        // Before the records are cleared, the files they stand for must be
        // durable: written again just now, or (the same boot) still only
        // in the page cache.
        if rec.records > 0 {
            sync_fs(root)?;
        }
        let mut created = false;
        for (f, p, len) in &files {
            if *len != SEGMENT {
                // Zeros written, not a sparse length: later commits then
                // write over allocated blocks.
                f.set_len(0).map_err(|e| Error::io(p, e))?;
                let zeros = [0u8; 64 << 10];
                for i in 0..SEGMENT / (64 << 10) {
                    f.write_all_at(&zeros, i * (64 << 10))
                        .map_err(|e| Error::io(p, e))?;
                }
                f.sync_all().map_err(|e| Error::io(p, e))?;
                created = true;
            } else if !found.is_empty() {
                f.write_all_at(&[0u8; HEADER_LEN], 0)
                    .and_then(|_| f.sync_data())
                    .map_err(|e| Error::io(p, e))?;
            }
        }
        if created {
            File::open(root)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(root, e))?;
        }
        // Never an epoch used before, even when no header survived: stale
        // records further into a segment must not pass for new ones.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let epoch = (found.last().map_or(0, |(e, _, _)| *e) + 1).max(now);
        let mut it = files.into_iter().map(|(f, _, _)| f);
        let files = [
            it.next().expect("two segments"),
            it.next().expect("two segments"),
        ];
        files[0]
            .write_all_at(&header(epoch, &boot), 0)
            .map_err(|e| Error::io(&root.join(FILES[0]), e))?;
        Ok((
            Wal {
                root: root.into(),
                files,
                _owner: owner.expect("wal.0 opened first"),
                boot,
                inner: Mutex::new(Inner {
                    active: 0,
                    offset: HEAD,
                    epoch,
                    inflight: [0; 2],
                    written: [0; 2],
                    stop: false,
                }),
                left: Condvar::new(),
                due: Condvar::new(),
                synced: Default::default(),
                flushed: Condvar::new(),
                checkpointing: Mutex::new(None),
                covered: Mutex::new(None),
            },
            rec,
        ))
    }

    /// [`Wal::append_file`] of bytes in memory (the tests').
    #[cfg(test)]
    fn append(
        &self,
        state: State,
        id: &QueueId,
        data: &[u8],
    ) -> Result<Option<Pending<'_>>, Error> {
        self.append_file(state, id, data.len() as u64, |b| {
            b.copy_from_slice(data);
            Ok(())
        })
    }

    /// Append the queue file of message `id` committed to `state`, `len`
    /// bytes that `read` copies into the record. `None`: it does not fit
    /// (too large, or the active segment is full until the next
    /// checkpoint); the caller commits it without the log.
    pub fn append_file(
        &self,
        state: State,
        id: &QueueId,
        len: u64,
        read: impl FnOnce(&mut [u8]) -> Result<(), Error>,
    ) -> Result<Option<Pending<'_>>, Error> {
        let len = match usize::try_from(len) {
            Ok(l) if l <= RECORD_MAX => l,
            _ => return Ok(None),
        };
        // One buffer per committing thread, kept up to RECORD_KEPT bytes,
        // instead of an allocation per message; a larger record's buffer
        // is freed after it (the blocking pool may run dozens of threads).
        thread_local! {
            static RECORD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        RECORD.with_borrow_mut(|rec| {
            let r = encode_into(rec, state, id, len, read).and_then(|()| self.append_record(rec));
            if rec.capacity() > RECORD_KEPT {
                *rec = Vec::new();
            }
            r
        })
    }

    fn append_record(&self, rec: &mut [u8]) -> Result<Option<Pending<'_>>, Error> {
        let mut g = lock(&self.inner);
        let at = g.offset;
        if at + rec.len() as u64 > SEGMENT {
            self.due.notify_all();
            return Ok(None);
        }
        seal(rec, g.epoch);
        let seg = g.active;
        self.files[seg]
            .write_all_at(rec, at)
            .map_err(|e| Error::io(&self.root.join(FILES[seg]), e))?;
        g.offset = at + rec.len() as u64;
        g.written[seg] += 1;
        g.inflight[seg] += 1;
        if g.offset > SEGMENT / 2 && at <= SEGMENT / 2 {
            self.due.notify_all();
        }
        Ok(Some(Pending {
            wal: self,
            seg,
            ticket: g.written[seg],
        }))
    }

    /// Make `p`'s record durable: one `fdatasync` covers every record
    /// appended to its segment before the flush started. Up to
    /// [`FLUSHES`] run at once, so a commit that arrives during a flush
    /// starts its own instead of waiting for that one to end; past that,
    /// commits wait and the next flush covers them all.
    pub fn flush(&self, p: &Pending<'_>) -> Result<(), Error> {
        let mut f = lock(&self.synced[p.seg]);
        loop {
            if f.synced >= p.ticket {
                return Ok(());
            }
            if f.running < FLUSHES {
                break;
            }
            f = self.flushed.wait(f).unwrap_or_else(|e| e.into_inner());
        }
        f.running += 1;
        drop(f);
        // Every record appended before this read was written before the
        // flush below starts, so the flush covers it.
        let upto = lock(&self.inner).written[p.seg];
        let done = self.files[p.seg].sync_data();
        let mut f = lock(&self.synced[p.seg]);
        f.running -= 1;
        if done.is_ok() {
            f.synced = f.synced.max(upto);
        }
        drop(f);
        self.flushed.notify_all();
        done.map_err(|e| Error::io(&self.root.join(FILES[p.seg]), e))
    }

    /// Whether a `syncfs` that started after `at` has completed: a file
    /// recycled at `at` may then be written over, its rename being durable.
    pub fn covers(&self, at: Instant) -> bool {
        lock(&self.covered).is_some_and(|c| c > at)
    }

    /// Make the files the active segment's records stand for durable and
    /// free that segment. `false`: nothing to do.
    pub fn checkpoint(&self) -> Result<bool, Error> {
        let mut unfinished = lock(&self.checkpointing);
        if let Some(seg) = *unfinished {
            self.sync_and_clear(seg)?;
            *unfinished = None;
        }
        let old = {
            let mut g = lock(&self.inner);
            if g.offset == HEAD {
                return Ok(false);
            }
            let new = 1 - g.active;
            let epoch = g.epoch + 1;
            self.files[new]
                .write_all_at(&header(epoch, &self.boot), 0)
                .map_err(|e| Error::io(&self.root.join(FILES[new]), e))?;
            let old = g.active;
            g.active = new;
            g.epoch = epoch;
            g.offset = HEAD;
            old
        };
        {
            let mut g = lock(&self.inner);
            while g.inflight[old] > 0 {
                g = self.left.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        *unfinished = Some(old);
        self.sync_and_clear(old)?;
        *unfinished = None;
        Ok(true)
    }

    fn sync_and_clear(&self, seg: usize) -> Result<(), Error> {
        let started = Instant::now();
        sync_fs(&self.root)?;
        *lock(&self.covered) = Some(started);
        let p = self.root.join(FILES[seg]);
        self.files[seg]
            .write_all_at(&[0u8; HEADER_LEN], 0)
            .and_then(|_| self.files[seg].sync_data())
            .map_err(|e| Error::io(&p, e))
    }

    /// Run checkpoints until [`Wal::stop`]: every [`CHECKPOINT`], or at
    /// once when a segment is half full. Failures go to `report` and are
    /// retried a second later; meanwhile commits flush on their own.
    pub fn run_checkpoints(&self, report: &dyn Fn(&Error)) {
        loop {
            {
                let g = lock(&self.inner);
                if g.stop {
                    return;
                }
                let (g, _) = self
                    .due
                    .wait_timeout(g, CHECKPOINT)
                    .unwrap_or_else(|p| p.into_inner());
                if g.stop {
                    return;
                }
            }
            if let Err(e) = self.checkpoint() {
                report(&e);
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }

    /// End [`Wal::run_checkpoints`] and take a last checkpoint, so a
    /// clean stop leaves nothing to recover.
    pub fn stop(&self) -> Result<(), Error> {
        lock(&self.inner).stop = true;
        self.due.notify_all();
        self.checkpoint().map(|_| ())
    }
}

fn sync_fs(root: &Path) -> Result<(), Error> {
    let d = File::open(root).map_err(|e| Error::io(root, e))?;
    nix::unistd::syncfs(&d).map_err(|e| Error::io(root, e.into()))
}

/// Make sure `r`'s file holds `r`'s bytes: found in any state directory
/// and equal, or written again (where it is, or in `r`'s state when it is
/// nowhere). `true` when written.
fn restore(root: &Path, r: &Record) -> Result<bool, Error> {
    let mut target = root.join(r.state.dir()).join(r.id.as_str());
    for s in [State::Queue, State::Hold, State::Quarantine] {
        let p = root.join(s.dir()).join(r.id.as_str());
        match std::fs::read(&p) {
            Ok(b) if b == r.data => return Ok(false),
            Ok(_) => {
                target = p;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
    let tmp = root.join("tmp").join(format!("wal.{}", r.id));
    std::fs::write(&tmp, &r.data)
        .and_then(|_| File::open(&tmp).and_then(|f| f.sync_all()))
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> QueueId {
        let at = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        QueueId::generate(at, 4242, n)
    }

    fn spool() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("q");
        let _ = super::super::Spool::open(&root, super::super::Durability::Fsync).unwrap();
        (d, root)
    }

    fn commit(w: &Wal, root: &Path, state: State, id: &QueueId, data: &[u8]) {
        let p = w.append(state, id, data).unwrap().expect("fits");
        w.flush(&p).unwrap();
        std::fs::write(root.join(state.dir()).join(id.as_str()), data).unwrap();
    }

    #[test]
    fn records_read_back_and_stop_at_the_first_bad_one() {
        let mut seg = vec![0u8; HEAD as usize];
        let mut starts = Vec::new();
        for (i, body) in [&b"one"[..], b"two", b"three"].iter().enumerate() {
            let mut r = encode(State::Queue, &id(i as u64), body);
            seal(&mut r, 7);
            starts.push(seg.len());
            seg.extend_from_slice(&r);
        }
        let all = records(&seg, 7);
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].data, b"three");
        assert_eq!(all[1].id, id(1));
        // Another epoch's records are stale.
        assert!(records(&seg, 8).is_empty());
        // A torn second record ends the list there.
        seg[starts[1] + REC_FIXED + 2] ^= 0xff;
        assert_eq!(records(&seg, 7).len(), 1);
        // A truncated log ends inside the first record.
        assert!(records(&seg[..starts[0] + 10], 7).is_empty());
    }

    #[test]
    fn headers_refuse_a_flipped_byte_and_a_cleared_block() {
        let h = header(3, &[b'b'; 36]);
        assert_eq!(parse_header(&h), Some((3, [b'b'; 36])));
        let mut bad = h;
        bad[20] ^= 1;
        assert_eq!(parse_header(&bad), None);
        assert_eq!(parse_header(&[0u8; HEADER_LEN]), None);
    }

    #[test]
    fn after_a_reboot_missing_and_torn_files_are_written_again() {
        let (_d, root) = spool();
        let (w, rec) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        assert_eq!(rec, Recovered::default());
        let ids: Vec<QueueId> = (0..4).map(id).collect();
        let body = |i: usize| format!("message {i}\n").repeat(50 + i).into_bytes();
        commit(&w, &root, State::Queue, &ids[0], &body(0));
        commit(&w, &root, State::Queue, &ids[1], &body(1));
        commit(&w, &root, State::Hold, &ids[2], &body(2));
        commit(&w, &root, State::Queue, &ids[3], &body(3));
        // What a power cut can leave: one file gone, one torn, one moved.
        std::fs::remove_file(root.join("queue").join(ids[0].as_str())).unwrap();
        std::fs::write(root.join("hold").join(ids[2].as_str()), b"").unwrap();
        std::fs::rename(
            root.join("queue").join(ids[3].as_str()),
            root.join("quarantine").join(ids[3].as_str()),
        )
        .unwrap();
        drop(w);
        // The same boot: the page cache kept everything; nothing replayed.
        let (_, same) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        assert_eq!((same.records, same.restored, same.rebooted), (4, 0, false));
        assert!(!root.join("queue").join(ids[0].as_str()).exists());
        // That open emptied the log: commit again, then "reboot".
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        commit(&w, &root, State::Queue, &ids[0], &body(0));
        std::fs::remove_file(root.join("queue").join(ids[0].as_str())).unwrap();
        std::fs::write(root.join("queue").join(ids[1].as_str()), b"torn").unwrap();
        commit(&w, &root, State::Queue, &ids[1], &body(1));
        std::fs::write(root.join("queue").join(ids[1].as_str()), b"torn").unwrap();
        drop(w);
        let (_, rec) = Wal::open_as(&root, [b'b'; 36]).unwrap();
        assert_eq!((rec.records, rec.restored, rec.rebooted), (2, 2, true));
        assert_eq!(
            std::fs::read(root.join("queue").join(ids[0].as_str())).unwrap(),
            body(0)
        );
        assert_eq!(
            std::fs::read(root.join("queue").join(ids[1].as_str())).unwrap(),
            body(1)
        );
        // Recovered once: the next open finds an empty log.
        let (_, again) = Wal::open_as(&root, [b'c'; 36]).unwrap();
        assert_eq!(again, Recovered::default());
    }

    #[test]
    fn concurrent_commits_are_all_covered_by_at_most_two_flushes_at_once() {
        let (_d, root) = spool();
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let w = &w;
                s.spawn(move || {
                    for n in 0..40 {
                        let p = w
                            .append(State::Queue, &id(t * 100 + n), b"body")
                            .unwrap()
                            .expect("room in the segment");
                        w.flush(&p).unwrap();
                        // Returned: a completed flush covers the record.
                        assert!(lock(&w.synced[p.seg]).synced >= p.ticket);
                        assert!(lock(&w.synced[p.seg]).running <= FLUSHES);
                    }
                });
            }
        });
        let f = lock(&w.synced[0]);
        assert_eq!((f.synced, f.running), (320, 0));
        assert_eq!(lock(&w.inner).inflight, [0, 0]);
    }

    #[test]
    fn a_second_daemon_on_the_spool_is_refused() {
        let (_d, root) = spool();
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        let e = Wal::open_as(&root, [b'a'; 36]).unwrap_err().to_string();
        assert!(e.contains("wal.0: locked: another mxgate daemon"), "{e}");
        drop(w);
        assert!(Wal::open_as(&root, [b'a'; 36]).is_ok());
    }

    #[test]
    fn a_moved_file_is_found_where_it_went() {
        let (_d, root) = spool();
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        let i = id(9);
        commit(&w, &root, State::Queue, &i, b"moved body");
        std::fs::rename(
            root.join("queue").join(i.as_str()),
            root.join("hold").join(i.as_str()),
        )
        .unwrap();
        drop(w);
        let (_, rec) = Wal::open_as(&root, [b'b'; 36]).unwrap();
        assert_eq!((rec.records, rec.restored), (1, 0));
        assert!(!root.join("queue").join(i.as_str()).exists());
    }

    #[test]
    fn a_checkpoint_empties_the_log_and_switches_segments() {
        let (_d, root) = spool();
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        assert!(!w.checkpoint().unwrap(), "nothing to do on an empty log");
        commit(&w, &root, State::Queue, &id(1), b"x");
        let before = Instant::now();
        assert!(w.checkpoint().unwrap());
        assert!(w.covers(before));
        commit(&w, &root, State::Queue, &id(2), b"y");
        assert_eq!(lock(&w.inner).active, 1);
        assert!(w.checkpoint().unwrap());
        drop(w);
        // Both checkpointed: a reboot finds nothing to replay, though the
        // files were removed (delivered) meanwhile.
        std::fs::remove_file(root.join("queue").join(id(1).as_str())).unwrap();
        let (_, rec) = Wal::open_as(&root, [b'b'; 36]).unwrap();
        assert_eq!(rec, Recovered::default());
        assert!(!root.join("queue").join(id(1).as_str()).exists());
    }

    #[test]
    fn a_full_segment_or_a_large_message_is_left_to_the_caller() {
        let (_d, root) = spool();
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        assert!(
            w.append(State::Queue, &id(1), &vec![b'x'; RECORD_MAX + 1])
                .unwrap()
                .is_none()
        );
        let big = vec![b'x'; RECORD_MAX];
        let mut n = 0;
        while let Some(p) = w.append(State::Queue, &id(n), &big).unwrap() {
            drop(p);
            n += 1;
        }
        let each = encode(State::Queue, &id(0), &big).len() as u64;
        assert_eq!(n, (SEGMENT - HEAD) / each);
        assert!(w.checkpoint().unwrap());
        assert!(w.append(State::Queue, &id(99), &big).unwrap().is_some());
    }

    #[test]
    fn a_checkpoint_waits_for_commits_still_linking() {
        let (_d, root) = spool();
        let (w, _) = Wal::open_as(&root, [b'a'; 36]).unwrap();
        let w = std::sync::Arc::new(w);
        let p = w.append(State::Queue, &id(1), b"x").unwrap().unwrap();
        let w2 = w.clone();
        let t = std::thread::spawn(move || w2.checkpoint().unwrap());
        std::thread::sleep(Duration::from_millis(100));
        assert!(!t.is_finished(), "the checkpoint must wait for the link");
        w.flush(&p).unwrap();
        drop(p);
        assert!(t.join().unwrap());
    }
}
