//! MX resolution: which addresses to try, in which order, for a mailer host.
//!
//! Contract (spec §6): [`resolve`] turns a routed host (`mx.example`,
//! `[host]`, `[192.0.2.1]`) into the ordered [`Target`]s to connect to, or a
//! [`Refusal`] (permanent `5.x.x` → bounce, temporary `4.x.x` → defer). The
//! decisions are pure functions of DNS answers given as data
//! ([`mx_hosts`], [`targets`]); `resolve` only gathers those answers with
//! [`Dns`] and the site's hosts file / service switch.
//!
//! Rules, each with a test:
//! * `[host]`: no MX lookup, the A/AAAA of host; `[1.2.3.4]` / `[IPv6:…]`: that address.
//! * MX records: lowest preference first; among equal preferences a
//!   pseudo-random order (a hash of the name mixed with the caller's seed, as
//!   sendmail mixes in a per-process seed); duplicate names removed.
//! * NODATA → implicit MX (the host itself). NXDOMAIN → `5.1.2` "Host unknown
//!   (Name server: host: host not found)". DNS temporary failure → `4.4.3`,
//!   unless a fallback MX is configured: then the fallback alone.
//! * Null MX (`MX 0 .`, RFC 7505) → `5.1.10`.
//! * An MX that is this host (`$=w`, or an address in the caller's list of
//!   local addresses) is removed with every MX of equal or higher preference;
//!   nothing left → `5.3.5` "MX list for host points back to $j".
//! * `confFALLBACK_MX`: appended after the real MXes (bracketed: no MX lookup
//!   for it; otherwise its own MXes in place), not when it is this host, not
//!   when this host is among the MXes (it would loop), not for `[host]`.
//! * Addresses: every address of every MX, AAAA first then A, so a host with
//!   a broken IPv6 path is still reached over IPv4 (the driver moves on to
//!   the next target on any connection failure). Within a family the
//!   addresses of one host are shuffled with an [`AddressShuffle`] the caller
//!   makes for each delivery attempt, so next hops behind one round-robin
//!   name (two scanners as two A records of `[scanners.example]`) share the
//!   load, and a dead one is only tried first for some attempts. (Sendmail
//!   tries them in the resolver's order, which a caching resolver rotates;
//!   our stub resolver does not rotate, so we do it here, like Postfix.) CNAMEs are followed by the
//!   resolver (hickory), also for MX targets, as sendmail does.
//! * Hosts file / service switch (`confHOSTS_FILE`, `confSERVICE_SWITCH_FILE`):
//!   a name in the hosts file resolves from it without DNS (no MX lookup);
//!   with `hosts files` alone DNS is never asked.

use crate::dns::{Answer, Dns, NotFound};
use crate::proto::reply::EnhancedStatus;
use crate::site::{HostAnswer, Site};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// The preference given to fallback MX hosts (after every real MX).
pub const FALLBACK_PREFERENCE: u32 = u32::MAX;

/// How a routed host is to be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSpec {
    /// `[192.0.2.1]`, `[IPv6:2001:db8::1]`: this address.
    Literal(IpAddr),
    /// `[host]`: A/AAAA of host, no MX lookup.
    Bracketed(String),
    /// `host`: MX lookup.
    Mx(String),
}

/// A bracketed host with a port, `[127.0.0.1]:10024` (a content filter's
/// next hop): the host and the port. Anything else is returned whole, with
/// no port (the mailer's `*_MAILER_ARGS` port applies).
pub fn split_port(host: &str) -> (&str, Option<u16>) {
    let h = host.trim();
    if let Some(close) = h.rfind("]:")
        && h.starts_with('[')
        && let Ok(port) = h[close + 2..].parse::<u16>()
    {
        return (&h[..=close], Some(port));
    }
    (host, None)
}

/// Classify a routed host.
pub fn host_spec(host: &str) -> HostSpec {
    let host = host.trim().trim_end_matches('.');
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => {
            let lit = inner
                .strip_prefix("IPv6:")
                .or_else(|| inner.strip_prefix("ipv6:"))
                .or_else(|| inner.strip_prefix("IPV6:"))
                .unwrap_or(inner);
            match lit.parse::<IpAddr>() {
                Ok(ip) => HostSpec::Literal(ip),
                Err(_) => HostSpec::Bracketed(inner.trim_end_matches('.').to_ascii_lowercase()),
            }
        }
        None => HostSpec::Mx(host.to_ascii_lowercase()),
    }
}

/// One host to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Host name (lower case, no trailing dot).
    pub name: String,
    /// MX preference (0 for implicit MX and `[host]`, [`FALLBACK_PREFERENCE`] for the fallback).
    pub preference: u32,
    /// The rule that put it here (`MX 10 of example.org`, `implicit MX`, ...).
    pub why: String,
}

/// One address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host name (for `relay=` and TLS SNI); the address text for literals.
    pub host: String,
    /// Address and port.
    pub addr: SocketAddr,
    /// MX preference of the host.
    pub preference: u32,
    /// The rule that chose it.
    pub why: String,
}

impl Target {
    /// `relay=` text as sendmail logs it: `mx.example.org. [192.0.2.1]`.
    pub fn relay(&self) -> String {
        let ip = crate::addr::sendmail_ip(&self.addr.ip());
        if self.host.parse::<IpAddr>().is_ok() {
            format!("[{ip}]")
        } else {
            format!("{}. [{ip}]", self.host)
        }
    }
}

/// Why there is nowhere to send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// RFC 3463 status: `5.1.2`, `5.1.10`, `5.3.5` (permanent) or `4.4.3` (temporary).
    pub status: EnhancedStatus,
    /// Text for the log and the bounce.
    pub text: String,
}

impl Refusal {
    fn new(status: EnhancedStatus, text: String) -> Refusal {
        Refusal { status, text }
    }

    /// Is this a permanent failure (bounce)?
    pub fn is_permanent(&self) -> bool {
        self.status.class == 5
    }

    fn host_unknown(host: &str) -> Refusal {
        Refusal::new(
            EnhancedStatus::new(5, 1, 2),
            format!("Host unknown (Name server: {host}: host not found)"),
        )
    }

    fn dns_temp(host: &str, err: &str) -> Refusal {
        Refusal::new(
            EnhancedStatus::new(4, 4, 3),
            format!("Name server: {host}: host name lookup failure ({err})"),
        )
    }
}

/// A stable pseudo-random key for ordering equal preferences.
fn shuffle_key(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser so that close seeds give unrelated orders.
    h = h.wrapping_add(seed.rotate_left(17));
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The randomness for one delivery attempt's address order: splitmix64, a
/// small generator good enough for spreading load (not for secrets). The
/// caller seeds it (per attempt in the agent; fixed in tests).
#[derive(Debug, Clone)]
pub struct AddressShuffle {
    state: u64,
}

impl AddressShuffle {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> AddressShuffle {
        AddressShuffle { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        // The modulo bias is at most n / 2^64: irrelevant for a few addresses.
        (self.next_u64() % (n.max(1) as u64)) as usize
    }

    /// Fisher–Yates shuffle of `items`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Order the MX hosts of `domain` from the MX answer.
///
/// `is_local` says whether a name is this host (`$=w`); `me` is `$j` for the
/// error text; `fallback` is the already expanded fallback MX list (empty
/// when none is configured).
pub fn mx_hosts(
    domain: &str,
    answer: &Answer<Vec<(u16, String)>>,
    seed: u64,
    is_local: &dyn Fn(&str) -> bool,
    me: &str,
    fallback: &[MxHost],
) -> Result<Vec<MxHost>, Refusal> {
    let records = match answer {
        Answer::Found(r) => r.clone(),
        Answer::NotFound(NotFound::NoRecords) => vec![(0, domain.to_string())],
        Answer::NotFound(NotFound::NoSuchName) => return Err(Refusal::host_unknown(domain)),
        Answer::TempFail(e) => {
            let fb = usable_fallback(fallback, is_local, &BTreeSet::new());
            if fb.is_empty() {
                return Err(Refusal::dns_temp(domain, e));
            }
            return Ok(fb);
        }
    };
    let implicit = matches!(answer, Answer::NotFound(_));
    if records
        .iter()
        .any(|(_, n)| n.is_empty() || n.as_str() == ".")
    {
        return Err(Refusal::new(
            EnhancedStatus::new(5, 1, 10),
            format!("Domain {domain} does not accept mail (nullMX)"),
        ));
    }
    let mut sorted: Vec<(u16, u64, String)> = records
        .into_iter()
        .map(|(p, n)| {
            let n = n.trim_end_matches('.').to_ascii_lowercase();
            (p, shuffle_key(seed, &n), n)
        })
        .collect();
    sorted.sort();
    let mut seen = BTreeSet::new();
    sorted.retain(|(_, _, n)| seen.insert(n.clone()));
    let local_pref = sorted
        .iter()
        .filter(|(_, _, n)| is_local(n))
        .map(|(p, _, _)| *p)
        .min();
    if let Some(lp) = local_pref {
        sorted.retain(|(p, _, _)| *p < lp);
        if sorted.is_empty() {
            return Err(Refusal::new(
                EnhancedStatus::new(5, 3, 5),
                format!("MX list for {domain} points back to {me}"),
            ));
        }
    }
    let mut hosts: Vec<MxHost> = sorted
        .into_iter()
        .map(|(p, _, n)| MxHost {
            why: if implicit {
                format!("implicit MX (no MX records for {domain})")
            } else {
                format!("MX {p} of {domain}")
            },
            name: n,
            preference: u32::from(p),
        })
        .collect();
    if local_pref.is_none() {
        let names: BTreeSet<String> = hosts.iter().map(|h| h.name.clone()).collect();
        hosts.extend(usable_fallback(fallback, is_local, &names));
    }
    Ok(hosts)
}

fn usable_fallback(
    fallback: &[MxHost],
    is_local: &dyn Fn(&str) -> bool,
    already: &BTreeSet<String>,
) -> Vec<MxHost> {
    fallback
        .iter()
        .filter(|h| !is_local(&h.name) && !already.contains(&h.name))
        .cloned()
        .collect()
}

/// The addresses to try for `hosts`, in order: each host's AAAA then A
/// addresses, each family shuffled by `rng`. `addrs` answers for a host
/// name (AAAA and A merged, IPv6 first). A host with an address in
/// `local_addrs` is removed with every host of equal or higher preference.
pub fn targets(
    hosts: &[MxHost],
    addrs: &dyn Fn(&str) -> Answer<Vec<IpAddr>>,
    local_addrs: &[IpAddr],
    port: u16,
    me: &str,
    rng: &mut AddressShuffle,
) -> Result<Vec<Target>, Refusal> {
    let mut temp: Option<(String, String)> = None;
    let mut resolved: Vec<(&MxHost, Vec<IpAddr>)> = Vec::new();
    for h in hosts {
        match addrs(&h.name) {
            Answer::Found(ips) => {
                // IPv6 first, then IPv4; a fresh random order within a family.
                let (mut v6, mut v4): (Vec<IpAddr>, Vec<IpAddr>) =
                    ips.into_iter().partition(IpAddr::is_ipv6);
                rng.shuffle(&mut v6);
                rng.shuffle(&mut v4);
                v6.extend(v4);
                resolved.push((h, v6));
            }
            Answer::TempFail(e) => {
                temp.get_or_insert((h.name.clone(), e));
            }
            Answer::NotFound(_) => {}
        }
    }
    let local_pref = resolved
        .iter()
        .filter(|(_, ips)| ips.iter().any(|ip| local_addrs.contains(ip)))
        .map(|(h, _)| h.preference)
        .min();
    if let Some(lp) = local_pref {
        resolved.retain(|(h, _)| h.preference < lp);
        if resolved.is_empty() {
            let domain = hosts.first().map(|h| h.name.as_str()).unwrap_or("");
            return Err(Refusal::new(
                EnhancedStatus::new(5, 3, 5),
                format!("MX list for {domain} points back to {me}"),
            ));
        }
    }
    let out: Vec<Target> = resolved
        .into_iter()
        .flat_map(|(h, ips)| {
            ips.into_iter().map(move |ip| Target {
                host: h.name.clone(),
                addr: SocketAddr::new(ip, port),
                preference: h.preference,
                why: h.why.clone(),
            })
        })
        .collect();
    if out.is_empty() {
        if let Some((h, e)) = temp {
            return Err(Refusal::dns_temp(&h, &e));
        }
        let first = hosts.first().map(|h| h.name.as_str()).unwrap_or("");
        return Err(Refusal::host_unknown(first));
    }
    Ok(out)
}

/// Merge AAAA and A answers: IPv6 first; found if either found; a temporary
/// failure wins over "not found"; NXDOMAIN if either said so.
pub fn merge_addresses(
    aaaa: Answer<Vec<std::net::Ipv6Addr>>,
    a: Answer<Vec<std::net::Ipv4Addr>>,
) -> Answer<Vec<IpAddr>> {
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut temp = None;
    let mut nx = false;
    match aaaa {
        Answer::Found(v) => ips.extend(v.into_iter().map(IpAddr::V6)),
        Answer::TempFail(e) => temp = Some(e),
        Answer::NotFound(n) => nx |= n == NotFound::NoSuchName,
    }
    match a {
        Answer::Found(v) => ips.extend(v.into_iter().map(IpAddr::V4)),
        Answer::TempFail(e) => temp = Some(e),
        Answer::NotFound(n) => nx |= n == NotFound::NoSuchName,
    }
    if !ips.is_empty() {
        Answer::Found(ips)
    } else if let Some(e) = temp {
        Answer::TempFail(e)
    } else if nx {
        Answer::NotFound(NotFound::NoSuchName)
    } else {
        Answer::NotFound(NotFound::NoRecords)
    }
}

/// What [`resolve`] needs besides the host.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Destination port (from `*_MAILER_ARGS`, default 25).
    pub port: u16,
    /// Seed for the order of equal preferences (per process or per queue run).
    pub seed: u64,
    /// Seed for the order of one host's addresses (per delivery attempt).
    pub address_seed: u64,
    /// This machine's addresses (an MX on one of them is this host).
    pub local_addrs: Vec<IpAddr>,
}

/// Resolve `host` (as routed) to the ordered targets.
pub async fn resolve(
    dns: &Dns,
    site: &Site,
    host: &str,
    opts: &Options,
) -> Result<Vec<Target>, Refusal> {
    let me = site.hostname.clone();
    let is_local = |n: &str| site.is_local_host(n);
    let hosts = match host_spec(host) {
        HostSpec::Literal(ip) => {
            return Ok(vec![Target {
                host: ip.to_string(),
                addr: SocketAddr::new(ip, opts.port),
                preference: 0,
                why: format!("{host}: address literal"),
            }]);
        }
        HostSpec::Bracketed(name) => vec![MxHost {
            why: format!("[{name}]: no MX lookup"),
            name,
            preference: 0,
        }],
        HostSpec::Mx(name) => {
            let answer = mx_answer(dns, site, &name).await;
            let fallback = match &answer {
                Answer::Found(_) | Answer::NotFound(NotFound::NoRecords) | Answer::TempFail(_) => {
                    fallback_hosts(dns, site, opts.seed).await
                }
                Answer::NotFound(NotFound::NoSuchName) => Vec::new(),
            };
            mx_hosts(&name, &answer, opts.seed, &is_local, &me, &fallback)?
        }
    };
    let mut cache: BTreeMap<String, Answer<Vec<IpAddr>>> = BTreeMap::new();
    for h in &hosts {
        if !cache.contains_key(&h.name) {
            let a = addresses(dns, site, &h.name).await;
            cache.insert(h.name.clone(), a);
        }
    }
    let lookup = |n: &str| {
        cache
            .get(n)
            .cloned()
            .unwrap_or(Answer::NotFound(NotFound::NoSuchName))
    };
    let mut rng = AddressShuffle::new(opts.address_seed);
    targets(&hosts, &lookup, &opts.local_addrs, opts.port, &me, &mut rng)
}

/// The MX answer for `name`: a name in the hosts file (or a switch without
/// DNS) has no MX records, so it becomes its own implicit MX.
async fn mx_answer(dns: &Dns, site: &Site, name: &str) -> Answer<Vec<(u16, String)>> {
    match site.host_lookup(name) {
        HostAnswer::Found(_) => Answer::NotFound(NotFound::NoRecords),
        HostAnswer::NotFound => Answer::NotFound(NotFound::NoSuchName),
        HostAnswer::AskDns => dns.mx(name).await,
    }
}

/// Addresses of `name`: hosts file first (per the service switch), then DNS.
pub async fn addresses(dns: &Dns, site: &Site, name: &str) -> Answer<Vec<IpAddr>> {
    match site.host_lookup(name) {
        HostAnswer::Found(ips) => Answer::Found(ips),
        HostAnswer::NotFound => Answer::NotFound(NotFound::NoSuchName),
        HostAnswer::AskDns => {
            let aaaa = dns.aaaa(name).await;
            let a = dns.a(name).await;
            merge_addresses(aaaa, a)
        }
    }
}

/// `confFALLBACK_MX` expanded: bracketed → itself; otherwise its MX hosts
/// (or itself when it has none, or when its lookup fails).
async fn fallback_hosts(dns: &Dns, site: &Site, seed: u64) -> Vec<MxHost> {
    let Some(fb) = site.config.relays.fallback_mx.as_deref() else {
        return Vec::new();
    };
    let why = format!("FallbackMXhost {fb}");
    let one = |name: String| {
        vec![MxHost {
            name,
            preference: FALLBACK_PREFERENCE,
            why: why.clone(),
        }]
    };
    match host_spec(fb) {
        HostSpec::Literal(ip) => one(ip.to_string()),
        HostSpec::Bracketed(name) => one(name),
        HostSpec::Mx(name) => match mx_answer(dns, site, &name).await {
            Answer::Found(records) => {
                let mut r = records;
                r.sort_by_key(|(p, n)| (*p, shuffle_key(seed, n)));
                r.into_iter()
                    .filter(|(_, n)| !n.is_empty())
                    .map(|(_, n)| MxHost {
                        name: n,
                        preference: FALLBACK_PREFERENCE,
                        why: why.clone(),
                    })
                    .collect()
            }
            _ => one(name),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(n: &str) -> bool {
        n == "gw.example.com"
    }

    #[test]
    fn a_content_filter_hop_carries_its_port() {
        assert_eq!(
            split_port("[127.0.0.1]:10024"),
            ("[127.0.0.1]", Some(10024))
        );
        assert_eq!(split_port("[IPv6:::1]:10024"), ("[IPv6:::1]", Some(10024)));
        assert_eq!(split_port("[mx.example]"), ("[mx.example]", None));
        assert_eq!(split_port("mx.example"), ("mx.example", None));
        assert_eq!(split_port("[127.0.0.1]:x"), ("[127.0.0.1]:x", None));
    }

    fn names(h: &[MxHost]) -> Vec<&str> {
        h.iter().map(|h| h.name.as_str()).collect()
    }

    fn mx(list: &[(u16, &str)]) -> Answer<Vec<(u16, String)>> {
        Answer::Found(list.iter().map(|(p, n)| (*p, n.to_string())).collect())
    }

    fn fb(name: &str) -> Vec<MxHost> {
        vec![MxHost {
            name: name.into(),
            preference: FALLBACK_PREFERENCE,
            why: "fallback".into(),
        }]
    }

    #[test]
    fn host_specs() {
        assert_eq!(
            host_spec("[192.0.2.1]"),
            HostSpec::Literal("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            host_spec("[IPv6:2001:db8::1]"),
            HostSpec::Literal("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            host_spec("[Relay.Example.]"),
            HostSpec::Bracketed("relay.example".into())
        );
        assert_eq!(host_spec("MX.example."), HostSpec::Mx("mx.example".into()));
    }

    #[test]
    fn lowest_preference_first_and_duplicates_removed() {
        let a = mx(&[(20, "b.example"), (10, "a.example"), (30, "a.example")]);
        let h = mx_hosts("d.example", &a, 1, &local, "gw", &[]).unwrap();
        assert_eq!(names(&h), ["a.example", "b.example"]);
        assert_eq!(h[0].why, "MX 10 of d.example");
    }

    #[test]
    fn equal_preferences_are_spread_by_seed() {
        let a = mx(&[(10, "a.example"), (10, "b.example"), (20, "c.example")]);
        let mut first_a = 0;
        for seed in 0..200 {
            let h = mx_hosts("d.example", &a, seed, &local, "gw", &[]).unwrap();
            assert_eq!(h[2].name, "c.example");
            if h[0].name == "a.example" {
                first_a += 1;
            }
            // Same seed, same order.
            assert_eq!(
                h,
                mx_hosts("d.example", &a, seed, &local, "gw", &[]).unwrap()
            );
        }
        assert!((60..=140).contains(&first_a), "{first_a} of 200");
    }

    #[test]
    fn implicit_mx_nxdomain_tempfail_and_null_mx() {
        let h = mx_hosts(
            "d.example",
            &Answer::NotFound(NotFound::NoRecords),
            0,
            &local,
            "gw",
            &[],
        )
        .unwrap();
        assert_eq!(names(&h), ["d.example"]);
        assert!(h[0].why.starts_with("implicit MX"));
        let e = mx_hosts(
            "d.example",
            &Answer::NotFound(NotFound::NoSuchName),
            0,
            &local,
            "gw",
            &fb("fb.example"),
        )
        .unwrap_err();
        assert_eq!(e.status.to_string(), "5.1.2");
        assert_eq!(
            e.text,
            "Host unknown (Name server: d.example: host not found)"
        );
        assert!(e.is_permanent());
        let t = Answer::TempFail("timeout".into());
        let e = mx_hosts("d.example", &t, 0, &local, "gw", &[]).unwrap_err();
        assert_eq!(e.status.to_string(), "4.4.3");
        assert!(!e.is_permanent());
        // With a fallback MX, a DNS failure goes to the fallback.
        let h = mx_hosts("d.example", &t, 0, &local, "gw", &fb("fb.example")).unwrap();
        assert_eq!(names(&h), ["fb.example"]);
        let e = mx_hosts("d.example", &mx(&[(0, "")]), 0, &local, "gw", &[]).unwrap_err();
        assert_eq!(e.status.to_string(), "5.1.10");
    }

    #[test]
    fn self_in_mx_list_drops_it_and_worse() {
        let a = mx(&[
            (10, "a.example"),
            (20, "gw.example.com"),
            (20, "b.example"),
            (30, "c.example"),
        ]);
        let h = mx_hosts(
            "d.example",
            &a,
            0,
            &local,
            "gw.example.com",
            &fb("fb.example"),
        )
        .unwrap();
        // Fallback is not added when we are an MX ourselves (no loops).
        assert_eq!(names(&h), ["a.example"]);
        let a = mx(&[(10, "gw.example.com"), (20, "b.example")]);
        let e = mx_hosts("d.example", &a, 0, &local, "gw.example.com", &[]).unwrap_err();
        assert_eq!(e.status.to_string(), "5.3.5");
        assert_eq!(
            e.text,
            "MX list for d.example points back to gw.example.com"
        );
    }

    #[test]
    fn fallback_is_appended_last_unless_it_is_us() {
        let a = mx(&[(10, "a.example")]);
        let h = mx_hosts("d.example", &a, 0, &local, "gw", &fb("fb.example")).unwrap();
        assert_eq!(names(&h), ["a.example", "fb.example"]);
        assert_eq!(h[1].preference, FALLBACK_PREFERENCE);
        let h = mx_hosts("d.example", &a, 0, &local, "gw", &fb("gw.example.com")).unwrap();
        assert_eq!(names(&h), ["a.example"]);
    }

    #[test]
    fn every_address_ipv6_first_and_unresolvable_hosts_skipped() {
        let hosts = vec![
            MxHost {
                name: "a.example".into(),
                preference: 10,
                why: "x".into(),
            },
            MxHost {
                name: "gone.example".into(),
                preference: 15,
                why: "x".into(),
            },
            MxHost {
                name: "b.example".into(),
                preference: 20,
                why: "x".into(),
            },
        ];
        let addrs = |n: &str| match n {
            "a.example" => Answer::Found(vec![
                "192.0.2.1".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
                "192.0.2.2".parse().unwrap(),
            ]),
            "b.example" => Answer::Found(vec!["192.0.2.3".parse().unwrap()]),
            _ => Answer::NotFound(NotFound::NoSuchName),
        };
        let rng = &mut AddressShuffle::new(0);
        let t = targets(&hosts, &addrs, &[], 2525, "gw", rng).unwrap();
        let mut got: Vec<String> = t.iter().map(|t| t.addr.to_string()).collect();
        // The two A records of a.example come in either order.
        got[1..3].sort();
        assert_eq!(
            got,
            [
                "[2001:db8::1]:2525",
                "192.0.2.1:2525",
                "192.0.2.2:2525",
                "192.0.2.3:2525"
            ]
        );
        assert_eq!(t[1].host, "a.example");
        assert!(t[1].relay().starts_with("a.example. [192.0.2."));
        // A local address removes its host and the worse ones.
        let e = targets(
            &hosts[..1],
            &addrs,
            &["192.0.2.2".parse().unwrap()],
            25,
            "gw",
            &mut AddressShuffle::new(0),
        )
        .unwrap_err();
        assert_eq!(e.status.to_string(), "5.3.5");
        let t = targets(
            &hosts,
            &addrs,
            &["192.0.2.3".parse().unwrap()],
            25,
            "gw",
            rng,
        )
        .unwrap();
        assert!(t.iter().all(|t| t.host == "a.example"));
    }

    #[test]
    fn addresses_of_one_host_are_shuffled_per_attempt_within_a_family() {
        let hosts = vec![MxHost {
            name: "scanners.example".into(),
            preference: 0,
            why: "x".into(),
        }];
        let addrs = |_: &str| {
            Answer::Found(vec![
                "192.0.2.1".parse().unwrap(),
                "192.0.2.2".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            ])
        };
        // One generator, as the agent uses one per attempt: 200 attempts.
        let mut orders: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        let mut rng = AddressShuffle::new(42);
        for _ in 0..200 {
            let t = targets(&hosts, &addrs, &[], 25, "gw", &mut rng).unwrap();
            let ips: Vec<String> = t.iter().map(|t| t.addr.ip().to_string()).collect();
            // IPv6 first whatever the shuffle.
            assert!(ips[0].contains(':') && ips[1].contains(':'), "{ips:?}");
            assert!(!ips[2].contains(':') && !ips[3].contains(':'), "{ips:?}");
            *orders.entry(ips).or_default() += 1;
        }
        // Both orders of each family occur, in every combination, and
        // neither is rare (expected 50 each).
        assert_eq!(orders.len(), 4, "{orders:?}");
        assert!(orders.values().all(|&n| n >= 25), "{orders:?}");
        let first_v4 = |o: &[String]| o[2].clone();
        let v4_first: BTreeSet<String> = orders.keys().map(|o| first_v4(o)).collect();
        assert_eq!(v4_first.len(), 2);
        // Seeded: the same seed gives the same order (tests can rely on it).
        let a = targets(&hosts, &addrs, &[], 25, "gw", &mut AddressShuffle::new(7)).unwrap();
        let b = targets(&hosts, &addrs, &[], 25, "gw", &mut AddressShuffle::new(7)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn no_address_anywhere() {
        let hosts = vec![MxHost {
            name: "a.example".into(),
            preference: 0,
            why: "x".into(),
        }];
        let e = targets(
            &hosts,
            &|_| Answer::NotFound(NotFound::NoSuchName),
            &[],
            25,
            "gw",
            &mut AddressShuffle::new(0),
        )
        .unwrap_err();
        assert_eq!(e.status.to_string(), "5.1.2");
        let e = targets(
            &hosts,
            &|_| Answer::TempFail("t".into()),
            &[],
            25,
            "gw",
            &mut AddressShuffle::new(0),
        )
        .unwrap_err();
        assert_eq!(e.status.to_string(), "4.4.3");
    }

    #[test]
    fn merging_aaaa_and_a() {
        let m = merge_addresses(
            Answer::TempFail("x".into()),
            Answer::Found(vec!["192.0.2.1".parse().unwrap()]),
        );
        assert_eq!(m, Answer::Found(vec!["192.0.2.1".parse().unwrap()]));
        let m = merge_addresses(
            Answer::NotFound(NotFound::NoRecords),
            Answer::TempFail("x".into()),
        );
        assert!(matches!(m, Answer::TempFail(_)));
        let m = merge_addresses(
            Answer::NotFound(NotFound::NoSuchName),
            Answer::NotFound(NotFound::NoSuchName),
        );
        assert_eq!(m, Answer::NotFound(NotFound::NoSuchName));
    }
}
