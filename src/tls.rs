//! TLS configuration (rustls with the ring provider).
//!
//! Contract: [`server_config`] reads the certificate chain and key named by
//! `confSERVER_CERT` / `confSERVER_KEY` (PEM) and returns a server
//! configuration that speaks TLS 1.2 and 1.3 only, with rustls's default
//! (strong) cipher suites. Errors name the file and what was wrong.
//! [`trust_verifier`] builds the verifier of server certificates for
//! outgoing STARTTLS from `confCACERT` (a PEM file) and `confCACERT_PATH` (a
//! directory of PEM files), or the system's bundle
//! ([`SYSTEM_CA_BUNDLE`]) when neither is set. [`TlsSettings::from_options`]
//! reads `confCIPHER_LIST` (OpenSSL's cipher-list language, applied to the
//! TLS 1.2 suites rustls has; TLS 1.3 suites are not governed by it, as in
//! OpenSSL) and `confSERVER_SSL_OPTIONS` / `confCLIENT_SSL_OPTIONS`
//! (`SSL_OP_*` words: the protocol versions, server cipher order, tickets);
//! words with no meaning for rustls are warnings, never silently dropped.
//!
//! Client certificates ([`ClientCerts`]): as sendmail's server, unless
//! `confTLS_SRV_OPTIONS` has `V`, the server asks every client for a
//! certificate and never refuses the handshake for its answer: the
//! certificate is verified against the trust anchors afterwards and the
//! result is `${verify}` (`OK`, `FAIL`, `NO` when none came), with the
//! issuer's and subject's names as sendmail writes them ([`PeerCert`]).
//! Only the signature proving the client holds the certificate's key is
//! checked during the handshake.

use futures_rustls::rustls;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Debian's bundle of the system's trusted certificate authorities
/// (package `ca-certificates`).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The trust anchors from `cacert` (a PEM file) and every PEM file in
/// `cacert_path`; neither given: the system bundle. An unreadable file
/// named by the configuration is an error naming it; files in the
/// directory that hold no certificate are passed over (c_rehash links,
/// READMEs).
pub fn trust_verifier(
    cacert: Option<&Path>,
    cacert_path: Option<&Path>,
) -> Result<Arc<rustls::client::WebPkiServerVerifier>, String> {
    let roots = trust_roots(cacert, cacert_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("trust anchors: {e}"))
}

/// The trust anchors of [`trust_verifier`] (and of client certificates).
pub fn trust_roots(
    cacert: Option<&Path>,
    cacert_path: Option<&Path>,
) -> Result<rustls::RootCertStore, String> {
    let mut files: Vec<(std::path::PathBuf, bool)> = Vec::new();
    if let Some(f) = cacert {
        files.push((f.to_path_buf(), true));
    }
    if let Some(dir) = cacert_path {
        let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut names: Vec<std::path::PathBuf> =
            rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        files.extend(
            names
                .into_iter()
                .filter(|p| p.is_file())
                .map(|p| (p, false)),
        );
    }
    if cacert.is_none() && cacert_path.is_none() {
        files.push((Path::new(SYSTEM_CA_BUNDLE).to_path_buf(), true));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (file, required) in &files {
        let certs: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(file) {
            Ok(it) => it.filter_map(Result::ok).collect(),
            Err(e) if *required => return Err(format!("{}: {e}", file.display())),
            Err(_) => continue,
        };
        if certs.is_empty() && *required {
            return Err(format!("{}: no certificate found", file.display()));
        }
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        return Err("no trusted certificate authority (confCACERT, confCACERT_PATH)".into());
    }
    Ok(roots)
}

/// The client-certificate request a configuration asks for: none when
/// `confTLS_SRV_OPTIONS` has `V` (sendmail: "do not request a client
/// certificate"), else verified against `confCACERT`/`confCACERT_PATH`
/// (named in the request) or the system's bundle (not named: it is
/// long, and a client picks its certificate without it). Trust anchors
/// that cannot be read mean no request (`${verify}` `NOT`, no relaying by
/// certificate) and the reason, for the log; TLS itself still works.
pub fn client_certs(
    option: impl Fn(&str) -> Option<String>,
) -> (Option<Arc<ClientCerts>>, Option<String>) {
    let srv = option("confTLS_SRV_OPTIONS").unwrap_or_default();
    if srv.chars().any(|c| c.eq_ignore_ascii_case(&'v')) {
        return (None, None);
    }
    let cacert = option("confCACERT");
    let cacert_path = option("confCACERT_PATH");
    let own = cacert.is_some() || cacert_path.is_some();
    let certs = trust_roots(
        cacert.as_deref().map(Path::new),
        cacert_path.as_deref().map(Path::new),
    )
    .and_then(|roots| ClientCerts::new(roots, own));
    match certs {
        Ok(c) => (Some(Arc::new(c)), None),
        Err(e) => (
            None,
            Some(format!(
                "no client certificate is asked for: {e}; ${{verify}} is NOT, and no client relays by certificate"
            )),
        ),
    }
}

pub use crate::policy::tls::PeerCert;

/// The server's request for client certificates: asks, never insists,
/// never refuses a certificate in the handshake; [`ClientCerts::judge`]
/// verifies it afterwards.
#[derive(Debug)]
pub struct ClientCerts {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl ClientCerts {
    /// Verify against `roots`; `hints`: name them in the request (a site's
    /// own CAs; not the system's whole bundle).
    pub fn new(roots: rustls::RootCertStore, hints: bool) -> Result<ClientCerts, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut b =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated();
        if !hints {
            b = b.clear_root_hint_subjects();
        }
        let inner = b.build().map_err(|e| format!("client certificates: {e}"))?;
        Ok(ClientCerts { inner })
    }

    /// What the client sent (`certs`: its chain, end entity first).
    pub fn judge(&self, certs: Option<&[CertificateDer<'_>]>) -> PeerCert {
        use crate::policy::tls::Verify;
        let Some((end, intermediates)) = certs.and_then(|c| c.split_first()) else {
            return PeerCert::without(Verify::No);
        };
        let now = rustls_pki_types::UnixTime::now();
        let verify = match self.inner.verify_client_cert(end, intermediates, now) {
            Ok(_) => Verify::Ok,
            Err(_) => Verify::Fail,
        };
        let names = cert_names(end).unwrap_or_default();
        PeerCert {
            verify,
            issuer: names.issuer,
            subject: names.subject,
            cn_issuer: names.cn_issuer,
            cn_subject: names.cn_subject,
        }
    }
}

impl rustls::server::danger::ClientCertVerifier for ClientCerts {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        // As sendmail's tls_verify_cb: the handshake goes on whatever the
        // certificate; `judge` records what it is worth.
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        signed_by_cert_key(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        signed_by_cert_key(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client's handshake signature, checked with the public key of its
/// certificate read as X.509 of any version: webpki parses only v3
/// certificates, and `openssl x509 -req` without extensions (as many
/// sendmail guides make client certificates) gives v1. Such a client
/// still gets TLS, as from sendmail; its certificate does not verify
/// (`FAIL`). The algorithms are ring's, as for the rest of TLS; for
/// TLS 1.3 only the first one of the scheme, as rustls does.
fn signed_by_cert_key(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &rustls::DigitallySignedStruct,
    tls13: bool,
) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
    use rustls::SignatureScheme as S;
    use x509_cert::der::{Decode, Encode};
    let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
    let encoding = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding);
    // TLS 1.3 signs with no PKCS#1 v1.5 and no SHA-1 (RFC 8446 4.4.3).
    let legacy = matches!(
        dss.scheme,
        S::RSA_PKCS1_SHA1
            | S::RSA_PKCS1_SHA256
            | S::RSA_PKCS1_SHA384
            | S::RSA_PKCS1_SHA512
            | S::ECDSA_SHA1_Legacy
    );
    if tls13 && legacy {
        return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    let c = x509_cert::Certificate::from_der(cert).map_err(|_| encoding())?;
    let spki = &c.tbs_certificate.subject_public_key_info;
    // The AlgorithmIdentifier's contents (OID, parameters), as webpki
    // compares them.
    let mut alg_id = spki.algorithm.oid.to_der().map_err(|_| encoding())?;
    if let Some(p) = &spki.algorithm.parameters {
        alg_id.extend(p.to_der().map_err(|_| encoding())?);
    }
    let key = spki.subject_public_key.as_bytes().ok_or_else(encoding)?;
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let candidates = algs
        .mapping
        .iter()
        .filter(|(s, _)| *s == dss.scheme)
        .flat_map(|(_, a)| a.iter())
        .take(if tls13 { 1 } else { usize::MAX });
    for alg in candidates {
        if alg.public_key_alg_id().as_ref() != alg_id.as_slice() {
            continue;
        }
        return match alg.verify_signature(key, message, dss.signature()) {
            Ok(()) => Ok(rustls::client::danger::HandshakeSignatureValid::assertion()),
            Err(_) => Err(bad()),
        };
    }
    Err(bad())
}

/// A certificate's names as sendmail's macros hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    /// `${cert_issuer}`.
    pub issuer: String,
    /// `${cert_subject}`.
    pub subject: String,
    /// `${cn_issuer}`: the issuer's first common name.
    pub cn_issuer: String,
    /// `${cn_subject}`: the subject's first common name.
    pub cn_subject: String,
}

/// The issuer's and the subject's names of a DER certificate, as sendmail
/// puts them in `${cert_issuer}` and `${cert_subject}`: OpenSSL's
/// `X509_NAME_oneline` (`/C=US/O=Example/CN=Example CA`), then sendmail's
/// `xtextify` with its taboo characters `<>")`, so a space is `+20`; and
/// their first common names (`X509_NAME_get_text_by_NID`), the same way.
pub fn cert_names(der: &[u8]) -> Option<CertNames> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    Some(CertNames {
        issuer: xtextify(&oneline(&tbs.issuer)),
        subject: xtextify(&oneline(&tbs.subject)),
        cn_issuer: xtextify(&common_name(&tbs.issuer)),
        cn_subject: xtextify(&common_name(&tbs.subject)),
    })
}

/// The first `CN` of `name`, empty without one.
fn common_name(name: &x509_cert::name::Name) -> String {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid.to_string() == "2.5.4.3")
        .map(|atv| String::from_utf8_lossy(&attribute_text(&atv.value)).into_owned())
        .unwrap_or_default()
}

/// An attribute's value as text bytes: the string types' contents, else
/// the raw value.
fn attribute_text(v: &x509_cert::der::Any) -> Vec<u8> {
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    if let Ok(s) = v.decode_as::<Utf8StringRef<'_>>() {
        s.as_str().as_bytes().to_vec()
    } else if let Ok(s) = v.decode_as::<PrintableStringRef<'_>>() {
        s.as_str().as_bytes().to_vec()
    } else if let Ok(s) = v.decode_as::<Ia5StringRef<'_>>() {
        s.as_str().as_bytes().to_vec()
    } else if let Ok(s) = v.decode_as::<TeletexStringRef<'_>>() {
        s.as_str().as_bytes().to_vec()
    } else {
        v.value().to_vec()
    }
}

/// OpenSSL's `X509_NAME_oneline`: `/SN=value` per attribute in the
/// certificate's order, `+` between the attributes of one RDN; bytes
/// outside printable ASCII as `\xHH`.
fn oneline(name: &x509_cert::name::Name) -> String {
    let mut out = String::new();
    for rdn in name.0.iter() {
        for (i, atv) in rdn.0.iter().enumerate() {
            out.push(if i == 0 { '/' } else { '+' });
            out.push_str(&short_name(&atv.oid.to_string()));
            out.push('=');
            for b in attribute_text(&atv.value) {
                if (0x20..0x7f).contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            }
        }
    }
    out
}

/// OpenSSL's short name of an attribute type; the dotted OID for others.
fn short_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.42" => "GN",
        "2.5.4.46" => "dnQualifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        other => return other.to_string(),
    }
    .to_string()
}

/// sendmail's `xtextify(s, "<>\")")`: `+XX` for bytes outside `!`..`~`,
/// for `+`, `\\`, `(`, and for the taboo `<`, `>`, `"`, `)`.
pub fn xtextify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if !(b'!'..=b'~').contains(&b) || b"+\\(<>\")".contains(&b) {
            out.push_str(&format!("+{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// The TLS suites, versions and options a configuration asks for.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// The TLS 1.2 suites selected by `confCIPHER_LIST`, then every TLS 1.3 suite.
    pub suites: Vec<SupportedCipherSuite>,
    /// The protocol versions left by the `SSL_OP_NO_TLSv1_*` options.
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// `SSL_OP_CIPHER_SERVER_PREFERENCE`: the server's suite order wins.
    pub server_order: bool,
    /// `SSL_OP_NO_TICKET`: no session tickets.
    pub no_tickets: bool,
    /// Words that were understood but mean nothing here, or were not understood.
    pub warnings: Vec<String>,
}

/// OpenSSL's name and cipher-list attributes of each TLS 1.2 suite rustls has.
fn suite_words(s: &SupportedCipherSuite) -> Option<(&'static str, &'static [&'static str])> {
    use rustls::CipherSuite as C;
    Some(match s.suite() {
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            &["aECDSA", "ECDSA", "AES", "AES256", "AESGCM", "SHA384"],
        ),
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            &["aECDSA", "ECDSA", "AES", "AES128", "AESGCM", "SHA256"],
        ),
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            &["aECDSA", "ECDSA", "CHACHA20", "SHA256"],
        ),
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-RSA-AES256-GCM-SHA384",
            &["aRSA", "RSA", "AES", "AES256", "AESGCM", "SHA384"],
        ),
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-RSA-AES128-GCM-SHA256",
            &["aRSA", "RSA", "AES", "AES128", "AESGCM", "SHA256"],
        ),
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-RSA-CHACHA20-POLY1305",
            &["aRSA", "RSA", "CHACHA20", "SHA256"],
        ),
        _ => return None,
    })
}

/// Words every rustls TLS 1.2 suite has.
const COMMON_WORDS: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "kECDHE", "kEECDH", "AEAD", "TLSv1.2",
];

/// Cipher-list words OpenSSL knows that select none of rustls's suites
/// (weak, obsolete or other key exchanges).
const NO_SUITE_WORDS: &[&str] = &[
    "MEDIUM",
    "LOW",
    "EXPORT",
    "EXP",
    "aNULL",
    "eNULL",
    "NULL",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFALL",
    "MD5",
    "RC4",
    "DES",
    "3DES",
    "IDEA",
    "SEED",
    "PSK",
    "aPSK",
    "kPSK",
    "ECDHEPSK",
    "DHEPSK",
    "RSAPSK",
    "SRP",
    "kSRP",
    "aSRP",
    "kRSA",
    "DSS",
    "aDSS",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "DH",
    "DHE",
    "EDH",
    "kEDH",
    "kDHE",
    "ADH",
    "AECDH",
    "aECDH",
    "kECDH",
    "ECDH",
    "SHA1",
    "SHA",
    "CCM",
    "CCM8",
    "AESCCM",
    "AESCCM8",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "SUITEB128",
    "SUITEB128ONLY",
    "SUITEB192",
    "GOST",
    "aGOST",
    "kGOST",
    "CBC",
];

impl TlsSettings {
    /// rustls's defaults: every suite, TLS 1.2 and 1.3.
    pub fn defaults() -> TlsSettings {
        TlsSettings {
            suites: rustls::crypto::ring::default_provider().cipher_suites,
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            server_order: false,
            no_tickets: false,
            warnings: Vec::new(),
        }
    }

    /// Read `confCIPHER_LIST` and the SSL options `ssl_option`
    /// (`confSERVER_SSL_OPTIONS` or `confCLIENT_SSL_OPTIONS`) through
    /// `option`. An empty selection is an error naming the option.
    pub fn from_options<'a>(
        option: impl Fn(&str) -> Option<&'a str>,
        ssl_option: &str,
    ) -> Result<TlsSettings, String> {
        let mut t = TlsSettings::defaults();
        if let Some(list) = option("confCIPHER_LIST") {
            t.cipher_list(list)?;
        }
        if let Some(opts) = option(ssl_option) {
            t.ssl_options(ssl_option, opts)?;
        }
        Ok(t)
    }

    fn cipher_list(&mut self, list: &str) -> Result<(), String> {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        let tls12: Vec<(SupportedCipherSuite, &str, &[&str])> = all
            .iter()
            .filter_map(|s| suite_words(s).map(|(n, w)| (*s, n, w)))
            .collect();
        let mut order: Vec<usize> = Vec::new();
        let mut banned: Vec<usize> = Vec::new();
        for item in list
            .split([':', ',', ' '])
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            let (op, body) = match item.chars().next() {
                Some(c @ ('!' | '-' | '+')) => (Some(c), &item[1..]),
                _ => (None, item),
            };
            if body.starts_with('@') {
                // @STRENGTH, @SECLEVEL=n: ordering and levels; rustls's
                // suites are all of the highest level.
                continue;
            }
            let mut matched: Vec<usize> = (0..tls12.len()).collect();
            let mut known = true;
            for word in body.split('+') {
                let is_name = tls12.iter().any(|(_, n, _)| *n == word);
                if !is_name
                    && !COMMON_WORDS.contains(&word)
                    && !NO_SUITE_WORDS.contains(&word)
                    && !tls12.iter().any(|(_, _, w)| w.contains(&word))
                {
                    known = false;
                    break;
                }
                matched.retain(|&i| {
                    let (_, n, w) = &tls12[i];
                    *n == word || COMMON_WORDS.contains(&word) || w.contains(&word)
                });
            }
            if !known {
                self.warnings.push(format!(
                    "confCIPHER_LIST: `{item}' is not a cipher name or class OpenSSL and rustls share; ignored"
                ));
                continue;
            }
            match op {
                None => {
                    for i in matched {
                        if !banned.contains(&i) && !order.contains(&i) {
                            order.push(i);
                        }
                    }
                }
                Some('-') => order.retain(|i| !matched.contains(i)),
                Some('!') => {
                    order.retain(|i| !matched.contains(i));
                    banned.extend(matched);
                }
                _ => {
                    let moved: Vec<usize> = order
                        .iter()
                        .copied()
                        .filter(|i| matched.contains(i))
                        .collect();
                    order.retain(|i| !matched.contains(i));
                    order.extend(moved);
                }
            }
        }
        let mut suites: Vec<SupportedCipherSuite> = order.iter().map(|&i| tls12[i].0).collect();
        if suites.is_empty() {
            self.warnings.push(format!(
                "confCIPHER_LIST `{list}' selects no TLS 1.2 suite: only TLS 1.3 is offered"
            ));
            self.versions
                .retain(|v| v.version != rustls::ProtocolVersion::TLSv1_2);
        }
        suites.extend(
            all.iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .copied(),
        );
        self.suites = suites;
        if self.versions.is_empty() {
            return Err(format!("confCIPHER_LIST `{list}': no cipher suite left"));
        }
        Ok(())
    }

    fn ssl_options(&mut self, name: &str, opts: &str) -> Result<(), String> {
        for word in opts
            .split([' ', ','])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            let (on, flag) = match word.strip_prefix('-') {
                Some(f) => (false, f),
                None => (true, word.strip_prefix('+').unwrap_or(word)),
            };
            let mut drop_version = |v: rustls::ProtocolVersion| {
                if on {
                    self.versions.retain(|x| x.version != v);
                }
            };
            match flag {
                "SSL_OP_NO_TLSv1_2" => drop_version(rustls::ProtocolVersion::TLSv1_2),
                "SSL_OP_NO_TLSv1_3" => drop_version(rustls::ProtocolVersion::TLSv1_3),
                "SSL_OP_CIPHER_SERVER_PREFERENCE" => self.server_order = on,
                "SSL_OP_NO_TICKET" => self.no_tickets = on,
                // What these turn off rustls never does (SSLv2/3, TLS 1.0/1.1,
                // compression, renegotiation, static DH) or they are OpenSSL
                // bug workarounds.
                "SSL_OP_NO_SSLv2"
                | "SSL_OP_NO_SSLv3"
                | "SSL_OP_NO_TLSv1"
                | "SSL_OP_NO_TLSv1_1"
                | "SSL_OP_NO_COMPRESSION"
                | "SSL_OP_NO_RENEGOTIATION"
                | "SSL_OP_SINGLE_DH_USE"
                | "SSL_OP_SINGLE_ECDH_USE"
                | "SSL_OP_ALL"
                | "SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION"
                | "SSL_OP_LEGACY_SERVER_CONNECT"
                | "SSL_OP_PRIORITIZE_CHACHA" => {}
                other => self.warnings.push(format!(
                    "{name}: `{other}' has no meaning for rustls; ignored"
                )),
            }
        }
        if self.versions.is_empty() {
            return Err(format!("{name} `{opts}': no TLS version left"));
        }
        self.suites
            .retain(|s| self.versions.iter().any(|v| *v == s.version()));
        Ok(())
    }

    /// A crypto provider with these suites.
    pub fn provider(&self) -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::CryptoProvider {
            cipher_suites: self.suites.clone(),
            ..rustls::crypto::ring::default_provider()
        })
    }
}

/// The server side of TLS: the rustls configuration, and the request for
/// client certificates it makes (to judge what a client sent).
#[derive(Debug)]
pub struct ServerTls {
    /// For the handshake.
    pub config: Arc<ServerConfig>,
    /// `None`: no client certificate is asked for (`${verify}` `NOT`).
    pub client_certs: Option<Arc<ClientCerts>>,
}

impl ServerTls {
    /// What the client of `conn` sent.
    pub fn peer_cert(&self, conn: &rustls::ServerConnection) -> PeerCert {
        match &self.client_certs {
            None => PeerCert::not_asked(),
            Some(c) => c.judge(conn.peer_certificates()),
        }
    }
}

/// A certificate chain and its private key from PEM files; errors name the
/// file.
pub fn load_cert_and_key(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    Ok((certs, key))
}

/// Build the server side from PEM files; `client_certs`: ask clients for
/// a certificate (sendmail's default), else none is asked for.
pub fn server_config(
    cert: &Path,
    key: &Path,
    settings: &TlsSettings,
    client_certs: Option<Arc<ClientCerts>>,
) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = load_cert_and_key(cert, key)?;
    let builder = ServerConfig::builder_with_provider(settings.provider())
        .with_protocol_versions(&settings.versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match client_certs {
        Some(c) => builder.with_client_cert_verifier(c),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    config.ignore_client_order = settings.server_order;
    if settings.no_tickets {
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = server_config(&cert, &key, &TlsSettings::defaults(), None).unwrap_err();
        assert!(e.contains("cert.pem"), "{e}");
        std::fs::write(&cert, "not pem\n").unwrap();
        let e = server_config(&cert, &key, &TlsSettings::defaults(), None).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
    }

    #[test]
    fn openssl_generated_certificate_loads() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let ok = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=gw.example.com",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output();
        let Ok(out) = ok else {
            eprintln!("openssl not installed; skipped");
            return;
        };
        assert!(out.status.success());
        server_config(&cert, &key, &TlsSettings::defaults(), None).unwrap();
    }

    #[test]
    fn certificate_names_as_sendmail_writes_them() {
        // sendmail's xtextify(buf, "<>\")"): +XX for bytes outside ! to ~,
        // for + \\ ( and for the taboo < > " ).
        assert_eq!(
            xtextify("/O=Example CA/CN=a+b (x) <\"y\">\\"),
            "/O=Example+20CA/CN=a+2Bb+20+28x+29+20+3C+22y+22+3E+5C"
        );
        assert_eq!(
            xtextify("/C=DE/emailAddress=ca@example.org"),
            "/C=DE/emailAddress=ca@example.org"
        );
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                "/C=DE/ST=Berlin/O=Example Branch/OU=Mail+OU=Relays/CN=relay.example/emailAddress=pm@example.org",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(out.status.success());
        let der = CertificateDer::from_pem_file(&cert).unwrap();
        let names = cert_names(&der).unwrap();
        let (issuer, subject) = (names.issuer, names.subject);
        assert_eq!(names.cn_subject, "relay.example");
        assert_eq!(names.cn_issuer, "relay.example");
        // OpenSSL's one-line form (openssl x509 -subject -nameopt compat):
        // the certificate's order, a multi-valued RDN joined by +, which
        // xtext then writes +2B.
        let want = "/C=DE/ST=Berlin/O=Example+20Branch/OU=Mail+2BOU=Relays/CN=relay.example/emailAddress=pm@example.org";
        assert_eq!(subject, want);
        assert_eq!(issuer, want, "self-signed");
        assert!(cert_names(b"not a certificate").is_none());
    }

    fn names(t: &TlsSettings) -> Vec<String> {
        t.suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    fn with(list: Option<&str>, opts: Option<&str>) -> Result<TlsSettings, String> {
        TlsSettings::from_options(
            |n| match n {
                "confCIPHER_LIST" => list,
                "confSERVER_SSL_OPTIONS" => opts,
                _ => None,
            },
            "confSERVER_SSL_OPTIONS",
        )
    }

    #[test]
    fn cipher_lists_select_rustls_suites_as_openssl_would() {
        let all = with(None, None).unwrap();
        assert_eq!(all.suites.len(), 9);
        // The usual hardening lists keep every rustls suite.
        let t = with(Some("HIGH:!aNULL:!MD5:!RC4"), None).unwrap();
        assert_eq!(t.suites.len(), 9, "{:?}", names(&t));
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);
        // Named suites, in the given order, then TLS 1.3's.
        let t = with(
            Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"),
            None,
        )
        .unwrap();
        let n = names(&t);
        assert_eq!(n[0], "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
        assert_eq!(n[1], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert!(n[2..].iter().all(|x| x.starts_with("TLS13_")), "{n:?}");
        // Exclusions and AND-ed classes.
        let t = with(Some("HIGH:!AES128"), None).unwrap();
        assert!(
            !names(&t)
                .iter()
                .any(|x| x.contains("AES_128_GCM") && !x.starts_with("TLS13"))
        );
        let t = with(Some("ECDHE+CHACHA20"), None).unwrap();
        assert_eq!(t.suites.len(), 5, "{:?}", names(&t));
        // Nothing rustls has: TLS 1.3 only, said.
        let t = with(Some("RC4:3DES"), None).unwrap();
        assert_eq!(t.versions.len(), 1);
        assert!(
            t.warnings[0].contains("selects no TLS 1.2 suite"),
            "{:?}",
            t.warnings
        );
        // An unknown word is named.
        let t = with(Some("HIGH:FOOBAR"), None).unwrap();
        assert!(t.warnings[0].contains("`FOOBAR'"), "{:?}", t.warnings);
    }

    #[test]
    fn ssl_options_set_versions_order_and_tickets() {
        let t = with(
            None,
            Some("+SSL_OP_NO_TLSv1 +SSL_OP_NO_TLSv1_1 +SSL_OP_NO_TLSv1_2"),
        )
        .unwrap();
        assert_eq!(t.versions.len(), 1);
        assert!(names(&t).iter().all(|x| x.starts_with("TLS13_")));
        let t = with(
            None,
            Some("+SSL_OP_CIPHER_SERVER_PREFERENCE +SSL_OP_NO_TICKET"),
        )
        .unwrap();
        assert!(t.server_order && t.no_tickets);
        let t = with(None, Some("+SSL_OP_NO_FOO")).unwrap();
        assert!(t.warnings[0].contains("SSL_OP_NO_FOO"), "{:?}", t.warnings);
        let e = with(None, Some("+SSL_OP_NO_TLSv1_2 +SSL_OP_NO_TLSv1_3")).unwrap_err();
        assert!(e.contains("no TLS version left"), "{e}");
        let e = with(Some("RC4"), Some("+SSL_OP_NO_TLSv1_3")).unwrap_err();
        assert!(e.contains("no TLS version left"), "{e}");
    }
}
