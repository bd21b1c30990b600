//! Reasoning a provider signed or encrypted, carried through a client of another format.
//!
//! Anthropic wants its thinking blocks back unchanged (text and signature) when a tool loop
//! continues with thinking on; OpenAI's Responses API gives reasoning as an encrypted item that
//! only it can read. A client of the other format has no field for either, but it does keep and
//! send back an opaque string: a Responses client its reasoning items' `encrypted_content`, a
//! Messages client its thinking blocks' `signature`. So the provider's form is packed into that
//! string (a short prefix, then base64 of a small JSON object) and unpacked when the client sends
//! it back. It reaches the same kind of provider again; any other provider never sees it.
//!
//! Nothing here is stored: the string lives in the client's own conversation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::Wire;
use super::policy::Dropped;

/// Packed Anthropic thinking.
const ANTHROPIC: &str = "cxa1_";
/// Packed OpenAI encrypted reasoning.
const OPENAI: &str = "cxo1_";

/// A provider's own form of a piece of reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sealed {
    /// An Anthropic `thinking` block: its exact text and signature.
    Thinking { thinking: String, signature: String },
    /// An Anthropic `redacted_thinking` block.
    Redacted { data: String },
    /// An OpenAI Responses reasoning item's `encrypted_content`.
    Encrypted { content: String },
}

impl Sealed {
    /// The format of the provider that can read it.
    fn wire(&self) -> Wire {
        match self {
            Sealed::Thinking { .. } | Sealed::Redacted { .. } => Wire::Messages,
            Sealed::Encrypted { .. } => Wire::Responses,
        }
    }

    /// The opaque string a client of `client`'s format keeps: the provider's own string when
    /// the client speaks the provider's format, else the packed form.
    pub fn for_client(&self, client: Wire) -> String {
        match self {
            Sealed::Encrypted { content } if client == Wire::Responses => content.clone(),
            Sealed::Thinking { signature, .. } if client == Wire::Messages => signature.clone(),
            Sealed::Redacted { data } if client == Wire::Messages => data.clone(),
            _ => self.pack(),
        }
    }

    fn pack(&self) -> String {
        let (prefix, body) = match self {
            Sealed::Thinking {
                thinking,
                signature,
            } => (ANTHROPIC, json!({"t": thinking, "s": signature})),
            Sealed::Redacted { data } => (ANTHROPIC, json!({"r": data})),
            Sealed::Encrypted { content } => (OPENAI, json!({"e": content})),
        };
        format!("{prefix}{}", URL_SAFE_NO_PAD.encode(body.to_string()))
    }

    /// Unpacks a string a client sent back; `None` when it is not one of ours.
    pub fn unpack(text: &str) -> Option<Sealed> {
        let (anthropic, rest) = match (text.strip_prefix(ANTHROPIC), text.strip_prefix(OPENAI)) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return None,
        };
        let bytes = URL_SAFE_NO_PAD.decode(rest).ok()?;
        let body: Value = serde_json::from_slice(&bytes).ok()?;
        let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        if anthropic {
            match field("r") {
                Some(data) => Some(Sealed::Redacted { data }),
                None => Some(Sealed::Thinking {
                    thinking: field("t")?,
                    signature: field("s")?,
                }),
            }
        } else {
            Some(Sealed::Encrypted {
                content: field("e")?,
            })
        }
    }

    /// What a Responses client's `encrypted_content` stands for: ours, else OpenAI's own.
    pub fn from_encrypted_content(content: &str) -> Sealed {
        Sealed::unpack(content).unwrap_or_else(|| Sealed::Encrypted {
            content: content.to_owned(),
        })
    }

    /// What a Messages client's thinking block stands for: ours, else Anthropic's own.
    pub fn from_thinking(thinking: &str, signature: &str) -> Sealed {
        Sealed::unpack(signature).unwrap_or_else(|| Sealed::Thinking {
            thinking: thinking.to_owned(),
            signature: signature.to_owned(),
        })
    }

    /// What a Messages client's redacted thinking block stands for.
    pub fn from_redacted(data: &str) -> Sealed {
        Sealed::unpack(data).unwrap_or_else(|| Sealed::Redacted {
            data: data.to_owned(),
        })
    }
}

/// Whether a request body may hold reasoning packed for another kind of provider: a quick look
/// at the bytes, so that requests passed through untouched are parsed only when they do.
pub(crate) fn may_hold_packed(body: &[u8]) -> bool {
    memchr::memmem::find(body, ANTHROPIC.as_bytes()).is_some()
        || memchr::memmem::find(body, OPENAI.as_bytes()).is_some()
}

/// Takes reasoning packed for another kind of provider out of a request that goes to a provider
/// of the client's own format (a client that switched models mid-conversation): that provider
/// could not read it and would refuse the request. Anthropic wants its own thinking to open the
/// assistant turn a tool loop continues when thinking is on; when that turn loses its thinking
/// this way, thinking is turned off for the request.
pub(super) fn scrub(wire: Wire, body: &mut Map<String, Value>, dropped: &mut Dropped) {
    let foreign = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .and_then(Sealed::unpack)
            .is_some_and(|sealed| sealed.wire() != wire)
    };
    match wire {
        Wire::Responses => {
            let Some(Value::Array(input)) = body.get_mut("input") else {
                return;
            };
            let before = input.len();
            input.retain(|item| {
                !(item.get("type").and_then(Value::as_str) == Some("reasoning")
                    && foreign(item.get("encrypted_content")))
            });
            if input.len() != before {
                dropped.add("input.reasoning");
            }
        }
        Wire::Messages => {
            let Some(Value::Array(messages)) = body.get_mut("messages") else {
                return;
            };
            let mut last_assistant_lost = false;
            let last_assistant = messages
                .iter()
                .rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
            for (i, message) in messages.iter_mut().enumerate() {
                let Some(Value::Array(blocks)) = message.get_mut("content") else {
                    continue;
                };
                let before = blocks.len();
                blocks.retain(|block| match block.get("type").and_then(Value::as_str) {
                    Some("thinking") => !foreign(block.get("signature")),
                    Some("redacted_thinking") => !foreign(block.get("data")),
                    _ => true,
                });
                if blocks.len() != before {
                    dropped.add("messages.thinking");
                    last_assistant_lost |= Some(i) == last_assistant;
                }
            }
            let has = |m: &Value, kind: &str| {
                m.get("content").and_then(Value::as_array).is_some_and(|c| {
                    c.iter()
                        .any(|b| b.get("type").and_then(Value::as_str) == Some(kind))
                })
            };
            let in_tool_loop = last_assistant.is_some_and(|at| {
                has(&messages[at], "tool_use")
                    && messages[at + 1..].iter().any(|m| has(m, "tool_result"))
            });
            messages.retain(|m| {
                m.get("content")
                    .and_then(Value::as_array)
                    .is_none_or(|c| !c.is_empty())
            });
            if last_assistant_lost && in_tool_loop && body.remove("thinking").is_some() {
                dropped.add("thinking");
            }
        }
        Wire::Chat | Wire::Completions => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_forms_round_trip_and_native_ones_stay_native() {
        let thinking = Sealed::Thinking {
            thinking: "Let me look at main.rs \u{1f600}".to_owned(),
            signature: "ErUBCkYIBRgCIkD".to_owned(),
        };
        let redacted = Sealed::Redacted {
            data: "EmwKAhgBEgy3".to_owned(),
        };
        let encrypted = Sealed::Encrypted {
            content: "gAAAAABo-opaque==".to_owned(),
        };
        for sealed in [&thinking, &redacted, &encrypted] {
            let native = sealed.wire();
            let other = if native == Wire::Messages {
                Wire::Responses
            } else {
                Wire::Messages
            };
            let carried = sealed.for_client(other);
            assert_eq!(Sealed::unpack(&carried).as_ref(), Some(sealed));
            assert!(
                carried
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            );
            assert_eq!(Sealed::unpack(&sealed.for_client(native)), None);
        }
        assert_eq!(
            Sealed::from_encrypted_content(&thinking.for_client(Wire::Responses)),
            thinking
        );
        assert_eq!(
            Sealed::from_encrypted_content("gAAAAABo-opaque=="),
            encrypted
        );
        assert_eq!(
            Sealed::from_thinking("x", &encrypted.for_client(Wire::Messages)),
            encrypted
        );
        assert_eq!(
            Sealed::from_thinking("t", "sig"),
            Sealed::Thinking {
                thinking: "t".to_owned(),
                signature: "sig".to_owned()
            }
        );
        assert_eq!(Sealed::from_redacted("EmwKAhgBEgy3"), redacted);
    }

    #[test]
    fn forged_or_broken_packs_are_not_ours() {
        for text in [
            "cxa1_",
            "cxa1_!!!",
            "cxo1_e30",
            "cxa1_e30",
            "cxo1_bnVsbA",
            "plain",
        ] {
            assert_eq!(Sealed::unpack(text), None, "{text}");
        }
    }
}

#[cfg(test)]
mod scrub_tests {
    use super::*;

    #[test]
    fn reasoning_packed_for_the_other_kind_is_taken_out_of_passed_through_requests() {
        let packed_thinking = Sealed::Thinking {
            thinking: "t".to_owned(),
            signature: "s".to_owned(),
        }
        .for_client(Wire::Responses);
        let packed_encrypted = Sealed::Encrypted {
            content: "gAAAA".to_owned(),
        }
        .for_client(Wire::Messages);
        // A Codex session that moved from a Claude model to an OpenAI one.
        let mut body = json!({"input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [], "encrypted_content": packed_thinking},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-own"},
            {"type": "reasoning", "summary": [], "encrypted_content": packed_encrypted}
        ]});
        assert!(may_hold_packed(body.to_string().as_bytes()));
        let mut dropped = Dropped::default();
        scrub(Wire::Responses, body.as_object_mut().unwrap(), &mut dropped);
        assert_eq!(body["input"].as_array().unwrap().len(), 3);
        assert_eq!(body["input"][1]["encrypted_content"], "gAAAA-own");
        assert_eq!(dropped.into_names(), ["input.reasoning"]);

        // A Claude Code session that moved from an OpenAI model to a Claude one, in a tool loop.
        let mut body = json!({"thinking": {"type": "enabled", "budget_tokens": 2048}, "messages": [
            {"role": "user", "content": "ls"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "plan", "signature": packed_encrypted},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a"}]}
        ]});
        let mut dropped = Dropped::default();
        scrub(Wire::Messages, body.as_object_mut().unwrap(), &mut dropped);
        assert_eq!(body["messages"][1]["content"].as_array().unwrap().len(), 1);
        assert!(body.get("thinking").is_none());
        assert_eq!(dropped.into_names(), ["messages.thinking", "thinking"]);
        assert!(!may_hold_packed(br#"{"input": "no packs here: cxa1 cxo"}"#));
    }
}
