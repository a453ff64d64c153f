//! Local users: does a local name have a mailbox here, and is it enabled?
//!
//! Contract: [`local_user`] answers for one local part (no domain, no
//! `+detail`, already lower-cased by the caller if the site folds case) from
//! the aliases tables (with an implicit `postmaster: root` when postmaster
//! has neither an alias nor a mailbox, [`alias`]), then the `mailboxes` table when the configuration
//! has one (`FEATURE(`mailboxes', `lmdb /etc/mail/mailboxes')`, an mxgate
//! extension for virtual accounts: value `OK` or a path = exists,
//! `DISABLED` or `DISABLED:text` = disabled), otherwise the system password
//! file (sendmail's `user` map; `/etc/passwd`). Three outcomes like every
//! lookup: a table error is returned, never taken as "unknown".

use crate::proto::reply::{EnhancedStatus, Reply};
use crate::site::Site;
use crate::table;

/// What is known about a local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalUser {
    /// An alias exists for it (expanded at delivery).
    Alias,
    /// A mailbox exists.
    Mailbox,
    /// A mailbox exists but is disabled; the text to answer (default
    /// `Mailbox temporarily disabled`, sent as `550 5.2.1`).
    Disabled(String),
    /// No such user (`550 5.1.1 User unknown`).
    Unknown,
}

impl LocalUser {
    /// What RCPT answers for this user:
    /// `550 5.1.1 User unknown`, `550 5.2.1 <text>` for a disabled mailbox,
    /// `None` when mail is accepted. The one place these replies are made.
    pub fn refusal(&self) -> Option<Reply> {
        match self {
            LocalUser::Alias | LocalUser::Mailbox => None,
            LocalUser::Disabled(text) => {
                Some(Reply::new(550, EnhancedStatus::new(5, 2, 1), text.clone()))
            }
            LocalUser::Unknown => Some(Reply::new(
                550,
                EnhancedStatus::new(5, 1, 1),
                "User unknown",
            )),
        }
    }
}

/// Where the answer came from, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSource {
    /// An aliases table.
    Aliases,
    /// The `mailboxes` table.
    Mailboxes,
    /// The password file at this path.
    Passwd(String),
}

/// Default text for a disabled mailbox.
pub const DISABLED_TEXT: &str = "Mailbox temporarily disabled";

/// `postmaster: root`, the alias every site has when postmaster has neither
/// an alias nor a mailbox (the first line of sendmail's and Postfix's
/// shipped aliases files, made implicit).
pub const IMPLICIT_POSTMASTER: &str = "root";

/// The alias of the lower-case local name `key`: the alias tables'
/// value ([`Site::alias`]), else, for `postmaster` only, the implicit
/// [`IMPLICIT_POSTMASTER`] when postmaster is not a mailbox
/// either (RFC 5321 §4.5.1: postmaster must always resolve; a site without
/// an aliases file, like the embedded default, still has one).
pub fn alias(site: &Site, key: &str) -> Result<Option<String>, table::Error> {
    if let Some(v) = site.alias(key)? {
        return Ok(Some(v));
    }
    if key == "postmaster" && mailbox(site, key)?.0 == LocalUser::Unknown {
        return Ok(Some(IMPLICIT_POSTMASTER.to_string()));
    }
    Ok(None)
}

/// Look up local name `user` (see module doc).
pub fn local_user(site: &Site, user: &str) -> Result<(LocalUser, UserSource), table::Error> {
    let key = user.to_ascii_lowercase();
    if alias(site, &key)?.is_some() {
        return Ok((LocalUser::Alias, UserSource::Aliases));
    }
    mailbox(site, user)
}

/// `user` in the `mailboxes` table, else in the password file.
fn mailbox(site: &Site, user: &str) -> Result<(LocalUser, UserSource), table::Error> {
    let key = user.to_ascii_lowercase();
    if let Some(t) = site.table("mailboxes") {
        let found = match t.lookup(&key)? {
            None => LocalUser::Unknown,
            Some(v) => {
                let v = v.trim();
                let upper = v.to_ascii_uppercase();
                if upper == "DISABLED" {
                    LocalUser::Disabled(DISABLED_TEXT.into())
                } else if upper.starts_with("DISABLED:") {
                    let text = v["DISABLED:".len()..].trim();
                    LocalUser::Disabled(if text.is_empty() {
                        DISABLED_TEXT.into()
                    } else {
                        text.to_string()
                    })
                } else {
                    LocalUser::Mailbox
                }
            }
        };
        return Ok((found, UserSource::Mailboxes));
    }
    let passwd = &site.passwd;
    let exists = passwd.contains(user)? || passwd.contains(&key)?;
    let found = if exists {
        LocalUser::Mailbox
    } else {
        LocalUser::Unknown
    };
    let path = passwd.path().display().to_string();
    Ok((found, UserSource::Passwd(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::table::{MemTable, TableRef};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn site(mailboxes: &str, aliases: &str) -> Site {
        let mut t: BTreeMap<String, TableRef> = BTreeMap::new();
        t.insert(
            "mailboxes".into(),
            Arc::new(MemTable::from_lines(mailboxes)),
        );
        t.insert("aliases".into(), Arc::new(MemTable::from_lines(aliases)));
        Site::from_parts(Config::new(), t).unwrap()
    }

    #[test]
    fn mailbox_states() {
        let s = site(
            "alice OK\nbob DISABLED\ncarol DISABLED:Account closed\n",
            "staff alice",
        );
        assert_eq!(local_user(&s, "Alice").unwrap().0, LocalUser::Mailbox);
        assert_eq!(
            local_user(&s, "bob").unwrap().0,
            LocalUser::Disabled(DISABLED_TEXT.into())
        );
        assert_eq!(
            local_user(&s, "carol").unwrap().0,
            LocalUser::Disabled("Account closed".into())
        );
        assert_eq!(local_user(&s, "staff").unwrap().0, LocalUser::Alias);
        assert_eq!(local_user(&s, "dave").unwrap().0, LocalUser::Unknown);
    }

    #[test]
    fn passwd_fallback_knows_root() {
        let s = Site::from_parts(Config::new(), BTreeMap::new()).unwrap();
        let (u, src) = local_user(&s, "root").unwrap();
        assert_eq!(u, LocalUser::Mailbox);
        assert_eq!(src, UserSource::Passwd("/etc/passwd".into()));
    }
}
