//! Payload fixtures and helpers for paths.

/// Reads a fixture from `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// The published Meta samples beside the repo (`../shared/meta-samples`), or `None` when
/// `WABRIDGE_SKIP_META_SAMPLES` skips them on purpose. Missing samples fail the calling test: a pass
/// that checked nothing would hide it.
pub fn meta_samples() -> Option<std::path::PathBuf> {
    if std::env::var_os("WABRIDGE_SKIP_META_SAMPLES").is_some() {
        eprintln!("WABRIDGE_SKIP_META_SAMPLES is set: published samples not checked");
        return None;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/meta-samples");
    assert!(
        root.join("expected.jsonl").exists(),
        "{}: the published Meta samples must sit beside the repo (../shared/meta-samples); \
         set WABRIDGE_SKIP_META_SAMPLES=1 to skip this check on purpose",
        root.display()
    );
    Some(root)
}

/// Percent-encodes a path segment (wamids carry '=', '/' and '+').
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An API Gateway event from `tests/fixtures/lambda/` as the request `lambda_http` hands our router
/// in the function: the same decoding of path, query and body the deployment gets.
pub fn api_gateway_request(path: &str) -> http::Request<Vec<u8>> {
    let text = String::from_utf8(fixture(path)).unwrap();
    let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (parts, body) = req.into_parts();
    http::Request::from_parts(parts, body.to_vec())
}
