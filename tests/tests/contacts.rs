//! Contacts, end to end on both backends through the HTTP API: create or merge, change, list with
//! filters, and import a CSV or JSON array whose bad rows are reported while the rest land.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wabridge_tests::rig::{Rig, fast_config};
use wabridge_tests::{Backend, on_both_backends};

async fn rig(b: Backend) -> Rig {
    Rig::start(b, fast_config(), vec![]).await
}

fn wa_ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["wa_id"].as_str().unwrap())
        .collect()
}

async fn a_contact_is_created_once_merged_after_and_changed_by_patch(b: Backend) {
    let rig = rig(b).await;
    let body = json!({"phone": "+27 82 000 0001", "name": "Thandi", "tags": ["VIP"],
                      "attributes": {"first_name": "Thandi"}});
    let (code, c) = rig.post("/v1/contacts", &body, None).await;
    assert_eq!(code, 201, "{c}");
    assert_eq!(c["wa_id"], "27820000001");
    assert_eq!(c["tags"], json!(["vip"]));
    assert_eq!(c["opted_out"], false);
    assert!(c["created_at"].is_string() && c["first_seen_at"].is_null(), "{c}");
    // The same number again merges: tags add up, the attribute given changes, the rest stays.
    let again = json!({"wa_id": "27820000001", "tags": ["gold"], "attributes": {"city": "Durban"}});
    let (code, c) = rig.post("/v1/contacts", &again, None).await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["tags"], json!(["gold", "vip"]));
    assert_eq!(c["attributes"], json!({"city": "Durban", "first_name": "Thandi"}));
    assert_eq!(c["name"], "Thandi");

    let patch = json!({"name": "Thandi M", "tags": {"add": ["new"], "remove": ["vip"]},
                       "attributes": {"city": null}, "opted_out": true});
    let (code, c) = rig.patch("/v1/contacts/27820000001", &patch).await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["tags"], json!(["gold", "new"]));
    assert_eq!(c["attributes"], json!({"first_name": "Thandi"}));
    assert_eq!(
        (c["name"].as_str(), c["opted_out"].as_bool()),
        (Some("Thandi M"), Some(true))
    );
    assert!(c["opted_out_at"].is_string());
    let (code, shown) = rig.get("/v1/contacts/27820000001").await;
    assert_eq!((code, &shown), (200, &c));

    // When the customer writes, the profile name shows beside the business's name.
    rig.customer_writes("27820000001").await;
    let (_, c) = rig.get("/v1/contacts/27820000001").await;
    assert_eq!(
        (c["name"].as_str(), c["profile_name"].as_str()),
        (Some("Thandi M"), Some("Customer"))
    );
    assert!(c["first_seen_at"].is_string());

    let (code, e) = rig.patch("/v1/contacts/27820000099", &json!({"name": "x"})).await;
    assert_eq!((code, e["error"]["code"].as_str()), (404, Some("not_found")));
}

async fn bad_contacts_get_every_wrong_field_named(b: Backend) {
    let rig = rig(b).await;
    let body = json!({"phone": "12", "tags": ["has space"], "attributes": {"x": 1}, "colour": "red"});
    let (code, e) = rig.post("/v1/contacts", &body, None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{e}"
    );
    let fields: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    for f in ["phone", "tags[0]", "attributes.x", "colour"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let (code, e) = rig
        .request(
            http::Method::POST,
            "/v1/contacts",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!((code, e["error"]["code"].as_str()), (400, Some("invalid_json")));
    // Fifty tags is the limit; a patch past it is refused and changes nothing.
    let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    let (code, _) = rig
        .post("/v1/contacts", &json!({"wa_id": "27820000002", "tags": fifty}), None)
        .await;
    assert_eq!(code, 201);
    let (code, e) = rig
        .patch("/v1/contacts/27820000002", &json!({"tags": {"add": ["one-more"]}}))
        .await;
    assert_eq!(
        (code, e["error"]["details"][0]["code"].as_str()),
        (400, Some("too_many")),
        "{e}"
    );
    let (_, c) = rig.get("/v1/contacts/27820000002").await;
    assert_eq!(c["tags"].as_array().unwrap().len(), 50);
    let (code, e) = rig.get("/v1/contacts?opted_out=maybe").await;
    assert_eq!(
        (code, e["error"]["details"][0]["field"].as_str()),
        (400, Some("opted_out"))
    );
    let (code, _) = rig.get("/v1/contacts?tag=Not%20A%20Tag").await;
    assert_eq!(code, 400);
}

async fn an_import_lands_every_good_row_and_names_each_bad_one(b: Backend) {
    let rig = rig(b).await;
    rig.customer_writes("27820000013").await;
    let csv = "phone,name,tags,first_name\n\
               +27 82 000 0011,Ayanda,vip;gold,Ayanda\n\
               not-a-number,Bad,,\n\
               27820000012,Bongani,vip,\n\
               27820000013,Known,vip;bad tag,\n\
               27820000013,Known,,\n\
               27820000011,,returning,\n";
    let (code, r) = rig
        .request(
            http::Method::POST,
            "/v1/contacts/import",
            "text/csv; charset=utf-8",
            csv.into(),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    // Rows 1 and 3 create; row 5 finds a customer who wrote; row 6 merges into row 1's contact.
    assert_eq!(
        (r["created"].as_u64(), r["updated"].as_u64()),
        (Some(2), Some(2)),
        "{r}"
    );
    let invalid: Vec<u64> = r["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["row"].as_u64().unwrap())
        .collect();
    assert_eq!(invalid, [2, 4], "{r}");
    assert!(r["invalid"][0]["reason"].as_str().unwrap().starts_with("phone:"), "{r}");
    let (_, c) = rig.get("/v1/contacts/27820000011").await;
    assert_eq!(c["tags"], json!(["gold", "returning", "vip"]));
    assert_eq!(c["attributes"]["first_name"], "Ayanda");

    let (_, vip) = rig.get("/v1/contacts?tag=vip").await;
    assert_eq!(wa_ids(&vip), ["27820000011", "27820000012"]);
    let (_, by_name) = rig.get("/v1/contacts?q=ay").await;
    assert_eq!(wa_ids(&by_name), ["27820000011"]);
    let (_, by_number) = rig.get("/v1/contacts?q=%2B27%2082%20000%20001").await;
    assert_eq!(wa_ids(&by_number), ["27820000011", "27820000012", "27820000013"]);
    let (_, first) = rig.get("/v1/contacts?q=2782&limit=2").await;
    assert_eq!(wa_ids(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = rig.get(&format!("/v1/contacts?q=2782&limit=2&cursor={cursor}")).await;
    assert_eq!(wa_ids(&rest), ["27820000013"]);

    let json_rows = json!([{"wa_id": "27820000014", "tags": ["json"]}, {"name": "no number"}, 7]);
    let (code, r) = rig
        .request(
            http::Method::POST,
            "/v1/contacts/import",
            "application/json",
            serde_json::to_vec(&json_rows).unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        (r["created"].as_u64(), r["invalid"].as_array().unwrap().len()),
        (Some(1), 2)
    );

    let (code, e) = rig
        .request(
            http::Method::POST,
            "/v1/contacts/import",
            "text/plain",
            b"phone\n1".to_vec(),
        )
        .await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (code, e) = rig
        .request(
            http::Method::POST,
            "/v1/contacts/import",
            "text/csv",
            b"name\nx".to_vec(),
        )
        .await;
    assert_eq!((code, e["error"]["code"].as_str()), (400, Some("invalid_import")));
}

on_both_backends!(
    a_contact_is_created_once_merged_after_and_changed_by_patch,
    bad_contacts_get_every_wrong_field_named,
    an_import_lands_every_good_row_and_names_each_bad_one,
);
