//! Typed configuration from the environment. Every error names the variable; secrets are wrapped so
//! they cannot be printed by accident.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;

use crate::app::resources as res;

/// The Graph API version used when `WHATSAPP_API_VERSION` is unset.
pub const DEFAULT_API_VERSION: &str = "v25.0";
/// Meta's Graph API base URL.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";

/// A variable is set but unusable, or required and missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A required variable is missing.
    pub fn missing(var: &'static str) -> Self {
        Self {
            var,
            reason: "is required and not set".into(),
        }
    }
}

/// Everything wabridge reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WHATSAPP_APP_SECRET`: signs webhooks. Without it nothing is ingested.
    pub app_secret: Option<SecretString>,
    /// `WHATSAPP_WEBHOOK_VERIFY_TOKEN`: Meta's subscription handshake.
    pub verify_token: Option<SecretString>,
    /// `WHATSAPP_ACCESS_TOKEN`: Graph API token.
    pub access_token: Option<SecretString>,
    /// `WHATSAPP_PHONE_NUMBER_ID`: the default business number.
    pub phone_number_id: Option<String>,
    /// `WHATSAPP_BUSINESS_ACCOUNT_ID`: the WABA.
    pub business_account_id: Option<String>,
    /// `WHATSAPP_API_VERSION`, default [`DEFAULT_API_VERSION`].
    pub api_version: String,
    /// `WHATSAPP_GRAPH_URL`, default [`DEFAULT_GRAPH_URL`].
    pub graph_url: String,
    /// `WABRIDGE_API_KEYS`: comma-separated bearer keys for the HTTP API.
    pub api_keys: Vec<SecretString>,
    /// `WABRIDGE_LISTEN`, default `127.0.0.1:8080` (local stack).
    pub listen: SocketAddr,
    /// `WABRIDGE_DATA_DIR`, default `.wabridge` (local stack).
    pub data_dir: PathBuf,
    /// `WABRIDGE_MAX_RECEIVES`, default 24 (hours of back-off): attempts before a queue message is dead-lettered.
    pub max_receives: u32,
    /// `WABRIDGE_THROUGHPUT_MPS`, default 80: messages per second per business number.
    pub throughput_mps: f64,
    /// `WABRIDGE_RECHECK_SECONDS`: how long after a send with no answer the sender waits for Meta's
    /// status before sending again (unset: the sender's default, 5 minutes).
    pub recheck_after: Option<std::time::Duration>,
    /// `WABRIDGE_SANDBOX` (local stack): `1` asks for the Graph API sandbox even with a configured
    /// app secret, `0` turns it off; unset, it plays Meta only while the app secret is a generated
    /// local one.
    pub sandbox: Option<bool>,
    /// `WABRIDGE_OPT_OUT_KEYWORDS` (comma-separated, default `STOP,UNSUBSCRIBE`) and
    /// `WABRIDGE_OPT_IN_KEYWORDS` (default `START`): whole messages that opt a customer out of
    /// marketing or back in.
    pub keywords: crate::inbound::reactions::opt_out::Keywords,
    /// `WABRIDGE_MEDIA_MAX_BYTES`: a cap on stored media below WhatsApp's per-kind limits.
    pub media_max_bytes: Option<u64>,
    /// `WABRIDGE_MEDIA_URL_TTL_S`, default 300: how long a media URL handed out stays valid.
    pub media_url_ttl: std::time::Duration,
    /// `WABRIDGE_CALLBACK_URL`: where signed event callbacks are posted; unset, none are raised.
    pub callback_url: Option<String>,
    /// `WABRIDGE_CALLBACK_SECRET`: signs every callback body.
    pub callback_secret: Option<SecretString>,
}

/// Reads variables; a closure so tests need not touch the process environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Reads variables through `get`. Empty values count as unset.
    pub fn from_lookup(get: Lookup<'_>) -> Result<Self, ConfigError> {
        let var = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let secret = |k: &str| var(k).map(SecretString::from);
        let api_version = var(res::API_VERSION).unwrap_or_else(|| DEFAULT_API_VERSION.into());
        if !api_version.starts_with('v') || api_version[1..].parse::<f32>().is_err() {
            return Err(ConfigError {
                var: res::API_VERSION,
                reason: "must look like v25.0".into(),
            });
        }
        let graph_url = var("WHATSAPP_GRAPH_URL").unwrap_or_else(|| DEFAULT_GRAPH_URL.into());
        if !(graph_url.starts_with("https://") || graph_url.starts_with("http://")) {
            return Err(ConfigError {
                var: "WHATSAPP_GRAPH_URL",
                reason: "must be an http(s) URL".into(),
            });
        }
        let listen = match var("WABRIDGE_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(s) => s.parse().map_err(|_| ConfigError {
                var: "WABRIDGE_LISTEN",
                reason: format!("{s:?} is not host:port"),
            })?,
        };
        let max_receives = match var(res::MAX_RECEIVES) {
            None => crate::runtime::consume::DEFAULT_MAX_RECEIVES,
            Some(s) => s
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ConfigError {
                    var: res::MAX_RECEIVES,
                    reason: "must be an integer from 1 to 1000".into(),
                })?,
        };
        let throughput_mps = match var(res::THROUGHPUT_MPS) {
            None => crate::outbound::limits::DEFAULT_THROUGHPUT_MPS,
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|n| (0.1..=10_000.0).contains(n))
                .ok_or_else(|| ConfigError {
                    var: res::THROUGHPUT_MPS,
                    reason: "must be a number of messages per second from 0.1 to 10000".into(),
                })?,
        };
        let recheck_after = match var(res::RECHECK_SECONDS) {
            None => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=86_400).contains(n))
                    .map(std::time::Duration::from_secs)
                    .ok_or_else(|| ConfigError {
                        var: res::RECHECK_SECONDS,
                        reason: "must be a whole number of seconds from 1 to 86400".into(),
                    })?,
            ),
        };
        let sandbox = match var(res::SANDBOX).as_deref() {
            None => None,
            Some("1" | "true" | "yes") => Some(true),
            Some("0" | "false" | "no") => Some(false),
            Some(other) => {
                return Err(ConfigError {
                    var: res::SANDBOX,
                    reason: format!("{other:?} must be 1 or 0"),
                });
            }
        };
        let media_max_bytes = match var(res::MEDIA_MAX_BYTES) {
            None => None,
            Some(s) => Some(s.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError {
                var: res::MEDIA_MAX_BYTES,
                reason: "must be a positive whole number of bytes".into(),
            })?),
        };
        let media_url_ttl = match var(res::MEDIA_URL_TTL_S) {
            None => std::time::Duration::from_secs(300),
            // S3 presigned URLs live at most seven days.
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=604_800).contains(n))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| ConfigError {
                    var: res::MEDIA_URL_TTL_S,
                    reason: "must be a whole number of seconds from 1 to 604800".into(),
                })?,
        };
        let callback_url = var(res::CALLBACK_URL);
        if let Some(u) = &callback_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(ConfigError {
                var: res::CALLBACK_URL,
                reason: "must be an http(s) URL".into(),
            });
        }
        let api_keys = var(res::API_KEYS)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| SecretString::from(k.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            app_secret: secret(res::APP_SECRET),
            verify_token: secret(res::VERIFY_TOKEN),
            access_token: secret(res::ACCESS_TOKEN),
            phone_number_id: var(res::PHONE_NUMBER_ID),
            business_account_id: var("WHATSAPP_BUSINESS_ACCOUNT_ID"),
            api_version,
            graph_url,
            api_keys,
            listen,
            data_dir: var("WABRIDGE_DATA_DIR").map_or_else(|| PathBuf::from(".wabridge"), PathBuf::from),
            max_receives,
            throughput_mps,
            recheck_after,
            sandbox,
            media_max_bytes,
            media_url_ttl,
            keywords: crate::inbound::reactions::opt_out::Keywords::from_lists(
                var(res::OPT_OUT_KEYWORDS).as_deref(),
                var(res::OPT_IN_KEYWORDS).as_deref(),
            ),
            callback_url,
            callback_secret: secret(res::CALLBACK_SECRET),
        })
    }

    /// Where callbacks go and how they are signed, when `WABRIDGE_CALLBACK_URL` is set; an error
    /// naming the secret when the URL is set without it (an unsigned callback would be worthless
    /// to a receiver that checks).
    pub fn callbacks(&self) -> Result<Option<crate::callbacks::CallbackConfig>, ConfigError> {
        let Some(url) = &self.callback_url else {
            return Ok(None);
        };
        let secret = self
            .callback_secret
            .clone()
            .ok_or_else(|| ConfigError::missing(res::CALLBACK_SECRET))?;
        Ok(Some(crate::callbacks::CallbackConfig {
            url: url.clone(),
            secret,
        }))
    }

    /// The app secret, or the error that stops ingestion from starting (fail closed).
    pub fn require_app_secret(&self) -> Result<SecretString, ConfigError> {
        self.app_secret
            .clone()
            .ok_or_else(|| ConfigError::missing(res::APP_SECRET))
    }

    /// The verify token, or the error that stops the handshake function from starting.
    pub fn require_verify_token(&self) -> Result<SecretString, ConfigError> {
        self.verify_token
            .clone()
            .ok_or_else(|| ConfigError::missing(res::VERIFY_TOKEN))
    }

    /// At least one API key, or the error that stops the HTTP API from starting.
    pub fn require_api_keys(&self) -> Result<Vec<SecretString>, ConfigError> {
        if self.api_keys.is_empty() {
            return Err(ConfigError::missing(res::API_KEYS));
        }
        Ok(self.api_keys.clone())
    }
}

/// Reads a required variable from the process environment.
pub fn required_var(var: &'static str) -> Result<String, ConfigError> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError::missing(var))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.api_version, "v25.0");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from(".wabridge"));
        assert!(c.api_keys.is_empty());
        assert_eq!(c.require_app_secret().unwrap_err().var, "WHATSAPP_APP_SECRET");
    }

    #[test]
    fn api_keys_are_split_on_commas_and_trimmed() {
        let c = cfg(&[("WABRIDGE_API_KEYS", " a, b ,,c ")]).unwrap();
        let keys: Vec<&str> = c.api_keys.iter().map(|k| k.expose_secret()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }

    #[test]
    fn bad_values_fail_naming_the_variable() {
        assert_eq!(
            cfg(&[("WABRIDGE_LISTEN", "nowhere")]).unwrap_err().var,
            "WABRIDGE_LISTEN"
        );
        assert_eq!(
            cfg(&[("WHATSAPP_API_VERSION", "25")]).unwrap_err().var,
            "WHATSAPP_API_VERSION"
        );
        assert_eq!(
            cfg(&[("WHATSAPP_GRAPH_URL", "ftp://x")]).unwrap_err().var,
            "WHATSAPP_GRAPH_URL"
        );
        assert_eq!(
            cfg(&[("WABRIDGE_MAX_RECEIVES", "0")]).unwrap_err().var,
            "WABRIDGE_MAX_RECEIVES"
        );
        for bad in ["0", "-1", "lots"] {
            assert_eq!(
                cfg(&[("WABRIDGE_MEDIA_MAX_BYTES", bad)]).unwrap_err().var,
                "WABRIDGE_MEDIA_MAX_BYTES"
            );
        }
        for bad in ["0", "604801", "5m"] {
            assert_eq!(
                cfg(&[("WABRIDGE_MEDIA_URL_TTL_S", bad)]).unwrap_err().var,
                "WABRIDGE_MEDIA_URL_TTL_S"
            );
        }
    }

    #[test]
    fn media_settings_reach_the_downloader_and_the_links() {
        let c = cfg(&[
            ("WABRIDGE_MEDIA_MAX_BYTES", "2000000"),
            ("WABRIDGE_MEDIA_URL_TTL_S", "60"),
        ])
        .unwrap();
        let s = crate::app::Settings::from_config(&c);
        assert_eq!(s.media.limit(crate::media::MediaKind::Document), 2_000_000);
        assert_eq!(s.media_url_ttl, std::time::Duration::from_secs(60));
        let d = crate::app::Settings::from_config(&cfg(&[]).unwrap());
        assert_eq!((d.media.max_bytes, d.media_url_ttl.as_secs()), (None, 300));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let c = cfg(&[
            ("WHATSAPP_APP_SECRET", "s3cr3t-value"),
            ("WABRIDGE_API_KEYS", "k3y-value"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t-value") && !shown.contains("k3y-value"),
            "{shown}"
        );
    }
}
