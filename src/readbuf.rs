//! Read buffers that outlive their connection.
//!
//! Contract: [`Pool::take`] hands out a buffer of the pool's length, ready
//! to read into; dropping it gives it back. Its contents are whatever the
//! last reader left there: a caller uses only the part a read has just
//! filled (`&buf[..n]`), as every reader of a socket does anyway.
//!
//! Why: a fresh buffer per connection (64 KiB for an SMTP session, 16 KiB
//! for each wait of a delivery for its next-hop's replies) was a zeroed
//! allocation each time, and the daemon's allocator returns freed memory to
//! the system at once (`MIMALLOC_PURGE_DELAY=0`, src/main.rs), so each one
//! also cost the kernel its page faults and its zeroing of every page.
//! With a message per connection that was paid once or more per message.
//!
//! How: a short free list per size behind a mutex (held for a push or a
//! pop, never across a wait); at most [`KEEP`] buffers are kept per size,
//! so what stays resident is bounded (4 MiB of session buffers) however
//! many connections a burst opened.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Buffers a pool keeps for reuse; more are freed when given back.
pub const KEEP: usize = 64;

/// A free list of buffers of one length.
pub struct Pool {
    len: usize,
    free: Mutex<Vec<Box<[u8]>>>,
}

/// An SMTP session's reads from its client.
pub static SESSION: Pool = Pool::new(64 * 1024);
/// A delivery's reads of its next hop's replies.
pub static REPLIES: Pool = Pool::new(16 * 1024);

impl Pool {
    /// A pool of buffers of `len` bytes.
    pub const fn new(len: usize) -> Pool {
        Pool {
            len,
            free: Mutex::new(Vec::new()),
        }
    }

    /// A buffer of this pool's length: a kept one, or a new zeroed one.
    pub fn take(&'static self) -> Buf {
        let kept = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Buf {
            data: Some(kept.unwrap_or_else(|| vec![0u8; self.len].into_boxed_slice())),
            pool: self,
        }
    }

    /// How many buffers wait for reuse.
    pub fn kept(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A buffer from a [`Pool`], given back when dropped.
pub struct Buf {
    data: Option<Box<[u8]>>,
    pool: &'static Pool,
}

impl Deref for Buf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.data.as_deref().unwrap_or(&[])
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.data.as_deref_mut().unwrap_or(&mut [])
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            let mut free = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
            if free.len() < KEEP {
                free.push(data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST: Pool = Pool::new(1024);
    static BOUNDED: Pool = Pool::new(8);

    #[test]
    fn a_buffer_given_back_is_the_next_one_taken() {
        let mut a = TEST.take();
        assert_eq!(a.len(), 1024);
        a[0] = 7;
        let first = a.as_ptr();
        drop(a);
        assert_eq!(TEST.kept(), 1);
        let b = TEST.take();
        assert_eq!(b.as_ptr(), first);
        assert_eq!(b.len(), 1024);
        assert_eq!(TEST.kept(), 0);
    }

    #[test]
    fn at_most_keep_buffers_stay() {
        let many: Vec<Buf> = (0..KEEP + 10).map(|_| BOUNDED.take()).collect();
        assert!(many.iter().all(|b| b.len() == 8));
        drop(many);
        assert_eq!(BOUNDED.kept(), KEEP);
    }
}
