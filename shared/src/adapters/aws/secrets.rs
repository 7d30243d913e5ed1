//! Secret settings from AWS Secrets Manager, read once at cold start.
//!
//! A function is given `<SETTING>_ARN` for each secret it needs ([`res::SECRETS`]); its role may
//! read exactly those secrets. Values are fetched before the function serves anything, so a secret
//! that cannot be read stops the cold start with an error naming the variable, never a request.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

use crate::app::resources::{self as res, Function};
use crate::config::{Config, ConfigError, Lookup};

/// The function's configuration: the plain variables from `get`, and each secret setting the
/// function declares read from the secret its `_ARN` variable names.
pub async fn config_with_secrets(client: &Client, function: &Function, get: Lookup<'_>) -> Result<Config, ConfigError> {
    let mut values: HashMap<&'static str, String> = HashMap::new();
    for &(setting, arn_var) in res::SECRETS {
        if !function.reads_var(arn_var) {
            continue;
        }
        let arn = get(arn_var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::missing(arn_var))?;
        values.insert(setting, read(client, arn_var, &arn).await?);
    }
    // A setting read from its secret wins over a plain variable of the same name.
    Config::from_lookup(&|k| values.get(k).cloned().or_else(|| get(k)))
}

async fn read(client: &Client, arn_var: &'static str, arn: &str) -> Result<String, ConfigError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| ConfigError {
            var: arn_var,
            // The code and AWS's message name the secret and the cause, never its value.
            reason: format!(
                "secret {arn} cannot be read: {} {}",
                e.code().unwrap_or("(no answer)"),
                e.message().unwrap_or_default()
            ),
        })?;
    out.secret_string
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ConfigError {
            var: arn_var,
            reason: format!("secret {arn} has no string value"),
        })
}
