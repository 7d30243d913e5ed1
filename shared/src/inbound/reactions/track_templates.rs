//! Meta's template webhooks update our copy of the template: status, category, quality and
//! components, each only if the webhook is not older than what the copy shows.

use async_trait::async_trait;

use super::{Applied, Reaction, ReactionError};
use std::sync::Arc;

use crate::ports::Clock;
use crate::templates::catalog::Catalog;
use crate::templates::events::TemplateEvent;

/// Applies template webhooks to the catalogue.
#[derive(Clone)]
pub struct TrackTemplates {
    catalog: Catalog,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TrackTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrackTemplates")
    }
}

impl TrackTemplates {
    /// The reaction over `catalog`; `clock` dates events that carry no time.
    pub fn new(catalog: Catalog, clock: Arc<dyn Clock>) -> Self {
        Self { catalog, clock }
    }
}

#[async_trait]
impl Reaction for TrackTemplates {
    fn name(&self) -> &str {
        "track-templates"
    }

    async fn react(&self, applied: Applied<'_>) -> Result<(), ReactionError> {
        let Applied::Event(event) = applied else {
            return Ok(());
        };
        let Some(news) = TemplateEvent::of(event) else {
            return Ok(());
        };
        // Applying is idempotent: the same news twice leaves the copy as once.
        self.catalog.apply(&news, self.clock.now_ms()).await?;
        Ok(())
    }
}
