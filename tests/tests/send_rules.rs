//! WhatsApp's rules for outbound messages, checked before anything is stored: each limit on both
//! sides of its boundary, and the exact Graph body each message type produces (Meta's documented
//! shape for `POST /{phone_number_id}/messages`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wabridge::outbound::request::{Recipient, graph_body, validate};

fn ok(body: Value) {
    if let Err(e) = validate(&body) {
        panic!("expected valid: {body}\n{e:?}");
    }
}

fn bad(body: Value, field: &str) {
    match validate(&body) {
        Ok(_) => panic!("expected {field} to be refused: {body}"),
        Err(errors) => assert!(
            errors.iter().any(|e| e.field == field),
            "no error on {field}: {errors:?}"
        ),
    }
}

fn s(n: usize) -> String {
    "é".repeat(n) // multi-byte: limits count characters, not bytes
}

fn text(body: &str) -> Value {
    json!({"to": "27820000001", "type": "text", "text": {"body": body}})
}

fn buttons(n: usize, title: &str, id: &str) -> Value {
    let list: Vec<Value> = (0..n)
        .map(|i| json!({"type": "reply", "reply": {"id": format!("{id}{i}"), "title": title}}))
        .collect();
    json!({"to": "27820000001", "type": "interactive", "interactive": {"type": "button",
        "body": {"text": "Pick one"}, "action": {"buttons": list}}})
}

fn list(sections: usize, rows_each: usize, row_title: &str, row_desc: &str, button: &str) -> Value {
    let sections: Vec<Value> = (0..sections)
        .map(|i| {
            let rows: Vec<Value> = (0..rows_each)
                .map(|j| json!({"id": format!("r{i}-{j}"), "title": row_title, "description": row_desc}))
                .collect();
            json!({"title": format!("Section {i}"), "rows": rows})
        })
        .collect();
    json!({"to": "27820000001", "type": "interactive", "interactive": {"type": "list",
        "body": {"text": "Choose a slot"}, "action": {"button": button, "sections": sections}}})
}

#[test]
fn text_bodies_may_have_4096_characters_and_not_one_more() {
    ok(text(&s(4096)));
    bad(text(&s(4097)), "text.body");
    bad(text(""), "text.body");
}

#[test]
fn captions_may_have_1024_characters() {
    for t in ["image", "video", "document"] {
        ok(json!({"to": "27820000001", "type": t, t: {"id": "123", "caption": s(1024)}}));
        bad(
            json!({"to": "27820000001", "type": t, t: {"id": "123", "caption": s(1025)}}),
            &format!("{t}.caption"),
        );
    }
    bad(
        json!({"to": "27820000001", "type": "audio", "audio": {"id": "1", "caption": "x"}}),
        "audio.caption",
    );
}

#[test]
fn media_needs_an_id_or_an_https_link_not_both() {
    ok(json!({"to": "27820000001", "type": "sticker", "sticker": {"id": "1"}}));
    ok(json!({"to": "27820000001", "type": "image", "image": {"link": "https://cdn.example.com/a.jpg"}}));
    bad(
        json!({"to": "27820000001", "type": "image", "image": {"link": "http://cdn.example.com/a.jpg"}}),
        "image.link",
    );
    bad(json!({"to": "27820000001", "type": "video", "video": {}}), "video.id");
    bad(
        json!({"to": "27820000001", "type": "document", "document": {"id": "1", "link": "https://x.example/d"}}),
        "document",
    );
}

#[test]
fn interactive_body_header_and_footer_limits() {
    let with = |body: &str, header: &str, footer: &str| {
        json!({"to": "27820000001", "type": "interactive", "interactive": {"type": "button",
            "header": {"type": "text", "text": header}, "body": {"text": body}, "footer": {"text": footer},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes"}}]}}})
    };
    ok(with(&s(1024), &s(60), &s(60)));
    bad(with(&s(1025), "h", "f"), "interactive.body.text");
    bad(with("b", &s(61), "f"), "interactive.header.text");
    bad(with("b", "h", &s(61)), "interactive.footer.text");
}

#[test]
fn reply_buttons_are_one_to_three_with_short_titles_and_unique_ids() {
    ok(buttons(3, &s(20), &"i".repeat(255)));
    bad(buttons(4, "ok", "b"), "interactive.action.buttons");
    bad(buttons(0, "ok", "b"), "interactive.action.buttons");
    bad(buttons(1, &s(21), "b"), "interactive.action.buttons[0].reply.title");
    bad(
        buttons(1, "ok", &"i".repeat(256)),
        "interactive.action.buttons[0].reply.id",
    );
    let mut dup = buttons(2, "ok", "same");
    dup["interactive"]["action"]["buttons"][1]["reply"]["id"] =
        dup["interactive"]["action"]["buttons"][0]["reply"]["id"].clone();
    bad(dup, "interactive.action.buttons[1].reply.id");
}

#[test]
fn lists_keep_to_ten_sections_ten_rows_and_their_text_limits() {
    ok(list(2, 5, &s(24), &s(72), &s(20)));
    ok(list(10, 1, "t", "d", "Choose"));
    bad(list(11, 0, "t", "d", "Choose"), "interactive.action.sections");
    bad(list(2, 6, "t", "d", "Choose"), "interactive.action.sections");
    bad(
        list(1, 1, &s(25), "d", "Choose"),
        "interactive.action.sections[0].rows[0].title",
    );
    bad(
        list(1, 1, "t", &s(73), "Choose"),
        "interactive.action.sections[0].rows[0].description",
    );
    bad(list(1, 1, "t", "d", &s(21)), "interactive.action.button");
}

#[test]
fn cta_url_buttons_need_short_text_and_an_https_url() {
    let cta = |text: &str, url: &str| {
        json!({"to": "27820000001", "type": "interactive", "interactive": {"type": "cta_url", "body": {"text": "See it"},
            "action": {"name": "cta_url", "parameters": {"display_text": text, "url": url}}}})
    };
    ok(cta(&s(20), "https://shop.example.com/o/1"));
    bad(
        cta(&s(21), "https://shop.example.com"),
        "interactive.action.parameters.display_text",
    );
    bad(
        cta("Open", "ftp://shop.example.com"),
        "interactive.action.parameters.url",
    );
}

#[test]
fn numbers_are_normalised_and_impossible_ones_refused() {
    for to in ["+27 82 000 0001", "27820000001", "0027 (82) 000-0001"] {
        let cmd = validate(&json!({"to": to, "type": "text", "text": {"body": "x"}})).unwrap();
        assert_eq!(cmd.recipient, Recipient::WaId("27820000001".into()), "{to}");
    }
    for to in ["12", "+27 82", "not a number", "+0 123 456 7890"] {
        let errors = validate(&json!({"to": to, "type": "text", "text": {"body": "x"}})).unwrap_err();
        assert_eq!(errors[0].code, "invalid_phone_number", "{to}");
    }
    let by_user =
        validate(&json!({"recipient": "ZA.1122334455667788", "type": "text", "text": {"body": "x"}})).unwrap();
    assert_eq!(by_user.recipient, Recipient::UserId("ZA.1122334455667788".into()));
    for recipient in ["", "US.1 2", "US.1/2", "US.1\u{0}2", "US.1%2", &"9".repeat(129)] {
        bad(
            json!({"recipient": recipient, "type": "text", "text": {"body": "x"}}),
            "recipient",
        );
    }
    bad(
        json!({"recipient": 42, "type": "text", "text": {"body": "x"}}),
        "recipient",
    );
}

#[test]
fn unknown_types_and_missing_objects_are_refused() {
    let e = validate(&json!({"to": "27820000001", "type": "hologram"})).unwrap_err();
    assert_eq!(e[0].code, "unsupported_type");
    bad(json!({"to": "27820000001", "type": "text"}), "text");
    bad(
        json!({"to": "27820000001", "type": "location", "location": {"latitude": 91, "longitude": 0}}),
        "location.latitude",
    );
    bad(
        json!({"to": "27820000001", "type": "reaction", "reaction": {"emoji": "👍"}}),
        "reaction.message_id",
    );
    bad(
        json!({"to": "27820000001", "type": "template", "template": {"name": "Hello World", "language": {"code": "en"}}}),
        "template.name",
    );
}

/// The body the Graph client posts, for each type: exactly Meta's documented shape.
#[test]
fn each_type_becomes_metas_message_object() {
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"type": "text", "text": {"preview_url": true, "body": "See https://example.com"}}),
            json!({"type": "text", "text": {"preview_url": true, "body": "See https://example.com"}}),
        ),
        (
            json!({"type": "image", "image": {"id": "1479537139650973", "caption": "The best succulent ever?"}}),
            json!({"type": "image", "image": {"id": "1479537139650973", "caption": "The best succulent ever?"}}),
        ),
        (
            json!({"type": "video", "video": {"link": "https://cdn.example.com/v.mp4", "caption": "demo"}}),
            json!({"type": "video", "video": {"link": "https://cdn.example.com/v.mp4", "caption": "demo"}}),
        ),
        (
            json!({"type": "audio", "audio": {"id": "1013859600285441"}}),
            json!({"type": "audio", "audio": {"id": "1013859600285441"}}),
        ),
        (
            json!({"type": "document", "document": {"id": "1376223850470843", "filename": "order_abc123.pdf", "caption": "Your order"}}),
            json!({"type": "document", "document": {"id": "1376223850470843", "filename": "order_abc123.pdf", "caption": "Your order"}}),
        ),
        (
            json!({"type": "sticker", "sticker": {"id": "798882015472548"}}),
            json!({"type": "sticker", "sticker": {"id": "798882015472548"}}),
        ),
        (
            json!({"type": "location", "location": {"latitude": 37.44216, "longitude": -122.16177, "name": "Philz Coffee", "address": "101 Forest Ave, Palo Alto"}}),
            json!({"type": "location", "location": {"latitude": 37.44216, "longitude": -122.16177, "name": "Philz Coffee", "address": "101 Forest Ave, Palo Alto"}}),
        ),
        (
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Thandi Nkosi", "first_name": "Thandi"}, "phones": [{"phone": "+27820000002", "type": "CELL", "wa_id": "27820000002"}]}]}),
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Thandi Nkosi", "first_name": "Thandi"}, "phones": [{"phone": "+27820000002", "type": "CELL", "wa_id": "27820000002"}]}]}),
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "location_request_message", "body": {"text": "Share your location"}, "action": {"name": "send_location"}}}),
            json!({"type": "interactive", "interactive": {"type": "location_request_message", "body": {"text": "Share your location"}, "action": {"name": "send_location"}}}),
        ),
        (
            json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/h.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ayanda"},
                    {"type": "currency", "currency": {"fallback_value": "R99.99", "code": "ZAR", "amount_1000": 99990}},
                    {"type": "date_time", "date_time": {"fallback_value": "1 December 2026"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK-77"}]}]}}),
            json!({"type": "template", "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/h.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ayanda"},
                    {"type": "currency", "currency": {"fallback_value": "R99.99", "code": "ZAR", "amount_1000": 99990}},
                    {"type": "date_time", "date_time": {"fallback_value": "1 December 2026"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK-77"}]}]}}),
        ),
        (
            json!({"type": "reaction", "reaction": {"message_id": "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "emoji": "\u{1F600}"}}),
            json!({"type": "reaction", "reaction": {"message_id": "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "emoji": "\u{1F600}"}}),
        ),
        (
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}}),
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}}),
        ),
    ];
    for (input, want) in cases.into_iter().chain([
        (buttons(2, "Yes", "b"), buttons(2, "Yes", "b")),
        (
            list(1, 2, "09:00", "Monday", "Slots"),
            list(1, 2, "09:00", "Monday", "Slots"),
        ),
    ]) {
        let mut request = input.clone();
        request["to"] = json!("+1 (650) 555-1234");
        let cmd = validate(&request).unwrap_or_else(|e| panic!("{input}: {e:?}"));
        let body = graph_body(
            &cmd.recipient,
            &cmd.msg_type,
            cmd.content.clone(),
            cmd.context.clone(),
            "01JD0000000000000000000000",
        );
        let t = want["type"].as_str().unwrap();
        let mut expected = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
            "type": t, "biz_opaque_callback_data": "01JD0000000000000000000000"});
        expected[t] = want[t].clone();
        assert_eq!(body, expected, "{t}");
    }
}

#[test]
fn replies_carry_the_context_and_user_ids_go_as_recipient() {
    let cmd = validate(&json!({"recipient": "ZA.9", "type": "text", "text": {"body": "re"},
        "context": {"message_id": "wamid.ABC"}}))
    .unwrap();
    let body = graph_body(
        &cmd.recipient,
        &cmd.msg_type,
        cmd.content.clone(),
        cmd.context.clone(),
        "01JD0000000000000000000000",
    );
    assert_eq!(body["recipient"], "ZA.9");
    assert_eq!(body.get("to"), None);
    assert_eq!(body["context"], json!({"message_id": "wamid.ABC"}));
}
