//! Graph's template management: `POST`, `GET` and `DELETE /{version}/{waba_id}/message_templates`.

use serde_json::Value;

use super::client::{GraphClient, GraphError, urlencode};

/// The fields a template list asks for: everything our copy keeps.
const FIELDS: &str =
    "id,name,language,status,category,components,quality_score,rejected_reason,parameter_format,previous_category";

/// One page of a WABA's templates.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePage {
    /// Templates as Graph lists them.
    pub data: Vec<Value>,
    /// The cursor of the next page; `None` on the last (Graph gives no `paging.next`).
    pub after: Option<String>,
}

fn decode(bytes: &[u8]) -> Result<Value, GraphError> {
    serde_json::from_slice(bytes).map_err(|e| GraphError::Decode(e.to_string()))
}

impl GraphClient {
    fn templates_url(&self, waba_id: &str) -> String {
        format!(
            "{}/{}/{}/message_templates",
            self.base,
            self.version,
            urlencode(waba_id)
        )
    }

    /// `POST /{waba_id}/message_templates` with Meta's create body: Meta's answer
    /// (`{"id","status","category"}`).
    pub async fn create_template(&self, waba_id: &str, body: &Value) -> Result<Value, GraphError> {
        decode(
            &self
                .call(self.http.post(self.templates_url(waba_id)).json(body))
                .await?,
        )
    }

    /// One page of the WABA's templates, after `after` (Graph's cursor).
    pub async fn templates_page(&self, waba_id: &str, after: Option<&str>) -> Result<TemplatePage, GraphError> {
        let mut query = vec![("fields", FIELDS), ("limit", "100")];
        if let Some(a) = after {
            query.push(("after", a));
        }
        let v = decode(
            &self
                .call(self.http.get(self.templates_url(waba_id)).query(&query))
                .await?,
        )?;
        let data = match v.get("data") {
            Some(Value::Array(d)) => d.clone(),
            _ => return Err(GraphError::Decode("no data[] in the template list".into())),
        };
        // Meta gives `paging.next` only when another page exists; its cursor is `after`.
        let after = v
            .pointer("/paging/next")
            .and_then(Value::as_str)
            .and(v.pointer("/paging/cursors/after").and_then(Value::as_str))
            .map(str::to_owned);
        Ok(TemplatePage { data, after })
    }

    /// `DELETE /{waba_id}/message_templates?name=` (every language), or with `hsm_id` one
    /// language's template.
    pub async fn delete_template(&self, waba_id: &str, name: &str, hsm_id: Option<&str>) -> Result<(), GraphError> {
        let mut query = vec![("name", name)];
        if let Some(id) = hsm_id {
            query.push(("hsm_id", id));
        }
        self.call(self.http.delete(self.templates_url(waba_id)).query(&query))
            .await
            .map(drop)
    }
}
