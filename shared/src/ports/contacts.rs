//! The contacts role of the store: the contacts the business keeps, found by tag, opt-out, number
//! or name, and changed through merges that never lose a concurrent write.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::StreamExt as _;

use super::PortError;
use crate::contacts::ContactChange;
use crate::domain::{Contact, CustomerKey};
use crate::outbound::request::FieldError;
use crate::read::{Page, PageRequest};

/// Which contacts a list holds; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    /// Carries this tag.
    pub tag: Option<String>,
    /// Opted out (true) or not (false).
    pub opted_out: Option<bool>,
    /// The number (wa_id) starts with these digits.
    pub number_prefix: Option<String>,
    /// The business's name or the profile name starts with this ([`crate::domain::fold_name`]ed).
    pub name_prefix: Option<String>,
}

/// What [`ContactBook::change_contact`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    /// There was no contact; now there is.
    Created(Contact),
    /// The contact existed (created by a message or the API); this is it after the change.
    Existing(Contact),
    /// No such contact, and the change was not allowed to create one.
    NotFound,
    /// The merge would break a limit ([`crate::contacts::MAX_TAGS`], …); nothing was written.
    Refused(FieldError),
}

/// The contacts the business keeps.
#[async_trait]
pub trait ContactBook: Send + Sync + 'static {
    /// One contact.
    async fn contact(&self, customer: &CustomerKey) -> Result<Option<Contact>, PortError>;

    /// Contacts that match `filter`, ordered by wa_id (or user_id).
    async fn find_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> Result<Page<Contact>, PortError>;

    /// Merges `change` into the contact ([`ContactChange::apply`]), creating it when it does not
    /// exist and `create` allows. Concurrent changes to one contact all land: none overwrites
    /// another's tags or attributes, and what a message records (profile name, first and last
    /// seen) is never touched.
    async fn change_contact(
        &self,
        customer: &CustomerKey,
        change: &ContactChange,
        create: bool,
        now_ms: i64,
    ) -> Result<Changed, PortError>;

    /// Many changes (an import), creating contacts as needed; one result per change, in order.
    /// Changes to one customer apply in the order given. By default different customers change
    /// in parallel, since each change is a round trip; a store that can do them all in one
    /// transaction does.
    async fn change_contacts(
        &self,
        changes: &[(CustomerKey, ContactChange)],
        now_ms: i64,
    ) -> Result<Vec<Changed>, PortError> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        for (i, (key, _)) in changes.iter().enumerate() {
            let g = *group_of.entry(key.as_str()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        drop(group_of);
        let work = groups.into_iter().map(|rows| async move {
            let mut out = Vec::with_capacity(rows.len());
            for i in rows {
                let (key, change) = &changes[i];
                out.push((i, self.change_contact(key, change, true, now_ms).await?));
            }
            Ok::<_, PortError>(out)
        });
        let mut results: Vec<Option<Changed>> = vec![None; changes.len()];
        let mut done = futures::stream::iter(work).buffer_unordered(PARALLEL_CHANGES);
        while let Some(group) = done.next().await {
            for (i, changed) in group? {
                results[i] = Some(changed);
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or(Changed::NotFound)).collect())
    }
}

/// Contacts [`ContactBook::change_contacts`] changes at once by default.
const PARALLEL_CHANGES: usize = 64;
