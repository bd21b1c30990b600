//! The secret guard (`privacy.secret_guard`): credentials recognised in a request's strings are
//! replaced before the request goes upstream, or the request is refused. Only how often each
//! rule fired is kept, in memory.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::config::SecretGuard;
use crate::secrets::{self, Rules};

use super::error::{ApiError, ErrorKind};

/// Bodies larger than this are scanned on the blocking pool rather than on an async worker.
pub const INLINE_BYTES: usize = 64 * 1024;

pub struct Guard {
    mode: SecretGuard,
    rules: &'static Rules,
    /// Findings per rule, since the server started.
    counts: Vec<AtomicU64>,
}

/// What the guard made of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found: the body goes as it came.
    Clean,
    /// Secrets were replaced in the body.
    Redacted,
    /// Refused, for this rule.
    Refused(String),
}

impl Guard {
    /// The guard for `mode`; `None` when it is off. The rules are compiled here, at start: a
    /// guard that was asked for and cannot work stops the start.
    pub fn new(mode: SecretGuard) -> Result<Option<Guard>, String> {
        if mode == SecretGuard::Off {
            return Ok(None);
        }
        let rules = Rules::built_in()?;
        Ok(Some(Guard {
            mode,
            rules,
            counts: (0..rules.len()).map(|_| AtomicU64::new(0)).collect(),
        }))
    }

    /// Scans every string of the body (keys stay as they are) and, when redacting, replaces
    /// what it finds in place.
    pub fn check(&self, body: &mut Value) -> Outcome {
        let mut first_rule: Option<usize> = None;
        let mut pending: Vec<&mut Value> = vec![body];
        while let Some(node) = pending.pop() {
            match node {
                Value::String(text) => {
                    let found = self.rules.scan(text);
                    let Some(first) = found.first() else { continue };
                    for f in &found {
                        if let Some(count) = self.counts.get(f.rule) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    first_rule.get_or_insert(first.rule);
                    if self.mode == SecretGuard::Block {
                        break;
                    }
                    *text = secrets::redact(self.rules, text, &found);
                }
                Value::Array(items) => pending.extend(items.iter_mut()),
                Value::Object(map) => pending.extend(map.values_mut()),
                _ => {}
            }
        }
        match (self.mode, first_rule) {
            (_, None) => Outcome::Clean,
            (SecretGuard::Block, Some(rule)) => Outcome::Refused(self.rules.id(rule).to_owned()),
            (_, Some(_)) => Outcome::Redacted,
        }
    }

    /// Rule and count of what was found since start, most first.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| (self.rules.id(i).to_owned(), c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// The client's answer to a refused request: the rule, never the secret.
pub fn refusal(rule: &str) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidRequest,
        format!(
            "The request carries what looks like a credential (rule `{rule}`), so it was not sent to the model provider. Remove it and send the request again."
        ),
    )
    .code("secret_detected")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aws() -> String {
        format!("AKIA{}", "Z7VRSQ5TJN2XOL4P")
    }

    #[test]
    fn redaction_replaces_the_secret_wherever_it_sits() {
        let guard = Guard::new(SecretGuard::Redact).unwrap().unwrap();
        let mut body = json!({"model": "m", "messages": [
            {"role": "user", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": format!("key = \"{}\"", aws())}]}
        ]});
        assert_eq!(guard.check(&mut body), Outcome::Redacted);
        let text = body["messages"][1]["content"][0]["text"].as_str().unwrap();
        assert_eq!(text, "key = \"[redacted:aws-access-token]\"");
        assert_eq!(body["messages"][0]["content"], "hello");
        assert_eq!(guard.counts(), [("aws-access-token".to_owned(), 1)]);
    }

    #[test]
    fn blocking_names_the_rule_and_clean_bodies_pass() {
        let guard = Guard::new(SecretGuard::Block).unwrap().unwrap();
        let mut body = json!({"input": format!("export AWS_ACCESS_KEY_ID={}", aws())});
        assert_eq!(
            guard.check(&mut body),
            Outcome::Refused("aws-access-token".to_owned())
        );
        assert_eq!(
            guard.check(&mut json!({"input": "fn main() {}"})),
            Outcome::Clean
        );
        assert!(Guard::new(SecretGuard::Off).unwrap().is_none());
    }
}
