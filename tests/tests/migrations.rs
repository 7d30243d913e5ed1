//! The embedded store upgrades in place: a data dir written by a release from before numbered
//! migrations (schema version 0, with or without the columns later releases added) opens, keeps its
//! messages, gains what the current code needs, and records the schema version it now has.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use wabridge::adapters::embedded::SqliteStore;
use wabridge::domain::{MessageRef, SendState, Wamid};
use wabridge::inbound::webhook::{Update, split};
use wabridge::ports::{Outbox, ReadModel};
use wabridge_infra::simulate;

/// The tables exactly as the first release created them.
const FIRST_RELEASE: &str = "
CREATE TABLE messages (id TEXT PRIMARY KEY, wamid TEXT, customer TEXT NOT NULL, seq TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX messages_by_wamid ON messages(wamid);
CREATE INDEX messages_by_customer ON messages(customer, seq);
CREATE TABLE statuses (wamid TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE conversations (customer TEXT PRIMARY KEY, wa_id TEXT, user_id TEXT, phone_number_id TEXT, name TEXT,
    last_message TEXT, last_seq TEXT, last_message_at INTEGER, activity TEXT, unread INTEGER NOT NULL DEFAULT 0,
    last_inbound_at INTEGER);
CREATE INDEX conversations_by_activity ON conversations(activity);
CREATE TABLE contacts (customer TEXT PRIMARY KEY, wa_id TEXT, user_id TEXT, name TEXT, phone_number_id TEXT,
    first_seen_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, field TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX events_by_field ON events(field, seq);
CREATE TABLE idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER, body TEXT,
    expires_at INTEGER NOT NULL);
";

/// What the last release before numbered migrations added, in place, on open.
const LAST_UNVERSIONED_RELEASE: &str = "
ALTER TABLE messages ADD COLUMN state TEXT;
ALTER TABLE messages ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_attempt INTEGER;
ALTER TABLE messages ADD COLUMN error TEXT;
ALTER TABLE conversations ADD COLUMN window_closed_at INTEGER;
";

fn legacy_data_dir(with_added_columns: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(FIRST_RELEASE).unwrap();
    if with_added_columns {
        conn.execute_batch(LAST_UNVERSIONED_RELEASE).unwrap();
    }
    // A message as those releases stored it: the document, keyed by id and wamid.
    let body = simulate::inbound(
        "100000000000001",
        "27820000001",
        "Ayanda",
        "wamid.LEGACY1",
        1_763_800_000,
        "text",
        json!({"body": "from an old data dir"}),
    );
    let updates = split(&serde_json::to_vec(&body).unwrap(), 0).unwrap();
    let Update::Message(m) = &updates[0] else {
        panic!("{updates:?}")
    };
    conn.execute(
        "INSERT INTO messages (id, wamid, customer, seq, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            m.id.to_string(),
            "wamid.LEGACY1",
            m.customer.as_str(),
            m.seq(),
            serde_json::to_string(m).unwrap()
        ],
    )
    .unwrap();
    (dir, path)
}

fn schema_version(path: &std::path::Path) -> u32 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn data_dirs_from_releases_before_numbered_migrations_open_and_upgrade_in_place() {
    for with_added_columns in [false, true] {
        let (_dir, path) = legacy_data_dir(with_added_columns);
        assert_eq!(schema_version(&path), 0);
        let store = SqliteStore::open(&path).unwrap();
        let old = store
            .message(&MessageRef::Wamid(Wamid::parse("wamid.LEGACY1").unwrap()))
            .await
            .unwrap()
            .expect("the old message is still there");
        assert_eq!(old.text.as_deref(), Some("from an old data dir"));
        // The sender's columns exist now: an outbound message records and reports its progress.
        let out = wabridge::domain::StoredMessage {
            id: wabridge::domain::MessageId::new(),
            direction: wabridge::domain::Direction::Outbound,
            wamid: None,
            ..old_doc(&path)
        };
        store.record_outbound(&out).await.unwrap();
        let (_, progress) = store.outbound(out.id).await.unwrap().unwrap();
        assert_eq!(progress.state, SendState::Queued);
        drop(store);
        let upgraded = schema_version(&path);
        assert!(upgraded >= 2, "version recorded: {upgraded}");
        // Opening again changes nothing.
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(schema_version(&path), upgraded);
    }
}

#[tokio::test]
async fn a_data_dir_from_a_newer_release_is_refused_rather_than_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("newer wabridge"), "{err}");
}

fn old_doc(path: &std::path::Path) -> wabridge::domain::StoredMessage {
    let conn = rusqlite::Connection::open(path).unwrap();
    let doc: String = conn
        .query_row("SELECT doc FROM messages WHERE wamid = 'wamid.LEGACY1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&doc).unwrap()
}

#[tokio::test]
async fn windows_kept_per_customer_carry_over_to_the_conversations_number() {
    let (_dir, path) = legacy_data_dir(true);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO conversations (customer, wa_id, phone_number_id, activity, last_inbound_at, window_closed_at)
         VALUES ('27820000001', '27820000001', '100000000000001', 'x', 1763800000000, NULL),
                ('27820000002', '27820000002', '100000000000001', 'y', 1763800000000, 1763800005000)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let key = |s: &str| wabridge::domain::CustomerKey::parse(s).unwrap();
    let open = store.window("100000000000001", &key("27820000001")).await.unwrap();
    assert_eq!(open.expires_at(), Some(1_763_800_000_000 + wabridge::domain::WINDOW_MS));
    let closed = store.window("100000000000001", &key("27820000002")).await.unwrap();
    assert_eq!(
        closed.expires_at(),
        Some(1_763_800_005_000),
        "Meta's 131047 carried over"
    );
    let elsewhere = store.window("100000000000002", &key("27820000001")).await.unwrap();
    assert_eq!(elsewhere.expires_at(), None);
    drop(store);
    assert!(schema_version(&path) >= 4);
}

#[tokio::test]
async fn outbound_messages_left_unfinished_by_an_older_release_can_be_swept() {
    let (_dir, path) = legacy_data_dir(true);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let doc = old_doc(&path);
    let out = wabridge::domain::StoredMessage {
        id: wabridge::domain::MessageId::new(),
        direction: wabridge::domain::Direction::Outbound,
        wamid: None,
        ..doc
    };
    conn.execute(
        "INSERT INTO messages (id, customer, seq, doc, state) VALUES (?1, ?2, ?3, ?4, 'queued')",
        rusqlite::params![
            out.id.to_string(),
            out.customer.as_str(),
            out.seq(),
            serde_json::to_string(&out).unwrap()
        ],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.stranded(out.timestamp_ms, 10).await.unwrap().is_empty());
    assert_eq!(
        store.stranded(out.timestamp_ms + 1, 10).await.unwrap(),
        [wabridge::domain::Stranded {
            id: out.id,
            requeues: 0
        }],
        "old rows count their re-queues from zero"
    );
    let requeued = wabridge::domain::SendChange::Requeued {
        at_ms: out.timestamp_ms + 1,
    };
    let progress = store.update_outbound(out.id, &requeued).await.unwrap().unwrap();
    assert_eq!(progress.requeues, 1);
}

/// Contacts from before the business could keep its own (first and last seen required, no tags):
/// they carry over with their times, are found by their profile name folded as new ones are, and
/// take a change like any other.
#[tokio::test]
async fn contacts_from_before_the_business_kept_them_carry_over() {
    use wabridge::contacts::ContactChange;
    use wabridge::ports::{Changed, ContactBook, ContactFilter};

    let (_dir, path) = legacy_data_dir(true);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO contacts (customer, wa_id, name, phone_number_id, first_seen_at, last_seen_at)
         VALUES ('27820000009', '27820000009', 'Émile Zola', '100000000000001', 1000, 2000)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let key = wabridge::domain::CustomerKey::parse("27820000009").unwrap();
    let c = store.contact(&key).await.unwrap().unwrap();
    assert_eq!((c.first_seen_at, c.last_seen_at), (Some(1000), Some(2000)));
    assert_eq!(c.name.as_deref(), Some("Émile Zola"));
    let by_name = ContactFilter {
        name_prefix: Some(wabridge::domain::fold_name("ÉMILE")),
        ..ContactFilter::default()
    };
    let page = wabridge::read::PageRequest { limit: 10, after: None };
    let found = store.find_contacts(&by_name, &page).await.unwrap();
    assert_eq!(found.data.len(), 1, "found by the folded profile name");
    let tag = ContactChange {
        add_tags: vec!["legacy".into()],
        ..ContactChange::default()
    };
    let Changed::Existing(c) = store.change_contact(&key, &tag, false, 3000).await.unwrap() else {
        panic!("the old contact exists");
    };
    assert_eq!((c.tags, c.first_seen_at), (vec!["legacy".to_owned()], Some(1000)));
}
