//! ContactBook on DynamoStore. What the business keeps is one JSON document (`managed`) beside
//! what messages write, plus the attributes lists filter on (`tags` as a string set, `opted_out`,
//! folded names). A change is a conditional write on the contact's revision (`rev`): read, merge,
//! write if nobody wrote in between, else read again. A message's write never touches those
//! attributes, so it neither conflicts with a change nor is overwritten by one.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{DynamoStore, Item, Reads, from_json, to_json};
use crate::adapters::aws::expr::{Expr, get_n, get_s, n, s};
use crate::adapters::aws::sdk_err;
use crate::contacts::ContactChange;
use crate::domain::{Contact, CustomerKey, Managed, Seen, fold_name};
use crate::ports::{Changed, ContactBook, ContactFilter, PortError};
use crate::read::{Page, PageRequest};

/// Times a change re-reads the contact after losing a race before it reports the store busy.
const MAX_RACES: u32 = 20;

/// The contact of an item: what messages told and what the business keeps.
pub(super) fn contact_of(item: &Item) -> Result<Contact, PortError> {
    let seen = Seen {
        wa_id: get_s(item, "wa_id"),
        user_id: get_s(item, "user_id"),
        profile_name: get_s(item, "name"),
        phone_number_id: get_s(item, "phone_number_id"),
        first_seen_at: get_n(item, "first_seen_at"),
        last_seen_at: get_n(item, "last_seen_at"),
    };
    let managed = from_json::<Managed>(item, "managed")?.unwrap_or_default();
    Ok(Contact::of(seen, managed))
}

/// What a contact's write must find to go ahead: the item as it was read.
enum Expect {
    /// No item.
    Absent,
    /// An item no change has written yet (a message created it).
    Unrevised,
    /// An item at this revision.
    Revision(i64),
}

impl DynamoStore {
    /// Writes `managed` if the item is still as `expect` says; `None` when another write won.
    async fn write_managed(
        &self,
        customer: &str,
        managed: &Managed,
        expect: &Expect,
    ) -> Result<Option<Item>, PortError> {
        let rev = match expect {
            Expect::Revision(r) => r + 1,
            Expect::Absent | Expect::Unrevised => 1,
        };
        let mut e = Expr::default()
            .set("list", s(self.list_key(customer)))
            .set("managed", to_json(managed)?)
            .set("opted_out", AttributeValue::Bool(managed.opted_out))
            .set("rev", n(rev));
        e = match &managed.name {
            Some(name) => e.set("given_fold", s(fold_name(name))),
            None => e.remove("given_fold"),
        };
        // DynamoDB has no empty sets: no tags is no attribute.
        e = if managed.tags.is_empty() {
            e.remove("tags")
        } else {
            e.set("tags", AttributeValue::Ss(managed.tags.clone()))
        };
        e = match expect {
            // The API creates contacts by number: the key is the wa_id.
            Expect::Absent => e
                .set("wa_id", s(customer))
                .when(|e| format!("attribute_not_exists({})", e.name("customer"))),
            Expect::Unrevised => e.when(|e| {
                let (c, r) = (e.name("customer"), e.name("rev"));
                format!("attribute_exists({c}) AND attribute_not_exists({r})")
            }),
            Expect::Revision(old) => e.when(|e| {
                let (r, v) = (e.name("rev"), e.val(n(*old)));
                format!("{r} = {v}")
            }),
        };
        let call = self
            .client
            .update_item()
            .table_name(&self.t.contacts)
            .key("customer", s(customer))
            .return_values(ReturnValue::AllNew);
        match e.apply(call).send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(None)
            }
            Err(err) => Err(sdk_err("change contact")(err)),
        }
    }
}

#[async_trait]
impl ContactBook for DynamoStore {
    async fn contact(&self, customer: &CustomerKey) -> Result<Option<Contact>, PortError> {
        self.get(&self.t.contacts, ("customer", customer.as_str()))
            .await?
            .map(|i| contact_of(&i))
            .transpose()
    }

    async fn find_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> Result<Page<Contact>, PortError> {
        // Key values may not be empty; a space sorts before every key (keys hold no whitespace).
        let after = page.after.clone().unwrap_or_else(|| " ".to_owned());
        let want = page.limit + 1;
        let queries = self.list_partitions().into_iter().map(|partition| {
            let after = after.clone();
            let mut cond = Expr::default();
            let key = {
                let (l, lv, k) = (cond.name("list"), cond.val(s(partition)), cond.name("customer"));
                match &filter.number_prefix {
                    // `customer > after AND begins_with(...)` is not a key condition DynamoDB takes:
                    // the range is [max(after, prefix), prefix~], and `after` itself is dropped below.
                    Some(prefix) => {
                        let lo = cond.val(s(after.as_str().max(prefix.as_str())));
                        let hi = cond.val(s(format!("{prefix}~")));
                        format!("{l} = {lv} AND {k} BETWEEN {lo} AND {hi}")
                    }
                    None => {
                        let a = cond.val(s(after.as_str()));
                        format!("{l} = {lv} AND {k} > {a}")
                    }
                }
            };
            let mut clauses = Vec::new();
            if let Some(tag) = &filter.tag {
                let (t, v) = (cond.name("tags"), cond.val(s(tag)));
                clauses.push(format!("contains({t}, {v})"));
            }
            match filter.opted_out {
                Some(true) => {
                    let (o, v) = (cond.name("opted_out"), cond.val(AttributeValue::Bool(true)));
                    clauses.push(format!("{o} = {v}"));
                }
                Some(false) => {
                    let (o, v) = (cond.name("opted_out"), cond.val(AttributeValue::Bool(true)));
                    clauses.push(format!("(attribute_not_exists({o}) OR {o} <> {v})"));
                }
                None => {}
            }
            if let Some(name) = &filter.name_prefix {
                let (g, p, v) = (cond.name("given_fold"), cond.name("profile_fold"), cond.val(s(name)));
                clauses.push(format!("(begins_with({g}, {v}) OR begins_with({p}, {v}))"));
            }
            let cond = cond.when(|_| key);
            let filter = (!clauses.is_empty()).then(|| (clauses.join(" AND "), Reads::WholePages));
            async move {
                let items = self
                    .query_filtered(&self.t.contacts, "by_customer", cond, filter, true, want)
                    .await?;
                Ok::<_, PortError>(
                    items
                        .into_iter()
                        .filter(|i| get_s(i, "customer").is_some_and(|c| c != after))
                        .collect::<Vec<_>>(),
                )
            }
        });
        let mut rows = Vec::new();
        for item in futures::future::try_join_all(queries).await?.into_iter().flatten() {
            let key = get_s(&item, "customer").unwrap_or_default();
            rows.push((contact_of(&item)?, key));
        }
        rows.sort_by(|a, b| a.1.cmp(&b.1));
        rows.truncate(want as usize);
        Ok(Page::from_rows(rows, page.limit, "contacts"))
    }

    async fn change_contact(
        &self,
        customer: &CustomerKey,
        change: &ContactChange,
        create: bool,
        now_ms: i64,
    ) -> Result<Changed, PortError> {
        let c = customer.as_str();
        for _ in 0..MAX_RACES {
            let item = self.get(&self.t.contacts, ("customer", c)).await?;
            let (mut managed, expect) = match &item {
                None if !create => return Ok(Changed::NotFound),
                None => (
                    Managed {
                        created_at: Some(now_ms),
                        ..Managed::default()
                    },
                    Expect::Absent,
                ),
                Some(i) => (
                    from_json::<Managed>(i, "managed")?.unwrap_or_default(),
                    get_n(i, "rev").map_or(Expect::Unrevised, Expect::Revision),
                ),
            };
            match change.apply(&mut managed, now_ms) {
                Err(e) => return Ok(Changed::Refused(e)),
                Ok(false) => {
                    if let Some(i) = &item {
                        return Ok(Changed::Existing(contact_of(i)?));
                    }
                }
                Ok(true) => {}
            }
            if let Some(after) = self.write_managed(c, &managed, &expect).await? {
                let contact = contact_of(&after)?;
                return Ok(match expect {
                    Expect::Absent => Changed::Created(contact),
                    Expect::Unrevised | Expect::Revision(_) => Changed::Existing(contact),
                });
            }
        }
        Err(PortError::unavailable(
            "change contact",
            format!("{MAX_RACES} concurrent changes to one contact won the race first; retry"),
        ))
    }
}
