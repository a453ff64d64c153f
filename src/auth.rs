//! SMTP AUTH: SASL PLAIN and LOGIN, checked against a password table or Dovecot.
//!
//! Contract: [`Sasl`] decodes what the client sends (sans-IO: strings in,
//! a challenge or credentials out). [`verify`] checks a password against
//! one stored entry in the formats Dovecot's `doveadm pw` writes —
//! `{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{BLF-CRYPT}`, `{ARGON2ID}`,
//! `{ARGON2I}`, `{SSHA256}`, `{SSHA512}`, `{PLAIN}` — so a site can build
//! its password table with `makemap` from `doveadm pw` output.
//! [`dovecot`] asks a running Dovecot over its auth socket instead.
//! [`verifier`] runs [`verify`] off the executor, a bounded number at a
//! time; [`throttle`] counts failures per client address.

pub mod dovecot;
pub mod throttle;
pub mod verifier;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use password_hash_traits::PasswordVerifier;
use sha2::Digest;

/// Which hash verifier traits to use (re-exported by the hash crates).
mod password_hash_traits {
    pub use argon2::PasswordVerifier;
}

/// Credentials a client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Authentication identity (the user name).
    pub user: String,
    /// The password.
    pub password: String,
}

/// Why a stored password entry could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredError {
    /// `{SCHEME}` not known to mxgate.
    #[error("unsupported password scheme {0}")]
    UnknownScheme(String),
    /// The hash text is malformed.
    #[error("malformed {scheme} hash")]
    Malformed {
        /// The scheme.
        scheme: String,
    },
}

/// Check `password` against a stored entry such as `{SHA512-CRYPT}$6$...`.
/// An entry without `{SCHEME}` is taken as a crypt(3) string when it starts
/// with `$`, else refused (plain text must be marked `{PLAIN}`).
pub fn verify(stored: &str, password: &str) -> Result<bool, StoredError> {
    let stored = stored.trim();
    let (scheme, data) = match stored.strip_prefix('{').and_then(|s| s.split_once('}')) {
        Some((scheme, data)) => (scheme.to_ascii_uppercase(), data),
        None if stored.starts_with('$') => ("CRYPT".to_string(), stored),
        None => return Err(StoredError::UnknownScheme("(none)".into())),
    };
    let malformed = || StoredError::Malformed {
        scheme: scheme.clone(),
    };
    let pw = password.as_bytes();
    match scheme.as_str() {
        "PLAIN" | "CLEAR" | "CLEARTEXT" => Ok(constant_eq(data.as_bytes(), pw)),
        "SHA512-CRYPT" | "SHA256-CRYPT" => {
            if !(data.starts_with("$6$") || data.starts_with("$5$")) {
                return Err(malformed());
            }
            Ok(sha_crypt::ShaCrypt::default()
                .verify_password(pw, data)
                .is_ok())
        }
        "BLF-CRYPT" | "BCRYPT" => bcrypt::verify(pw, data).map_err(|_| malformed()),
        "ARGON2ID" | "ARGON2I" => {
            let hash = argon2::PasswordHash::new(data).map_err(|_| malformed())?;
            Ok(argon2::Argon2::default().verify_password(pw, &hash).is_ok())
        }
        "CRYPT" if data.starts_with("$6$") || data.starts_with("$5$") => {
            Ok(sha_crypt::ShaCrypt::default()
                .verify_password(pw, data)
                .is_ok())
        }
        "CRYPT" if data.starts_with("$2") => bcrypt::verify(pw, data).map_err(|_| malformed()),
        "CRYPT" if data.starts_with("$argon2") => {
            let hash = argon2::PasswordHash::new(data).map_err(|_| malformed())?;
            Ok(argon2::Argon2::default().verify_password(pw, &hash).is_ok())
        }
        "SSHA256" => salted::<sha2::Sha256>(data, pw, 32).ok_or_else(malformed),
        "SSHA512" => salted::<sha2::Sha512>(data, pw, 64).ok_or_else(malformed),
        other => Err(StoredError::UnknownScheme(other.to_string())),
    }
}

/// `{SSHA256}`: base64(digest(password + salt) + salt).
fn salted<D: Digest>(data: &str, pw: &[u8], len: usize) -> Option<bool> {
    let raw = B64.decode(data.trim()).ok()?;
    if raw.len() <= len {
        return None;
    }
    let (digest, salt) = raw.split_at(len);
    let mut h = D::new();
    h.update(pw);
    h.update(salt);
    Some(constant_eq(&h.finalize(), digest))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A SASL exchange in progress (PLAIN or LOGIN), sans I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sasl {
    /// PLAIN without an initial response: waiting for it.
    PlainWaiting,
    /// LOGIN: waiting for the user name.
    LoginUser,
    /// LOGIN: waiting for the password of this user.
    LoginPassword(String),
}

/// The next step of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send `334 <challenge>` (base64) and wait.
    Challenge(String, Sasl),
    /// The client is done: check these credentials.
    Done(Credentials),
    /// The exchange is malformed (`501 5.5.2`) or cancelled with `*` (`501 5.0.0`).
    Failed(SaslFailure),
}

/// Why an exchange ended without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslFailure {
    /// The client sent `*`.
    Cancelled,
    /// Not base64, or not the mechanism's format.
    Malformed,
}

/// Mechanisms offered.
pub const MECHANISMS: &str = "PLAIN LOGIN";

/// Start an exchange for `AUTH mechanism [initial]`; `None` = mechanism not supported.
pub fn start(mechanism: &str, initial: Option<&str>) -> Option<SaslStep> {
    match (mechanism, initial) {
        ("PLAIN", None) => Some(SaslStep::Challenge(String::new(), Sasl::PlainWaiting)),
        ("PLAIN", Some(resp)) => Some(plain(resp)),
        ("LOGIN", None) => Some(SaslStep::Challenge(
            B64.encode("Username:"),
            Sasl::LoginUser,
        )),
        ("LOGIN", Some(resp)) => Some(Sasl::LoginUser.next(resp)),
        _ => None,
    }
}

impl Sasl {
    /// Feed the client's next line.
    pub fn next(self, line: &str) -> SaslStep {
        let line = line.trim();
        if line == "*" {
            return SaslStep::Failed(SaslFailure::Cancelled);
        }
        match self {
            Sasl::PlainWaiting => plain(line),
            Sasl::LoginUser => match decode(line) {
                Some(user) => {
                    SaslStep::Challenge(B64.encode("Password:"), Sasl::LoginPassword(user))
                }
                None => SaslStep::Failed(SaslFailure::Malformed),
            },
            Sasl::LoginPassword(user) => match decode(line) {
                Some(password) => SaslStep::Done(Credentials { user, password }),
                None => SaslStep::Failed(SaslFailure::Malformed),
            },
        }
    }
}

fn decode(s: &str) -> Option<String> {
    if s == "=" {
        return Some(String::new());
    }
    String::from_utf8(B64.decode(s).ok()?).ok()
}

/// PLAIN: `authzid NUL authcid NUL password`.
fn plain(resp: &str) -> SaslStep {
    let Some(text) = decode(resp) else {
        return SaslStep::Failed(SaslFailure::Malformed);
    };
    let mut parts = text.split('\0');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_authz), Some(user), Some(password), None) if !user.is_empty() => {
            SaslStep::Done(Credentials {
                user: user.to_string(),
                password: password.to_string(),
            })
        }
        _ => SaslStep::Failed(SaslFailure::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_and_login() {
        let resp = B64.encode("\0alice\0secret");
        assert_eq!(
            start("PLAIN", Some(&resp)),
            Some(SaslStep::Done(Credentials {
                user: "alice".into(),
                password: "secret".into()
            }))
        );
        let Some(SaslStep::Challenge(c, st)) = start("LOGIN", None) else {
            panic!()
        };
        assert_eq!(c, "VXNlcm5hbWU6");
        let SaslStep::Challenge(c, st) = st.next(&B64.encode("bob")) else {
            panic!()
        };
        assert_eq!(c, "UGFzc3dvcmQ6");
        assert_eq!(
            st.next(&B64.encode("pw")),
            SaslStep::Done(Credentials {
                user: "bob".into(),
                password: "pw".into()
            })
        );
        assert_eq!(
            Sasl::PlainWaiting.next("*"),
            SaslStep::Failed(SaslFailure::Cancelled)
        );
        assert_eq!(
            Sasl::PlainWaiting.next("!!"),
            SaslStep::Failed(SaslFailure::Malformed)
        );
        assert_eq!(start("CRAM-MD5", None), None);
    }

    #[test]
    fn stored_formats() {
        // Generated with Python's crypt-compatible tools / doveadm pw formats.
        assert!(verify("{PLAIN}secret", "secret").unwrap());
        // The SHA-crypt specification's own vector (rounds 5000 default).
        let sha512 = "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert!(verify(sha512, "Hello world!").unwrap());
        assert!(!verify(sha512, "Hello world").unwrap());
        assert!(!verify("{PLAIN}secret", "Secret").unwrap());
        let bcrypt = bcrypt::hash("secret", 4).unwrap();
        assert!(verify(&format!("{{BLF-CRYPT}}{bcrypt}"), "secret").unwrap());
        assert!(!verify(&format!("{{BLF-CRYPT}}{bcrypt}"), "wrong").unwrap());
        // {SSHA256}: sha256("secret" + "salt") + "salt"
        let mut h = sha2::Sha256::new();
        h.update(b"secretsalt");
        let mut raw = h.finalize().to_vec();
        raw.extend_from_slice(b"salt");
        let ssha = format!("{{SSHA256}}{}", B64.encode(&raw));
        assert!(verify(&ssha, "secret").unwrap());
        assert!(!verify(&ssha, "other").unwrap());
        assert_eq!(
            verify("{MD4}xx", "a"),
            Err(StoredError::UnknownScheme("MD4".into()))
        );
        assert!(verify("{SHA512-CRYPT}nonsense", "a").is_err());
        assert!(verify("plaintext-without-scheme", "a").is_err());
    }
}
