//! On Lambda the secret settings (app secret, verify token, access token, API keys) come from
//! Secrets Manager, read once at cold start: a function is given only the ARNs of the secrets it
//! needs. Runs on moto; the template's side is checked in `deployment.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use secrecy::ExposeSecret;
use wabridge::adapters::aws::{self as awsa, Aws};
use wabridge::app::resources::{self as res, FUNCTIONS};

fn require_moto() {
    assert!(
        std::env::var_os("WABRIDGE_TEST_AWS").is_some() && std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the AWS tests need moto server: run ./scripts/test, which starts it and sets AWS_ENDPOINT_URL"
    );
}

/// Creates one secret per secret setting (unique names) and returns setting → (ARN, value).
async fn create_secrets() -> HashMap<&'static str, (String, String)> {
    let client = aws_sdk_secretsmanager::Client::new(&awsa::load_config().await);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let mut out = HashMap::new();
    for (setting, _) in res::SECRETS {
        let value = format!("{}-{run}", setting.to_lowercase());
        let made = client
            .create_secret()
            .name(format!("wabridge-{run}-{setting}"))
            .secret_string(&value)
            .send()
            .await
            .unwrap();
        out.insert(*setting, (made.arn.unwrap(), value));
    }
    out
}

fn secret_of(config: &wabridge::Config, setting: &str) -> Option<String> {
    let one = |s: &Option<secrecy::SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
    match setting {
        res::APP_SECRET => one(&config.app_secret),
        res::VERIFY_TOKEN => one(&config.verify_token),
        res::ACCESS_TOKEN => one(&config.access_token),
        res::CALLBACK_SECRET => one(&config.callback_secret),
        res::API_KEYS => Some(
            config
                .api_keys
                .iter()
                .map(|k| k.expose_secret().to_owned())
                .collect::<Vec<_>>()
                .join(","),
        )
        .filter(|k| !k.is_empty()),
        other => panic!("{other} is not a secret setting"),
    }
}

#[tokio::test]
async fn each_function_reads_exactly_its_secrets_from_secrets_manager() {
    require_moto();
    let secrets = create_secrets().await;
    for f in FUNCTIONS {
        // The environment as the template sets it, plus plain values a careless deploy might also
        // set: a function that is given a secret's ARN must use the secret, not the plain value.
        let mut env: HashMap<String, String> = HashMap::new();
        for (setting, arn_var) in res::SECRETS {
            env.insert(arn_var.to_string(), secrets[setting].0.clone());
            env.insert(setting.to_string(), "plain-value-from-the-environment".into());
        }
        let config = Aws::load(*f).await.config_from(&|k| env.get(k).cloned()).await.unwrap();
        for (setting, arn_var) in res::SECRETS {
            let got = secret_of(&config, setting);
            if f.reads_var(arn_var) {
                assert_eq!(
                    got.as_deref(),
                    Some(secrets[setting].1.as_str()),
                    "{}: {setting}",
                    f.name
                );
            } else {
                assert_ne!(
                    got.as_deref(),
                    Some(secrets[setting].1.as_str()),
                    "{} read {setting}, which it is not given",
                    f.name
                );
            }
        }
    }
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_cold_start_naming_its_variable() {
    require_moto();
    let secrets = create_secrets().await;
    let aws = Aws::load(res::WEBHOOK_INGEST).await;

    // The ARN variable is missing: the function must not start without its app secret.
    let e = aws.config_from(&|_| None).await.unwrap_err();
    assert_eq!(e.var, res::APP_SECRET_ARN);

    // The secret does not exist (deleted, or another account's): named, and no value leaks.
    let gone = "arn:aws:secretsmanager:us-east-1:123456789012:secret:wabridge-deleted-AbCdEf";
    let e = aws
        .config_from(&|k| (k == res::APP_SECRET_ARN).then(|| gone.to_owned()))
        .await
        .unwrap_err();
    assert_eq!(e.var, res::APP_SECRET_ARN);
    assert!(e.reason.contains(gone), "{e}");

    // Readable: the ingest function gets the app secret and nothing else.
    let arn = secrets[res::APP_SECRET].0.clone();
    let config = aws
        .config_from(&|k| (k == res::APP_SECRET_ARN).then(|| arn.clone()))
        .await
        .unwrap();
    assert_eq!(
        config.require_app_secret().unwrap().expose_secret(),
        secrets[res::APP_SECRET].1
    );
    assert!(config.api_keys.is_empty() && config.access_token.is_none());
}
