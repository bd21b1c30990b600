//! HTTPS: the rustls server configuration built from the PEM files named in `[server.tls]`.

use std::path::Path;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate or key that cannot be used; `file` is `cert` or `key`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TlsError {
    pub file: &'static str,
    pub message: String,
}

/// Installs ring as the process's rustls crypto provider; safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the certificate chain and key and checks that they belong together.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    install_crypto_provider();
    let bad = |file: &'static str, message: String| TlsError { file, message };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect())
        .map_err(|e| {
            bad(
                "cert",
                format!("cannot read certificates from {}: {e}", cert.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(bad(
            "cert",
            format!("{} holds no PEM certificate", cert.display()),
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        bad(
            "key",
            format!("cannot read a private key from {}: {e}", key.display()),
        )
    })?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| bad("key", format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
