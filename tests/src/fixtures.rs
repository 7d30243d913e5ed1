//! Payload fixtures and helpers for paths.

/// Reads a fixture from `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
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
