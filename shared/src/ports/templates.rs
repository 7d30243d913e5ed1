//! The templates role: our copy of the WABA's templates, one per name and language, written with
//! a revision check so concurrent changes (a webhook, a sync, a create) never lose one another.

use async_trait::async_trait;

use super::PortError;
use crate::templates::{Template, TemplateQuery};

/// Templates by name and language.
#[async_trait]
pub trait TemplateStore: Send + Sync + 'static {
    /// The template `name` in `language`, with the revision it is stored at.
    async fn template(&self, name: &str, language: &str) -> Result<Option<Template>, PortError>;

    /// Every language of template `name`, by language.
    async fn templates_named(&self, name: &str) -> Result<Vec<Template>, PortError>;

    /// Stores `t` if the stored copy is still at `t.rev` (0: none stored yet), as revision
    /// `t.rev + 1`; `false` when another write came first (read again and retry).
    async fn save_template(&self, t: &Template) -> Result<bool, PortError>;

    /// Templates that pass `q`'s filters, by name then language, after `q.after`, at most
    /// `q.limit`.
    async fn list_templates(&self, q: &TemplateQuery) -> Result<Vec<Template>, PortError>;
}
