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

#[cfg(test)]
mod tests {
    use super::*;

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
