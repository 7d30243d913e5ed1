//! Nothing answers without credentials but Meta's webhook, `/health` and signed URLs; the sandbox is
//! locked like `/v1`; which mode the local stack runs in follows from what the user set; no answer
//! of any route carries a secret.
//!
//! The route inventory is read from the source (every `.route("...", ...)` call), so a route added
//! anywhere without auth fails here without anyone remembering to list it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tower::ServiceExt;
use wabridge::Config;
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Numbers, Settings};
use wabridge::graph::GraphClient;
use wabridge::ports::SystemClock;
use wabridge_infra::LocalStack;
use wabridge_infra::stack::SendMode;
use wabridge_tests::{API_KEY, Backend, SECRET};

/// Routes that answer without an API key, each with the credential it checks instead.
const OPEN: &[(&str, &str, &str)] = &[
    ("GET", "/webhook", "Meta's verify token"),
    ("POST", "/webhook", "Meta's X-Hub-Signature-256"),
    ("GET", "/health", "none: says only whether the store answers"),
    (
        "GET",
        "/media/{pni}/{id}",
        "the link's own signature, an HMAC over the key and the expiry (tests/tests/media.rs)",
    ),
    (
        "PUT",
        "/uploads/{upload_id}",
        "the upload link's own signature, as for media links (tests/tests/media.rs)",
    ),
];

/// Routes only the local stack serves: on Lambda, S3 presigns media URLs itself.
const LOCAL_ONLY: &[&str] = &["/media/{pni}/{id}", "/uploads/{upload_id}"];

/// Where a source file's routes are served: the sandbox is nested under `/sandbox` by the stack.
fn prefix_of(file: &Path) -> &'static str {
    if file.ends_with("infra/src/sandbox.rs") || file.parent().is_some_and(|d| d.ends_with("infra/src/sandbox")) {
        "/sandbox"
    } else {
        ""
    }
}

/// Every `(method, path)` routed anywhere in the workspace's source.
fn inventory() -> Vec<(Method, String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["shared/src", "infra/src", "functions"] {
        collect_rs(&root.join(dir), &mut files);
    }
    let mut routes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices(".route(\"") {
            let rest = &text[i + ".route(\"".len()..];
            let path = &rest[..rest.find('"').unwrap()];
            // The method router is the rest of the call: `get(h)`, `post(h)`, `get(a).post(b)`; a
            // method name counts only where a method router can start (after `, ` or `.`).
            let call = &rest[..rest.find("))").map_or(rest.len(), |e| e + 2)];
            // rustfmt may break a long call across lines: read it as one.
            let call = call.split_whitespace().collect::<Vec<_>>().join(" ");
            let mut found = false;
            for (name, method) in [
                ("get(", Method::GET),
                ("post(", Method::POST),
                ("put(", Method::PUT),
                ("patch(", Method::PATCH),
                ("delete(", Method::DELETE),
            ] {
                if call.contains(&format!(", {name}")) || call.contains(&format!(".{name}")) {
                    routes.push((method, format!("{}{path}", prefix_of(&file)), file.clone()));
                    found = true;
                }
            }
            assert!(found, "{}: cannot tell the methods of route {path}", file.display());
        }
    }
    assert!(routes.len() >= 14, "the inventory found only {} routes", routes.len());
    routes
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") {
                collect_rs(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A concrete URL for a route pattern: every `{param}` filled with something well-formed.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        let value = match &rest[start + 1..end] {
            "version" => "v25.0",
            "phone_number_id" => "100000000000001",
            "id" => "wamid.SECURITY",
            _ => "27820000001",
        };
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn call(router: &Router, method: Method, uri: &str, auth: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = router
        .clone()
        .oneshot(req.body(Body::from(r#"{"messaging_product":"whatsapp"}"#)).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn is_open(method: &Method, path: &str) -> bool {
    OPEN.iter().any(|(m, p, _)| *m == method.as_str() && *p == path)
}

/// A local stack as `cargo run` opens it on a fresh data dir, with `vars` set.
fn stack(dir: &Path, vars: &[(&str, &str)]) -> anyhow::Result<LocalStack> {
    let data = dir.display().to_string();
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = Config::from_lookup(&move |k| {
        if k == "WABRIDGE_DATA_DIR" {
            return Some(data.clone());
        }
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })?;
    LocalStack::open(&config, "127.0.0.1:9".parse().unwrap())
}

/// The routers the Lambda functions serve, composed as their `main.rs` files compose them.
async fn lambda_routers() -> Vec<(&'static str, Router)> {
    let backend = Backend::embedded().await;
    let app = App::new(Settings::for_tests(), Arc::new(SystemClock));
    let keys = ApiKeys::new(vec![SecretString::from(API_KEY)]);
    let store = backend.store.clone();
    let graph = GraphClient::new(
        "http://127.0.0.1:9",
        "v25.0",
        SecretString::from("token"),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let ingestor = app.ingestor(SecretString::from(SECRET), backend.queue.clone(), backend.blobs.clone());
    let numbers = Numbers {
        phone_number_id: None,
        waba_id: Some("200000000000001".into()),
    };
    let catalog = app.catalog(store.clone(), Some((graph.clone(), "200000000000001".into())));
    let send = app.send_api(
        store.clone(),
        backend.outbound.clone(),
        backend.blobs.clone(),
        graph,
        &numbers,
    );
    let uploader = send.uploads.clone();
    vec![
        (
            "webhook-verify",
            api::finish(api::webhook_verify_router(SecretString::from("verify"))),
        ),
        ("webhook-ingest", api::finish(api::webhook_ingest_router(ingestor))),
        (
            "query-api",
            api::finish(api::query_router(
                app.query_state(store.clone(), store.clone(), backend.blobs.clone()),
                keys.clone(),
            )),
        ),
        (
            "send-api",
            api::finish(
                api::send_router(Some(send), keys.clone()).merge(api::upload_router(Some(uploader), keys.clone())),
            ),
        ),
        (
            "templates-api",
            api::finish(api::templates_router(catalog, keys.clone())),
        ),
        (
            "analytics-api",
            api::finish(api::analytics_router(store.clone(), keys.clone())),
        ),
        (
            "contacts-api",
            api::finish(api::contacts_router(app.contacts(store.clone()), keys.clone())),
        ),
        (
            "automation-api",
            api::finish(
                api::rules_router(store.clone(), keys.clone())
                    .merge(api::flows_router(app.flows_state(store.clone()), keys.clone())),
            ),
        ),
        (
            "schedule-api",
            api::finish(api::schedule_router(
                app.scheduler(store.clone(), None, &wabridge::app::Numbers::default()),
                keys,
            )),
        ),
    ]
}

#[tokio::test]
async fn every_route_of_the_local_stack_refuses_a_caller_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path(), &[]).unwrap();
    assert_eq!(stack.mode(), SendMode::Sandbox);
    let router = stack.router();
    for (method, path, file) in inventory() {
        if is_open(&method, &path) {
            continue;
        }
        let uri = concrete(&path);
        let (status, body) = call(&router, method.clone(), &uri, None).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{method} {path} ({}) answered {status} without credentials: {body}",
            file.display()
        );
        // A made-up bearer is no better than none.
        let (status, _) = call(&router, method.clone(), &uri, Some("Bearer not-a-key")).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{method} {path} accepted a made-up bearer: {status}"
        );
    }
}

#[tokio::test]
async fn every_route_of_every_lambda_router_refuses_a_caller_without_credentials() {
    let routers = lambda_routers().await;
    for (method, path, file) in inventory()
        .into_iter()
        .filter(|(_, p, _)| !p.starts_with("/sandbox") && !LOCAL_ONLY.contains(&p.as_str()))
    {
        let uri = concrete(&path);
        let mut served = false;
        for (name, router) in &routers {
            let (status, body) = call(router, method.clone(), &uri, None).await;
            let elsewhere = (status == StatusCode::NOT_FOUND && body.contains("route not found"))
                || status == StatusCode::METHOD_NOT_ALLOWED; // the path is here for another method
            if elsewhere {
                continue; // another function's route
            }
            served = true;
            if !is_open(&method, &path) {
                assert!(
                    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
                    "{name}: {method} {path} ({}) answered {status} without credentials: {body}",
                    file.display()
                );
            }
        }
        assert!(
            served,
            "{method} {path} is routed in the source but served by no Lambda router"
        );
    }
}

#[tokio::test]
async fn the_open_routes_check_their_own_credential_and_health_says_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let router = stack(dir.path(), &[]).unwrap().router();
    let (status, _) = call(
        &router,
        Method::GET,
        "/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&router, Method::POST, "/webhook", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an unsigned webhook is refused");
    let (status, body) = call(&router, Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "checks": {"store": "ok"}}),
        "no version, no configuration"
    );
}

#[tokio::test]
async fn the_sandbox_takes_only_the_stacks_api_key_as_metas_access_token() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path(), &[]).unwrap();
    let key = format!("Bearer {}", stack.secrets.first_api_key().unwrap());
    let router = stack.router();
    let send = "/sandbox/v25.0/100000000000001/messages";
    let (status, body) = call(&router, Method::POST, send, Some("Bearer anything-at-all")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        err["error"]["code"], 190,
        "Meta's invalid-token code, so the sender reads it as Meta's"
    );
    // With the key, the sandbox reads the request (and refuses this one for Meta's reasons).
    let (status, _) = call(&router, Method::POST, send, Some(&key)).await;
    assert_ne!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&router, Method::GET, "/sandbox/_sandbox/requests", Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_stack_runs_the_sandbox_only_when_it_cannot_sign_with_a_real_secret() {
    let modes = [
        (vec![], Some(SendMode::Sandbox)),
        (vec![("WHATSAPP_APP_SECRET", "a-real-apps-secret")], Some(SendMode::Off)),
        (
            vec![("WHATSAPP_APP_SECRET", "a-real-apps-secret"), ("WABRIDGE_SANDBOX", "1")],
            Some(SendMode::Sandbox),
        ),
        (vec![("WHATSAPP_ACCESS_TOKEN", "EAAtoken")], Some(SendMode::Meta)),
        (vec![("WABRIDGE_SANDBOX", "0")], Some(SendMode::Off)),
        (
            vec![("WHATSAPP_ACCESS_TOKEN", "EAAtoken"), ("WABRIDGE_SANDBOX", "1")],
            None,
        ),
    ];
    for (vars, expected) in modes {
        let dir = tempfile::tempdir().unwrap();
        match (stack(dir.path(), &vars), expected) {
            (Ok(s), Some(mode)) => {
                assert_eq!(s.mode(), mode, "{vars:?}");
            }
            (Err(e), None) => assert!(e.to_string().contains("WABRIDGE_SANDBOX"), "{e}"),
            (got, want) => panic!("{vars:?}: got {:?}, want {want:?}", got.map(|s| s.mode())),
        }
    }
}

#[tokio::test]
async fn with_a_real_app_secret_and_no_token_sends_answer_503_naming_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path(), &[("WHATSAPP_APP_SECRET", "a-real-apps-secret")]).unwrap();
    let key = format!("Bearer {}", stack.secrets.first_api_key().unwrap());
    let router = stack.router();
    let req = Request::post("/v1/messages")
        .header("authorization", &key)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"to": "27820000001", "type": "text", "text": {"body": "hi"}}).to_string(),
        ))
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"]["code"], "sending_not_configured");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WHATSAPP_ACCESS_TOKEN")
    );
    let (status, _) = call(&router, Method::POST, "/v1/messages/wamid.X/read", Some(&key)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = call(&router, Method::GET, "/sandbox/_sandbox/requests", Some(&key)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no sandbox in this mode");
    let (status, _) = call(&router, Method::POST, "/v1/messages", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "still behind the key");
}

#[tokio::test]
async fn no_answer_of_any_route_carries_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(
        dir.path(),
        &[
            ("WHATSAPP_WEBHOOK_VERIFY_TOKEN", "verify-token-XYZ"),
            ("WABRIDGE_API_KEYS", "api-key-one,api-key-two"),
        ],
    )
    .unwrap();
    let secrets = [
        stack.secrets.app_secret.expose_secret().to_owned(),
        "verify-token-XYZ".to_owned(),
        "api-key-one".to_owned(),
        "api-key-two".to_owned(),
    ];
    let router = stack.router();
    let mut answers = 0;
    for (method, path, _) in inventory() {
        let uri = concrete(&path);
        for auth in [
            None,
            Some("Bearer api-key-one"),
            Some("Bearer wrong"),
            Some("Bearer api-key-two "),
        ] {
            for uri in [
                uri.clone(),
                format!("{uri}?hub.verify_token=verify-token-XYZ&hub.mode=x"),
            ] {
                let (status, body) = call(&router, method.clone(), &uri, auth).await;
                answers += 1;
                for s in &secrets {
                    assert!(
                        !body.contains(s.as_str()),
                        "{method} {uri} ({status}) echoed a secret: {body}"
                    );
                }
            }
        }
    }
    assert!(answers > 100);
}
