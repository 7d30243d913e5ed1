//! Counters on SqliteStore: one row per (hour, business number) holding a JSON map of metric
//! totals; a `counted` row per fact remembering its rank and what it added, so a fact seen again
//! changes nothing and a better version moves its counts; `activity` rows for distinct customers.
//! A tally is one transaction, so the facts and their counts never part.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, json, parse};
use crate::adapters::embedded::{exec, sql_err};
use crate::ports::{Counters, Fact, HourCounts, Point, PortError, Tally};

type Metrics = BTreeMap<String, i64>;

/// Metric changes per (business number, hour) of one tally, applied once per row.
type Deltas = BTreeMap<(String, i64), Metrics>;

fn add(deltas: &mut Deltas, phone: &str, slot: i64, metrics: &[(String, i64)], sign: i64) {
    let row = deltas.entry((phone.to_owned(), slot)).or_default();
    for (name, v) in metrics {
        *row.entry(name.clone()).or_default() += sign * v;
    }
}

/// Adds `delta` to the hour row, dropping metrics back at zero and the row once it is empty.
fn bump(tx: &Transaction<'_>, phone: &str, slot: i64, delta: &Metrics) -> Result<(), PortError> {
    let op = sql_err("bump counters");
    let doc: Option<String> = tx
        .query_row(
            "SELECT metrics FROM counters WHERE slot = ?1 AND phone = ?2",
            params![slot, phone],
            |r| r.get(0),
        )
        .optional()
        .map_err(&op)?;
    let mut m: Metrics = doc.as_deref().map(parse).transpose()?.unwrap_or_default();
    for (name, v) in delta {
        *m.entry(name.clone()).or_default() += v;
    }
    m.retain(|_, v| *v != 0);
    if m.is_empty() {
        exec(
            tx,
            "DELETE FROM counters WHERE slot = ?1 AND phone = ?2",
            params![slot, phone],
        )
        .map_err(op)?;
        return Ok(());
    }
    exec(
        tx,
        "INSERT INTO counters (slot, phone, metrics) VALUES (?1, ?2, ?3)
         ON CONFLICT(slot, phone) DO UPDATE SET metrics = excluded.metrics",
        params![slot, phone, json(&m)?],
    )
    .map_err(op)?;
    Ok(())
}

/// Records `f` as counted and notes what that changes: nothing if an equal or better version is
/// counted already, else its metrics, less those of the version it replaces.
fn count(tx: &Transaction<'_>, f: &Fact, deltas: &mut Deltas) -> Result<(), PortError> {
    let op = sql_err("count fact");
    let before: Option<(i64, String, i64, String)> = tx
        .query_row(
            "SELECT rank, phone, slot, metrics FROM counted WHERE key = ?1",
            [&f.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(&op)?;
    if let Some((rank, phone, slot, metrics)) = &before {
        if *rank >= f.rank {
            return Ok(());
        }
        let old: Vec<(String, i64)> = parse(metrics)?;
        add(deltas, phone, *slot, &old, -1);
    }
    add(deltas, &f.phone, f.slot, &f.metrics, 1);
    exec(
        tx,
        "INSERT INTO counted (key, rank, phone, slot, metrics) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(key) DO UPDATE SET rank = excluded.rank, phone = excluded.phone, slot = excluded.slot,
                                        metrics = excluded.metrics",
        params![f.key, f.rank, f.phone, f.slot, json(&f.metrics)?],
    )
    .map_err(op)?;
    Ok(())
}

fn mark(tx: &Transaction<'_>, p: &Point) -> Result<(), PortError> {
    exec(
        tx,
        "INSERT INTO activity (slot, customer, phone, kinds) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(slot, customer, phone) DO UPDATE SET kinds = kinds | excluded.kinds",
        params![p.slot, p.customer, p.phone, p.kinds],
    )
    .map_err(sql_err("mark activity"))?;
    Ok(())
}

#[async_trait]
impl Counters for SqliteStore {
    async fn tally(&self, tally: &Tally) -> Result<(), PortError> {
        let tally = tally.clone();
        self.write("tally", move |tx| {
            // A message's facts mostly land in one hour: its row is read and written once.
            let mut deltas = Deltas::new();
            for f in &tally.facts {
                count(tx, f, &mut deltas)?;
            }
            for ((phone, slot), delta) in &deltas {
                bump(tx, phone, *slot, delta)?;
            }
            for p in &tally.points {
                mark(tx, p)?;
            }
            Ok(())
        })
        .await
    }

    async fn hours(&self, phone: Option<&str>, from_slot: i64, to_slot: i64) -> Result<Vec<HourCounts>, PortError> {
        let phone = phone.map(str::to_owned);
        self.with("read counters", move |conn| {
            let op = sql_err("read counters");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT slot, phone, metrics FROM counters
                     WHERE slot >= ?1 AND slot < ?2 AND (?3 IS NULL OR phone = ?3)",
                )
                .map_err(&op)?;
            let rows: Vec<(i64, String, String)> = stmt
                .query_map(params![from_slot, to_slot, phone], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            rows.into_iter()
                .map(|(slot, phone, doc)| {
                    let m: Metrics = parse(&doc)?;
                    Ok(HourCounts {
                        phone,
                        slot,
                        metrics: m.into_iter().collect(),
                    })
                })
                .collect()
        })
        .await
    }

    async fn points(&self, phone: Option<&str>, from_slot: i64, to_slot: i64) -> Result<Vec<Point>, PortError> {
        let phone = phone.map(str::to_owned);
        self.with("read activity", move |conn| {
            let op = sql_err("read activity");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT slot, customer, phone, kinds FROM activity
                     WHERE slot >= ?1 AND slot < ?2 AND (?3 IS NULL OR phone = ?3)",
                )
                .map_err(&op)?;
            stmt.query_map(params![from_slot, to_slot, phone], |r| {
                Ok(Point {
                    slot: r.get(0)?,
                    customer: r.get(1)?,
                    phone: r.get(2)?,
                    kinds: r.get(3)?,
                })
            })
            .map_err(&op)?
            .collect::<Result<_, _>>()
            .map_err(op)
        })
        .await
    }

    async fn clear_counters(&self) -> Result<(), PortError> {
        self.write("clear counters", |tx| {
            tx.execute_batch("DELETE FROM counters; DELETE FROM counted; DELETE FROM activity;")
                .map_err(sql_err("clear counters"))
        })
        .await
    }
}
