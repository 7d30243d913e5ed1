//! Phone numbers as WhatsApp wants them: E.164 digits without '+' (the `wa_id` form). People type
//! `+27 82 000 0001`, `0027-82-000-0001` or `(27) 820000001`; all are the same customer.

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPhone(pub String);

/// Normalises a number to E.164 digits without '+', refusing what cannot be a phone number: a
/// country code that does not exist, or too few or too many digits for its country.
pub fn normalize(input: &str) -> Result<String, InvalidPhone> {
    let trimmed = input.trim();
    if trimmed.chars().any(|c| !(c.is_ascii_digit() || " +-.()/".contains(c))) {
        return Err(InvalidPhone(format!(
            "{input:?} contains characters a phone number does not"
        )));
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let digits = match (trimmed.starts_with('+'), digits.strip_prefix("00")) {
        (false, Some(rest)) => rest.to_owned(),
        _ => digits,
    };
    if !(8..=15).contains(&digits.len()) {
        return Err(InvalidPhone(format!(
            "{input:?} must have 8 to 15 digits with its country code"
        )));
    }
    // Parsing checks the country code exists and the length is possible for it. Validity against
    // numbering plans is not asked: it lags behind new ranges and would refuse real customers.
    match phonenumber::parse(None, format!("+{digits}")) {
        Ok(n) if n.national().value() > 0 => Ok(digits),
        _ => Err(InvalidPhone(format!(
            "{input:?} is not a possible number for its country code"
        ))),
    }
}

/// The other forms WhatsApp may know the same customer by, for the two countries where one person
/// has two numbers' worth of digits: Brazil's mobile ninth digit (`55 DD 9XXXX XXXX` and, for
/// accounts older than the change, `55 DD XXXX XXXX`) and Mexico's mobile `1` (`52 1 …` as older
/// webhooks carry it, `52 …` as numbers are dialled today). Meta delivers to either form and
/// answers with the one it keys the account by. Empty for every other number.
pub fn variants(wa_id: &str) -> Vec<String> {
    let all_digits = wa_id.bytes().all(|b| b.is_ascii_digit());
    if !all_digits {
        return Vec::new();
    }
    match (wa_id.len(), wa_id.strip_prefix("55"), wa_id.strip_prefix("52")) {
        // 55 + area (2) + 9 + subscriber (8): the form without the ninth digit.
        (13, Some(rest), _) if rest.as_bytes()[2] == b'9' => vec![format!("55{}{}", &rest[..2], &rest[3..])],
        // 55 + area (2) + subscriber (8) of a mobile (6 to 9): the form with it.
        (12, Some(rest), _) if matches!(rest.as_bytes()[2], b'6'..=b'9') => {
            vec![format!("55{}9{}", &rest[..2], &rest[2..])]
        }
        (13, _, Some(rest)) if rest.starts_with('1') => vec![format!("52{}", &rest[1..])],
        (12, _, Some(rest)) => vec![format!("521{rest}")],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brazilian_and_mexican_mobiles_have_one_other_form_and_others_none() {
        assert_eq!(variants("5511987654321"), ["551187654321"]);
        assert_eq!(variants("551187654321"), ["5511987654321"]);
        assert!(variants("551132654321").is_empty(), "a landline has no ninth digit");
        assert_eq!(variants("5215512345678"), ["525512345678"]);
        assert_eq!(variants("525512345678"), ["5215512345678"]);
        for other in ["27820000001", "14155552671", "447700900123", "55119", "abc"] {
            assert!(variants(other).is_empty(), "{other}");
        }
        for v in ["5511987654321", "551187654321", "5215512345678", "525512345678"] {
            assert_eq!(variants(&variants(v)[0]), [v], "the forms pair up");
        }
    }

    #[test]
    fn the_ways_people_write_a_number_give_one_wa_id() {
        for input in [
            "+27 82 000 0001",
            "27820000001",
            "0027-82-000-0001",
            "(27) 82.000.0001",
            " +27820000001 ",
        ] {
            assert_eq!(normalize(input).as_deref(), Ok("27820000001"), "{input}");
        }
        assert_eq!(normalize("+1 (415) 555-2671").as_deref(), Ok("14155552671"));
        assert_eq!(normalize("+44 7700 900123").as_deref(), Ok("447700900123"));
    }

    #[test]
    fn impossible_numbers_are_refused() {
        for input in [
            "",
            "12345",
            "+27 82",
            "abc",
            "+999 123 456 789",
            "+27 82 000 0001 2345 678",
            "27820000001x",
        ] {
            assert!(normalize(input).is_err(), "{input}");
        }
    }
}
