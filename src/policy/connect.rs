//! Connection-time checks: `check_relay`, `greet_pause`, and HELO.
//!
//! Contract: [`check_relay`] is sendmail's Basic_check_relay: `Connect:`
//! domain walk on `${client_name}` (when not empty), then address walk on
//! `${client_addr}`; `OK`/`RELAY` accept and skip the DNSBLs, `REJECT`,
//! `ERROR:`, `DISCARD`, `QUARANTINE:` decide; then the DNSBL zones. Local
//! submission (no address) is not checked. [`greet_pause`] looks up
//! `GreetPause:` (tag only) the same way. [`check_helo`] refuses only with
//! `FEATURE(block_bad_helo)`, the only HELO check sendmail's m4 offers.

use super::access::{self, AccessDb, Context, Mode};
use super::{Action, Because, Client, Facts, Reply, Verdict, delay_checks, dnsbl};
use crate::site::Site;

/// Connection check; with `delay_checks` it answers Continue here and runs
/// from [`super::check_rcpt`] — but a `ratecontrol`/`conncontrol` with
/// `nodelay` still runs here, first (sendmail's `_CONTROL_IMMEDIATE_`).
pub fn check_relay(site: &Site, facts: &Facts, client: &Client) -> Verdict {
    if delay_checks(site) {
        for control in CONTROLS.iter().filter(|c| c.immediate(site)) {
            let v = control.check(site, client);
            if v.is_final_refusal() {
                return v;
            }
        }
        return Verdict::cont("delay_checks: client checked at RCPT");
    }
    basic_check_relay(site, facts, client)
}

/// Basic_check_relay, without the delay_checks short cut.
pub(crate) fn basic_check_relay(site: &Site, facts: &Facts, client: &Client) -> Verdict {
    if client.is_local_submission() {
        return Verdict::cont("local submission: no connection checks");
    }
    if let Some(db) = AccessDb::of(site) {
        let found = if client.name.is_empty() {
            Ok(None)
        } else {
            db.domain("Connect", &client.name, Mode::TagAndPlain)
        };
        let found = match (found, client.addr) {
            (Ok(None), Some(ip)) => db.address("Connect", &ip, Mode::TagAndPlain),
            (other, _) => other,
        };
        match found {
            Err(e) => return Verdict::table_error("access", &e),
            Ok(Some(hit)) => return access::verdict(site, &hit, Context::Sender),
            Ok(None) => {}
        }
    }
    // A Unix-domain client has no address for the blocklists or the
    // per-address limits.
    let Some(ip) = client.addr else {
        return Verdict::cont("Unix-domain client: no address checks");
    };
    let v = dnsbl::check(&site.config.dnsbl, facts, Some(&ip));
    if !matches!(v.action, Action::Continue) {
        return v;
    }
    for control in CONTROLS.iter().filter(|c| !c.immediate(site)) {
        let c = control.check(site, client);
        if c.is_final_refusal() {
            return c;
        }
    }
    Verdict::cont(format!("no Connect: entry; {}", v.why))
}

/// sendmail's RateControl and ConnControl rulesets
/// (`FEATURE(ratecontrol)`, `FEATURE(conncontrol)`).
struct Control {
    feature: &'static str,
    /// The access-table tag (`ClientRate`, `ClientConn`).
    tag: &'static str,
    /// The client's count this limit is compared with.
    count: fn(&Client) -> usize,
    /// The reply text after the codes.
    text: &'static str,
}

const CONTROLS: [Control; 2] = [
    Control {
        feature: "ratecontrol",
        tag: "ClientRate",
        count: |c| c.rate,
        text: "Connection rate limit exceeded.",
    },
    Control {
        feature: "conncontrol",
        tag: "ClientConn",
        count: |c| c.connections,
        text: "Too many open connections.",
    },
];

impl Control {
    /// Configured with `nodelay` under `delay_checks`: checked at connect
    /// even though the other client checks wait for RCPT.
    fn immediate(&self, site: &Site) -> bool {
        delay_checks(site)
            && site.config.feature_args(self.feature).is_some_and(|a| {
                a.first()
                    .is_some_and(|w| w.trim().eq_ignore_ascii_case("nodelay"))
            })
    }

    /// `Tag:` on the client address (`A:`, walking to shorter networks),
    /// then the bare `Tag:` default (`E:`). A value of exactly `0` means no
    /// limit; any other value is read as C's `atoi` reads it (sendmail's
    /// `arith l`), so `abc` is a limit of 0 that refuses every client —
    /// checked on sendmail 8.17 `-bt`. A count above the limit is refused
    /// with `452 4.3.2` (`421` with `terminate`).
    fn check(&self, site: &Site, client: &Client) -> Verdict {
        let Some(args) = site.config.feature_args(self.feature) else {
            return Verdict::cont(format!("no FEATURE({})", self.feature));
        };
        let Some(ip) = client.addr else {
            return Verdict::cont("local submission: no connection checks");
        };
        let Some(db) = AccessDb::of(site) else {
            return Verdict::cont(format!("FEATURE({}) without an access table", self.feature));
        };
        let found = match db.address(self.tag, &ip, Mode::TagOnly) {
            Ok(None) => db.exact(self.tag, "", Mode::TagOnly),
            other => other,
        };
        let hit = match found {
            Err(e) => return Verdict::table_error("access", &e),
            Ok(None) => return Verdict::cont(format!("no {}: entry", self.tag)),
            Ok(Some(hit)) => hit,
        };
        let count = (self.count)(client) as i64;
        let value = hit.value.trim();
        match atoi(value) {
            limit if value != "0" && limit < count => {
                let code = if args.get(1).is_some_and(|a| a.trim() == "terminate") {
                    421
                } else {
                    452
                };
                Verdict::refuse(Reply::new(code, "4.3.2", self.text), hit.because())
            }
            _ => Verdict::new(Action::Continue, hit.because()),
        }
    }
}

/// A pre-greeting pause and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// Milliseconds to wait before the greeting; 0 = none.
    pub millis: u64,
    /// Where the value came from.
    pub why: Because,
}

/// `FEATURE(greet_pause, ms)`: `GreetPause:` on the client name (domain
/// walk), then on the IP; no entry → the feature's argument. `None` when
/// the feature is off or the client is local. As in sendmail, a table
/// failure means no pause (the `why` names the failure).
pub fn greet_pause(site: &Site, client: &Client) -> Option<Pause> {
    let args = site.config.feature_args("greet_pause")?;
    let ip = client.addr?;
    let default: Option<u64> = args.first().and_then(|a| a.trim().parse().ok());
    let found = match AccessDb::of(site) {
        None => Ok(None),
        Some(db) => {
            let by_name = if client.name.is_empty() {
                Ok(None)
            } else {
                db.domain("GreetPause", &client.name, Mode::TagOnly)
            };
            match by_name {
                Ok(None) => db.address("GreetPause", &ip, Mode::TagOnly),
                other => other,
            }
        }
    };
    match found {
        Err(e) => Some(Pause {
            millis: 0,
            why: Because::TableError {
                role: "access".into(),
                detail: e.to_string(),
            },
        }),
        Ok(Some(hit)) => Some(Pause {
            millis: hit.value.trim().parse().unwrap_or(0),
            why: hit.because(),
        }),
        Ok(None) => default.map(|ms| Pause {
            millis: ms,
            why: Because::rule(format!("FEATURE(greet_pause, {ms}) default")),
        }),
    }
}

/// HELO/EHLO check. Without `FEATURE(block_bad_helo)` sendmail has no HELO
/// policy: Continue. With it (authenticated, local and `$=R` clients
/// exempt): a HELO name that is ours (`$=w` or `[$=w]`) or has no inner dot
/// (IPv6 literals excepted) is refused `550 5.7.1 bogus HELO name used: <name>`.
pub fn check_helo(site: &Site, _facts: &Facts, client: &Client, helo: &str) -> Verdict {
    if !site.config.has_feature("block_bad_helo") {
        return Verdict::cont("no HELO checks configured");
    }
    if client.auth_type.is_some() {
        return Verdict::cont("block_bad_helo: authenticated client");
    }
    let addr = client.addr_text();
    if addr.is_empty() || addr == "0" {
        return Verdict::cont("block_bad_helo: local client");
    }
    if let Some(m) = super::relay::class_r_ip(site, &addr) {
        return Verdict::new(
            Action::Continue,
            Because::Class {
                class: "R".into(),
                member: m,
            },
        );
    }
    let bogus = || {
        Verdict::refuse(
            Reply::new(550, "5.7.1", &format!("bogus HELO name used: {helo}")),
            Because::rule("FEATURE(block_bad_helo)"),
        )
    };
    let inner = helo
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(helo);
    if site.is_local_host(helo) || site.is_local_host(inner) {
        return bogus();
    }
    if inner.to_ascii_lowercase().starts_with("ipv6:") {
        return Verdict::cont("block_bad_helo: IPv6 literal");
    }
    let t = inner.trim_matches('.');
    if t.len() == inner.len() && t.contains('.') {
        Verdict::cont("block_bad_helo: qualified HELO name")
    } else {
        bogus()
    }
}

/// C's `atoi`: optional sign and leading digits; anything else is 0.
fn atoi(s: &str) -> i64 {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    sign * n
}

/// What sendmail's `srv_features` ruleset gives a client: the letters of
/// its `Srv_Features:` access entry (looked up by `${client_name}` and its
/// parent domains, then `${client_addr}` and its prefixes, then the bare
/// `Srv_Features:` default). A lower-case letter turns a feature on, an
/// upper-case one off; a letter not given leaves the listener's setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrvFeatures {
    letters: Vec<char>,
    /// The entry that gave them, for the log.
    pub why: Option<String>,
}

impl SrvFeatures {
    /// The letters of an entry's value (`D P`, `DP`: blanks between
    /// letters are optional, as in sendmail).
    pub fn parse(value: &str) -> SrvFeatures {
        SrvFeatures {
            letters: value.chars().filter(|c| c.is_ascii_alphabetic()).collect(),
            why: None,
        }
    }

    /// `Some(true)` when the entry turns feature `c` on (lower case),
    /// `Some(false)` off (upper case), `None` when it does not name it.
    /// A later letter wins over an earlier one.
    pub fn get(&self, c: char) -> Option<bool> {
        let (on, off) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
        self.letters
            .iter()
            .rev()
            .find(|l| **l == on || **l == off)
            .map(|l| *l == on)
    }

    /// Letters mxgate does not act on (sendmail's `B`/`b` VERB, `C`/`c`
    /// security layer, `R`/`r` and `V`/`v` client certificates, `X`/`x`
    /// EXPN): mxgate offers neither VERB nor EXPN, never asks for a client
    /// certificate, and offers AUTH only under TLS, whatever they say.
    pub fn unused(&self) -> Vec<char> {
        self.letters
            .iter()
            .copied()
            .filter(|c| !"AaDdEeHhLlPpSs".contains(*c))
            .collect()
    }
}

/// `Srv_Features:` for this client (sendmail's `srv_features`); a table
/// that cannot be read is an error (sendmail's `$#temp`: the session is
/// refused for now).
pub fn srv_features(site: &Site, client: &Client) -> Result<SrvFeatures, crate::table::Error> {
    let name = (!client.name.starts_with('[')).then_some(client.name.as_str());
    Ok(
        match super::tls::lookup(site, "Srv_Features", name, client.addr)? {
            None => SrvFeatures::default(),
            Some((value, why)) => SrvFeatures {
                why: Some(why.to_string()),
                ..SrvFeatures::parse(&value)
            },
        },
    )
}

#[cfg(test)]
mod srv_features_tests {
    use super::SrvFeatures;

    #[test]
    fn letters_turn_features_on_and_off() {
        let f = SrvFeatures::parse("D P e");
        assert_eq!(f.get('d'), Some(false));
        assert_eq!(f.get('P'), Some(false));
        assert_eq!(f.get('E'), Some(true));
        assert_eq!(f.get('s'), None);
        assert_eq!(SrvFeatures::parse("lL").get('l'), Some(false));
        assert_eq!(SrvFeatures::parse("V x S").unused(), vec!['V', 'x']);
    }
}
