//! Counters on DynamoStore, in one `counters` table keyed (`pk`, `sk`):
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | hour counters | `c#{phone}#{shard}` | hour, 12 digits | `m:{metric}` numbers |
//! | a counted fact | `f#{key}` | `-` | `rank`, `phone`, `slot`, `metrics` (JSON) |
//! | activity | `p#{phone}#{hour / 720}` | `{hour}#{customer}` | `w`, `m`, `r` = 1 |
//! | business numbers seen | `phones` | phone | |
//!
//! A fact and its counts change in one transaction guarded by the fact's rank, so it is counted
//! once however often it comes. Hour counters are split over [`SHARDS`] items by a hash of the
//! fact key: at 1,000 messages/s a number makes about 4,000 bumps/s, and one item takes about
//! 1,000 writes/s; a report sums the shards.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{DeleteRequest, Put, TransactWriteItem, Update, WriteRequest};

use super::{DynamoStore, Item, fnv1a};
use crate::adapters::aws::expr::{Expr, get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::ports::{BucketSums, Counters, DistinctFold, Fact, Point, PortError, Sums, Tally, bucket_of};

/// Items each hour's counters are spread over.
pub const SHARDS: u32 = 8;
/// Hours per activity partition (30 days).
const CHUNK: i64 = 720;
/// Attempts at a fact whose marker another writer moved meanwhile.
const ATTEMPTS: usize = 8;
/// Prefix of metric attributes.
const METRIC: &str = "m:";

fn hour(slot: i64) -> String {
    format!("{:012}", slot.max(0))
}

fn counter_key(phone: &str, fact_key: &str) -> String {
    format!("c#{phone}#{}", fnv1a(fact_key) % SHARDS)
}

/// The item that records a counted fact.
fn marker_key(fact: &str) -> Item {
    key(format!("f#{fact}"), "-".to_owned())
}

fn key(pk: String, sk: String) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn invalid(e: impl std::fmt::Display) -> PortError {
    PortError::invalid("counters", e.to_string())
}

impl DynamoStore {
    fn bump(&self, pk: String, slot: i64, deltas: &BTreeMap<String, i64>) -> Result<Option<Update>, PortError> {
        let mut e = Expr::default();
        for (m, v) in deltas.iter().filter(|(_, v)| **v != 0) {
            e = e.add(&format!("{METRIC}{m}"), n(*v));
        }
        if deltas.values().all(|v| *v == 0) {
            return Ok(None);
        }
        let (u, _, names, values) = e.parts();
        Update::builder()
            .table_name(&self.t.counters)
            .set_key(Some(key(pk, hour(slot))))
            .update_expression(u)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map(Some)
            .map_err(invalid)
    }

    /// Counts one fact, given its marker as last read: unless the marker counts an equal or
    /// better version, moves its counts in a transaction that holds only if the marker is
    /// unchanged; when another writer changed it meanwhile, reads it again and retries.
    async fn count(&self, f: &Fact, mut before: Option<Item>) -> Result<(), PortError> {
        let marker = marker_key(&f.key);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                before = self
                    .client
                    .get_item()
                    .table_name(&self.t.counters)
                    .set_key(Some(marker.clone()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(sdk_err("read counted fact"))?
                    .item;
            }
            let old_rank = before.as_ref().and_then(|i| get_n(i, "rank"));
            if old_rank.is_some_and(|r| r >= f.rank) {
                return Ok(());
            }
            // What to add where: the new version's metrics, less the old version's.
            let mut moves: BTreeMap<(String, i64), BTreeMap<String, i64>> = BTreeMap::new();
            let new_pk = counter_key(&f.phone, &f.key);
            for (m, v) in &f.metrics {
                *moves
                    .entry((new_pk.clone(), f.slot))
                    .or_default()
                    .entry(m.clone())
                    .or_default() += v;
            }
            if let Some(old) = &before {
                let phone = get_s(old, "phone").unwrap_or_default();
                let slot = get_n(old, "slot").unwrap_or_default();
                let metrics: Vec<(String, i64)> =
                    serde_json::from_str(&get_s(old, "metrics").unwrap_or_default()).map_err(invalid)?;
                let pk = counter_key(&phone, &f.key);
                for (m, v) in metrics {
                    *moves.entry((pk.clone(), slot)).or_default().entry(m).or_default() -= v;
                }
            }
            let mut item = marker.clone();
            item.insert("rank".into(), n(f.rank));
            item.insert("phone".into(), s(&f.phone));
            item.insert("slot".into(), n(f.slot));
            item.insert("metrics".into(), s(serde_json::to_string(&f.metrics).map_err(invalid)?));
            let put = Put::builder().table_name(&self.t.counters).set_item(Some(item));
            let put = match old_rank {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(r) => put
                    .condition_expression("#r = :r")
                    .expression_attribute_names("#r", "rank")
                    .expression_attribute_values(":r", n(r)),
            };
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put.build().map_err(invalid)?).build());
            for ((pk, slot), deltas) in &moves {
                if let Some(u) = self.bump(pk.clone(), *slot, deltas)? {
                    tx = tx.transact_items(TransactWriteItem::builder().update(u).build());
                }
            }
            match tx.send().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let lost_race = matches!(
                        e.as_service_error(),
                        Some(TransactWriteItemsError::TransactionCanceledException(_))
                    );
                    if !lost_race {
                        return Err(sdk_err("count fact")(e));
                    }
                }
            }
        }
        Err(PortError::unavailable(
            "count fact",
            std::io::Error::other(format!("fact {} kept changing under us", f.key)),
        ))
    }

    async fn mark(&self, p: &Point) -> Result<(), PortError> {
        let mut e = Expr::default();
        for (bit, attr) in [(Point::WROTE, "w"), (Point::MESSAGED, "m"), (Point::REPLIED, "r")] {
            if p.kinds & bit != 0 {
                e = e.set(attr, n(1));
            }
        }
        let pk = format!("p#{}#{}", p.phone, p.slot.div_euclid(CHUNK));
        e.apply(
            self.client
                .update_item()
                .table_name(&self.t.counters)
                .set_key(Some(key(pk, format!("{}#{}", hour(p.slot), p.customer)))),
        )
        .send()
        .await
        .map_err(sdk_err("mark activity"))?;
        Ok(())
    }

    /// Records that a business number has counters, once per process.
    async fn register_phone(&self, phone: &str) -> Result<(), PortError> {
        if self.phones_seen.lock().is_ok_and(|seen| seen.contains(phone)) {
            return Ok(());
        }
        self.client
            .put_item()
            .table_name(&self.t.counters)
            .set_item(Some(key("phones".into(), phone.to_owned())))
            .send()
            .await
            .map_err(sdk_err("register number"))?;
        if let Ok(mut seen) = self.phones_seen.lock() {
            seen.insert(phone.to_owned());
        }
        Ok(())
    }

    async fn phones(&self, phone: Option<&str>) -> Result<Vec<String>, PortError> {
        if let Some(p) = phone {
            return Ok(vec![p.to_owned()]);
        }
        let items = self.query_range("phones", None).await?;
        Ok(items.iter().filter_map(|i| get_s(i, "sk")).collect())
    }

    /// Every item of partition `pk`, with `sk` in `range` when given.
    async fn query_range(&self, pk: &str, range: Option<(String, String)>) -> Result<Vec<Item>, PortError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut values = HashMap::from([(":pk".to_owned(), s(pk))]);
            let cond = match &range {
                Some((lo, hi)) => {
                    values.insert(":lo".into(), s(lo));
                    values.insert(":hi".into(), s(hi));
                    "pk = :pk AND sk BETWEEN :lo AND :hi"
                }
                None => "pk = :pk",
            };
            let page = self
                .client
                .query()
                .table_name(&self.t.counters)
                .key_condition_expression(cond)
                .set_expression_attribute_values(Some(values))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err("read counters"))?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}

#[async_trait]
impl Counters for DynamoStore {
    async fn tally(&self, tally: &Tally) -> Result<(), PortError> {
        let mut phones: Vec<&str> = tally.facts.iter().map(|f| f.phone.as_str()).collect();
        phones.extend(tally.points.iter().map(|p| p.phone.as_str()));
        phones.sort_unstable();
        phones.dedup();
        for p in phones {
            self.register_phone(p).await?;
        }
        // Every marker in one read; only the facts that count something new go on to a write.
        let distinct: std::collections::BTreeSet<&str> = tally.facts.iter().map(|f| f.key.as_str()).collect();
        let keys = distinct.into_iter().map(marker_key).collect();
        let mut markers: HashMap<String, Item> = HashMap::new();
        for item in self.batch_get(&self.t.counters, keys, "read counted facts").await? {
            if let Some(pk) = get_s(&item, "pk") {
                markers.insert(pk, item);
            }
        }
        let marker_of = |f: &Fact| markers.get(&format!("f#{}", f.key)).cloned();
        futures::future::try_join_all(tally.facts.iter().map(|f| self.count(f, marker_of(f)))).await?;
        futures::future::try_join_all(tally.points.iter().map(|p| self.mark(p))).await?;
        Ok(())
    }

    async fn sums(&self, phone: Option<&str>, edges: &[i64]) -> Result<Sums, PortError> {
        let n = edges.len().saturating_sub(1);
        let mut buckets: Vec<BTreeMap<String, i64>> = vec![BTreeMap::new(); n];
        let mut distinct = DistinctFold::new(n);
        if let (Some(&from), Some(&to)) = (edges.first(), edges.last())
            && from < to
        {
            let phones = self.phones(phone).await?;
            let (hours, mut points) =
                futures::try_join!(self.hour_items(&phones, from, to), self.points(&phones, from, to))?;
            for item in hours {
                let Some(k) = get_s(&item, "sk")
                    .and_then(|h| h.parse().ok())
                    .and_then(|slot| bucket_of(edges, slot))
                else {
                    continue;
                };
                for (name, v) in &item {
                    if let (Some(m), Ok(v)) = (name.strip_prefix(METRIC), v.as_n()) {
                        *buckets[k].entry(m.to_owned()).or_default() += v.parse::<i64>().unwrap_or(0);
                    }
                }
            }
            // The fold counts a customer in a bucket once only if buckets come in order.
            points.sort_by_key(|p| p.0);
            let mut numbers: HashMap<String, u32> = HashMap::new();
            for (slot, customer, kinds) in points {
                let Some(k) = bucket_of(edges, slot) else { continue };
                let next = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
                distinct.add(k, *numbers.entry(customer).or_insert(next), kinds);
            }
        }
        let (active, reach) = distinct.finish();
        let buckets = buckets
            .into_iter()
            .zip(active)
            .map(|(m, active)| BucketSums {
                metrics: m.into_iter().filter(|(_, v)| *v != 0).collect(),
                active,
            })
            .collect();
        Ok(Sums { buckets, reach })
    }

    async fn clear_counters(&self) -> Result<(), PortError> {
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.t.counters)
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err("clear counters"))?;
            let keys: Vec<Item> = page.items.unwrap_or_default();
            for chunk in keys.chunks(25) {
                let mut requests: Vec<WriteRequest> = chunk
                    .iter()
                    .filter_map(|k| {
                        DeleteRequest::builder()
                            .set_key(Some(k.clone()))
                            .build()
                            .ok()
                            .map(|d| WriteRequest::builder().delete_request(d).build())
                    })
                    .collect();
                while !requests.is_empty() {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(&self.t.counters, requests)
                        .send()
                        .await
                        .map_err(sdk_err("clear counters"))?;
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.t.counters))
                        .unwrap_or_default();
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        if let Ok(mut seen) = self.phones_seen.lock() {
            seen.clear();
        }
        Ok(())
    }
}

impl DynamoStore {
    /// The hour items (every shard) of `phones` in hours `from_slot..to_slot`.
    async fn hour_items(&self, phones: &[String], from_slot: i64, to_slot: i64) -> Result<Vec<Item>, PortError> {
        let range = (hour(from_slot), hour(to_slot - 1));
        let queries = phones.iter().flat_map(|p| {
            let range = &range;
            (0..SHARDS)
                .map(move |shard| async move { self.query_range(&format!("c#{p}#{shard}"), Some(range.clone())).await })
        });
        Ok(futures::future::try_join_all(queries).await?.concat())
    }

    /// The activity points of `phones` in hours `from_slot..to_slot`, as (hour, customer, kinds).
    async fn points(
        &self,
        phones: &[String],
        from_slot: i64,
        to_slot: i64,
    ) -> Result<Vec<(i64, String, u8)>, PortError> {
        let range = (hour(from_slot), format!("{}~", hour(to_slot - 1)));
        let queries = phones.iter().flat_map(|p| {
            let range = &range;
            (from_slot.div_euclid(CHUNK)..=(to_slot - 1).div_euclid(CHUNK))
                .map(move |chunk| async move { self.query_range(&format!("p#{p}#{chunk}"), Some(range.clone())).await })
        });
        let mut out = Vec::new();
        for item in futures::future::try_join_all(queries).await?.concat() {
            let Some((slot, customer)) = get_s(&item, "sk").and_then(|sk| {
                let (h, c) = sk.split_once('#')?;
                Some((h.parse().ok()?, c.to_owned()))
            }) else {
                continue;
            };
            let mut kinds = 0;
            for (bit, attr) in [(Point::WROTE, "w"), (Point::MESSAGED, "m"), (Point::REPLIED, "r")] {
                if item.contains_key(attr) {
                    kinds |= bit;
                }
            }
            out.push((slot, customer, kinds));
        }
        Ok(out)
    }
}
