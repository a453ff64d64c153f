//! TLS configuration (rustls with the ring provider).
//!
//! Contract: [`server_config`] reads the certificate chain and key named by
//! `confSERVER_CERT` / `confSERVER_KEY` (PEM) and returns a server
//! configuration that speaks TLS 1.2 and 1.3 only, with rustls's default
//! (strong) cipher suites. Errors name the file and what was wrong.
//! [`trust_verifier`] builds the verifier of server certificates for
//! outgoing STARTTLS from `confCACERT` (a PEM file) and `confCACERT_PATH` (a
//! directory of PEM files), or the system's bundle
//! ([`SYSTEM_CA_BUNDLE`]) when neither is set.

use futures_rustls::rustls;
use rustls::ServerConfig;
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("trust anchors: {e}"))
}

/// Build the server side from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
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
        let e = server_config(&cert, &key).unwrap_err();
        assert!(e.contains("cert.pem"), "{e}");
        std::fs::write(&cert, "not pem\n").unwrap();
        let e = server_config(&cert, &key).unwrap_err();
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
        server_config(&cert, &key).unwrap();
    }
}
