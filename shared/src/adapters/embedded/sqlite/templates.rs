//! Templates on SqliteStore: one row per name and language, the revision beside the document.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, json, parse};
use crate::adapters::embedded::{exec, sql_err};
use crate::ports::{PortError, TemplateStore};
use crate::templates::{Template, TemplateQuery};

fn row(doc: &str, rev: i64) -> Result<Template, PortError> {
    let mut t: Template = parse(doc)?;
    t.rev = u64::try_from(rev).unwrap_or(0);
    Ok(t)
}

#[async_trait]
impl TemplateStore for SqliteStore {
    async fn template(&self, name: &str, language: &str) -> Result<Option<Template>, PortError> {
        let (name, language) = (name.to_owned(), language.to_owned());
        self.with("read template", move |conn| {
            let found: Option<(String, i64)> = conn
                .query_row(
                    "SELECT doc, rev FROM templates WHERE name = ?1 AND language = ?2",
                    params![name, language],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql_err("read template"))?;
            found.map(|(doc, rev)| row(&doc, rev)).transpose()
        })
        .await
    }

    async fn templates_named(&self, name: &str) -> Result<Vec<Template>, PortError> {
        let q = TemplateQuery {
            name: Some(name.to_owned()),
            limit: u32::MAX,
            ..TemplateQuery::default()
        };
        self.list_templates(&q).await
    }

    async fn save_template(&self, t: &Template) -> Result<bool, PortError> {
        let mut next = t.clone();
        next.rev = t.rev + 1;
        let (rev, new_rev) = (
            i64::try_from(t.rev).unwrap_or(i64::MAX),
            i64::try_from(next.rev).unwrap_or(i64::MAX),
        );
        let doc = json(&next)?;
        self.write("save template", move |tx| {
            let op = sql_err("save template");
            let n = if rev == 0 {
                exec(
                    tx,
                    "INSERT OR IGNORE INTO templates (name, language, rev, status, category, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![next.name, next.language, new_rev, next.status, next.category, doc],
                )
            } else {
                exec(
                    tx,
                    "UPDATE templates SET rev = ?3, status = ?4, category = ?5, doc = ?6
                     WHERE name = ?1 AND language = ?2 AND rev = ?7",
                    params![next.name, next.language, new_rev, next.status, next.category, doc, rev],
                )
            }
            .map_err(op)?;
            Ok(n == 1)
        })
        .await
    }

    async fn list_templates(&self, q: &TemplateQuery) -> Result<Vec<Template>, PortError> {
        let q = q.clone();
        self.with("list templates", move |conn| {
            let op = sql_err("list templates");
            let (after_name, after_language) = q.after.clone().unwrap_or_default();
            let mut stmt = conn
                .prepare(
                    "SELECT doc, rev FROM templates
                     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR category = ?2)
                       AND (?3 IS NULL OR name = ?3) AND (?4 IS NULL OR language = ?4)
                       AND (name, language) > (?5, ?6)
                     ORDER BY name, language LIMIT ?7",
                )
                .map_err(&op)?;
            let rows = stmt
                .query_map(
                    params![
                        q.status,
                        q.category,
                        q.name,
                        q.language,
                        after_name,
                        after_language,
                        i64::from(q.limit)
                    ],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .map_err(&op)?;
            let mut out = Vec::new();
            for r in rows {
                let (doc, rev) = r.map_err(&op)?;
                out.push(row(&doc, rev)?);
            }
            Ok(out)
        })
        .await
    }
}
