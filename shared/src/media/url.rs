//! Signed URLs for blobs served by the local stack (`/media/{key}?expires=&signature=`): an HMAC
//! over the key and the expiry, so a link can be handed to a browser without the API key, and
//! stops working when it expires or if any part of it is changed. The URLs are paths; the API
//! puts the host the caller used in front.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Signs and checks local media URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: SecretString,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner").finish_non_exhaustive()
    }
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// The signature does not match the key and expiry.
    #[error("the signature does not match")]
    BadSignature,
    /// It was valid until a time now past.
    #[error("the link has expired")]
    Expired,
}

impl UrlSigner {
    /// Signs with `key`.
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// Signs with a key of its own derived from `secret` (the app secret), so a leaked media link
    /// tells nothing about the secret that signs webhooks.
    pub fn derived_from(secret: &SecretString) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"wabridge local media urls");
        Self::new(SecretString::from(hex::encode(mac.finalize().into_bytes())))
    }

    fn mac(&self, key: &str, expires_ms: i64) -> Hmac<Sha256> {
        // A MAC accepts keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires_ms.to_string().as_bytes());
        mac
    }

    /// The path and query of `key`'s URL, valid until `expires_ms`.
    pub fn url(&self, key: &str, expires_ms: i64) -> String {
        let sig = hex::encode(self.mac(key, expires_ms).finalize().into_bytes());
        format!("/{key}?expires={expires_ms}&signature={sig}")
    }

    /// Checks a URL's parts: the signature first (in constant time), then the expiry.
    pub fn verify(&self, key: &str, expires_ms: i64, signature: &str, now_ms: i64) -> Result<(), UrlRefused> {
        let sig = hex::decode(signature).map_err(|_| UrlRefused::BadSignature)?;
        self.mac(key, expires_ms)
            .verify_slice(&sig)
            .map_err(|_| UrlRefused::BadSignature)?;
        if now_ms >= expires_ms {
            return Err(UrlRefused::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, i64, String) {
        let (path, q) = url.split_once('?').unwrap();
        let key = path.strip_prefix('/').unwrap().to_owned();
        let mut expires = 0;
        let mut sig = String::new();
        for kv in q.split('&') {
            match kv.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => sig = v.to_owned(),
                _ => {}
            }
        }
        (key, expires, sig)
    }

    #[test]
    fn a_url_is_good_until_it_expires_and_only_as_signed() {
        let s = UrlSigner::new(SecretString::from("k"));
        let (key, exp, sig) = parts(&s.url("media/1/2", 10_000));
        assert_eq!(key, "media/1/2");
        assert_eq!(s.verify(&key, exp, &sig, 9_999), Ok(()));
        assert_eq!(s.verify(&key, exp, &sig, 10_000), Err(UrlRefused::Expired));
        assert_eq!(s.verify("media/1/3", exp, &sig, 0), Err(UrlRefused::BadSignature));
        assert_eq!(s.verify(&key, exp + 1, &sig, 0), Err(UrlRefused::BadSignature));
        assert_eq!(s.verify(&key, exp, "zz", 0), Err(UrlRefused::BadSignature));
        let other = UrlSigner::new(SecretString::from("other"));
        assert_eq!(other.verify(&key, exp, &sig, 0), Err(UrlRefused::BadSignature));
    }
}
