//! Counters on SqliteStore, packed so a report reads a few rows per hour, never a row per message.
//!
//! - `counted`: one row per fact, remembering its rank and what it added, so a fact seen again
//!   changes nothing and a better version moves its counts.
//! - `hour_metrics`: one row per (hour, business number), its metric totals as a blob of 12-byte
//!   (name number, total) pairs; `metric_names` numbers the names.
//! - `hour_activity`: per (hour, business number), the activity points as 4-byte entries
//!   (`customer number << 3 | kinds`), appended in parts of at most [`PART_BYTES`] so a write
//!   rewrites a few kilobytes however busy the hour; `customer_numbers` numbers the customers.
//!   An entry may repeat (a redelivered message appends again unless it is still in the hour's
//!   last part): sums fold the kinds of every entry, so repeats change no figure.
//!
//! A tally is one transaction, so the facts and their counts never part.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{SqliteStore, json, parse};
use crate::adapters::embedded::{exec, sql_err};
use crate::ports::{BucketSums, Counters, DistinctFold, Fact, Point, PortError, Sums, Tally, bucket_of};

type Metrics = BTreeMap<String, i64>;

/// Metric changes per (business number, hour) of one tally, applied once per row.
type Deltas = BTreeMap<(String, i64), Metrics>;

/// The most bytes of entries one activity part holds (1,024 points).
const PART_BYTES: usize = 4096;

/// Customer numbers must leave three bits for the kinds.
const MAX_CUSTOMER: i64 = (1 << 29) - 1;

fn add(deltas: &mut Deltas, phone: &str, slot: i64, metrics: &[(String, i64)], sign: i64) {
    let row = deltas.entry((phone.to_owned(), slot)).or_default();
    for (name, v) in metrics {
        *row.entry(name.clone()).or_default() += sign * v;
    }
}

/// The (name number, total) pairs of an hour's blob.
fn decode_metrics(blob: &[u8]) -> impl Iterator<Item = (u32, i64)> + '_ {
    blob.chunks_exact(12).map(|c| {
        let (id, v) = c.split_at(4);
        (
            u32::from_le_bytes(id.try_into().unwrap_or_default()),
            i64::from_le_bytes(v.try_into().unwrap_or_default()),
        )
    })
}

fn encode_metrics(pairs: &BTreeMap<u32, i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 12);
    for (id, v) in pairs.iter().filter(|(_, v)| **v != 0) {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The number (integer primary key) `table` gives `key` in its unique `column`, given the first
/// time `key` is seen.
fn number(tx: &Connection, table: &str, column: &str, key: &str, op: &'static str) -> Result<i64, PortError> {
    let err = sql_err(op);
    let found: Option<i64> = tx
        .prepare_cached(&format!("SELECT rowid FROM {table} WHERE {column} = ?1"))
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(&err)?;
    match found {
        Some(n) => Ok(n),
        None => {
            exec(tx, &format!("INSERT INTO {table} ({column}) VALUES (?1)"), [key]).map_err(&err)?;
            Ok(tx.last_insert_rowid())
        }
    }
}

fn name_number(tx: &Connection, name: &str) -> Result<u32, PortError> {
    let id = number(tx, "metric_names", "name", name, "number metric name")?;
    u32::try_from(id).map_err(|_| PortError::invalid("number metric name", "too many metric names"))
}

fn customer_number(tx: &Connection, customer: &str) -> Result<u32, PortError> {
    let n = number(tx, "customer_numbers", "customer", customer, "number customer")?;
    u32::try_from(n)
        .ok()
        .filter(|n| i64::from(*n) <= MAX_CUSTOMER)
        .ok_or_else(|| PortError::invalid("number customer", "more customers than analytics can number"))
}

/// Adds `delta` to the hour's metrics, dropping totals back at zero and the row once it is empty.
fn bump(tx: &Connection, phone: &str, slot: i64, delta: &Metrics) -> Result<(), PortError> {
    let op = sql_err("bump counters");
    let blob: Option<Vec<u8>> = tx
        .prepare_cached("SELECT metrics FROM hour_metrics WHERE slot = ?1 AND phone = ?2")
        .and_then(|mut s| s.query_row(params![slot, phone], |r| r.get(0)).optional())
        .map_err(&op)?;
    let mut pairs: BTreeMap<u32, i64> = blob.as_deref().map(|b| decode_metrics(b).collect()).unwrap_or_default();
    for (name, v) in delta {
        *pairs.entry(name_number(tx, name)?).or_default() += v;
    }
    let encoded = encode_metrics(&pairs);
    if encoded.is_empty() {
        exec(
            tx,
            "DELETE FROM hour_metrics WHERE slot = ?1 AND phone = ?2",
            params![slot, phone],
        )
        .map_err(op)?;
    } else {
        exec(
            tx,
            "INSERT INTO hour_metrics (slot, phone, metrics) VALUES (?1, ?2, ?3)
             ON CONFLICT(slot, phone) DO UPDATE SET metrics = excluded.metrics",
            params![slot, phone, encoded],
        )
        .map_err(op)?;
    }
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

/// Appends `entry` to the hour's last activity part (or a new part once that one is full),
/// unless that part already holds it.
fn append(tx: &Connection, phone: &str, slot: i64, entry: u32) -> Result<(), PortError> {
    let op = sql_err("mark activity");
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT part, points FROM hour_activity WHERE slot = ?1 AND phone = ?2 ORDER BY part DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![slot, phone], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(&op)?;
    let bytes = entry.to_le_bytes();
    let (part, mut points) = match last {
        Some((_, points)) if points.chunks_exact(4).any(|c| c == bytes) => return Ok(()),
        Some((part, points)) if points.len() + 4 <= PART_BYTES => (part, points),
        Some((part, _)) => (part + 1, Vec::new()),
        None => (0, Vec::new()),
    };
    points.extend_from_slice(&bytes);
    exec(
        tx,
        "INSERT INTO hour_activity (slot, phone, part, points) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(slot, phone, part) DO UPDATE SET points = excluded.points",
        params![slot, phone, part, points],
    )
    .map_err(op)?;
    Ok(())
}

fn mark(tx: &Connection, p: &Point) -> Result<(), PortError> {
    let n = customer_number(tx, &p.customer)?;
    append(tx, &p.phone, p.slot, (n << 3) | u32::from(p.kinds & 7))
}

/// Rebuilds a per-bucket metric sum from name numbers, names resolved once per bucket.
struct MetricFold {
    names: Vec<Option<String>>,
    scratch: Vec<i64>,
    touched: Vec<u32>,
    current: Option<usize>,
    buckets: Vec<BucketSums>,
}

impl MetricFold {
    fn new(names: Vec<Option<String>>, buckets: usize) -> Self {
        Self {
            scratch: vec![0; names.len()],
            names,
            touched: Vec::new(),
            current: None,
            buckets: vec![BucketSums::default(); buckets],
        }
    }

    /// Adds an hour's blob to bucket `k`; buckets come in non-decreasing order.
    fn add(&mut self, k: usize, blob: &[u8]) {
        if self.current != Some(k) {
            self.flush();
            self.current = Some(k);
        }
        for (id, v) in decode_metrics(blob) {
            let Some(slot) = self.scratch.get_mut(id as usize) else {
                continue; // a name numbered after the names were read: counted from the next report
            };
            if *slot == 0 {
                self.touched.push(id);
            }
            *slot += v;
        }
    }

    fn flush(&mut self) {
        let Some(bucket) = self.current.and_then(|k| self.buckets.get_mut(k)) else {
            return;
        };
        self.touched.sort_unstable();
        self.touched.dedup();
        for id in self.touched.drain(..) {
            let v = std::mem::take(&mut self.scratch[id as usize]);
            if let (Some(Some(name)), true) = (self.names.get(id as usize), v != 0) {
                bucket.metrics.push((name.clone(), v));
            }
        }
    }

    fn finish(mut self) -> Vec<BucketSums> {
        self.flush();
        self.buckets
    }
}

/// Hands each row's blob `column` of `table` in the hours `edges` span to `f` with its bucket, in
/// hour order (which [`DistinctFold`] and [`MetricFold`] rely on).
fn each_hour(
    conn: &Connection,
    table: &str,
    column: &str,
    phone: Option<&str>,
    edges: &[i64],
    mut f: impl FnMut(usize, &[u8]),
) -> Result<(), PortError> {
    let op = sql_err("read counters");
    let (Some(from), Some(to)) = (edges.first(), edges.last()) else {
        return Ok(());
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT slot, {column} FROM {table}
             WHERE slot >= ?1 AND slot < ?2 AND (?3 IS NULL OR phone = ?3) ORDER BY slot"
        ))
        .map_err(&op)?;
    let mut rows = stmt.query(params![from, to, phone]).map_err(&op)?;
    while let Some(row) = rows.next().map_err(&op)? {
        let slot: i64 = row.get(0).map_err(&op)?;
        if let Some(k) = bucket_of(edges, slot) {
            f(k, row.get_ref(1).map_err(&op)?.as_blob().map_err(|e| op(e.into()))?);
        }
    }
    Ok(())
}

fn read_sums(conn: &Connection, phone: Option<&str>, edges: &[i64]) -> Result<Sums, PortError> {
    let op = sql_err("read counters");
    let buckets = edges.len().saturating_sub(1);
    let mut names: Vec<Option<String>> = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, name FROM metric_names").map_err(&op)?;
    let mut rows = stmt.query([]).map_err(&op)?;
    while let Some(row) = rows.next().map_err(&op)? {
        let (id, name): (i64, String) = (row.get(0).map_err(&op)?, row.get(1).map_err(&op)?);
        let Ok(i) = usize::try_from(id) else { continue };
        if names.len() <= i {
            names.resize(i + 1, None);
        }
        names[i] = Some(name);
    }
    drop(rows);

    let mut metrics = MetricFold::new(names, buckets);
    each_hour(conn, "hour_metrics", "metrics", phone, edges, |k, blob| {
        metrics.add(k, blob)
    })?;
    let mut distinct = DistinctFold::new(buckets);
    each_hour(conn, "hour_activity", "points", phone, edges, |k, blob| {
        for c in blob.chunks_exact(4) {
            let entry = u32::from_le_bytes(c.try_into().unwrap_or_default());
            distinct.add(k, entry >> 3, (entry & 7) as u8);
        }
    })?;
    let mut buckets = metrics.finish();
    let (active, reach) = distinct.finish();
    for (b, a) in buckets.iter_mut().zip(active) {
        b.active = a;
    }
    Ok(Sums { buckets, reach })
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

    async fn sums(&self, phone: Option<&str>, edges: &[i64]) -> Result<Sums, PortError> {
        let (phone, edges) = (phone.map(str::to_owned), edges.to_vec());
        self.with("read counters", move |conn| read_sums(conn, phone.as_deref(), &edges))
            .await
    }

    async fn clear_counters(&self) -> Result<(), PortError> {
        self.write("clear counters", |tx| {
            tx.execute_batch("DELETE FROM hour_metrics; DELETE FROM counted; DELETE FROM hour_activity;")
                .map_err(sql_err("clear counters"))
        })
        .await
    }
}

/// Migration 13: re-encodes migration 11's JSON hour rows and activity rows into the packed
/// tables, then drops the old ones.
pub(super) fn pack_counters(tx: &Transaction<'_>) -> Result<(), PortError> {
    let op = sql_err("pack counters");
    tx.execute_batch(
        "CREATE TABLE metric_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
         CREATE TABLE customer_numbers (n INTEGER PRIMARY KEY, customer TEXT NOT NULL UNIQUE);
         CREATE TABLE hour_metrics (
             slot INTEGER NOT NULL,
             phone TEXT NOT NULL,
             metrics BLOB NOT NULL,
             PRIMARY KEY (slot, phone)
         ) WITHOUT ROWID;
         CREATE TABLE hour_activity (
             slot INTEGER NOT NULL,
             phone TEXT NOT NULL,
             part INTEGER NOT NULL,
             points BLOB NOT NULL,
             PRIMARY KEY (slot, phone, part)
         ) WITHOUT ROWID;",
    )
    .map_err(&op)?;
    let hours: Vec<(i64, String, String)> = tx
        .prepare("SELECT slot, phone, metrics FROM counters")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(&op)?;
    for (slot, phone, doc) in hours {
        let m: Metrics = parse(&doc)?;
        bump(tx, &phone, slot, &m)?;
    }
    let points: Vec<(i64, String, String, u8)> = tx
        .prepare("SELECT slot, customer, phone, kinds FROM activity ORDER BY slot, phone")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(&op)?;
    let mut numbers: HashMap<String, u32> = HashMap::new();
    for (slot, customer, phone, kinds) in points {
        let n = match numbers.get(&customer) {
            Some(n) => *n,
            None => {
                let n = customer_number(tx, &customer)?;
                numbers.insert(customer, n);
                n
            }
        };
        append(tx, &phone, slot, (n << 3) | u32::from(kinds & 7))?;
    }
    tx.execute_batch("DROP TABLE counters; DROP TABLE activity;")
        .map_err(op)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::adapters::embedded::migrate;
    use crate::adapters::embedded::sqlite::MIGRATIONS;

    /// A data dir with migration 11's JSON counters and activity rows reads the same figures after
    /// migration 13 packs them.
    #[tokio::test]
    async fn counters_of_an_earlier_release_are_packed_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &MIGRATIONS[..12]).unwrap();
        conn.execute_batch(
            r#"INSERT INTO counters VALUES (10, 'A', '{"in":3,"new":1}'), (11, 'A', '{"in":2}'),
                                          (10, 'B', '{"in":5}');
               INSERT INTO counted VALUES ('in:x', 0, 'A', 10, '[["in",1]]');
               INSERT INTO activity VALUES (10, 'c1', 'A', 1), (10, 'c2', 'A', 3), (11, 'c1', 'A', 1),
                                           (10, 'c1', 'B', 2), (11, 'c3', 'B', 4);"#,
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&path).unwrap();
        let sums = store.sums(None, &[10, 11, 12]).await.unwrap();
        let m = |k: usize| {
            let mut v = sums.buckets[k].metrics.clone();
            v.sort();
            v
        };
        assert_eq!(m(0), [("in".to_owned(), 8), ("new".to_owned(), 1)]);
        assert_eq!(m(1), [("in".to_owned(), 2)]);
        assert_eq!((sums.buckets[0].active, sums.buckets[1].active), (2, 1));
        let reach = sums.reach;
        assert_eq!((reach.wrote, reach.any, reach.messaged, reach.replied), (2, 3, 2, 1));
        // The fact ledger carried over: the same fact again changes nothing.
        let again = Fact {
            key: "in:x".into(),
            rank: 0,
            phone: "A".into(),
            slot: 10,
            metrics: vec![("in".into(), 1)],
        };
        store
            .tally(&Tally {
                facts: vec![again],
                points: vec![],
            })
            .await
            .unwrap();
        assert_eq!(
            store.sums(Some("A"), &[10, 11]).await.unwrap().buckets[0].metrics,
            [("in".to_owned(), 3), ("new".to_owned(), 1)]
        );
    }

    /// A busy hour's activity spills into more parts, each at most `PART_BYTES`, and every part
    /// counts; a point repeated while it is still in the last part is not appended again.
    #[tokio::test]
    async fn a_busy_hour_spills_into_parts_and_every_part_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = SqliteStore::open(&path).unwrap();
        let point = |c: usize| Point {
            phone: "A".into(),
            slot: 7,
            customer: format!("c{c}"),
            kinds: Point::WROTE,
        };
        let customers = PART_BYTES / 4 + 500;
        let points: Vec<Point> = (0..customers).map(point).collect();
        store.tally(&Tally { facts: vec![], points }).await.unwrap();
        let last = point(customers - 1);
        store
            .tally(&Tally {
                facts: vec![],
                points: vec![last],
            })
            .await
            .unwrap();
        let parts: Vec<i64> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT length(points) FROM hour_activity ORDER BY part")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(parts, [PART_BYTES as i64, 500 * 4]);
        let sums = store.sums(Some("A"), &[7, 8]).await.unwrap();
        assert_eq!(
            (sums.buckets[0].active, sums.reach.wrote),
            (customers as i64, customers as i64)
        );
    }
}
