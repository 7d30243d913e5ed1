//! `POST /v1/contacts/import` bodies: a CSV (`phone,name,tags`, tags `;`-separated, any other
//! column an attribute) or a JSON array of contact objects, read into one result per row so a
//! bad row is reported and never stops the others.

use serde_json::{Map, Value, json};

use super::change::{ContactChange, parse_create};
use crate::domain::CustomerKey;
use crate::outbound::request::one_line;

/// Rows one import takes at most.
pub const MAX_ROWS: usize = 100_000;

/// One row: the contact and its change, or why the row is skipped.
pub type Row = Result<(CustomerKey, ContactChange), String>;

/// Why a whole import body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// More than [`MAX_ROWS`] rows.
    #[error("an import takes at most {MAX_ROWS} rows; split the file")]
    TooManyRows,
    /// The body is not what its content type says, or lacks what every row needs.
    #[error("{0}")]
    Unreadable(String),
}

fn row_of(body: &Value) -> Row {
    parse_create(body).map_err(|e| one_line(&e))
}

/// Reads a JSON array of contact objects, as `POST /v1/contacts` takes them.
pub fn from_json(body: &[u8]) -> Result<Vec<Row>, ImportError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| ImportError::Unreadable(format!("body is not JSON: {e}")))?;
    let Value::Array(items) = v else {
        return Err(ImportError::Unreadable(
            "a JSON import is an array of contact objects".into(),
        ));
    };
    if items.len() > MAX_ROWS {
        return Err(ImportError::TooManyRows);
    }
    Ok(items.iter().map(row_of).collect())
}

/// Reads a CSV with a header row. `phone` (or `wa_id`) is required; `name` and `tags` (separated
/// by `;`) are optional; every other column sets the attribute it names. Empty cells change
/// nothing.
pub fn from_csv(body: &[u8]) -> Result<Vec<Row>, ImportError> {
    // Spreadsheets save CSV with a byte-order mark, which would otherwise stick to the first name.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(body);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Unreadable(format!("the header row cannot be read: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let phone = headers
        .iter()
        .position(|h| h == "phone" || h == "wa_id")
        .ok_or_else(|| ImportError::Unreadable("the header row needs a phone column (phone,name,tags)".into()))?;
    let mut rows = Vec::new();
    for record in reader.records() {
        if rows.len() == MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push(Err(format!("unreadable CSV: {e}")));
                continue;
            }
        };
        if record.len() != headers.len() {
            rows.push(Err(format!(
                "has {} cells where the header has {}",
                record.len(),
                headers.len()
            )));
            continue;
        }
        let mut body = Map::new();
        let mut attributes = Map::new();
        for (i, (h, cell)) in headers.iter().zip(record.iter()).enumerate() {
            if cell.is_empty() {
                continue;
            }
            match h.as_str() {
                _ if i == phone => {
                    body.insert("phone".into(), json!(cell));
                }
                "name" => {
                    body.insert("name".into(), json!(cell));
                }
                "tags" => {
                    let tags: Vec<&str> = cell.split(';').map(str::trim).filter(|t| !t.is_empty()).collect();
                    body.insert("tags".into(), json!(tags));
                }
                attr => {
                    attributes.insert(attr.to_owned(), json!(cell));
                }
            }
        }
        if !attributes.is_empty() {
            body.insert("attributes".into(), Value::Object(attributes));
        }
        rows.push(row_of(&Value::Object(body)));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_row_becomes_a_contact_and_a_bad_row_says_why() {
        let csv = "\u{feff}Phone,Name,Tags,first_name\n\
                   +27 82 000 0001,Thandi,VIP; gold,Thandi\n\
                   nope,Bad,,\n\
                   27820000002,,,\n\
                   27820000003,Short\n";
        let rows = from_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 4);
        let (k, ch) = rows[0].clone().unwrap();
        assert_eq!(k.as_str(), "27820000001");
        assert_eq!(ch.name, Some(Some("Thandi".into())));
        assert_eq!(ch.add_tags, ["vip", "gold"]);
        assert_eq!(ch.attributes, [("first_name".into(), Some("Thandi".into()))]);
        assert!(rows[1].as_ref().unwrap_err().starts_with("phone:"), "{:?}", rows[1]);
        let (_, empty) = rows[2].clone().unwrap();
        assert_eq!(empty, ContactChange::default(), "empty cells change nothing");
        assert!(rows[3].as_ref().unwrap_err().contains("2 cells"), "{:?}", rows[3]);
    }

    #[test]
    fn a_csv_without_a_phone_column_or_a_json_object_is_refused_whole() {
        assert!(matches!(from_csv(b"name,tags\nx,y\n"), Err(ImportError::Unreadable(_))));
        assert!(matches!(
            from_json(br#"{"phone":"1"}"#),
            Err(ImportError::Unreadable(_))
        ));
        let many = format!("phone\n{}", "27820000001\n".repeat(MAX_ROWS + 1));
        assert_eq!(from_csv(many.as_bytes()).unwrap_err(), ImportError::TooManyRows);
    }
}
