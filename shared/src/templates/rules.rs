//! The checks Meta runs on a new template, run first so a caller learns every problem at once
//! (one `details` entry each) instead of one Graph error at a time.

use serde_json::Value;

use crate::outbound::request::{Check, FieldError};

/// Meta's limits on a template (characters).
pub mod limits {
    /// Template name.
    pub const NAME: usize = 512;
    /// Body text.
    pub const BODY: usize = 1024;
    /// Header text.
    pub const HEADER: usize = 60;
    /// Footer text.
    pub const FOOTER: usize = 60;
    /// Buttons per template.
    pub const BUTTONS: usize = 10;
    /// A button's label.
    pub const BUTTON_TEXT: usize = 25;
    /// A URL button's URL.
    pub const URL: usize = 2000;
    /// A phone-number button's number.
    pub const PHONE: usize = 20;
    /// URL buttons per template.
    pub const URL_BUTTONS: usize = 2;
    /// Phone-number buttons per template.
    pub const PHONE_BUTTONS: usize = 1;
    /// Copy-code buttons per template.
    pub const COPY_CODE_BUTTONS: usize = 1;
}

/// The categories Meta files templates under.
pub const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];
/// Header formats.
pub const HEADER_FORMATS: [&str; 5] = ["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"];
/// Button types.
pub const BUTTON_TYPES: [&str; 6] = ["QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW"];

/// The `{{...}}` placeholders of `text`, in order, as written inside the braces.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

/// How a template names its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{{1}}`, `{{2}}`, …
    Positional,
    /// `{{first_name}}`, …
    Named,
}

impl Format {
    /// Reads Meta's `parameter_format` (absent: positional).
    pub fn of(s: Option<&str>) -> Option<Self> {
        match s.map(str::to_ascii_uppercase).as_deref() {
            None | Some("POSITIONAL") => Some(Self::Positional),
            Some("NAMED") => Some(Self::Named),
            Some(_) => None,
        }
    }
}

fn named_ok(p: &str) -> bool {
    p.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The template checks, beside the send API's on the same collector.
impl Check {
    /// Checks the placeholders of `text` against `format`; the number of parameters.
    fn params(&mut self, field: &str, text: &str, format: Format) -> usize {
        let ps = placeholders(text);
        match format {
            Format::Positional => {
                let mut nums = Vec::new();
                for p in &ps {
                    match p.parse::<usize>() {
                        Ok(n) if n >= 1 => nums.push(n),
                        _ => self.err(
                            field,
                            "invalid_parameter",
                            format!("{{{{{p}}}}} is not a positional parameter: number them {{{{1}}}}, {{{{2}}}}, …"),
                        ),
                    }
                }
                nums.sort_unstable();
                nums.dedup();
                if nums.iter().enumerate().any(|(i, n)| *n != i + 1) {
                    self.err(
                        field,
                        "parameter_gap",
                        format!(
                            "parameters must be numbered {{{{1}}}} to {{{{{}}}}} without gaps",
                            nums.len()
                        ),
                    );
                }
                nums.len()
            }
            Format::Named => {
                let mut names: Vec<&String> = Vec::new();
                for p in &ps {
                    if !named_ok(p) {
                        self.err(
                            field,
                            "invalid_parameter",
                            format!("{{{{{p}}}}} is not a named parameter: lowercase letters, digits and _"),
                        );
                    } else if !names.contains(&p) {
                        names.push(p);
                    }
                }
                names.len()
            }
        }
    }

    /// Each parameter needs an example: `examples` is the number given.
    fn examples(&mut self, field: &str, wanted: usize, given: usize) {
        if wanted > 0 && given < wanted {
            self.err(
                field,
                "example_required",
                format!("{wanted} parameter(s) need an example value each; {given} given"),
            );
        }
    }
}

fn text<'a>(c: &'a Value, k: &str) -> Option<&'a str> {
    c.get(k).and_then(Value::as_str)
}

fn kind(c: &Value) -> String {
    text(c, "type").unwrap_or_default().to_ascii_uppercase()
}

/// How many examples a component gives for `key` (positional: `[[...]]` or `[...]`) or its named
/// list (`..._named_params`).
fn examples_given(c: &Value, key: &str, format: Format) -> usize {
    let ex = c.get("example");
    match format {
        Format::Named => ex
            .and_then(|e| e.get(format!("{key}_named_params")))
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        Format::Positional => match ex.and_then(|e| e.get(key)) {
            Some(Value::Array(a)) => match a.first() {
                Some(Value::Array(inner)) => inner.len(),
                _ => a.len(),
            },
            _ => 0,
        },
    }
}

/// Checks Meta's create body; every problem is one entry.
pub fn check(body: &Value) -> Result<(), Vec<FieldError>> {
    let mut c = Check::default();
    match text(body, "name") {
        Some(n)
            if !n.is_empty()
                && n.len() <= limits::NAME
                && n.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_') => {}
        Some(_) => c.err(
            "name",
            "invalid",
            "lowercase letters, digits and _ only, 1 to 512 characters",
        ),
        None => c.err("name", "required", "is required"),
    }
    if text(body, "language").is_none_or(|l| l.trim().is_empty()) {
        c.err("language", "required", "is required: a language code such as en_US");
    }
    match text(body, "category") {
        Some(cat) if CATEGORIES.contains(&cat.to_ascii_uppercase().as_str()) => {}
        Some(cat) => c.err(
            "category",
            "invalid",
            format!("{cat:?} is not MARKETING, UTILITY or AUTHENTICATION"),
        ),
        None => c.err(
            "category",
            "required",
            "is required: MARKETING, UTILITY or AUTHENTICATION",
        ),
    }
    let format = match Format::of(text(body, "parameter_format")) {
        Some(f) => f,
        None => {
            c.err("parameter_format", "invalid", "must be POSITIONAL or NAMED");
            Format::Positional
        }
    };
    let Some(components) = body.get("components").and_then(Value::as_array) else {
        c.err("components", "required", "is required: an array with one BODY");
        return Err(c.errors);
    };
    let bodies = components.iter().filter(|x| kind(x) == "BODY").count();
    if bodies != 1 {
        c.err(
            "components",
            "body_required",
            format!("exactly one BODY is required; {bodies} given"),
        );
    }
    for (i, comp) in components.iter().enumerate() {
        let field = format!("components[{i}]");
        match kind(comp).as_str() {
            "BODY" => check_body(&mut c, &field, comp, format),
            "HEADER" => check_header(&mut c, &field, comp, format),
            "FOOTER" => {
                let t = text(comp, "text").unwrap_or_default();
                c.max_chars(&format!("{field}.text"), t, limits::FOOTER);
                if !placeholders(t).is_empty() {
                    c.err(
                        format!("{field}.text"),
                        "invalid_parameter",
                        "a footer takes no parameters",
                    );
                }
            }
            "BUTTONS" => check_buttons(&mut c, &field, comp),
            other => c.err(
                format!("{field}.type"),
                "invalid",
                format!("{other:?} is not HEADER, BODY, FOOTER or BUTTONS"),
            ),
        }
    }
    if c.errors.is_empty() { Ok(()) } else { Err(c.errors) }
}

fn check_body(c: &mut Check, field: &str, comp: &Value, format: Format) {
    let Some(t) = text(comp, "text").filter(|t| !t.trim().is_empty()) else {
        c.err(format!("{field}.text"), "required", "a BODY needs its text");
        return;
    };
    let f = format!("{field}.text");
    c.max_chars(&f, t, limits::BODY);
    let n = c.params(&f, t, format);
    let trimmed = t.trim();
    if n > 0 && (trimmed.starts_with("{{") || trimmed.ends_with("}}")) {
        c.err(
            &f,
            "parameter_at_edge",
            "the body may not start or end with a parameter",
        );
    }
    c.examples(
        &format!("{field}.example"),
        n,
        examples_given(comp, "body_text", format),
    );
}

fn check_header(c: &mut Check, field: &str, comp: &Value, format: Format) {
    let fmt = text(comp, "format").unwrap_or_default().to_ascii_uppercase();
    if !HEADER_FORMATS.contains(&fmt.as_str()) {
        c.err(
            format!("{field}.format"),
            "invalid",
            "must be TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION",
        );
        return;
    }
    match fmt.as_str() {
        "TEXT" => {
            let f = format!("{field}.text");
            let Some(t) = text(comp, "text") else {
                c.err(f, "required", "a TEXT header needs its text");
                return;
            };
            c.max_chars(&f, t, limits::HEADER);
            let n = c.params(&f, t, format);
            if n > 1 {
                c.err(
                    &f,
                    "too_many_parameters",
                    format!("a header takes at most 1 parameter; {n} given"),
                );
            }
            c.examples(
                &format!("{field}.example"),
                n,
                examples_given(comp, "header_text", format),
            );
        }
        "LOCATION" => {}
        _ => {
            let handles = comp
                .pointer("/example/header_handle")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if handles == 0 {
                c.err(
                    format!("{field}.example.header_handle"),
                    "example_required",
                    format!("a {fmt} header needs an example: the handle of an uploaded sample"),
                );
            }
        }
    }
}

fn check_buttons(c: &mut Check, field: &str, comp: &Value) {
    let Some(buttons) = comp.get("buttons").and_then(Value::as_array) else {
        c.err(format!("{field}.buttons"), "required", "BUTTONS needs a buttons array");
        return;
    };
    if buttons.len() > limits::BUTTONS {
        c.err(
            format!("{field}.buttons"),
            "too_many",
            format!("{} buttons; at most {}", buttons.len(), limits::BUTTONS),
        );
    }
    let count = |t: &str| buttons.iter().filter(|b| kind(b) == t).count();
    for (t, max) in [
        ("URL", limits::URL_BUTTONS),
        ("PHONE_NUMBER", limits::PHONE_BUTTONS),
        ("COPY_CODE", limits::COPY_CODE_BUTTONS),
    ] {
        if count(t) > max {
            c.err(
                format!("{field}.buttons"),
                "too_many",
                format!("at most {max} {t} button(s)"),
            );
        }
    }
    for (j, b) in buttons.iter().enumerate() {
        let bf = format!("{field}.buttons[{j}]");
        let t = kind(b);
        if !BUTTON_TYPES.contains(&t.as_str()) {
            c.err(
                format!("{bf}.type"),
                "invalid",
                "must be QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP or FLOW",
            );
            continue;
        }
        if t != "COPY_CODE" && t != "OTP" {
            match text(b, "text") {
                Some(label) if !label.is_empty() => c.max_chars(&format!("{bf}.text"), label, limits::BUTTON_TEXT),
                _ => c.err(format!("{bf}.text"), "required", "a button needs its label"),
            }
        }
        match t.as_str() {
            "URL" => {
                let Some(url) = text(b, "url") else {
                    c.err(format!("{bf}.url"), "required", "a URL button needs its url");
                    continue;
                };
                c.max_chars(&format!("{bf}.url"), url, limits::URL);
                let vars = placeholders(url).len();
                if vars > 1 || (vars == 1 && !url.trim_end().ends_with("}}")) {
                    c.err(
                        format!("{bf}.url"),
                        "invalid_parameter",
                        "a URL takes at most one parameter, at its end",
                    );
                }
                if vars == 1 && b.get("example").is_none_or(Value::is_null) {
                    c.err(
                        format!("{bf}.example"),
                        "example_required",
                        "a URL with a parameter needs an example URL",
                    );
                }
            }
            "PHONE_NUMBER" => match text(b, "phone_number") {
                Some(p) => c.max_chars(&format!("{bf}.phone_number"), p, limits::PHONE),
                None => c.err(
                    format!("{bf}.phone_number"),
                    "required",
                    "a PHONE_NUMBER button needs its number",
                ),
            },
            "COPY_CODE" if b.get("example").is_none_or(Value::is_null) => {
                c.err(
                    format!("{bf}.example"),
                    "example_required",
                    "a COPY_CODE button needs an example code",
                );
            }
            "OTP" if text(b, "otp_type").is_none() => {
                c.err(format!("{bf}.otp_type"), "required", "an OTP button needs its otp_type");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_read_in_order() {
        assert_eq!(placeholders("Hi {{1}}, order {{ 2 }} {{name}}"), ["1", "2", "name"]);
        assert!(placeholders("no {{ end").is_empty());
    }

    #[test]
    fn a_good_template_passes() {
        let body = json!({"name": "order_update", "language": "en_US", "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["42"]}},
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships today.",
                 "example": {"body_text": [["Ann", "42"]]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Track", "url": "https://x.test/t/{{1}}", "example": ["https://x.test/t/42"]},
                    {"type": "QUICK_REPLY", "text": "Thanks"}]}]});
        assert_eq!(check(&body), Ok(()));
    }
}
