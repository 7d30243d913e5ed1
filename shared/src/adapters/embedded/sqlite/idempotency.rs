//! Idempotency on SqliteStore: `Idempotency-Key` claims.

use crate::adapters::embedded::{exec, sql_err};
use crate::domain::IdempotencyClaim;
use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, json, parse};
use crate::ports::{Idempotency, PortError};

#[async_trait]
impl Idempotency for SqliteStore {
    async fn claim_idempotency(
        &self,
        key: &str,
        fingerprint: &str,
        lease_until_ms: i64,
        expires_ms: i64,
    ) -> Result<IdempotencyClaim, PortError> {
        let (key, fp) = (key.to_owned(), fingerprint.to_owned());
        let now = self.clock.now_ms();
        self.write("claim idempotency key", move |tx| {
            let op = sql_err("claim idempotency key");
            exec(
                tx,
                "DELETE FROM idempotency WHERE key = ?1 AND (expires_at < ?2 OR (status IS NULL AND lease_until < ?2))",
                params![key, now],
            )
            .map_err(&op)?;
            let n = exec(
                tx,
                "INSERT OR IGNORE INTO idempotency (key, fingerprint, expires_at, lease_until) VALUES (?1, ?2, ?3, ?4)",
                params![key, fp, expires_ms, lease_until_ms],
            )
            .map_err(&op)?;
            if n == 1 {
                return Ok(IdempotencyClaim::New);
            }
            let (fingerprint, status, body, lease_until_ms): (String, Option<u16>, Option<String>, i64) = tx
                .query_row(
                    "SELECT fingerprint, status, body, lease_until FROM idempotency WHERE key = ?1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .map_err(&op)?;
            Ok(match (status, body) {
                (Some(status), Some(body)) => IdempotencyClaim::Answered {
                    fingerprint,
                    status,
                    body: parse(&body)?,
                },
                _ => IdempotencyClaim::InProgress {
                    fingerprint,
                    lease_until_ms,
                },
            })
        })
        .await
    }

    async fn finish_idempotency(
        &self,
        key: &str,
        lease_until_ms: i64,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), PortError> {
        let (key, body) = (key.to_owned(), json(body)?);
        self.write("finish idempotency key", move |tx| {
            exec(
                tx,
                "UPDATE idempotency SET status = ?2, body = ?3 \
                 WHERE key = ?1 AND lease_until = ?4 AND status IS NULL",
                params![key, status, body, lease_until_ms],
            )
            .map_err(sql_err("finish idempotency key"))
            .map(drop)
        })
        .await
    }

    async fn release_idempotency(&self, key: &str, lease_until_ms: i64) -> Result<(), PortError> {
        let key = key.to_owned();
        self.write("release idempotency key", move |tx| {
            exec(
                tx,
                "DELETE FROM idempotency WHERE key = ?1 AND lease_until = ?2 AND status IS NULL",
                params![key, lease_until_ms],
            )
            .map_err(sql_err("release idempotency key"))
            .map(drop)
        })
        .await
    }
}
