//! A template send's parameters against the template they name, before Meta sees them: the
//! checks behind Meta's errors 132000 (wrong parameter count) and 132012 (parameter format
//! mismatch), each mismatch one `details` entry naming the component and the index.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Template;
use super::rules::{Format, placeholders};
use crate::outbound::request::FieldError;

/// The parameters a template takes, read from its components.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Takes {
    /// Body parameters: a count (positional) or names (named).
    body: Params,
    /// Header: `text` with a parameter count, a media type (`image`, …), or nothing.
    header: Option<(String, usize)>,
    /// Indexes of URL buttons whose URL has a parameter.
    url_buttons: BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Params {
    Count(usize),
    Names(BTreeSet<String>),
}

impl Default for Params {
    fn default() -> Self {
        Self::Count(0)
    }
}

fn takes(t: &Template) -> Takes {
    let format = Format::of(Some(&t.parameter_format)).unwrap_or(Format::Positional);
    let text = |c: &Value| c.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
    let body = t.component("BODY").map(text).unwrap_or_default();
    let ps = placeholders(&body);
    let body = match format {
        Format::Positional => Params::Count(ps.iter().collect::<BTreeSet<_>>().len()),
        Format::Named => Params::Names(ps.into_iter().collect()),
    };
    let header = t.component("HEADER").and_then(|h| {
        let fmt = h
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("TEXT")
            .to_ascii_lowercase();
        if fmt == "text" {
            let n = placeholders(&text(h)).len();
            (n > 0).then(|| ("text".to_owned(), n))
        } else {
            Some((fmt, 1))
        }
    });
    let url_buttons = t
        .component("BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .map(|bs| {
            bs.iter()
                .enumerate()
                .filter(|(_, b)| {
                    b.get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k.eq_ignore_ascii_case("URL"))
                        && b.get("url")
                            .and_then(Value::as_str)
                            .is_some_and(|u| !placeholders(u).is_empty())
                })
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    Takes {
        body,
        header,
        url_buttons,
    }
}

fn err(field: impl Into<String>, code: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        code,
        reason: reason.into(),
    }
}

/// The send's components of `kind` (`header`, `body`, `button`).
fn given<'a>(content: &'a Value, kind: &str) -> impl Iterator<Item = &'a Value> {
    content
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
}

fn parameters(c: Option<&Value>) -> &[Value] {
    c.and_then(|c| c.get("parameters"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn index_of(c: &Value) -> Option<usize> {
    match c.get("index")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        _ => None,
    }
}

/// Every way the parameters of a template send (Meta's `template` object) miss the template.
pub fn check(t: &Template, content: &Value) -> Vec<FieldError> {
    let want = takes(t);
    let mut errors = Vec::new();

    let body = parameters(given(content, "body").next());
    match &want.body {
        Params::Count(n) if body.len() != *n => errors.push(err(
            "template.components.body",
            "parameter_count",
            format!("the template's BODY takes {n} parameter(s); {} given", body.len()),
        )),
        Params::Names(names) => {
            let got: BTreeSet<String> = body
                .iter()
                .filter_map(|p| p.get("parameter_name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            for missing in names.difference(&got) {
                errors.push(err(
                    "template.components.body",
                    "parameter_missing",
                    format!("the template's BODY needs the parameter {missing:?}"),
                ));
            }
            for extra in got.difference(names) {
                errors.push(err(
                    "template.components.body",
                    "parameter_unknown",
                    format!("the template's BODY has no parameter {extra:?}"),
                ));
            }
            if got.len() != body.len() {
                errors.push(err(
                    "template.components.body",
                    "parameter_name_required",
                    "a NAMED template's parameters each need a parameter_name",
                ));
            }
        }
        Params::Count(_) => {}
    }

    let header = parameters(given(content, "header").next());
    match &want.header {
        None if !header.is_empty() => errors.push(err(
            "template.components.header",
            "parameter_count",
            format!("the template's HEADER takes no parameters; {} given", header.len()),
        )),
        Some((kind, n)) if kind == "text" && header.len() != *n => errors.push(err(
            "template.components.header",
            "parameter_count",
            format!("the template's HEADER takes {n} parameter(s); {} given", header.len()),
        )),
        Some((kind, _)) if kind != "text" => {
            let got = header.first().and_then(|p| p.get("type")).and_then(Value::as_str);
            if header.len() != 1 || got != Some(kind.as_str()) {
                errors.push(err(
                    "template.components.header",
                    "parameter_format",
                    format!(
                        "the template's HEADER is a {} header: give one {kind} parameter",
                        kind.to_uppercase()
                    ),
                ));
            }
        }
        _ => {}
    }

    let url_given: Vec<(Option<usize>, usize)> = given(content, "button")
        .filter(|c| {
            c.get("sub_type")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("url"))
        })
        .map(|c| (index_of(c), parameters(Some(c)).len()))
        .collect();
    for i in &want.url_buttons {
        match url_given.iter().find(|(j, _)| *j == Some(*i)) {
            Some((_, 1)) => {}
            Some((_, n)) => errors.push(err(
                format!("template.components.buttons[{i}]"),
                "parameter_count",
                format!("URL button {i} takes 1 parameter; {n} given"),
            )),
            None => errors.push(err(
                format!("template.components.buttons[{i}]"),
                "parameter_missing",
                format!("URL button {i} has a parameter: give a button component with sub_type url and index {i}"),
            )),
        }
    }
    for (j, _) in &url_given {
        if !j.is_some_and(|j| want.url_buttons.contains(&j)) {
            let at = j.map_or_else(|| "?".to_owned(), |j| j.to_string());
            errors.push(err(
                format!("template.components.buttons[{at}]"),
                "parameter_unknown",
                format!("the template has no URL button with a parameter at index {at}"),
            ));
        }
    }
    errors
}
