//! Finding the rule that fires for a message, fast with many rules.
//!
//! A [`RuleSet`] is compiled once per set of rules: every literal keyword goes into one
//! Aho-Corasick automaton per way of reading the text (folded or as written, whole or as words),
//! exact keywords into maps, regexes into one `RegexSet`. A message is then read a handful of
//! times, whatever the number of rules, and the best match is the lowest rank among the hits.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use regex::RegexSet;

use super::rules::{Mode, Rule};

/// Trimmed and case folded.
pub fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The words of `s`: runs of letters and digits, everything else a separator.
pub fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// `" w1 w2 … "`: word keywords are found in it as `" kw1 kw2 "`, so only whole words match.
fn word_form(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    for w in words(s) {
        out.push_str(w);
        out.push(' ');
    }
    out
}

/// Literal patterns searched in one reading of the text, each owned by a rule (its rank).
#[derive(Debug, Default)]
struct Literals {
    patterns: Vec<String>,
    owners: Vec<u32>,
}

impl Literals {
    fn add(&mut self, pattern: String, rank: u32) {
        self.patterns.push(pattern);
        self.owners.push(rank);
    }

    fn build(self) -> Option<(AhoCorasick, Vec<u32>)> {
        if self.patterns.is_empty() {
            return None;
        }
        AhoCorasick::new(&self.patterns).ok().map(|ac| (ac, self.owners))
    }
}

/// The enabled rules, ranked and compiled.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// By priority (highest first), then id: a rule's index is its rank.
    rules: Vec<Rule>,
    /// Contains, folded / as written.
    contains: [Option<(AhoCorasick, Vec<u32>)>; 2],
    /// Word, folded / as written.
    word: [Option<(AhoCorasick, Vec<u32>)>; 2],
    /// Exact, folded / as written.
    exact: [HashMap<String, Vec<u32>>; 2],
    regexes: Option<(RegexSet, Vec<u32>)>,
}

/// What a message offers to match: its text (body, caption, reply title) and the id of a button or
/// list reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The business number the message came to.
    pub phone_number_id: &'a str,
    /// Text and reply ids to match, any of them.
    pub texts: &'a [&'a str],
}

impl RuleSet {
    /// Compiles the enabled ones of `rules`. Keywords were checked when the rules were written; a
    /// regex that no longer compiles (written by an older release) only loses its own keyword.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        let mut rules: Vec<Rule> = rules.into_iter().filter(|r| r.enabled).collect();
        rules.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
        let (mut contains, mut word) = (
            [Literals::default(), Literals::default()],
            [Literals::default(), Literals::default()],
        );
        let mut exact: [HashMap<String, Vec<u32>>; 2] = Default::default();
        let (mut regex_patterns, mut regex_owners) = (Vec::new(), Vec::new());
        for (rank, rule) in rules.iter().enumerate() {
            let rank = u32::try_from(rank).unwrap_or(u32::MAX);
            let cs = usize::from(rule.matching.case_sensitive);
            for k in &rule.matching.keywords {
                let k = if cs == 1 { k.trim().to_owned() } else { fold(k) };
                match rule.matching.mode {
                    Mode::Contains => contains[cs].add(k, rank),
                    Mode::Word => word[cs].add(word_form(&k), rank),
                    Mode::Exact => exact[cs].entry(k).or_default().push(rank),
                    Mode::Regex => {
                        if super::rules::compile(&k, cs == 1).is_ok() {
                            let flags = if cs == 1 { "" } else { "(?i)" };
                            regex_patterns.push(format!("{flags}{k}"));
                            regex_owners.push(rank);
                        }
                    }
                }
            }
        }
        let regexes = (!regex_patterns.is_empty())
            .then(|| {
                regex::RegexSetBuilder::new(&regex_patterns)
                    .size_limit(super::rules::MAX_REGEX_BYTES.saturating_mul(regex_patterns.len()))
                    .build()
                    .ok()
            })
            .flatten()
            .map(|set| (set, regex_owners));
        let [c0, c1] = contains;
        let [w0, w1] = word;
        Self {
            rules,
            contains: [c0.build(), c1.build()],
            word: [w0.build(), w1.build()],
            exact,
            regexes,
        }
    }

    /// How many rules can fire.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule can fire.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule that fires for `subject`: the highest-priority enabled rule that matches any of
    /// its texts and is for its business number (or any).
    pub fn best(&self, subject: &Subject<'_>) -> Option<&Rule> {
        let mut hits: Vec<u32> = Vec::new();
        for text in subject.texts {
            self.hits(text, &mut hits);
        }
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter()
            .filter_map(|rank| self.rules.get(rank as usize))
            .find(|r| {
                r.phone_number_id
                    .as_deref()
                    .is_none_or(|p| p == subject.phone_number_id)
            })
    }

    fn hits(&self, text: &str, hits: &mut Vec<u32>) {
        let folded = fold(text);
        let raw = text.trim();
        let readings = [folded.as_str(), raw];
        for (i, reading) in readings.iter().enumerate() {
            if let Some((ac, owners)) = &self.contains[i] {
                hits.extend(
                    ac.find_overlapping_iter(*reading)
                        .map(|m| owners[m.pattern().as_usize()]),
                );
            }
            if let Some((ac, owners)) = &self.word[i] {
                let form = word_form(reading);
                hits.extend(ac.find_overlapping_iter(&form).map(|m| owners[m.pattern().as_usize()]));
            }
            if let Some(ranks) = self.exact[i].get(*reading) {
                hits.extend(ranks);
            }
        }
        if let Some((set, owners)) = &self.regexes {
            hits.extend(set.matches(raw).into_iter().map(|i| owners[i]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(id: &str, priority: i32, mode: &str, keywords: &[&str], case_sensitive: bool) -> Rule {
        Rule::parse(
            &json!({"priority": priority, "match": {"keywords": keywords, "mode": mode, "case_sensitive": case_sensitive},
                    "escalate": {"label": "x"}}),
            id,
        )
        .unwrap()
    }

    fn best<'a>(set: &'a RuleSet, text: &str) -> Option<&'a str> {
        set.best(&Subject {
            phone_number_id: "100",
            texts: &[text],
        })
        .map(|r| r.id.as_str())
    }

    #[test]
    fn each_mode_matches_as_documented() {
        let set = RuleSet::new([
            rule("word", 0, "word", &["talk to agent"], false),
            rule("exact", 0, "exact", &["MENU"], false),
            rule("contains", 0, "contains", &["refund"], false),
            rule("regex", 0, "regex", &[r"^order\s+#?\d{4,}$"], false),
        ]);
        assert_eq!(best(&set, "Can I TALK to   agent, please?"), Some("word"));
        assert_eq!(best(&set, "talk to agents"), None, "whole words only");
        assert_eq!(best(&set, "  menu "), Some("exact"));
        assert_eq!(best(&set, "the menu"), None, "the whole text, for exact");
        assert_eq!(best(&set, "I want my REFUNDS"), Some("contains"));
        assert_eq!(best(&set, "Order #12345"), Some("regex"));
        assert_eq!(best(&set, "order 12"), None);
    }

    #[test]
    fn case_folding_covers_more_than_ascii_and_case_sensitive_rules_do_not_fold() {
        let set = RuleSet::new([
            rule("gruss", 0, "word", &["STRASSE", "Grüße"], false),
            rule("cs", 0, "contains", &["ACME"], true),
        ]);
        assert_eq!(best(&set, "viele GRÜSSE"), None, "ß is not expanded: simple folding");
        assert_eq!(best(&set, "viele grÜße"), Some("gruss"));
        assert_eq!(best(&set, "ΑΘΉΝΑ acme"), None);
        assert_eq!(best(&set, "from ACME corp"), Some("cs"));
    }

    #[test]
    fn the_highest_priority_enabled_rule_for_the_number_wins_ties_to_the_lower_id() {
        let mut off = rule("off", 100, "word", &["help"], false);
        off.enabled = false;
        let mut other_number = rule("other", 50, "word", &["help"], false);
        other_number.phone_number_id = Some("999".into());
        let set = RuleSet::new([
            off,
            other_number,
            rule("b-low", 1, "word", &["help"], false),
            rule("a-high", 10, "contains", &["hel"], false),
            rule("a-tie", 1, "word", &["help"], false),
        ]);
        assert_eq!(set.len(), 4, "disabled rules are not compiled");
        assert_eq!(best(&set, "help"), Some("a-high"));
        let without_high = RuleSet::new([
            rule("b-low", 1, "word", &["help"], false),
            rule("a-tie", 1, "word", &["help"], false),
        ]);
        assert_eq!(best(&without_high, "help me"), Some("a-tie"));
    }

    #[test]
    fn any_text_of_the_message_can_match_a_reply_id_among_them() {
        let set = RuleSet::new([rule("returns", 0, "exact", &["menu_returns"], false)]);
        let subject = Subject {
            phone_number_id: "100",
            texts: &["Returns", "MENU_RETURNS"],
        };
        assert_eq!(set.best(&subject).map(|r| r.id.as_str()), Some("returns"));
    }
}
