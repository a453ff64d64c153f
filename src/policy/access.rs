//! The access table (`FEATURE(access_db)`): sendmail's key search orders and
//! the meaning of its values.
//!
//! Contract: [`AccessDb`] encodes the lookup rulesets of proto.m4 — `D`
//! (domain walk, with `[ip]` bracket walks and optional `.parent` keys), `A`
//! (IP walk: drop the last octet / IPv6 group), `F` (full address with
//! `+detail` variants) and `U` (`user@`) — each trying `Tag:key` and, in
//! [`Mode::TagAndPlain`] ("+" mode), the untagged key before moving to a
//! less specific one. `SKIP` ends a `D`/`A` walk as "not found" only with the
//! `skip` option. Every lookup has three outcomes; a table error is
//! returned, never taken as "not found". [`parse_value`] classifies a value
//! (spec §2.3); [`Context`] turns it into a [`Verdict`] for each stage.

use std::net::IpAddr;

use super::{Action, Because, Reply, Verdict};
use crate::addr;
use crate::site::Site;
use crate::table::{self, Table};

/// Whether untagged keys are tried too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// "+" mode: `Tag:key`, then `key`, for every candidate.
    TagAndPlain,
    /// "!" mode: `Tag:key` only (`Spam:`, `GreetPause:`).
    TagOnly,
}

/// A matching entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The key that matched, as looked up.
    pub key: String,
    /// Its value, as stored.
    pub value: String,
}

impl Hit {
    /// The explanation for a decision taken on this entry.
    pub fn because(&self) -> Because {
        Because::Access {
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

/// Result of one search: a hit, nothing, or a table failure.
pub type Found = Result<Option<Hit>, table::Error>;

/// The access table with the feature's options.
#[derive(Debug, Clone, Copy)]
pub struct AccessDb<'a> {
    table: &'a dyn Table,
    skip: bool,
    dot_domain: bool,
    /// `relaytofulladdress`: `To:user@domain RELAY` grants relaying.
    pub relay_to_full_address: bool,
}

impl<'a> AccessDb<'a> {
    /// The access table of `site`, if `FEATURE(access_db)` is on and the
    /// table is loaded.
    pub fn of(site: &'a Site) -> Option<AccessDb<'a>> {
        let args = site.config.feature_args("access_db")?;
        let table = site.table("access")?;
        let has = |w: &str| args.iter().any(|a| a.trim().eq_ignore_ascii_case(w));
        Some(AccessDb {
            table: table.as_ref(),
            skip: has("skip"),
            dot_domain: has("lookupdotdomain") || site.config.has_feature("lookupdotdomain"),
            relay_to_full_address: has("relaytofulladdress"),
        })
    }

    /// An access table with explicit options (tests, tools).
    pub fn with_table(table: &'a dyn Table, skip: bool, dot_domain: bool) -> AccessDb<'a> {
        AccessDb {
            table,
            skip,
            dot_domain,
            relay_to_full_address: false,
        }
    }

    /// Exact lookup of `Tag:item` (and `item` in "+" mode).
    pub fn exact(&self, tag: &str, item: &str, mode: Mode) -> Found {
        let tagged = format!("{tag}:{item}");
        if let Some(v) = self.table.lookup(&tagged)? {
            return Ok(Some(Hit {
                key: tagged,
                value: v,
            }));
        }
        if mode == Mode::TagAndPlain
            && let Some(v) = self.table.lookup(item)?
        {
            return Ok(Some(Hit {
                key: item.to_string(),
                value: v,
            }));
        }
        Ok(None)
    }

    fn is_skip(&self, hit: &Hit) -> bool {
        self.skip && hit.value.trim().eq_ignore_ascii_case("SKIP")
    }

    /// `D`: host `a.b.c` → `a.b.c`, [`.b.c`], `b.c`, ..., `c`; a bracketed
    /// name `[1.2.3.4]` walks `[1.2.3]`, `[1.2]`, `[1]` (IPv6: drop groups).
    pub fn domain(&self, tag: &str, host: &str, mode: Mode) -> Found {
        let mut cur = host.trim_end_matches('.').to_ascii_lowercase();
        loop {
            if let Some(hit) = self.exact(tag, &cur, mode)? {
                return Ok(if self.is_skip(&hit) { None } else { Some(hit) });
            }
            let bracketed = cur.starts_with('[');
            if self.dot_domain
                && !bracketed
                && let Some((_, parent)) = cur.split_once('.')
                && let Some(hit) = self.exact(tag, &format!(".{parent}"), mode)?
            {
                return Ok(if self.is_skip(&hit) { None } else { Some(hit) });
            }
            let next = if let Some(inner) = cur.strip_prefix('[').and_then(|c| c.strip_suffix(']'))
            {
                shorter_ip(inner).map(|s| format!("[{s}]"))
            } else {
                cur.split_once('.').map(|(_, p)| p.to_string())
            };
            match next {
                Some(n) if !n.is_empty() => cur = n,
                _ => return Ok(None),
            }
        }
    }

    /// `A`: `1.2.3.4`, `1.2.3`, `1.2`, `1`; IPv6 keys in sendmail's full
    /// `IPv6:` form, dropping the last group each step.
    pub fn address(&self, tag: &str, ip: &IpAddr, mode: Mode) -> Found {
        let mut cur = addr::sendmail_ip(ip);
        loop {
            if let Some(hit) = self.exact(tag, &cur, mode)? {
                return Ok(if self.is_skip(&hit) { None } else { Some(hit) });
            }
            match shorter_ip(&cur) {
                Some(n) => cur = n,
                None => return Ok(None),
            }
        }
    }

    /// `F`: `user@domain`; with `+detail`: `user+*@domain`, then `user@domain`.
    pub fn full(&self, tag: &str, local: &str, domain: &str, mode: Mode) -> Found {
        let local = local.to_ascii_lowercase();
        let domain = domain.to_ascii_lowercase();
        if let Some(h) = self.exact(tag, &format!("{local}@{domain}"), mode)? {
            return Ok(Some(h));
        }
        if let Some((user, _)) = local.split_once('+') {
            if let Some(h) = self.exact(tag, &format!("{user}+*@{domain}"), mode)? {
                return Ok(Some(h));
            }
            return self.exact(tag, &format!("{user}@{domain}"), mode);
        }
        Ok(None)
    }

    /// `U`: `user@`; with `+detail`: `user+*@`, then `user@`.
    pub fn user(&self, tag: &str, local: &str, mode: Mode) -> Found {
        let local = local.to_ascii_lowercase();
        if let Some(h) = self.exact(tag, &format!("{local}@"), mode)? {
            return Ok(Some(h));
        }
        if let Some((user, _)) = local.split_once('+') {
            if let Some(h) = self.exact(tag, &format!("{user}+*@"), mode)? {
                return Ok(Some(h));
            }
            return self.exact(tag, &format!("{user}@"), mode);
        }
        Ok(None)
    }

    /// sendmail's `SearchList`: the first of several searches that finds anything.
    pub fn search(&self, tag: &str, items: &[Item<'_>], mode: Mode) -> Found {
        for item in items {
            let found = match *item {
                Item::Full(l, d) => self.full(tag, l, d, mode)?,
                Item::User(l) => self.user(tag, l, mode)?,
                Item::Domain(d) => self.domain(tag, d, mode)?,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// One entry of a [`AccessDb::search`] list.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// `F:local@domain`.
    Full(&'a str, &'a str),
    /// `U:local@`.
    User(&'a str),
    /// `D:domain`.
    Domain(&'a str),
}

/// Drop the last `.octet` or `:group` (`IPv6:2001:db8` → `IPv6:2001`).
fn shorter_ip(s: &str) -> Option<String> {
    let i = s.rfind([':', '.'])?;
    let head = s.get(..i)?.trim_end_matches(':');
    if head.is_empty() {
        None
    } else {
        Some(head.to_string())
    }
}

/// What an access value means (spec §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `OK`.
    Ok,
    /// `RELAY`.
    Relay,
    /// `REJECT`.
    Reject,
    /// `DISCARD`.
    Discard,
    /// `SKIP` (only reaches here without the `skip` option, or from `F`/`U`).
    Skip,
    /// `QUARANTINE:reason`.
    Quarantine(String),
    /// `ERROR:...` or a bare `NNN text`, or anything else (`553 5.3.0 value`).
    Error(Reply),
    /// `FRIEND` (`Spam:`).
    Friend,
    /// `HATER` (`Spam:`).
    Hater,
}

/// Classify an access value. Keywords are case-insensitive like sendmail's
/// rule matching. `TEMP:` has no meaning in 8.17's rulesets and, like any
/// unknown word, becomes a `553 5.3.0` error carrying the value (checked on
/// sendmail 8.17: `From:temp.org TEMP:bad` → `553 5.3.0 <a@temp.org>... TEMP:bad`).
pub fn parse_value(v: &str) -> Value {
    let v = v.trim();
    let upper = v.to_ascii_uppercase();
    match upper.as_str() {
        "OK" => return Value::Ok,
        "RELAY" => return Value::Relay,
        "REJECT" => return Value::Reject,
        "DISCARD" => return Value::Discard,
        "SKIP" => return Value::Skip,
        "FRIEND" => return Value::Friend,
        "HATER" => return Value::Hater,
        _ => {}
    }
    if upper.starts_with("QUARANTINE:") {
        // sendmail 8.17 quarantines even with nothing after the colon
        // (`-bt` check_mail on `From:q1.example QUARANTINE:` gives `$#
        // error $@ quarantine`, the reason taken from the tokens left in
        // its workspace); the reason then says where it came from.
        let reason = v.get("QUARANTINE:".len()..).unwrap_or("").trim();
        return Value::Quarantine(if reason.is_empty() {
            "QUARANTINE: in the access table (no reason given)".to_string()
        } else {
            reason.to_string()
        });
    }
    // The rulesets tokenize the whole value; one sendmail cannot tokenize
    // is refused naming it (`553 5.0.0 ERROR:550 a > b c... Unbalanced '>'`).
    if let Err(why) = crate::addr::tokens::check(v) {
        return Value::Error(Reply::unbalanced(v, why));
    }
    if upper.starts_with("ERROR:") {
        let rest = v.get("ERROR:".len()..).unwrap_or("");
        // ERROR:D.S.N:text
        if let Some((dsn, text)) = rest.split_once(':')
            && is_dsn(dsn)
        {
            return Value::Error(Reply::from_error(Some(dsn), &as_tokenized(text)));
        }
        return Value::Error(Reply::from_error(None, &as_tokenized(rest)));
    }
    Value::Error(Reply::from_error(None, &as_tokenized(v)))
}

/// The text as sendmail's tokenizer rebuilds it (`accept , mail` →
/// `accept,mail`, comments dropped; see [`crate::addr::tokens`]). The
/// caller has refused a value sendmail cannot tokenize.
fn as_tokenized(text: &str) -> String {
    crate::addr::tokens::rebuild(text).unwrap_or_else(|_| text.to_string())
}

/// `5.7.1`-shaped?
pub(crate) fn is_dsn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Which stage's default texts apply to `REJECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// check_relay / check_mail: `550 5.7.1 Access denied` (`confREJECT_MSG`).
    Sender,
    /// check_rcpt blocklist: `550 5.2.1 Mailbox disabled for this recipient` (`confRCPTREJ_MSG`).
    Recipient,
}

/// The verdict for an access hit in `ctx` (`OK` → Accept, `RELAY` → Relay, ...).
pub fn verdict(site: &Site, hit: &Hit, ctx: Context) -> Verdict {
    let why = hit.because();
    let action = match parse_value(&hit.value) {
        Value::Ok => Action::Accept,
        Value::Relay => Action::Relay,
        Value::Discard => Action::Discard,
        Value::Quarantine(r) => Action::Quarantine(r),
        Value::Reject => return Verdict::refuse(reject_reply(site, ctx), why),
        Value::Error(r) => return Verdict::refuse(r, why),
        Value::Skip | Value::Friend | Value::Hater => {
            return Verdict::refuse(Reply::from_error(None, &hit.value), why);
        }
    };
    Verdict::new(action, why)
}

/// The `REJECT` reply for a stage, honouring `confREJECT_MSG` / `confRCPTREJ_MSG`.
pub fn reject_reply(site: &Site, ctx: Context) -> Reply {
    match ctx {
        Context::Sender => match site.settings.messages.reject.as_deref() {
            Some(m) => Reply::from_error(None, m),
            None => Reply::new(550, "5.7.1", "Access denied"),
        },
        Context::Recipient => match site.settings.messages.rcpt_reject.as_deref() {
            Some(m) => Reply::from_error(Some("5.2.1"), m),
            None => Reply::new(550, "5.2.1", "Mailbox disabled for this recipient"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::MemTable;

    #[test]
    fn values() {
        assert_eq!(parse_value("ok"), Value::Ok);
        assert_eq!(
            parse_value("ERROR:5.7.1:550 Spam not accepted"),
            Value::Error(Reply::new(550, "5.7.1", "Spam not accepted"))
        );
        assert_eq!(
            parse_value("ERROR:\"550 We do not accept\""),
            Value::Error(Reply::new(550, "5.0.0", "We do not accept"))
        );
        assert_eq!(
            parse_value("ERROR:450 mailbox full"),
            Value::Error(Reply::new(450, "4.0.0", "mailbox full"))
        );
        assert_eq!(
            parse_value("550 go away"),
            Value::Error(Reply::new(550, "5.0.0", "go away"))
        );
        assert_eq!(
            parse_value("QUARANTINE:suspicious sender"),
            Value::Quarantine("suspicious sender".into())
        );
        // An empty reason still quarantines, as in sendmail 8.17 (it was
        // refused with 553 5.3.0).
        assert_eq!(
            parse_value("QUARANTINE:"),
            Value::Quarantine("QUARANTINE: in the access table (no reason given)".into())
        );
        assert_eq!(
            parse_value("frobnicate"),
            Value::Error(Reply::new(553, "5.3.0", "frobnicate"))
        );
    }

    #[test]
    fn walks() {
        let t = MemTable::from_lines(
            "Connect:IPv6:2001:db8 RELAY\nConnect:[127.0] OK\nTo:.sub.org RELAY\nTo:a+*@x.org OK\n",
        );
        let db = AccessDb::with_table(&t, false, true);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let h = db.address("Connect", &ip, Mode::TagOnly).unwrap().unwrap();
        assert_eq!(h.key, "Connect:IPv6:2001:db8");
        let h = db
            .domain("Connect", "[127.0.0.3]", Mode::TagOnly)
            .unwrap()
            .unwrap();
        assert_eq!(h.key, "Connect:[127.0]");
        assert!(db.domain("To", "sub.org", Mode::TagOnly).unwrap().is_none());
        assert!(
            db.domain("To", "a.sub.org", Mode::TagOnly)
                .unwrap()
                .is_some()
        );
        let h = db
            .full("To", "a+b", "x.org", Mode::TagOnly)
            .unwrap()
            .unwrap();
        assert_eq!(h.key, "To:a+*@x.org");
        assert_eq!(shorter_ip("IPv6:2001"), Some("IPv6".into()));
        assert_eq!(shorter_ip("1"), None);
    }
}
