//! Templates on DynamoStore: one item per name and language, keyed `{name}\u{1}{language}`, with
//! the revision beside the document. The `by_name` index (`list`, `key`) lists them by name then
//! language. It has one partition key: a WABA holds at most a few thousand templates (Meta's cap
//! is 6,000) and they change a few times a day, far below one partition's limits.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, Item, from_json, to_json};
use crate::adapters::aws::expr::{Expr, get_n, n, s};
use crate::adapters::aws::sdk_err;
use crate::ports::{PortError, TemplateStore};
use crate::templates::{Template, TemplateQuery};

/// The `list` value of every template item.
const LIST: &str = "templates";
/// Between name and language in the key: below every printable character, so keys sort by name
/// first, as `(name, language)` pairs do.
const SEP: char = '\u{1}';
/// Items read per index page while filtering a list.
const PAGE: u32 = 100;

fn key(name: &str, language: &str) -> String {
    format!("{name}{SEP}{language}")
}

fn template_of(item: &Item) -> Result<Option<Template>, PortError> {
    let Some(mut t) = from_json::<Template>(item, "doc")? else {
        return Ok(None);
    };
    t.rev = get_n(item, "rev").and_then(|r| u64::try_from(r).ok()).unwrap_or(0);
    Ok(Some(t))
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn template(&self, name: &str, language: &str) -> Result<Option<Template>, PortError> {
        match self.get(&self.t.templates, ("key", &key(name, language))).await? {
            Some(item) => template_of(&item),
            None => Ok(None),
        }
    }

    async fn templates_named(&self, name: &str) -> Result<Vec<Template>, PortError> {
        let cond = Expr::default().when(|e| {
            let (l, k) = (e.name("list"), e.name("key"));
            let (lv, prefix) = (e.val(s(LIST)), e.val(s(format!("{name}{SEP}"))));
            format!("{l} = {lv} AND begins_with({k}, {prefix})")
        });
        let items = self.query(&self.t.templates, "by_name", cond, true, u32::MAX).await?;
        items.iter().filter_map(|i| template_of(i).transpose()).collect()
    }

    async fn save_template(&self, t: &Template) -> Result<bool, PortError> {
        let mut next = t.clone();
        next.rev = t.rev + 1;
        let mut item = Item::from([
            ("key".to_owned(), s(key(&t.name, &t.language))),
            ("list".to_owned(), s(LIST)),
            ("rev".to_owned(), n(i64::try_from(next.rev).unwrap_or(i64::MAX))),
            ("status".to_owned(), s(&t.status)),
            ("doc".to_owned(), to_json(&next)?),
        ]);
        if let Some(c) = &t.category {
            item.insert("category".into(), s(c));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.t.templates)
            .set_item(Some(item));
        let put = if t.rev == 0 {
            put.condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", "key")
        } else {
            put.condition_expression("#r = :r")
                .expression_attribute_names("#r", "rev")
                .expression_attribute_values(":r", AttributeValue::N(t.rev.to_string()))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err("save template")(e)),
        }
    }

    async fn list_templates(&self, q: &TemplateQuery) -> Result<Vec<Template>, PortError> {
        // Filters apply after the key condition: read the index in pages until the list is full.
        let mut after = q.after.as_ref().map(|(n, l)| key(n, l));
        let mut out = Vec::new();
        loop {
            let cond = Expr::default().when(|e| {
                let (l, lv) = (e.name("list"), e.val(s(LIST)));
                match &after {
                    Some(a) => {
                        let (k, av) = (e.name("key"), e.val(s(a)));
                        format!("{l} = {lv} AND {k} > {av}")
                    }
                    None => format!("{l} = {lv}"),
                }
            });
            let items = self.query(&self.t.templates, "by_name", cond, true, PAGE).await?;
            for item in &items {
                if let Some(t) = template_of(item)?
                    && q.admits(&t)
                {
                    out.push(t);
                    if out.len() >= q.limit as usize {
                        return Ok(out);
                    }
                }
            }
            match items.last() {
                Some(last) if items.len() as u32 >= PAGE => {
                    after = last.get("key").and_then(|k| k.as_s().ok()).cloned();
                }
                _ => return Ok(out),
            }
        }
    }
}
