//! Local secrets: where the app secret, verify token or API key is not configured, the local stack
//! generates one, keeps it in `<data dir>/secrets.json` (mode 0600) and reuses it on every start, so
//! `cargo run` works on a fresh machine and `wabridge simulate` can sign for it.

use std::path::Path;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use wabridge::Config;

/// The file name inside the data dir.
pub const FILE: &str = "secrets.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    app_secret: Option<String>,
    verify_token: Option<String>,
    api_key: Option<String>,
    #[serde(default)]
    callback_secret: Option<String>,
}

/// The secrets the local stack runs with.
#[derive(Debug, Clone)]
pub struct LocalSecrets {
    /// Signs webhooks.
    pub app_secret: SecretString,
    /// Meta's handshake token.
    pub verify_token: SecretString,
    /// Bearer keys for the HTTP API.
    pub api_keys: Vec<SecretString>,
    /// Signs event callbacks. Generated only when `WABRIDGE_CALLBACK_URL` is set and the secret
    /// is not; otherwise unused.
    pub callback_secret: SecretString,
    /// Which of them were generated in this start, as (name, value) for the start-up banner.
    pub generated: Vec<(&'static str, String)>,
    /// Which of them came from the data dir.
    pub from_file: Vec<&'static str>,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

fn read(dir: &Path) -> anyhow::Result<Stored> {
    match std::fs::read(dir.join(FILE)) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("{} is not valid JSON", dir.join(FILE).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(e).context("reading local secrets"),
    }
}

fn write(dir: &Path, s: &Stored) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).context("creating the data dir")?;
    let path = dir.join(FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(s)?).context("writing local secrets")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

impl LocalSecrets {
    /// Configured values win; missing ones come from the data dir or are generated and saved there.
    pub fn resolve(config: &Config) -> anyhow::Result<Self> {
        let dir = &config.data_dir;
        let mut stored = read(dir)?;
        let mut generated = Vec::new();
        let mut from_file = Vec::new();
        let mut pick = |configured: Option<SecretString>, slot: &mut Option<String>, name: &'static str| {
            if let Some(c) = configured {
                return c;
            }
            match slot {
                Some(v) => {
                    from_file.push(name);
                    SecretString::from(v.clone())
                }
                None => {
                    let v = random_token();
                    *slot = Some(v.clone());
                    generated.push((name, v.clone()));
                    SecretString::from(v)
                }
            }
        };
        let app_secret = pick(config.app_secret.clone(), &mut stored.app_secret, "WHATSAPP_APP_SECRET");
        let verify_token = pick(
            config.verify_token.clone(),
            &mut stored.verify_token,
            "WHATSAPP_WEBHOOK_VERIFY_TOKEN",
        );
        let api_keys = if config.api_keys.is_empty() {
            vec![pick(None, &mut stored.api_key, "WABRIDGE_API_KEYS")]
        } else {
            config.api_keys.clone()
        };
        let callback_secret = match (&config.callback_secret, &config.callback_url) {
            (Some(s), _) => s.clone(),
            (None, Some(_)) => pick(None, &mut stored.callback_secret, "WABRIDGE_CALLBACK_SECRET"),
            (None, None) => SecretString::from(String::new()),
        };
        if !generated.is_empty() {
            write(dir, &stored)?;
        }
        Ok(Self {
            app_secret,
            verify_token,
            api_keys,
            callback_secret,
            generated,
            from_file,
        })
    }

    /// For the CLI: the configured value, else the one the local stack saved.
    pub fn app_secret_for_cli(config: &Config) -> anyhow::Result<SecretString> {
        if let Some(s) = &config.app_secret {
            return Ok(s.clone());
        }
        read(&config.data_dir)?
            .app_secret
            .map(SecretString::from)
            .context("no WHATSAPP_APP_SECRET set and no local secrets yet: start the stack once with `cargo run`")
    }

    /// For the CLI: the first configured API key, else the one the local stack saved.
    pub fn api_key_for_cli(config: &Config) -> anyhow::Result<SecretString> {
        if let Some(k) = config.api_keys.first() {
            return Ok(k.clone());
        }
        read(&config.data_dir)?
            .api_key
            .map(SecretString::from)
            .context("no WABRIDGE_API_KEYS set and no local secrets yet: start the stack once with `cargo run`")
    }

    /// The first API key, exposed for the start-up banner and CLI requests.
    pub fn first_api_key(&self) -> Option<&str> {
        self.api_keys.first().map(|k| k.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, pairs: &[(&str, &str)]) -> Config {
        let dir = dir.display().to_string();
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&move |k| {
            if k == "WABRIDGE_DATA_DIR" {
                return Some(dir.clone());
            }
            pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    #[test]
    fn missing_secrets_are_generated_once_and_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalSecrets::resolve(&config(dir.path(), &[])).unwrap();
        assert_eq!(first.generated.len(), 3);
        let second = LocalSecrets::resolve(&config(dir.path(), &[])).unwrap();
        assert!(second.generated.is_empty());
        assert_eq!(second.from_file.len(), 3);
        assert_eq!(first.app_secret.expose_secret(), second.app_secret.expose_secret());
        assert_eq!(first.first_api_key(), second.first_api_key());
        let cli = LocalSecrets::app_secret_for_cli(&config(dir.path(), &[])).unwrap();
        assert_eq!(cli.expose_secret(), first.app_secret.expose_secret());
    }

    #[test]
    fn configured_values_win_and_nothing_is_generated_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            dir.path(),
            &[("WHATSAPP_APP_SECRET", "mine"), ("WABRIDGE_API_KEYS", "k1,k2")],
        );
        let s = LocalSecrets::resolve(&c).unwrap();
        assert_eq!(s.app_secret.expose_secret(), "mine");
        assert_eq!(s.api_keys.len(), 2);
        assert_eq!(
            s.generated.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["WHATSAPP_WEBHOOK_VERIFY_TOKEN"]
        );
    }

    #[test]
    fn the_cli_explains_what_to_do_when_there_is_no_secret_yet() {
        let dir = tempfile::tempdir().unwrap();
        let err = LocalSecrets::app_secret_for_cli(&config(dir.path(), &[])).unwrap_err();
        assert!(err.to_string().contains("cargo run"), "{err}");
    }
}
