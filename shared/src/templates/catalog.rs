//! The templates use case: create, delete and sync against Graph, apply Meta's template
//! webhooks, and check a template send against our copy.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::events::TemplateEvent;
use super::{DELETED, Template, TemplateQuery, params, rules};
use crate::graph::{GraphClient, GraphError};
use crate::outbound::request::FieldError;
use crate::ports::{Clock, PortError, TemplateStore};

/// How often a send naming an unknown template may pull the list from Meta.
pub const ON_DEMAND_SYNC_EVERY_MS: i64 = 60_000;

/// Revision conflicts a change retries before it gives up (another writer keeps winning).
const MAX_CONFLICTS: usize = 8;

/// Why a template call failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No WABA id (or no Graph client) configured.
    #[error("template management is off: set WHATSAPP_BUSINESS_ACCOUNT_ID (and WHATSAPP_ACCESS_TOKEN)")]
    NotConfigured,
    /// The create body breaks Meta's rules; one entry each.
    #[error("the template does not meet WhatsApp's rules")]
    Invalid(Vec<FieldError>),
    /// A template of this name and language exists.
    #[error("template {name} ({language}) exists")]
    Duplicate {
        /// Its name.
        name: String,
        /// Its language.
        language: String,
    },
    /// No such template.
    #[error("no such template")]
    NotFound,
    /// Meta refused or did not answer.
    #[error("Graph: {0}")]
    Graph(#[from] GraphError),
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Why a template send may not be queued.
#[derive(Debug, thiserror::Error)]
pub enum SendCheck {
    /// Not known, even after asking Meta.
    #[error("no template {name} in {language}")]
    NotFound {
        /// The name the send gave.
        name: String,
        /// The language it gave.
        language: String,
    },
    /// Known, but Meta would not send it.
    #[error("template {name} ({language}) is {status}, not APPROVED")]
    NotSendable {
        /// Its name.
        name: String,
        /// Its language.
        language: String,
        /// Its status.
        status: String,
    },
    /// Its parameters miss the template's.
    #[error("the template's parameters do not match")]
    Params(Vec<FieldError>),
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Synced {
    /// Templates Meta listed.
    pub synced: usize,
    /// Templates we had that Meta no longer has.
    pub deleted: usize,
}

/// What a template send is recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUse {
    /// The template's name.
    pub name: String,
    /// Its language.
    pub language: String,
    /// Its category.
    pub category: Option<String>,
}

/// The templates use case.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn TemplateStore>,
    graph: Option<(GraphClient, String)>,
    clock: Arc<dyn Clock>,
    last_on_demand: Arc<Mutex<Option<i64>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("waba_id", &self.graph.as_ref().map(|(_, w)| w))
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// The catalogue over `store`; with Graph and the WABA id it can also create, delete and sync.
    pub fn new(store: Arc<dyn TemplateStore>, graph: Option<(GraphClient, String)>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            graph,
            clock,
            last_on_demand: Arc::new(Mutex::new(None)),
        }
    }

    fn graph(&self) -> Result<(&GraphClient, &str), CatalogError> {
        self.graph
            .as_ref()
            .map(|(g, w)| (g, w.as_str()))
            .ok_or(CatalogError::NotConfigured)
    }

    /// Whether Graph calls (create, delete, sync) are configured.
    pub fn manages(&self) -> bool {
        self.graph.is_some()
    }

    /// Reads `name`/`language`, lets `change` make the next copy from it (`None`: nothing to
    /// write), and writes that at the revision it was read at, retrying on a concurrent write.
    /// The template as stored, if any.
    async fn update(
        &self,
        name: &str,
        language: &str,
        change: impl Fn(Option<&Template>) -> Option<Template>,
    ) -> Result<Option<Template>, PortError> {
        for _ in 0..MAX_CONFLICTS {
            let current = self.store.template(name, language).await?;
            let Some(mut next) = change(current.as_ref()) else {
                return Ok(current);
            };
            next.rev = current.as_ref().map_or(0, |c| c.rev);
            next.updated_at = self.clock.now_ms();
            if self.store.save_template(&next).await? {
                next.rev += 1;
                return Ok(Some(next));
            }
        }
        Err(PortError::unavailable(
            "save template",
            "other writers kept changing it; try again",
        ))
    }

    /// Keeps `t` as deleted at Meta.
    async fn mark_deleted(&self, t: &Template, now: i64) -> Result<(), PortError> {
        self.update(&t.name, &t.language, |current| current.map(|c| c.deleted(now)))
            .await
            .map(drop)
    }

    /// One template, or every language of one.
    pub async fn get(&self, name: &str, language: Option<&str>) -> Result<Vec<Template>, CatalogError> {
        let found = match language {
            Some(l) => self.store.template(name, l).await?.into_iter().collect(),
            None => self.store.templates_named(name).await?,
        };
        if found.is_empty() {
            return Err(CatalogError::NotFound);
        }
        Ok(found)
    }

    /// A page of templates.
    pub async fn list(&self, q: &TemplateQuery) -> Result<Vec<Template>, CatalogError> {
        Ok(self.store.list_templates(q).await?)
    }

    /// Checks Meta's create body as Meta would, submits it, and keeps the template as Meta
    /// answered (usually PENDING).
    pub async fn create(&self, body: &Value) -> Result<Template, CatalogError> {
        rules::check(body).map_err(CatalogError::Invalid)?;
        let (graph, waba) = self.graph()?;
        let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (name, language) = (s("name"), s("language"));
        if let Some(t) = self.store.template(&name, &language).await?
            && t.status != DELETED
        {
            return Err(CatalogError::Duplicate { name, language });
        }
        let answer = graph.create_template(waba, body).await?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let meta = Template {
            id: answer.get("id").and_then(super::id_text),
            status: text(&answer, "status").unwrap_or_else(|| "PENDING".into()),
            category: text(&answer, "category")
                .or_else(|| text(body, "category"))
                .map(|c| c.to_ascii_uppercase()),
            parameter_format: text(body, "parameter_format")
                .unwrap_or_else(|| "POSITIONAL".into())
                .to_ascii_uppercase(),
            components: body.get("components").cloned().unwrap_or(Value::Array(Vec::new())),
            ..Template::new(&name, &language)
        }
        .as_of(self.clock.now_ms());
        let stored = self.update(&name, &language, |_| Some(meta.clone())).await?;
        Ok(stored.unwrap_or(meta))
    }

    /// Deletes a template at Meta (every language, or one) and keeps it as DELETED.
    pub async fn delete(&self, name: &str, language: Option<&str>) -> Result<(), CatalogError> {
        let (graph, waba) = self.graph()?;
        let found = self.get(name, language).await?;
        let hsm_id = match language {
            Some(_) => found.first().and_then(|t| t.id.clone()),
            None => None,
        };
        graph.delete_template(waba, name, hsm_id.as_deref()).await?;
        let now = self.clock.now_ms();
        for t in &found {
            self.mark_deleted(t, now).await?;
        }
        Ok(())
    }

    /// Pulls every template of the WABA from Meta and takes Meta's facts; ours that Meta no
    /// longer lists become DELETED.
    pub async fn sync(&self) -> Result<Synced, CatalogError> {
        let (graph, waba) = self.graph()?;
        let now = self.clock.now_ms();
        let mut seen = std::collections::HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = graph.templates_page(waba, after.as_deref()).await?;
            for v in &page.data {
                let Some(meta) = Template::from_graph(v, now) else {
                    continue;
                };
                seen.insert((meta.name.clone(), meta.language.clone()));
                // Written only when Meta's facts differ from ours.
                self.update(&meta.name, &meta.language, |current| {
                    current.is_none_or(|c| strip(c) != strip(&meta)).then(|| meta.clone())
                })
                .await?;
            }
            match page.after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let mut deleted = 0;
        let mut q = TemplateQuery {
            limit: 200,
            ..TemplateQuery::default()
        };
        loop {
            let ours = self.store.list_templates(&q).await?;
            for t in &ours {
                if t.status != DELETED && !seen.contains(&(t.name.clone(), t.language.clone())) {
                    deleted += 1;
                    self.mark_deleted(t, now).await?;
                }
            }
            match ours.last() {
                Some(last) if ours.len() == q.limit as usize => {
                    q.after = Some((last.name.clone(), last.language.clone()));
                }
                _ => break,
            }
        }
        Ok(Synced {
            synced: seen.len(),
            deleted,
        })
    }

    /// Applies one template webhook, dated by its entry's time (or, without one, `arrival_ms`).
    /// A template we have never seen is created from the event's facts and marked for sync.
    pub async fn apply(&self, event: &TemplateEvent, arrival_ms: i64) -> Result<(), PortError> {
        let at = event.at_ms.unwrap_or(arrival_ms);
        self.update(&event.name, &event.language, |current| {
            let mut t = current.cloned().unwrap_or_else(|| Template {
                needs_sync: true,
                ..Template::new(&event.name, &event.language)
            });
            (event.apply(&mut t, at) || current.is_none()).then_some(t)
        })
        .await?;
        Ok(())
    }

    /// Checks a template send (Meta's `template` object) against our copy: known (after one
    /// on-demand sync a minute), APPROVED, parameters matching.
    pub async fn check_send(&self, content: &Value) -> Result<TemplateUse, SendCheck> {
        let name = content.get("name").and_then(Value::as_str).unwrap_or_default();
        let language = content
            .pointer("/language/code")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut found = self.store.template(name, language).await?;
        if found.as_ref().is_none_or(|t| t.needs_sync) && self.may_sync_now() {
            match self.sync().await {
                Ok(_) => found = self.store.template(name, language).await?,
                Err(e) => tracing::warn!(error = %e, "on-demand template sync failed"),
            }
        }
        let not_found = || SendCheck::NotFound {
            name: name.to_owned(),
            language: language.to_owned(),
        };
        let t = found.ok_or_else(not_found)?;
        if !t.sendable() {
            return Err(SendCheck::NotSendable {
                name: t.name,
                language: t.language,
                status: t.status,
            });
        }
        let errors = params::check(&t, content);
        if !errors.is_empty() {
            return Err(SendCheck::Params(errors));
        }
        Ok(TemplateUse {
            name: t.name,
            language: t.language,
            category: t.category,
        })
    }

    /// Whether an on-demand sync may run now (Graph configured, none in the last minute).
    fn may_sync_now(&self) -> bool {
        if self.graph.is_none() {
            return false;
        }
        let now = self.clock.now_ms();
        let mut last = self
            .last_on_demand
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|l| now - l < ON_DEMAND_SYNC_EVERY_MS) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// A template without its bookkeeping, to tell whether a sync changed anything.
fn strip(t: &Template) -> Template {
    Template {
        updated_at: 0,
        stamps: super::Stamps::default(),
        rev: 0,
        ..t.clone()
    }
}
