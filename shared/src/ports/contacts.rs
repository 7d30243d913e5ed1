//! The contacts role of the store: the contacts the business keeps, found by tag, opt-out, number
//! or name, and changed through merges that never lose a concurrent write.

use async_trait::async_trait;

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
}
