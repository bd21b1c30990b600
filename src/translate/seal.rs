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
use serde_json::{Value, json};

use super::Wire;

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
    #[cfg(test)]
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
