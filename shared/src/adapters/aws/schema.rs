//! The DynamoDB key design, as code: used to create tables on an emulator for tests and local AWS
//! runs. `template.yaml` declares the same keys and indexes for deployment.
//!
//! | table | key | indexes |
//! |---|---|---|
//! | messages | `id` | `by_wamid` (`wamid`), `by_customer` (`customer`, `seq`), `by_pending` (`pending_shard`, `pending_at`; sparse: unfinished outbound only) |
//! | statuses | `wamid` | |
//! | conversations | `customer` | `by_activity` (`list`, `activity`) |
//! | contacts | `customer` | `by_customer` (`list`, `customer`) |
//! | events | `id` | `by_field` (`field`, `seq`); TTL `expires_at` |
//! | idempotency | `key` | TTL `expires_at` |
//! | media | `id` | |
//! | templates | `key` (`{name}\u{1}{language}`) | `by_name` (`list`, `key`) |
//! | counters | `pk`, `sk` (see `dynamo/counters.rs`) | |
//! | schedules | `id` | `by_due` (`due_shard`, `due_key`; sparse: schedules with work left), `by_kind` (`kind`, `id`) |
//! | recipients | `campaign`, `wa_id` | |
//! | automation | `pk`, `sk` (see `dynamo/automation.rs`) | |
//! | rate_limits | `key` | |

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};

use super::TableNames;
use crate::ports::PortError;

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, PortError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| PortError::invalid("schema", e.to_string()))
}

fn attr(name: &str) -> Result<AttributeDefinition, PortError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| PortError::invalid("schema", e.to_string()))
}

fn index(name: &str, hash: &str, range: Option<&str>) -> Result<GlobalSecondaryIndex, PortError> {
    let mut keys = vec![key(hash, KeyType::Hash)?];
    if let Some(r) = range {
        keys.push(key(r, KeyType::Range)?);
    }
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(keys))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(|e| PortError::invalid("schema", e.to_string()))
}

async fn create(
    client: &Client,
    table: &str,
    hash: &str,
    indexes: &[(&str, &str, Option<&str>)],
) -> Result<(), PortError> {
    let mut attrs = vec![attr(hash)?];
    let mut gsis = Vec::new();
    for (name, h, r) in indexes {
        for a in std::iter::once(*h).chain(*r) {
            if !attrs.iter().any(|d| d.attribute_name() == a) {
                attrs.push(attr(a)?);
            }
        }
        gsis.push(index(name, h, *r)?);
    }
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(hash, KeyType::Hash)?)
        .set_attribute_definitions(Some(attrs))
        .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
        .send()
        .await
        .map_err(|e| PortError::unavailable("create table", e))?;
    Ok(())
}

/// Creates every table wabridge uses.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), PortError> {
    create(
        client,
        &names.messages,
        "id",
        &[
            ("by_wamid", "wamid", None),
            ("by_customer", "customer", Some("seq")),
            ("by_pending", "pending_shard", Some("pending_at")),
        ],
    )
    .await?;
    create(client, &names.statuses, "wamid", &[]).await?;
    create(
        client,
        &names.conversations,
        "customer",
        &[("by_activity", "list", Some("activity"))],
    )
    .await?;
    create(
        client,
        &names.contacts,
        "customer",
        &[("by_customer", "list", Some("customer"))],
    )
    .await?;
    create(client, &names.events, "id", &[("by_field", "field", Some("seq"))]).await?;
    create(client, &names.idempotency, "key", &[]).await?;
    create(client, &names.media, "id", &[]).await?;
    create(client, &names.templates, "key", &[("by_name", "list", Some("key"))]).await?;
    create(
        client,
        &names.schedules,
        "id",
        &[
            ("by_due", "due_shard", Some("due_key")),
            ("by_kind", "kind", Some("id")),
        ],
    )
    .await?;
    client
        .create_table()
        .table_name(&names.counters)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .send()
        .await
        .map_err(|e| PortError::unavailable("create table", e))?;
    client
        .create_table()
        .table_name(&names.recipients)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("campaign", KeyType::Hash)?)
        .key_schema(key("wa_id", KeyType::Range)?)
        .attribute_definitions(attr("campaign")?)
        .attribute_definitions(attr("wa_id")?)
        .send()
        .await
        .map_err(|e| PortError::unavailable("create table", e))?;
    client
        .create_table()
        .table_name(&names.automation)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .send()
        .await
        .map_err(|e| PortError::unavailable("create table", e))?;
    if let Some(rate_limits) = &names.rate_limits {
        create(client, rate_limits, "key", &[]).await?;
    }
    Ok(())
}
