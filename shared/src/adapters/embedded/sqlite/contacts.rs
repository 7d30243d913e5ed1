//! ContactBook on SqliteStore. A change reads and writes the contact in one transaction of the
//! single writer, so concurrent changes serialise and none is lost.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{SqliteStore, json, sql_err};
use crate::contacts::ContactChange;
use crate::domain::{Contact, CustomerKey, Managed, Seen, fold_name};
use crate::ports::{Changed, ContactBook, ContactFilter, PortError};
use crate::read::{Page, PageRequest};

/// Rebuilds `contacts` so a contact may exist before its first message (first and last seen
/// nullable) and holds what the business keeps (`managed`, with its tags, opt-out and folded
/// names in columns the lists filter on).
pub(super) fn contacts_kept_by_the_business(tx: &Transaction<'_>) -> Result<(), PortError> {
    let op = sql_err("migrate contacts");
    tx.execute_batch(
        "CREATE TABLE contacts_v2 (
             customer TEXT PRIMARY KEY,
             wa_id TEXT,
             user_id TEXT,
             name TEXT,
             phone_number_id TEXT,
             first_seen_at INTEGER,
             last_seen_at INTEGER,
             profile_fold TEXT,
             managed TEXT,
             given_fold TEXT,
             opted_out INTEGER NOT NULL DEFAULT 0
         );
         INSERT INTO contacts_v2 (customer, wa_id, user_id, name, phone_number_id, first_seen_at, last_seen_at)
             SELECT customer, wa_id, user_id, name, phone_number_id, first_seen_at, last_seen_at FROM contacts;
         DROP TABLE contacts;
         ALTER TABLE contacts_v2 RENAME TO contacts;",
    )
    .map_err(&op)?;
    // SQLite's lower() knows ASCII only; names are folded here as every later write folds them.
    let names: Vec<(String, String)> = tx
        .prepare("SELECT customer, name FROM contacts WHERE name IS NOT NULL")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(&op)?;
    for (customer, name) in names {
        tx.execute(
            "UPDATE contacts SET profile_fold = ?2 WHERE customer = ?1",
            params![customer, fold_name(&name)],
        )
        .map_err(&op)?;
    }
    Ok(())
}

/// What messages told, and what the business keeps, of a contact row.
fn parts(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Seen, Managed)> {
    let managed = match r.get::<_, Option<String>>("managed")? {
        Some(doc) => serde_json::from_str(&doc)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?,
        None => Managed::default(),
    };
    let seen = Seen {
        wa_id: r.get("wa_id")?,
        user_id: r.get("user_id")?,
        profile_name: r.get("name")?,
        phone_number_id: r.get("phone_number_id")?,
        first_seen_at: r.get("first_seen_at")?,
        last_seen_at: r.get("last_seen_at")?,
    };
    Ok((seen, managed))
}

/// A contact row and its list key.
fn contact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Contact, String)> {
    let (seen, managed) = parts(r)?;
    Ok((Contact::of(seen, managed), r.get("customer")?))
}

fn read(conn: &rusqlite::Connection, customer: &str) -> Result<Option<(Seen, Managed)>, PortError> {
    conn.query_row("SELECT * FROM contacts WHERE customer = ?1", [customer], parts)
        .optional()
        .map_err(sql_err("read contact"))
}

/// Characters `LIKE` would read as wildcards, escaped so a prefix matches only itself.
fn like_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Merges `change` into one contact inside `tx`.
fn change_one(
    tx: &Transaction<'_>,
    c: &CustomerKey,
    change: &ContactChange,
    create: bool,
    now_ms: i64,
) -> Result<Changed, PortError> {
    let key = c.as_str();
    let (seen, mut managed, existed) = match read(tx, key)? {
        Some((seen, managed)) => (seen, managed, true),
        // A new contact is known by its number: the API creates contacts by wa_id only.
        None if create => (
            Seen {
                wa_id: Some(key.to_owned()),
                ..Seen::default()
            },
            Managed {
                created_at: Some(now_ms),
                ..Managed::default()
            },
            false,
        ),
        None => return Ok(Changed::NotFound),
    };
    match change.apply(&mut managed, now_ms) {
        Err(e) => return Ok(Changed::Refused(e)),
        Ok(false) if existed => return Ok(Changed::Existing(Contact::of(seen, managed))),
        Ok(_) => {}
    }
    tx.execute(
        "INSERT INTO contacts (customer, wa_id, managed, given_fold, opted_out)
         VALUES (?1, ?1, ?2, ?3, ?4)
         ON CONFLICT(customer) DO UPDATE SET
            managed = excluded.managed, given_fold = excluded.given_fold, opted_out = excluded.opted_out",
        params![
            key,
            json(&managed)?,
            managed.name.as_deref().map(fold_name),
            managed.opted_out
        ],
    )
    .map_err(sql_err("change contact"))?;
    // The write changed only what the business keeps: the contact is what was read, with it.
    let after = Contact::of(seen, managed);
    Ok(if existed {
        Changed::Existing(after)
    } else {
        Changed::Created(after)
    })
}

#[async_trait]
impl ContactBook for SqliteStore {
    async fn contact(&self, customer: &CustomerKey) -> Result<Option<Contact>, PortError> {
        let c = customer.clone();
        self.with("read contact", move |conn| {
            Ok(read(conn, c.as_str())?.map(|(seen, managed)| Contact::of(seen, managed)))
        })
        .await
    }

    async fn find_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> Result<Page<Contact>, PortError> {
        let (f, p) = (filter.clone(), page.clone());
        self.with("list contacts", move |conn| {
            let op = sql_err("list contacts");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT * FROM contacts
                     WHERE customer > ?1
                       AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(contacts.managed, '$.tags') WHERE value = ?2))
                       AND (?3 IS NULL OR opted_out = ?3)
                       AND (?4 IS NULL OR customer LIKE ?4 ESCAPE '\\')
                       AND (?5 IS NULL OR given_fold LIKE ?5 ESCAPE '\\' OR profile_fold LIKE ?5 ESCAPE '\\')
                     ORDER BY customer LIMIT ?6",
                )
                .map_err(&op)?;
            let rows: Vec<(Contact, String)> = stmt
                .query_map(
                    params![
                        p.after.clone().unwrap_or_default(),
                        f.tag,
                        f.opted_out,
                        f.number_prefix.as_deref().map(like_prefix),
                        f.name_prefix.as_deref().map(like_prefix),
                        p.limit + 1
                    ],
                    contact_row,
                )
                .map_err(&op)?
                .collect::<Result<_, _>>()
                .map_err(&op)?;
            Ok(Page::from_rows(rows, p.limit, "contacts"))
        })
        .await
    }

    async fn change_contact(
        &self,
        customer: &CustomerKey,
        change: &ContactChange,
        create: bool,
        now_ms: i64,
    ) -> Result<Changed, PortError> {
        let (c, change) = (customer.clone(), change.clone());
        self.write("change contact", move |tx| change_one(tx, &c, &change, create, now_ms))
            .await
    }

    /// The whole batch in one transaction: one commit for thousands of rows, not one each.
    async fn change_contacts(
        &self,
        changes: &[(CustomerKey, ContactChange)],
        now_ms: i64,
    ) -> Result<Vec<Changed>, PortError> {
        let changes = changes.to_vec();
        self.write("change contacts", move |tx| {
            changes
                .iter()
                .map(|(c, change)| change_one(tx, c, change, true, now_ms))
                .collect()
        })
        .await
    }
}
