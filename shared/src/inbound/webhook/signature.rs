//! Webhook authentication: Meta's `X-Hub-Signature-256` on POSTs and the `hub.verify_token`
//! handshake on GETs. Both compare in constant time.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a webhook POST was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    /// The HMAC does not match the raw body.
    #[error("signature does not match the body")]
    Mismatch,
}

/// Checks `header` (`sha256=<hex>`) against HMAC-SHA256 of the raw body with the app secret.
///
/// The body must be the bytes Meta sent: re-serialised JSON has a different signature.
pub fn verify_signature(secret: &SecretString, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if given.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let expected = hmac_sha256(secret, body);
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `X-Hub-Signature-256` value Meta would send for `body`: used by the simulator and tests.
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

fn hmac_sha256(secret: &SecretString, body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail; the fallback keeps the path panic-free.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return [0; 32];
    };
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Answers Meta's subscription handshake: `Some(challenge)` when `hub.mode` is `subscribe` and the
/// token matches (constant time), else `None` (a 403).
pub fn verify_subscription<'a>(
    expected_token: &SecretString,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
) -> Option<&'a str> {
    let (Some("subscribe"), Some(token), Some(challenge)) = (mode, token, challenge) else {
        return None;
    };
    let matches: bool = expected_token.expose_secret().as_bytes().ct_eq(token.as_bytes()).into();
    matches.then_some(challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("app-secret")
    }

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let sig = sign(&secret(), body);
        assert_eq!(verify_signature(&secret(), body, Some(&sig)), Ok(()));
    }

    #[test]
    fn a_known_hmac_vector_verifies() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style vector.
        let sig = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        let body = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(verify_signature(&SecretString::from("key"), body, Some(sig)), Ok(()));
    }

    #[test]
    fn missing_malformed_and_wrong_signatures_are_refused() {
        let body = b"{}";
        assert_eq!(verify_signature(&secret(), body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify_signature(&secret(), body, Some("md5=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(&secret(), body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        let other = sign(&SecretString::from("other"), body);
        assert_eq!(
            verify_signature(&secret(), body, Some(&other)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_over_reserialised_json_does_not_verify() {
        let sent = b"{ \"a\": \"caf\\u00e9\" }";
        let reserialised = serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(sent).unwrap()).unwrap();
        let sig = sign(&secret(), &reserialised);
        assert_eq!(
            verify_signature(&secret(), sent, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_handshake_needs_subscribe_and_the_exact_token() {
        let t = SecretString::from("tok");
        assert_eq!(
            verify_subscription(&t, Some("subscribe"), Some("tok"), Some("42")),
            Some("42")
        );
        assert_eq!(
            verify_subscription(&t, Some("subscribe"), Some("tok2"), Some("42")),
            None
        );
        assert_eq!(
            verify_subscription(&t, Some("unsubscribe"), Some("tok"), Some("42")),
            None
        );
        assert_eq!(verify_subscription(&t, Some("subscribe"), None, Some("42")), None);
        assert_eq!(verify_subscription(&t, Some("subscribe"), Some("tok"), None), None);
    }
}
