//! Bearer API keys for the HTTP API, compared in constant time against every configured key.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The configured keys.
#[derive(Clone)]
pub struct ApiKeys(Arc<Vec<SecretString>>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.0.len())
    }
}

impl ApiKeys {
    /// Wraps the keys.
    pub fn new(keys: Vec<SecretString>) -> Self {
        Self(Arc::new(keys))
    }

    /// Whether `given` is one of the keys. Every key is compared, so timing says nothing about which
    /// (or whether one) matched.
    pub fn accepts(&self, given: &str) -> bool {
        let mut ok = subtle::Choice::from(0);
        for k in self.0.iter() {
            ok |= k.expose_secret().as_bytes().ct_eq(given.as_bytes());
        }
        bool::from(ok)
    }
}

/// Who called: a short hash of the API key used (never the key), for scoping idempotency keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

impl Caller {
    fn of(key: &str) -> Self {
        use sha2::Digest;
        Self(hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8]))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is a non-empty one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Middleware: 401 with a JSON error unless `Authorization: Bearer <key>` carries a configured key.
pub async fn require_key(State(keys): State<ApiKeys>, mut req: Request, next: Next) -> Response {
    let caller = match bearer(req.headers()) {
        Some(k) if keys.accepts(k) => Caller::of(k),
        _ => return ApiError::unauthorized().into_response(),
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_keys_are_accepted() {
        let keys = ApiKeys::new(vec![SecretString::from("alpha"), SecretString::from("beta")]);
        assert!(keys.accepts("alpha") && keys.accepts("beta"));
        assert!(!keys.accepts("alph") && !keys.accepts("alphaa") && !keys.accepts(""));
        assert!(!ApiKeys::new(vec![]).accepts("alpha"));
    }
}
