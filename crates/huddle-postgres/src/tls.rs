//! TLS to PostgreSQL: the connection string's `sslmode` and `sslrootcert`,
//! with libpq's meanings, on rustls.
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (the default) | if the server offers TLS | no |
//! | `require` | always, or the connection fails | no; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA and issued for the host connected to |
//!
//! The trusted CAs are the certificates of the PEM file `sslrootcert`
//! names, or without it Mozilla's roots (`webpki-roots`), as for any
//! public server. Unchecked modes still check the handshake's signatures
//! (the server holds the key of the certificate it sent); they protect
//! against eavesdropping, not against an impostor, as with libpq.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require` and refuses
//! other keys, so [`split`] takes `sslmode` and `sslrootcert` out of the
//! string before tokio-postgres reads the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::OpenError;

/// libpq's `sslmode`: whether the connection is encrypted and what is
/// checked of the server's certificate (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it; the certificate is not checked.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked only with a root
    /// certificate file (then as [`SslMode::VerifyCa`]).
    Require,
    /// TLS, with a certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted CA and issued for the
    /// host name (or address) connected to.
    VerifyFull,
}

impl SslMode {
    /// Reads libpq's name of a mode.
    pub fn parse(name: &str) -> Option<SslMode> {
        Some(match name {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// How a store's connections use TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The `sslmode`.
    pub mode: SslMode,
    /// A PEM file of the CA certificates to trust (`sslrootcert`); without
    /// it, Mozilla's roots.
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// The mode tokio-postgres negotiates with.
    pub(crate) fn negotiation(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }

    /// The rustls connector of these settings.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, OpenError> {
        // ring, not aws-lc-rs: no C/CMake build of aws-lc. rustls 0.23.48
        // deprecates ring's provider for lacking post-quantum key exchange,
        // which PostgreSQL servers (OpenSSL 3 before 3.5) do not offer
        // either.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = match (self.mode, &self.root_cert) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => Check::Nothing,
            (SslMode::Require | SslMode::VerifyCa, _) => Check::Chain,
            (SslMode::VerifyFull, _) => Check::Full,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(Unchecked(provider.clone())),
            Check::Chain | Check::Full => {
                let roots = match &self.root_cert {
                    Some(path) => roots_from_file(path)?,
                    None => RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    },
                };
                let full =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| OpenError::Tls(format!("trusted certificates: {e}")))?;
                if check == Check::Full {
                    full
                } else {
                    Arc::new(ChainOnly(full))
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| OpenError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    Full,
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, OpenError> {
    let bad =
        |e: &dyn std::fmt::Display| OpenError::Tls(format!("sslrootcert {}: {e}", path.display()));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    Ok(roots)
}

/// `prefer` and `require`: any certificate, but the handshake's signatures
/// must be made with its key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full check, less the host name (webpki checks the
/// chain first and the name last, so a name error means the chain passed).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (URL or
/// `key=value` form) and answers the rest with the TLS settings.
pub(crate) fn split(conn: &str) -> Result<(String, TlsSettings), OpenError> {
    let (rest, taken) = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        split_url(conn)?
    } else {
        split_key_values(conn)?
    };
    let mut tls = TlsSettings::default();
    for (key, value) in taken {
        match key.as_str() {
            "sslmode" => {
                tls.mode = SslMode::parse(&value).ok_or_else(|| {
                    OpenError::Config(format!(
                        "sslmode={value}: expected disable, prefer, require, verify-ca or verify-full"
                    ))
                })?;
            }
            _ => tls.root_cert = Some(PathBuf::from(value)),
        }
    }
    Ok((rest, tls))
}

const TAKEN: [&str; 2] = ["sslmode", "sslrootcert"];

type Taken = Vec<(String, String)>;

fn split_url(url: &str) -> Result<(String, Taken), OpenError> {
    let Some((main, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        if TAKEN.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)?));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        main.to_owned()
    } else {
        format!("{main}?{}", kept.join("&"))
    };
    Ok((rest, taken))
}

fn percent_decode(s: &str) -> Result<String, OpenError> {
    let bad = || OpenError::Config(format!("bad percent-encoding in {s:?}"));
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// libpq's `key = value` form: values are bare words or single-quoted,
/// with `\` escaping the next character in both.
fn split_key_values(conn: &str) -> Result<(String, Taken), OpenError> {
    let bad = |what: &str| OpenError::Config(format!("connection string: {what}"));
    let mut rest = String::with_capacity(conn.len());
    let mut taken = Vec::new();
    let mut chars = conn.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(bad(&format!("{key:?} has no value")));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut closed = !quoted;
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next().ok_or_else(|| bad("ends after \\"))?.1),
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
        }
        if !closed {
            return Err(bad("unterminated quote"));
        }
        let end = chars.peek().map_or(conn.len(), |&(i, _)| i);
        if TAKEN.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            rest.push_str(conn.get(start..end).unwrap_or_default().trim_end());
            rest.push(' ');
        }
    }
    Ok((rest.trim_end().to_owned(), taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_ok(s: &str) -> (String, TlsSettings) {
        split(s).unwrap()
    }

    #[test]
    fn urls_lose_only_the_tls_keys() {
        let (rest, tls) = split_ok(
            "postgres://u:p@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let (rest, tls) = split_ok("postgresql://h/db?sslmode=disable");
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(
            tls,
            TlsSettings {
                mode: SslMode::Disable,
                root_cert: None
            }
        );
        assert_eq!(split_ok("postgres://h/db").1, TlsSettings::default());
    }

    #[test]
    fn key_values_lose_only_the_tls_keys() {
        let (rest, tls) = split_ok(
            "host=h sslmode = require  password='a b\\'c' sslrootcert='/x y/ca.pem' user=u",
        );
        assert_eq!(rest, "host=h password='a b\\'c' user=u");
        assert_eq!(tls.mode, SslMode::Require);
        assert_eq!(tls.root_cert, Some(PathBuf::from("/x y/ca.pem")));
        assert_eq!(split_ok("").0, "");
    }

    #[test]
    fn bad_modes_and_strings_are_config_errors() {
        for bad in [
            "postgres://h/db?sslmode=allow-ish",
            "host=h sslmode=verify",
            "host=h password='open",
            "host=h user",
            "postgres://h/db?sslrootcert=%zz",
        ] {
            assert!(matches!(split(bad), Err(OpenError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn modes_negotiate_as_tokio_postgres_knows_them() {
        use tokio_postgres::config::SslMode as Pg;
        let of = |mode| {
            TlsSettings {
                mode,
                root_cert: None,
            }
            .negotiation()
        };
        assert_eq!(of(SslMode::Disable), Pg::Disable);
        assert_eq!(of(SslMode::Prefer), Pg::Prefer);
        for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            assert_eq!(of(mode), Pg::Require);
        }
    }

    #[test]
    fn a_missing_or_empty_root_file_is_a_tls_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        for path in [dir.path().join("absent.pem"), empty] {
            let tls = TlsSettings {
                mode: SslMode::VerifyFull,
                root_cert: Some(path),
            };
            assert!(matches!(tls.connector(), Err(OpenError::Tls(_))));
        }
        // Mozilla's roots without a file.
        assert!(TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: None
        }
        .connector()
        .is_ok());
    }
}
