//! Password checks off the executor, a bounded number at a time.
//!
//! Contract: [`Verifier::check`] runs [`super::verify`] (argon2, bcrypt,
//! SHA-crypt: tens to hundreds of milliseconds of CPU each) on the blocking
//! thread pool, never on the task that called it, and at most `workers` at
//! once (one per core by default): a client that makes us verify passwords
//! in a loop uses at most those threads and never delays another session's
//! greeting. A check that finds every worker busy waits for one, at most
//! `queue_wait`; then it is [`CheckError::Busy`] (`454 4.7.0`). A user not
//! in the table costs the same as a known one: the password is checked
//! against the last stored entry seen (same scheme, same cost) and the
//! answer is "no", so timing does not tell which users exist.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A built-in entry for unknown users until a real one has been seen: a
/// SHA512-CRYPT hash (5,000 rounds, `doveadm pw -s SHA512-CRYPT`'s default).
const FIRST_DUMMY: &str = "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";

/// Why a check gave no yes/no answer (both are temporary: `454 4.7.0`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Every worker stayed busy for the whole wait.
    #[error("all {workers} password workers busy for {waited:?}")]
    Busy {
        /// The pool's size.
        workers: usize,
        /// How long the check waited.
        waited: Duration,
    },
    /// The stored entry cannot be used.
    #[error("{0}")]
    Stored(#[from] super::StoredError),
}

/// The bounded pool (cheap to clone; clones share the pool).
#[derive(Debug, Clone)]
pub struct Verifier {
    permits: Arc<smol::lock::Semaphore>,
    workers: usize,
    queue_wait: Duration,
    dummy: Arc<Mutex<String>>,
}

impl Verifier {
    /// At most `workers` checks at once (at least 1); a check waits at most
    /// `queue_wait` for a worker.
    pub fn new(workers: usize, queue_wait: Duration) -> Verifier {
        let workers = workers.max(1);
        Verifier {
            permits: Arc::new(smol::lock::Semaphore::new(workers)),
            workers,
            queue_wait,
            dummy: Arc::new(Mutex::new(FIRST_DUMMY.to_string())),
        }
    }

    /// One worker per core.
    pub fn per_core(queue_wait: Duration) -> Verifier {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Verifier::new(cores, queue_wait)
    }

    /// The pool's size.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Check `password` against `stored` (`None`: the user is unknown; the
    /// same work is done against a stand-in entry and the answer is false).
    pub async fn check(&self, stored: Option<String>, password: &str) -> Result<bool, CheckError> {
        let permit =
            futures_lite::future::or(async { Some(self.permits.acquire_arc().await) }, async {
                async_io::Timer::after(self.queue_wait).await;
                None
            })
            .await;
        let Some(permit) = permit else {
            return Err(CheckError::Busy {
                workers: self.workers,
                waited: self.queue_wait,
            });
        };
        let known = stored.is_some();
        let entry = match stored {
            Some(s) => {
                *self.dummy.lock().unwrap_or_else(|p| p.into_inner()) = s.clone();
                s
            }
            None => self.dummy.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        };
        let password = password.to_string();
        let verdict = blocking::unblock(move || {
            let v = super::verify(&entry, &password);
            drop(permit);
            v
        })
        .await;
        match (known, verdict) {
            (true, v) => Ok(v?),
            // An unknown user never authenticates, and a stand-in that
            // cannot be used is not the client's business.
            (false, _) => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_busy() {
        let v = Verifier::new(1, Duration::from_secs(5));
        smol::block_on(async {
            assert_eq!(v.check(Some("{PLAIN}pw".into()), "pw").await, Ok(true));
            assert_eq!(v.check(Some("{PLAIN}pw".into()), "no").await, Ok(false));
            // Unknown: checked against the last entry seen, and always false
            // (even with that entry's password).
            assert_eq!(v.check(None, "pw").await, Ok(false));
            assert!(matches!(
                v.check(Some("{MD4}x".into()), "pw").await,
                Err(CheckError::Stored(_))
            ));
        });
        // Every worker busy past the wait: Busy, not a verdict.
        let v = Verifier::new(1, Duration::ZERO);
        let held = smol::block_on(v.permits.acquire_arc());
        let r = smol::block_on(v.check(Some("{PLAIN}pw".into()), "pw"));
        assert!(
            matches!(r, Err(CheckError::Busy { workers: 1, .. })),
            "{r:?}"
        );
        drop(held);
    }
}
