//! Contacts the business keeps, so audiences exist: its own name for a customer, tags, attributes
//! (template parameters in campaigns) and the opt-out flag that keeps marketing away. A contact is
//! one record per customer whether a message or the API created it; what messages tell (profile
//! name, first and last seen) and what the business sets never overwrite each other.

mod change;
pub mod import;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub use change::{
    ContactChange, MAX_ATTRIBUTE_NAME, MAX_ATTRIBUTE_VALUE, MAX_ATTRIBUTES, MAX_NAME, MAX_TAG_LEN, MAX_TAGS,
    parse_create, parse_patch, tag,
};

use crate::domain::{Contact, CustomerKey};
use crate::outbound::request::{FieldError, one_line};
use crate::ports::{Changed, Clock, ContactBook, ContactFilter, PortError};
use crate::read::{Page, PageRequest};

/// Rows an import hands the store at once: one SQLite transaction, or that many DynamoDB writes
/// in parallel waves. Bounds the memory of the results, not of the parsed file.
const IMPORT_CHUNK: usize = 2_000;

/// Why a contacts request failed.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// The request's fields are wrong, one entry each.
    #[error("the contact is not valid")]
    Invalid(Vec<FieldError>),
    /// No such contact.
    #[error("contact not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Rows that created a contact.
    pub created: u32,
    /// Rows that changed (or repeated) a contact that existed.
    pub updated: u32,
    /// Rows that changed nothing, and why.
    pub invalid: Vec<InvalidRow>,
}

/// A row an import skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidRow {
    /// The data row, counted from 1 (a CSV's header is not counted).
    pub row: u32,
    /// What is wrong with it.
    pub reason: String,
}

/// The contacts use case.
#[derive(Clone)]
pub struct Contacts {
    book: Arc<dyn ContactBook>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Contacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contacts").finish_non_exhaustive()
    }
}

impl Contacts {
    /// The use case over the contacts store.
    pub fn new(book: Arc<dyn ContactBook>, clock: Arc<dyn Clock>) -> Self {
        Self { book, clock }
    }

    /// One contact.
    pub async fn get(&self, customer: &CustomerKey) -> Result<Option<Contact>, PortError> {
        self.book.contact(customer).await
    }

    /// A page of the contacts `filter` selects.
    pub async fn find(&self, filter: &ContactFilter, page: &PageRequest) -> Result<Page<Contact>, PortError> {
        self.book.find_contacts(filter, page).await
    }

    /// `POST /v1/contacts`: creates the contact, or merges into the one that exists. The bool
    /// says whether it was created.
    pub async fn create(&self, body: &Value) -> Result<(Contact, bool), ContactError> {
        let (key, change) = parse_create(body).map_err(ContactError::Invalid)?;
        match self.change(&key, &change, true).await? {
            Changed::Created(c) => Ok((c, true)),
            Changed::Existing(c) => Ok((c, false)),
            Changed::NotFound => Err(ContactError::NotFound),
            Changed::Refused(e) => Err(ContactError::Invalid(vec![e])),
        }
    }

    /// `PATCH /v1/contacts/{wa_id}`: changes a contact that exists.
    pub async fn patch(&self, key: &CustomerKey, body: &Value) -> Result<Contact, ContactError> {
        let change = parse_patch(body).map_err(ContactError::Invalid)?;
        match self.change(key, &change, false).await? {
            Changed::Created(c) | Changed::Existing(c) => Ok(c),
            Changed::NotFound => Err(ContactError::NotFound),
            Changed::Refused(e) => Err(ContactError::Invalid(vec![e])),
        }
    }

    /// Changes one contact through the store, stamped with the clock.
    pub async fn change(&self, key: &CustomerKey, change: &ContactChange, create: bool) -> Result<Changed, PortError> {
        self.book.change_contact(key, change, create, self.clock.now_ms()).await
    }

    /// Applies the rows of an import (see [`import`]): each valid row creates or merges its
    /// contact; an invalid one is reported and the rest go on. Fails only if the store does, and
    /// then the rows done stay done: importing the same file again repeats nothing.
    pub async fn import(&self, rows: Vec<import::Row>) -> Result<ImportReport, PortError> {
        let mut report = ImportReport::default();
        let mut valid = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            match row {
                Ok(change) => valid.push((n, change)),
                Err(reason) => report.invalid.push(InvalidRow { row: n, reason }),
            }
        }
        for chunk in valid.chunks(IMPORT_CHUNK) {
            let (numbers, changes): (Vec<u32>, Vec<(CustomerKey, ContactChange)>) = chunk.iter().cloned().unzip();
            let results = self.book.change_contacts(&changes, self.clock.now_ms()).await?;
            for (n, changed) in numbers.into_iter().zip(results) {
                match changed {
                    Changed::Created(_) => report.created += 1,
                    Changed::Existing(_) => report.updated += 1,
                    Changed::Refused(e) => report.invalid.push(InvalidRow {
                        row: n,
                        reason: one_line(&[e]),
                    }),
                    Changed::NotFound => {}
                }
            }
        }
        report.invalid.sort_by_key(|r| r.row);
        Ok(report)
    }
}
