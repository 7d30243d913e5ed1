//! Meta's error codes in one catalogue: what each means to us, and its title. The client classifies
//! failures with it, the sender acts on [`Meaning`] (never on a literal number), and the sandbox
//! answers with the same codes and titles Meta uses.

/// What a Graph error code means for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Meaning {
    /// The business number (or app) is sending too fast: pause the number's bucket, retry.
    ThrottleNumber,
    /// Too many messages to one customer in a short time: pause that pair's bucket, retry.
    ThrottlePair,
    /// Meta failed on its side; the same request may pass later.
    Transient,
    /// The customer's 24-hour window is closed: only a template may go.
    WindowClosed,
    /// The access token is invalid or revoked: every send fails until an operator replaces it.
    TokenRevoked,
    /// A template problem (missing, not approved, wrong parameters): fix the request.
    Template,
    /// Meta refused this message for good (undeliverable, unsupported, blocked, invalid).
    Refused,
}

/// One code of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// Meta's number.
    pub code: i64,
    /// What it means.
    pub meaning: Meaning,
    /// The title Meta gives it.
    pub title: &'static str,
}

/// Every code wabridge treats specially. Codes not listed are [`Meaning::Refused`] unless the HTTP
/// status says otherwise (429 and 5xx are retried).
pub const CATALOGUE: &[Code] = &[
    Code {
        code: 1,
        meaning: Meaning::Transient,
        title: "API Unknown",
    },
    Code {
        code: 2,
        meaning: Meaning::Transient,
        title: "API Service",
    },
    Code {
        code: 4,
        meaning: Meaning::ThrottleNumber,
        title: "Application request limit reached",
    },
    Code {
        code: 17,
        meaning: Meaning::ThrottleNumber,
        title: "User request limit reached",
    },
    Code {
        code: 341,
        meaning: Meaning::ThrottleNumber,
        title: "Application limit reached",
    },
    Code {
        code: 80007,
        meaning: Meaning::ThrottleNumber,
        title: "Rate limit issues",
    },
    Code {
        code: 130429,
        meaning: Meaning::ThrottleNumber,
        title: "Rate limit hit",
    },
    Code {
        code: 131048,
        meaning: Meaning::ThrottleNumber,
        title: "Spam rate limit hit",
    },
    Code {
        code: 131056,
        meaning: Meaning::ThrottlePair,
        title: "(Business Account, Consumer Account) pair rate limit hit",
    },
    Code {
        code: 131000,
        meaning: Meaning::Transient,
        title: "Something went wrong",
    },
    Code {
        code: 131016,
        meaning: Meaning::Transient,
        title: "Service unavailable",
    },
    Code {
        code: 131057,
        meaning: Meaning::Transient,
        title: "Account in maintenance mode",
    },
    Code {
        code: 131047,
        meaning: Meaning::WindowClosed,
        title: "Re-engagement message",
    },
    Code {
        code: 190,
        meaning: Meaning::TokenRevoked,
        title: "Invalid OAuth access token",
    },
    Code {
        code: 132000,
        meaning: Meaning::Template,
        title: "Template Param Count Mismatch",
    },
    Code {
        code: 132001,
        meaning: Meaning::Template,
        title: "Template does not exist",
    },
    Code {
        code: 132012,
        meaning: Meaning::Template,
        title: "Template Parameter Format Mismatch",
    },
    Code {
        code: 132015,
        meaning: Meaning::Template,
        title: "Template is Paused",
    },
    Code {
        code: 132016,
        meaning: Meaning::Template,
        title: "Template is Disabled",
    },
    Code {
        code: 100,
        meaning: Meaning::Refused,
        title: "Invalid parameter",
    },
    Code {
        // Meta's per-customer limit on marketing messages: this customer, not the number; Meta
        // asks that it not be retried at once.
        code: 131049,
        meaning: Meaning::Refused,
        title: "This message was not delivered to maintain healthy ecosystem engagement",
    },
    Code {
        code: 131026,
        meaning: Meaning::Refused,
        title: "Message undeliverable",
    },
    Code {
        code: 131030,
        meaning: Meaning::Refused,
        title: "Recipient phone number not in allowed list",
    },
    Code {
        code: 131051,
        meaning: Meaning::Refused,
        title: "Unsupported message type",
    },
    Code {
        code: 131052,
        meaning: Meaning::Refused,
        title: "Media download error",
    },
    Code {
        code: 131053,
        meaning: Meaning::Refused,
        title: "Media upload error",
    },
    Code {
        code: 368,
        meaning: Meaning::Refused,
        title: "Temporarily blocked for policies violations",
    },
];

/// The catalogue entry for `code`.
pub fn lookup(code: i64) -> Option<&'static Code> {
    CATALOGUE.iter().find(|c| c.code == code)
}

/// What `code` means; unknown codes are refusals.
pub fn meaning(code: i64) -> Meaning {
    lookup(code).map_or(Meaning::Refused, |c| c.meaning)
}

/// Meta's title for `code`, or `"Error"`.
pub fn title(code: i64) -> &'static str {
    lookup(code).map_or("Error", |c| c.title)
}

impl Meaning {
    /// Whether the same request may succeed later.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::ThrottleNumber | Self::ThrottlePair | Self::Transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_appears_once_and_every_meaning_the_sender_acts_on_has_a_code() {
        let mut seen = std::collections::HashSet::new();
        for c in CATALOGUE {
            assert!(seen.insert(c.code), "{} twice", c.code);
        }
        for m in [
            Meaning::ThrottleNumber,
            Meaning::ThrottlePair,
            Meaning::Transient,
            Meaning::WindowClosed,
            Meaning::TokenRevoked,
            Meaning::Template,
            Meaning::Refused,
        ] {
            assert!(CATALOGUE.iter().any(|c| c.meaning == m), "{m:?} has no code");
        }
        assert_eq!(meaning(999_999), Meaning::Refused, "unknown codes are refusals");
    }
}
