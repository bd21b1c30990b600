//! Recognising credentials in text, for the secret guard (`privacy.secret_guard`).
//!
//! The rules are gitleaks' default rule set, kept unchanged as data in
//! `assets/secret-rules/gitleaks.toml` (MIT licence beside it): each rule has a regular
//! expression, the keywords one of which must appear for it to be tried, and optionally the
//! capture group that is the secret, a minimum Shannon entropy for it, and allow-lists. Rules
//! that only apply to files of a given name, or whose expression this regex engine does not
//! accept, are left out. Keywords are found in one pass (Aho-Corasick), so text without any
//! costs one scan and no regular expression at all.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// The rule set compiled into the binary.
const BUILT_IN: &str = include_str!("../assets/secret-rules/gitleaks.toml");
/// Largest compiled program a rule may take.
const REGEX_SIZE_LIMIT: usize = 16 << 20;

/// Where a secret was found: the rule, and the byte range of the secret in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
}

struct Rule {
    id: String,
    regex: Regex,
    /// The capture group that holds the secret; 0 for "the first group that matched, else the
    /// whole match".
    secret_group: usize,
    entropy: Option<f64>,
    /// An allowed secret (or, with `on_match`, an allowed match) is not one.
    allow: Vec<(Regex, bool)>,
    stopwords: Vec<String>,
}

/// A compiled rule set.
pub struct Rules {
    rules: Vec<Rule>,
    keywords: AhoCorasick,
    /// For each keyword, the rules it wakes.
    woken: Vec<Vec<usize>>,
    /// Rules without keywords, tried on every text.
    always: Vec<usize>,
    allow: Vec<Regex>,
    stopwords: Vec<String>,
    /// Rules left out, with why.
    pub skipped: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    allowlist: Option<AllowList>,
    #[serde(default)]
    rules: Vec<RuleDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleDef {
    id: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allowlists: Vec<AllowList>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AllowList {
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// Compiles an expression with ASCII classes (`\w` is `[0-9A-Za-z_]`, as in Go, whose syntax
/// the rules are written in), which keeps large repetitions small; with Unicode classes where
/// the expression needs them.
fn compile(pattern: &str) -> Result<Regex, String> {
    let build = |unicode: bool| {
        RegexBuilder::new(pattern)
            .unicode(unicode)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
    };
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| e.to_string().lines().last().unwrap_or_default().to_owned())
}

impl Rules {
    /// The built-in rule set, compiled once, on first use.
    pub fn built_in() -> Result<&'static Rules, String> {
        static RULES: OnceLock<Result<Rules, String>> = OnceLock::new();
        RULES
            .get_or_init(|| Rules::parse(BUILT_IN))
            .as_ref()
            .map_err(|e| format!("the built-in secret rules do not load: {e}"))
    }

    /// Compiles a rule set in gitleaks' format.
    pub fn parse(text: &str) -> Result<Rules, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let global = file.allowlist.unwrap_or_default();
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        let mut keyword_list: Vec<String> = Vec::new();
        let mut woken: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for def in file.rules {
            let Some(pattern) = def.regex.as_deref() else {
                skipped.push((def.id, "matches file names only".to_owned()));
                continue;
            };
            if def.path.is_some() {
                skipped.push((def.id, "applies to some kinds of file only".to_owned()));
                continue;
            }
            let regex = match compile(pattern) {
                Ok(regex) => regex,
                Err(e) => {
                    skipped.push((def.id, e));
                    continue;
                }
            };
            let mut allow = Vec::new();
            let mut stopwords = Vec::new();
            for list in def.allowlists {
                // A list that needs a file path never applies to a request body.
                if !list.paths.is_empty() {
                    continue;
                }
                let on_match = list.regex_target.as_deref().is_some_and(|t| t != "secret");
                allow.extend(
                    list.regexes
                        .iter()
                        .filter_map(|r| compile(r).ok())
                        .map(|r| (r, on_match)),
                );
                stopwords.extend(list.stopwords.into_iter().map(|w| w.to_ascii_lowercase()));
            }
            let index = rules.len();
            if def.keywords.is_empty() {
                always.push(index);
            }
            for keyword in def.keywords {
                let keyword = keyword.to_ascii_lowercase();
                match keyword_list.iter().position(|k| *k == keyword) {
                    Some(at) => woken[at].push(index),
                    None => {
                        keyword_list.push(keyword);
                        woken.push(vec![index]);
                    }
                }
            }
            rules.push(Rule {
                id: def.id,
                regex,
                secret_group: def.secret_group.unwrap_or(0),
                entropy: def.entropy,
                allow,
                stopwords,
            });
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&keyword_list)
            .map_err(|e| e.to_string())?;
        Ok(Rules {
            rules,
            keywords,
            woken,
            always,
            allow: global
                .regexes
                .iter()
                .filter_map(|r| compile(r).ok())
                .collect(),
            stopwords: global
                .stopwords
                .iter()
                .map(|w| w.to_ascii_lowercase())
                .collect(),
            skipped,
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The id of rule `index` (`aws-access-token`, …).
    pub fn id(&self, index: usize) -> &str {
        self.rules.get(index).map_or("", |r| r.id.as_str())
    }

    /// Every secret in `text`, in order, none overlapping another.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut candidates = vec![false; self.rules.len()];
        for index in &self.always {
            candidates[*index] = true;
        }
        let mut any = !self.always.is_empty();
        for found in self.keywords.find_overlapping_iter(text) {
            for index in &self.woken[found.pattern().as_usize()] {
                candidates[*index] = true;
                any = true;
            }
        }
        if !any {
            return Vec::new();
        }
        let mut findings = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if !candidates[index] {
                continue;
            }
            for caps in rule.regex.captures_iter(text) {
                let Some(whole) = caps.get(0) else { continue };
                let secret = if rule.secret_group > 0 {
                    caps.get(rule.secret_group)
                } else {
                    (1..caps.len()).find_map(|i| caps.get(i)).or(Some(whole))
                };
                let Some(secret) = secret.filter(|s| !s.is_empty()) else {
                    continue;
                };
                if self.allowed(rule, secret.as_str(), whole.as_str()) {
                    continue;
                }
                findings.push(Finding {
                    rule: index,
                    start: secret.start(),
                    end: secret.end(),
                });
            }
        }
        findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
        for f in findings {
            if kept.last().is_none_or(|last| f.start >= last.end) {
                kept.push(f);
            }
        }
        kept
    }

    fn allowed(&self, rule: &Rule, secret: &str, whole: &str) -> bool {
        if rule.entropy.is_some_and(|min| entropy(secret) < min) {
            return true;
        }
        let lower = secret.to_ascii_lowercase();
        let stopped = |words: &[String]| words.iter().any(|w| lower.contains(w.as_str()));
        stopped(&self.stopwords)
            || stopped(&rule.stopwords)
            || self.allow.iter().any(|r| r.is_match(secret))
            || rule
                .allow
                .iter()
                .any(|(r, on_match)| r.is_match(if *on_match { whole } else { secret }))
    }
}

/// Shannon entropy of the text's bytes, in bits per byte.
pub fn entropy(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in text.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = text.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / len;
            -p * p.log2()
        })
        .sum()
}

/// `text` with each finding replaced by `[redacted:<rule>]`.
pub fn redact(rules: &Rules, text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        out.push_str(&text[at..f.start]);
        out.push_str("[redacted:");
        out.push_str(rules.id(f.rule));
        out.push(']');
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> &'static Rules {
        Rules::built_in().unwrap()
    }

    #[test]
    fn the_built_in_rules_compile_with_few_left_out() {
        let parsed = Rules::parse(BUILT_IN).unwrap();
        assert!(parsed.len() >= 200, "{} rules", parsed.len());
        for (id, why) in &parsed.skipped {
            assert!(
                why.contains("file"),
                "{id} was left out for its expression: {why}"
            );
        }
    }

    #[test]
    fn well_known_credentials_are_found_and_redacted() {
        // Made-up values in the providers' documented formats.
        let aws = format!("AKIA{}", "Z7VRSQ5TJN2XOL4P");
        let github = format!("ghp_{}", "4hT8kP2mQ9xZ7vB3nL6wR1sD5fG0jY8cA2eK");
        let key_block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq2f8Xo9vR3kWq5T1nY4mL8pZ6cD2hJ0sG\nuV7aB3eK9xQ1wF5tN8rM4yH6oP2iL0jC7vX9zS3dA1gE5kT8bU\n-----END RSA PRIVATE KEY-----";
        for (secret, rule) in [
            (aws.as_str(), "aws-access-token"),
            (github.as_str(), "github-pat"),
            (key_block, "private-key"),
        ] {
            let text = format!("config:\n  value = \"{secret}\"\nmore code");
            let found = rules().scan(&text);
            let ids: Vec<&str> = found.iter().map(|f| rules().id(f.rule)).collect();
            assert!(ids.contains(&rule), "{rule} not in {ids:?}");
            let clean = redact(rules(), &text, &found);
            assert!(!clean.contains(secret), "{clean}");
            assert!(clean.contains(&format!("[redacted:{rule}]")), "{clean}");
            assert!(clean.starts_with("config:") && clean.ends_with("more code"));
        }
    }

    #[test]
    fn ordinary_code_has_no_secrets() {
        let code = "fn main() {\n    let api_key = std::env::var(\"API_KEY\").expect(\"set API_KEY\");\n    let password = read_password()?;\n    println!(\"token: {}\", token.len());\n}\n";
        assert_eq!(rules().scan(code), Vec::new());
        assert_eq!(rules().scan(&"plain words ".repeat(1000)), Vec::new());
    }

    #[test]
    fn an_environment_line_is_found() {
        let line = format!("x\nAWS_ACCESS_KEY_ID=AKIA{}\n", "Z7VRSQ5TJN2XOL4P");
        let ids: Vec<&str> = rules()
            .scan(&line)
            .iter()
            .map(|f| rules().id(f.rule))
            .collect();
        assert_eq!(ids, ["aws-access-token"]);
    }

    #[test]
    fn entropy_is_in_bits_per_byte() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
    }
}
