//! User tokens (HS256 JWTs scoped to one room) and the admin key check.
//!
//! A token's claims are `sub` (the user id), `name` (display name), `room`
//! (the only board it may join), `iat`, `exp` and optionally `nbf`
//! (seconds since the Unix epoch). The time claims are checked here
//! against the caller's clock with the same leeway ([`LEEWAY_SECS`], none):
//! a token is valid while `nbf <= now < exp`. The WebSocket host also
//! closes a connection when its token's `exp` passes
//! ([`Claims::expires_in`]). `sub`, `name` and `room` obey the same text
//! rule as every id and name ([`huddle_core::check_text`]), checked by the
//! host with its limits ([`Claims::check_text`]).

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
    /// Not valid before, seconds since the epoch (optional; tokens this
    /// server issues have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// Leeway of the time claims, in seconds: the same for `nbf` and `exp`.
pub const LEEWAY_SECS: u64 = 0;

impl Claims {
    /// How long from `now_millis` (milliseconds since the epoch) until the
    /// token expires (zero if it has).
    pub fn expires_in(&self, now_millis: u64) -> Duration {
        let end = self.exp.saturating_add(LEEWAY_SECS).saturating_mul(1000);
        Duration::from_millis(end.saturating_sub(now_millis))
    }

    /// Checks `sub`, `room` (ids, 1 to `max_id` bytes) and `name` (1 to
    /// `max_name` bytes) with the rule of every id and name.
    pub fn check_text(&self, max_id: usize, max_name: usize) -> Result<(), TokenError> {
        for (claim, value, max) in [
            ("sub", &self.sub, max_id),
            ("room", &self.room, max_id),
            ("name", &self.name, max_name),
        ] {
            huddle_core::check_text(value, 1, max)
                .map_err(|problem| TokenError::Invalid(format!("`{claim}` {problem}")))?;
        }
        Ok(())
    }
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
    /// `nbf` is still ahead.
    #[error("token not valid yet (nbf)")]
    NotYetValid,
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
            nbf: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok((token, exp))
    }

    /// Checks a token's signature, algorithm, claims, expiry and `nbf`.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if now_secs >= data.claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if data
            .claims
            .nbf
            .is_some_and(|nbf| now_secs.saturating_add(LEEWAY_SECS) < nbf)
        {
            return Err(TokenError::NotYetValid);
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

    fn mint(keys: &TokenKeys, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &keys.encoding).unwrap()
    }

    fn claims(nbf: Option<u64>) -> Claims {
        Claims {
            sub: "alice".into(),
            name: "Alice".into(),
            room: "r".into(),
            iat: NOW,
            exp: NOW + 60,
            nbf,
        }
    }

    #[test]
    fn nbf_is_honoured() {
        let keys = TokenKeys::new(b"secret");
        let token = mint(&keys, &claims(Some(NOW + 10)));
        assert_eq!(keys.verify(&token, NOW), Err(TokenError::NotYetValid));
        assert_eq!(keys.verify(&token, NOW + 9), Err(TokenError::NotYetValid));
        assert_eq!(keys.verify(&token, NOW + 10).unwrap().nbf, Some(NOW + 10));
        let token = mint(&keys, &claims(None));
        assert!(keys.verify(&token, NOW).is_ok());
    }

    #[test]
    fn claims_obey_the_text_rule() {
        assert!(claims(None).check_text(8, 8).is_ok());
        let mut bad = Vec::new();
        let mut c = claims(None);
        c.sub = "a\0b".into();
        bad.push(("sub", c));
        let mut c = claims(None);
        c.room = "r\n".into();
        bad.push(("room", c));
        let mut c = claims(None);
        c.name = String::new();
        bad.push(("name", c));
        for (field, c) in bad {
            let err = c.check_text(8, 8).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let mut long = claims(None);
        long.sub = "x".repeat(9);
        assert!(long.check_text(8, 8).is_err());
    }

    #[test]
    fn expiry_as_a_duration() {
        let c = claims(None);
        assert_eq!(c.expires_in(NOW * 1000), Duration::from_secs(60));
        assert_eq!(
            c.expires_in(NOW * 1000 + 59_500),
            Duration::from_millis(500)
        );
        assert_eq!(c.expires_in((NOW + 61) * 1000), Duration::ZERO);
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
