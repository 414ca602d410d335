//! User tokens (HS256 JWTs scoped to one room) and the admin key check.
//!
//! A token's claims are `sub` (the user id), `name` (display name), `room`
//! (the only board it may join), `iat` and `exp` (seconds since the Unix
//! epoch). Expiry is checked here against the caller's clock, with no
//! leeway: a token is valid while `now < exp`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims of a user token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The display name.
    pub name: String,
    /// The room (board id) the token is for.
    pub room: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No token in the request.
    #[error("missing token")]
    Missing,
    /// Not a JWT, a bad signature, another algorithm, or missing claims.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
}

/// Signs and verifies user tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        crate::token_crypto::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Expiry is checked by `verify` against the caller's clock.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues a token for `user` in `room`, valid for `ttl` from `now_secs`.
    /// Returns the token and its expiry (seconds since the epoch).
    pub fn issue(
        &self,
        user: &str,
        display_name: &str,
        room: &str,
        now_secs: u64,
        ttl: Duration,
    ) -> Result<(String, u64), TokenError> {
        let exp = now_secs.saturating_add(ttl.as_secs().max(1));
        let claims = Claims {
            sub: user.to_owned(),
            name: display_name.to_owned(),
            room: room.to_owned(),
            iat: now_secs,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((token, exp))
    }

    /// Checks a token's signature, algorithm, claims and expiry.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if now_secs >= data.claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// Compares two secrets in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether an `Authorization` header value is `Bearer <admin_key>`.
pub fn is_admin(header: Option<&str>, admin_key: &str) -> bool {
    let Some(value) = header else { return false };
    let mut parts = value.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default().trim();
    scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(key.as_bytes(), admin_key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn issue_then_verify() {
        let keys = TokenKeys::new(b"secret");
        let (token, exp) = keys
            .issue("alice", "Alice", "room-1", NOW, Duration::from_secs(60))
            .unwrap();
        assert_eq!(exp, NOW + 60);
        let claims = keys.verify(&token, NOW + 59).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.name, "Alice");
        assert_eq!(claims.room, "room-1");
        assert_eq!(claims.exp, NOW + 60);
    }

    #[test]
    fn expired_at_exp() {
        let keys = TokenKeys::new(b"secret");
        let (token, _) = keys
            .issue("alice", "Alice", "r", NOW, Duration::from_secs(1))
            .unwrap();
        assert_eq!(keys.verify(&token, NOW + 1), Err(TokenError::Expired));
        assert_eq!(keys.verify(&token, NOW + 3600), Err(TokenError::Expired));
    }

    #[test]
    fn wrong_secret_and_garbage_are_invalid() {
        let (token, _) = TokenKeys::new(b"secret")
            .issue("alice", "Alice", "r", NOW, Duration::from_secs(60))
            .unwrap();
        let other = TokenKeys::new(b"other");
        assert!(matches!(
            other.verify(&token, NOW),
            Err(TokenError::Invalid(_))
        ));
        for bad in ["x", "a.b.c", "...", "eyJhbGciOiJub25lIn0.e30."] {
            assert!(matches!(
                other.verify(bad, NOW),
                Err(TokenError::Invalid(_))
            ));
        }
        assert_eq!(other.verify("", NOW), Err(TokenError::Missing));
    }

    #[test]
    fn tampered_claims_are_invalid() {
        let keys = TokenKeys::new(b"secret");
        let (token, _) = keys
            .issue("alice", "Alice", "room-1", NOW, Duration::from_secs(60))
            .unwrap();
        let (other, _) = keys
            .issue("alice", "Alice", "room-2", NOW, Duration::from_secs(60))
            .unwrap();
        // The payload of one token with the signature of another.
        let parts: Vec<&str> = token.split('.').collect();
        let other_parts: Vec<&str> = other.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
        assert!(matches!(
            keys.verify(&forged, NOW),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn room_scope_is_in_the_claims() {
        let keys = TokenKeys::new(b"secret");
        let (token, _) = keys
            .issue("bob", "Bob", "room-1", NOW, Duration::from_secs(60))
            .unwrap();
        assert_ne!(keys.verify(&token, NOW).unwrap().room, "room-2");
    }

    #[test]
    fn admin_header() {
        assert!(is_admin(Some("Bearer k1"), "k1"));
        assert!(is_admin(Some("bearer  k1 "), "k1"));
        assert!(!is_admin(Some("Bearer k2"), "k1"));
        assert!(!is_admin(Some("Basic k1"), "k1"));
        assert!(!is_admin(Some("k1"), "k1"));
        assert!(!is_admin(None, "k1"));
        assert!(!is_admin(Some("Bearer "), "k1"));
    }
}
