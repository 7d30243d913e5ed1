//! Schedules on DynamoStore: one item per schedule, its document as JSON. `by_due` is a sparse
//! index of the schedules with work left (`due_shard`, `due_key` = zero-padded time and id), so a
//! tick reads only what is due; `by_kind` lists them. A save is conditional on the revision read.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, Item, Reads};
use crate::adapters::aws::expr::{Expr, get_n, get_s, n, s};
use crate::domain::Recorded;
use crate::ports::{PortError, Schedule, Schedules};
use crate::read::{Page, PageRequest};

/// The one partition of `by_due`. A tick reads it from the start; schedules are created at
/// human rates (a reminder per booking), far below a partition's 1,000 writes a second.
const DUE: &str = "due";

fn due_key(ms: i64, id: &str) -> String {
    format!("{:016}#{id}", ms.max(0))
}

fn schedule_of(item: &Item) -> Result<Schedule, PortError> {
    let doc = get_s(item, "doc").unwrap_or_default();
    Ok(Schedule {
        id: get_s(item, "id").unwrap_or_default(),
        kind: get_s(item, "kind").unwrap_or_default(),
        rev: get_n(item, "rev").unwrap_or(0),
        status: get_s(item, "status").unwrap_or_default(),
        next_due_ms: get_n(item, "next_due"),
        created_at_ms: get_n(item, "created_at").unwrap_or(0),
        doc: serde_json::from_str(&doc).map_err(|e| PortError::invalid("read schedule", e.to_string()))?,
    })
}

fn doc_of(s: &Schedule) -> Result<AttributeValue, PortError> {
    serde_json::to_string(&s.doc)
        .map(AttributeValue::S)
        .map_err(|e| PortError::invalid("encode schedule", e.to_string()))
}

#[async_trait]
impl Schedules for DynamoStore {
    async fn insert_schedule(&self, sc: &Schedule) -> Result<Recorded, PortError> {
        let mut item = Item::new();
        item.insert("id".into(), s(&sc.id));
        item.insert("kind".into(), s(&sc.kind));
        item.insert("rev".into(), n(1));
        item.insert("status".into(), s(&sc.status));
        item.insert("created_at".into(), n(sc.created_at_ms));
        item.insert("doc".into(), doc_of(sc)?);
        if let Some(due) = sc.next_due_ms {
            item.insert("next_due".into(), n(due));
            item.insert("due_shard".into(), s(DUE));
            item.insert("due_key".into(), s(due_key(due, &sc.id)));
        }
        self.put_once(&self.t.schedules, item, "insert schedule").await
    }

    async fn schedule(&self, id: &str) -> Result<Option<Schedule>, PortError> {
        self.get(&self.t.schedules, ("id", id))
            .await?
            .map(|i| schedule_of(&i))
            .transpose()
    }

    async fn list_schedules(
        &self,
        kind: &str,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, PortError> {
        let mut filter = None;
        let after = page.after.clone().unwrap_or_else(|| " ".to_owned());
        let cond = Expr::default().when(|e| {
            let (k, kv, i, iv) = (e.name("kind"), e.val(s(kind)), e.name("id"), e.val(s(after)));
            if let Some(st) = status {
                let (sn, sv) = (e.name("status"), e.val(s(st)));
                filter = Some((format!("{sn} = {sv}"), Reads::WholePages));
            }
            format!("{k} = {kv} AND {i} > {iv}")
        });
        let items = self
            .query_filtered(&self.t.schedules, "by_kind", cond, filter, true, page.limit + 1)
            .await?;
        let rows = items
            .iter()
            .map(|i| Ok((schedule_of(i)?, get_s(i, "id").unwrap_or_default())))
            .collect::<Result<Vec<_>, PortError>>()?;
        Ok(Page::from_rows(rows, page.limit, "schedules"))
    }

    async fn due_schedules(&self, now_ms: i64, limit: u32) -> Result<Vec<String>, PortError> {
        let cond = Expr::default().when(|e| {
            let (p, pv, k, kv) = (
                e.name("due_shard"),
                e.val(s(DUE)),
                e.name("due_key"),
                e.val(s(format!("{:016}#~", now_ms.max(0)))),
            );
            format!("{p} = {pv} AND {k} <= {kv}")
        });
        let items = self.query(&self.t.schedules, "by_due", cond, true, limit).await?;
        Ok(items.iter().filter_map(|i| get_s(i, "id")).collect())
    }

    async fn save_schedule(&self, sc: &Schedule) -> Result<bool, PortError> {
        let mut e = Expr::default()
            .set("rev", n(sc.rev + 1))
            .set("status", s(&sc.status))
            .set("doc", doc_of(sc)?);
        e = match sc.next_due_ms {
            Some(due) => e
                .set("next_due", n(due))
                .set("due_shard", s(DUE))
                .set("due_key", s(due_key(due, &sc.id))),
            // Out of the due index once nothing is left to do.
            None => e.remove("next_due").remove("due_shard").remove("due_key"),
        };
        let e = e.when(|e| {
            let (r, v) = (e.name("rev"), e.val(n(sc.rev)));
            format!("{r} = {v}")
        });
        self.update_applied(&self.t.schedules, ("id", &sc.id), e, "save schedule")
            .await
    }
}
