//! The cryptography under the user tokens: HS256 (HMAC-SHA256) and nothing
//! else, installed as `jsonwebtoken`'s process-wide crypto provider.
//!
//! `jsonwebtoken` leaves its cryptography to a provider. Its `rust_crypto`
//! provider brings every algorithm it knows, RSA among them, and with it
//! the `rsa` crate and its unfixed timing advisory (RUSTSEC-2023-0071);
//! its `aws_lc_rs` provider brings a C library. Huddle's tokens use one
//! algorithm, so the server enables neither and installs this provider:
//! RustCrypto's `hmac` and `sha2`, the same code `rust_crypto` runs for
//! HS256. Every other algorithm is refused as `InvalidAlgorithm`, which
//! the token validation (HS256 only) refuses before it gets here anyway.
//!
//! [`install`] is idempotent and is called by
//! [`TokenKeys::new`](crate::auth::TokenKeys::new), before any token is
//! signed or verified. A host that installed its own provider first keeps
//! it.

use std::sync::Once;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{new_error, ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The provider: HS256 signing and verification; no JWK support (the
/// server never reads JWKs).
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory,
    verifier_factory,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes this module's HS256 provider `jsonwebtoken`'s provider for this process, unless
/// one is installed already.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means another provider was installed first: keep it.
        let _ = PROVIDER.install_default();
    });
}

fn signer_factory(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    match algorithm {
        Algorithm::HS256 => Ok(Box::new(Hs256(hmac(key.try_get_hmac_secret()?)?))),
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

fn verifier_factory(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match algorithm {
        Algorithm::HS256 => Ok(Box::new(Hs256(hmac(key.try_get_hmac_secret()?)?))),
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    }
}

fn hmac(secret: &[u8]) -> Result<HmacSha256> {
    HmacSha256::new_from_slice(secret).map_err(|_| new_error(ErrorKind::InvalidKeyFormat))
}

/// HMAC-SHA256 keyed with the token secret; signs and verifies.
struct Hs256(HmacSha256);

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        // Constant-time comparison.
        mac.verify_slice(tag).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.1: the HS256 example, signature and all.
    #[test]
    fn rfc7515_hs256_example() {
        install();
        let secret = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ+EstJQLr/T+1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==";
        let key = DecodingKey::from_base64_secret(secret).unwrap();
        let message = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let signature = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &key,
            Algorithm::HS256
        )
        .unwrap());
        assert!(
            !jsonwebtoken::crypto::verify(signature, b"tampered", &key, Algorithm::HS256).unwrap()
        );
        let encoding = EncodingKey::from_base64_secret(secret).unwrap();
        assert_eq!(
            jsonwebtoken::crypto::sign(message.as_bytes(), &encoding, Algorithm::HS256).unwrap(),
            signature
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        install();
        let key = EncodingKey::from_secret(b"secret");
        let err = jsonwebtoken::crypto::sign(b"m", &key, Algorithm::HS512).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm);
        let err = jsonwebtoken::crypto::verify(
            "AA",
            b"m",
            &DecodingKey::from_secret(b"secret"),
            Algorithm::RS256,
        )
        .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidAlgorithm);
    }
}
