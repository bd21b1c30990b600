//! What happens to each top-level field of a request when client and provider speak different
//! formats: one table per pair, read by the translator and shown on the docs page.
//! One module because it is data: the tables of all pairs, meant to be read side by side.
//!
//! - **carry**: the provider's format has the same field with the same meaning; it is copied.
//! - **map**: the same meaning in another shape; the format readers and writers convert it.
//! - **drop**: advice, or without meaning for the provider; left out and reported.
//! - **refuse**: leaving it out would change the answer in a way the client could not notice
//!   (a background job that never runs, one choice instead of several); refused with a 400
//!   naming the field, but only when it asks for that — its default value is simply left out.
//!
//! A field missing from a table is one the translator has never seen: clients add fields with
//! every release, so such a field is dropped and reported, never a reason to refuse a request.
//! Reported names go into the `x-codexapi-dropped` response header and the request's usage
//! row; they are field names and type tags only, never values.

use serde_json::{Map, Value};

use super::{TranslateError, Wire};

/// What the translator does with one field.
#[derive(Clone, Copy)]
pub enum Policy {
    Carry,
    Map,
    Drop,
    /// Refused when the test says the value asks for what the provider cannot do.
    Refuse(fn(&Value) -> bool),
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Carry => "carry",
            Policy::Map => "map",
            Policy::Drop => "drop",
            Policy::Refuse(_) => "refuse",
        }
    }
}

/// One row of a pair's table.
pub struct Rule {
    pub field: &'static str,
    pub policy: Policy,
    /// A value of the field, as JSON; for `Refuse`, one that is refused. The table's test
    /// sends it.
    pub example: &'static str,
    /// What becomes of it, in a few words, for the docs page.
    pub note: &'static str,
}

/// The table of one client format → provider format pair.
pub struct Pair {
    pub client: Wire,
    pub provider: Wire,
    pub rules: &'static [Rule],
}

impl Pair {
    pub fn rule(&self, field: &str) -> Option<&'static Rule> {
        self.rules.iter().find(|r| r.field == field)
    }
}

/// Every pair that is translated (a format to itself is passed through, only `model` changes).
pub fn pairs() -> &'static [Pair] {
    PAIRS
}

pub(super) fn pair(client: Wire, provider: Wire) -> Option<&'static Pair> {
    PAIRS
        .iter()
        .find(|p| p.client == client && p.provider == provider)
}

const fn rule(
    field: &'static str,
    policy: Policy,
    example: &'static str,
    note: &'static str,
) -> Rule {
    Rule {
        field,
        policy,
        example,
        note,
    }
}

fn is_true(value: &Value) -> bool {
    value == &Value::Bool(true)
}

/// Anything but `null` (nulls never reach a rule).
fn is_set(_: &Value) -> bool {
    true
}

fn not_one(value: &Value) -> bool {
    value.as_u64() != Some(1)
}

fn non_empty_text(value: &Value) -> bool {
    value.as_str().is_none_or(|s| !s.is_empty())
}

fn asks_for_audio(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|modes| modes.iter().any(|m| m != "text"))
}

use Policy::{Carry, Drop, Map as Mapped, Refuse};

/// Fields every Responses client table shares, whatever the provider.
macro_rules! responses_table {
    ($($own:expr),* $(,)?) => {
        &[
            rule("model", Mapped, r#""m""#, "the provider's name for the model"),
            rule(
                "input",
                Mapped,
                r#""hi""#,
                "messages, tool calls and results; reasoning goes back only to the provider kind that made it",
            ),
            rule(
                "tools",
                Mapped,
                r#"[{"type":"function","name":"f","parameters":{"type":"object"}}]"#,
                "function, custom and namespace tools become functions; hosted tools (web_search, file_search, …) are dropped",
            ),
            rule(
                "tool_choice",
                Mapped,
                r#""required""#,
                "auto, none, required or a named tool",
            ),
            rule(
                "max_output_tokens",
                Mapped,
                "100",
                "the output limit, at most the model's",
            ),
            rule(
                "reasoning",
                Mapped,
                r#"{"effort":"high"}"#,
                "the effort; summary settings are dropped",
            ),
            rule("stream", Mapped, "true", "streamed the provider's way"),
            rule(
                "stream_options",
                Drop,
                r#"{"include_obfuscation":false}"#,
                "",
            ),
            rule("store", Drop, "false", "nothing is stored at the provider"),
            rule(
                "include",
                Drop,
                r#"["reasoning.encrypted_content"]"#,
                "reasoning is carried anyway where it can be",
            ),
            rule("metadata", Drop, r#"{"a":"b"}"#, ""),
            rule("client_metadata", Drop, r#"{"session_id":"s"}"#, ""),
            rule(
                "prompt_cache_key",
                Drop,
                r#""k""#,
                "the provider caches on its own",
            ),
            rule("prompt_cache_retention", Drop, r#""24h""#, ""),
            rule("safety_identifier", Drop, r#""u""#, ""),
            rule("service_tier", Drop, r#""flex""#, ""),
            rule(
                "truncation",
                Drop,
                r#""auto""#,
                "the provider's own context limit applies",
            ),
            rule("max_tool_calls", Drop, "5", ""),
            rule("top_logprobs", Drop, "2", ""),
            rule(
                "background",
                Refuse(is_true),
                "true",
                "refused when true: a background response needs stored state",
            ),
            rule(
                "previous_response_id",
                Refuse(is_set),
                r#""resp_1""#,
                "refused: earlier turns are not stored; send the whole input",
            ),
            rule(
                "conversation",
                Refuse(is_set),
                r#""conv_1""#,
                "refused: conversations are not stored",
            ),
            rule(
                "prompt",
                Refuse(is_set),
                r#"{"id":"pmpt_1"}"#,
                "refused: stored prompt templates live at OpenAI",
            ),
            $($own),*
        ]
    };
}

/// Fields every Messages client table shares, whatever the provider.
macro_rules! messages_table {
    ($($own:expr),* $(,)?) => {
        &[
            rule("model", Mapped, r#""m""#, "the provider's name for the model"),
            rule(
                "messages",
                Mapped,
                r#"[{"role":"user","content":"hi"}]"#,
                "text, images, documents, tool calls and results; system-role entries stay in place; thinking goes back only to the provider kind that made it",
            ),
            rule(
                "system",
                Mapped,
                r#""Be brief.""#,
                "the leading system prompt; Claude Code's Anthropic billing line is dropped",
            ),
            rule(
                "max_tokens",
                Mapped,
                "100",
                "the output limit, at most the model's",
            ),
            rule("stream", Mapped, "true", "streamed the provider's way"),
            rule(
                "tools",
                Mapped,
                r#"[{"name":"f","input_schema":{"type":"object"}}]"#,
                "client tools become functions; server tools (web search, code execution, …) are dropped",
            ),
            rule(
                "tool_choice",
                Mapped,
                r#"{"type":"any"}"#,
                "auto, any, none or a named tool; disable_parallel_tool_use too",
            ),
            rule(
                "thinking",
                Mapped,
                r#"{"type":"enabled","budget_tokens":8192}"#,
                "the reasoning effort (budget by bands; adaptive leaves it to the provider)",
            ),
            rule(
                "output_config",
                Mapped,
                r#"{"effort":"low"}"#,
                "effort becomes the reasoning effort; format a structured answer",
            ),
            rule("top_k", Drop, "40", "no such knob"),
            rule(
                "metadata",
                Drop,
                r#"{"user_id":"u"}"#,
                "not passed on to another provider",
            ),
            rule("service_tier", Drop, r#""auto""#, ""),
            rule(
                "context_management",
                Drop,
                r#"{"edits":[{"type":"clear_thinking_20251015"}]}"#,
                "Anthropic's server-side context editing",
            ),
            rule("container", Drop, r#""container_1""#, ""),
            rule(
                "mcp_servers",
                Drop,
                r#"[{"type":"url","url":"https://x","name":"x"}]"#,
                "Anthropic runs those connectors",
            ),
            $($own),*
        ]
    };
}

const RESPONSES_CHAT: &[Rule] = responses_table![
    rule(
        "instructions",
        Mapped,
        r#""Be brief.""#,
        "the leading system message",
    ),
    rule("parallel_tool_calls", Carry, "false", ""),
    rule("temperature", Carry, "0.2", ""),
    rule("top_p", Carry, "0.9", ""),
    rule("user", Carry, r#""u-1""#, ""),
    rule(
        "text",
        Mapped,
        r#"{"format":{"type":"json_object"}}"#,
        "format becomes response_format; verbosity is dropped",
    ),
];

const RESPONSES_MESSAGES: &[Rule] = responses_table![
    rule(
        "instructions",
        Mapped,
        r#""Be brief.""#,
        "the system prompt",
    ),
    rule(
        "parallel_tool_calls",
        Mapped,
        "false",
        "false becomes disable_parallel_tool_use",
    ),
    rule(
        "temperature",
        Mapped,
        "0.2",
        "clamped to 0..1; left out while thinking",
    ),
    rule("top_p", Mapped, "0.9", "left out while thinking"),
    rule("user", Mapped, r#""u-1""#, "metadata.user_id"),
    rule(
        "text",
        Drop,
        r#"{"verbosity":"low"}"#,
        "no structured-output or verbosity setting to map to",
    ),
];

const MESSAGES_CHAT: &[Rule] = messages_table![
    rule("stop_sequences", Mapped, r#"["END"]"#, "stop"),
    rule("temperature", Carry, "0.2", ""),
    rule("top_p", Carry, "0.9", ""),
];

const MESSAGES_RESPONSES: &[Rule] = messages_table![
    rule(
        "stop_sequences",
        Drop,
        r#"["END"]"#,
        "Responses has no stop sequences"
    ),
    rule(
        "temperature",
        Mapped,
        "0.2",
        "left out when the model reasons (OpenAI refuses it then)",
    ),
    rule(
        "top_p",
        Mapped,
        "0.9",
        "left out when the model reasons (OpenAI refuses it then)",
    ),
];

const CHAT_MESSAGES: &[Rule] = &[
    rule(
        "model",
        Mapped,
        r#""m""#,
        "the provider's name for the model",
    ),
    rule(
        "messages",
        Mapped,
        r#"[{"role":"user","content":"hi"}]"#,
        "system and developer messages join the system prompt; tool messages become tool_result blocks",
    ),
    rule(
        "max_completion_tokens",
        Mapped,
        "100",
        "max_tokens, which Anthropic requires",
    ),
    rule(
        "max_tokens",
        Mapped,
        "100",
        "max_tokens, when max_completion_tokens is not given",
    ),
    rule(
        "temperature",
        Mapped,
        "0.2",
        "clamped to 0..1; left out while thinking",
    ),
    rule("top_p", Mapped, "0.9", "left out while thinking"),
    rule("stop", Mapped, r#"["END"]"#, "stop_sequences"),
    rule("stream", Mapped, "true", "streamed the provider's way"),
    rule(
        "tools",
        Mapped,
        r#"[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#,
        "function tools; others are dropped",
    ),
    rule(
        "tool_choice",
        Mapped,
        r#""required""#,
        "auto, none, any or a named tool",
    ),
    rule(
        "parallel_tool_calls",
        Mapped,
        "false",
        "false becomes disable_parallel_tool_use",
    ),
    rule(
        "reasoning_effort",
        Mapped,
        r#""high""#,
        "a thinking budget, when no tool is forced",
    ),
    rule("user", Mapped, r#""u-1""#, "metadata.user_id"),
    rule(
        "n",
        Refuse(not_one),
        "2",
        "refused unless 1: one answer is all the provider gives",
    ),
    rule(
        "modalities",
        Refuse(asks_for_audio),
        r#"["text","audio"]"#,
        "refused when it asks for audio",
    ),
    rule(
        "audio",
        Refuse(is_set),
        r#"{"voice":"alloy"}"#,
        "refused: no audio answers",
    ),
    rule(
        "stream_options",
        Drop,
        r#"{"include_usage":true}"#,
        "usage always comes",
    ),
    rule("presence_penalty", Drop, "0.5", ""),
    rule("frequency_penalty", Drop, "0.5", ""),
    rule("logit_bias", Drop, r#"{"50256":-100}"#, ""),
    rule("logprobs", Drop, "true", ""),
    rule("top_logprobs", Drop, "2", ""),
    rule(
        "response_format",
        Drop,
        r#"{"type":"json_object"}"#,
        "no structured-output setting to map to",
    ),
    rule("seed", Drop, "7", ""),
    rule("store", Drop, "true", ""),
    rule("metadata", Drop, r#"{"a":"b"}"#, ""),
    rule("service_tier", Drop, r#""flex""#, ""),
    rule("prompt_cache_key", Drop, r#""k""#, ""),
    rule("prompt_cache_retention", Drop, r#""24h""#, ""),
    rule("safety_identifier", Drop, r#""u""#, ""),
    rule(
        "prediction",
        Drop,
        r#"{"type":"content","content":"x"}"#,
        "",
    ),
    rule("web_search_options", Drop, "{}", "a hosted tool"),
    rule("verbosity", Drop, r#""low""#, ""),
    rule(
        "functions",
        Drop,
        r#"[{"name":"f"}]"#,
        "the legacy form of tools",
    ),
    rule(
        "function_call",
        Drop,
        r#""auto""#,
        "the legacy form of tool_choice",
    ),
];

/// Fields every legacy Completions client table shares.
macro_rules! completions_table {
    ($($own:expr),* $(,)?) => {
        &[
            rule("model", Mapped, r#""m""#, "the provider's name for the model"),
            rule("prompt", Mapped, r#""Once""#, "one user message"),
            rule("stream", Mapped, "true", "streamed the provider's way"),
            rule(
                "stream_options",
                Drop,
                r#"{"include_usage":true}"#,
                "usage always comes",
            ),
            rule(
                "n",
                Refuse(not_one),
                "2",
                "refused unless 1: one answer is all the provider gives",
            ),
            rule(
                "echo",
                Refuse(is_true),
                "true",
                "refused when true: the prompt would be missing from the text",
            ),
            rule(
                "suffix",
                Refuse(non_empty_text),
                r#""}""#,
                "refused unless empty: no insertion",
            ),
            rule("best_of", Drop, "3", ""),
            rule("logprobs", Drop, "2", ""),
            $($own),*
        ]
    };
}

const COMPLETIONS_CHAT: &[Rule] = completions_table![
    rule("max_tokens", Carry, "16", ""),
    rule("temperature", Carry, "0.2", ""),
    rule("top_p", Carry, "0.9", ""),
    rule("stop", Carry, r#"["\n"]"#, ""),
    rule("presence_penalty", Carry, "0.5", ""),
    rule("frequency_penalty", Carry, "0.5", ""),
    rule("seed", Carry, "7", ""),
    rule("logit_bias", Carry, r#"{"50256":-100}"#, ""),
    rule("user", Carry, r#""u-1""#, ""),
];

const COMPLETIONS_MESSAGES: &[Rule] = completions_table![
    rule(
        "max_tokens",
        Mapped,
        "16",
        "max_tokens, which Anthropic requires"
    ),
    rule("temperature", Mapped, "0.2", "clamped to 0..1"),
    rule("top_p", Mapped, "0.9", ""),
    rule("stop", Mapped, r#"["\n"]"#, "stop_sequences"),
    rule("user", Mapped, r#""u-1""#, "metadata.user_id"),
    rule("presence_penalty", Drop, "0.5", ""),
    rule("frequency_penalty", Drop, "0.5", ""),
    rule("seed", Drop, "7", ""),
    rule("logit_bias", Drop, r#"{"50256":-100}"#, ""),
];

const PAIRS: &[Pair] = &[
    Pair {
        client: Wire::Responses,
        provider: Wire::Chat,
        rules: RESPONSES_CHAT,
    },
    Pair {
        client: Wire::Responses,
        provider: Wire::Messages,
        rules: RESPONSES_MESSAGES,
    },
    Pair {
        client: Wire::Messages,
        provider: Wire::Chat,
        rules: MESSAGES_CHAT,
    },
    Pair {
        client: Wire::Messages,
        provider: Wire::Responses,
        rules: MESSAGES_RESPONSES,
    },
    Pair {
        client: Wire::Chat,
        provider: Wire::Messages,
        rules: CHAT_MESSAGES,
    },
    Pair {
        client: Wire::Completions,
        provider: Wire::Chat,
        rules: COMPLETIONS_CHAT,
    },
    Pair {
        client: Wire::Completions,
        provider: Wire::Messages,
        rules: COMPLETIONS_MESSAGES,
    },
];

/// The top-level fields of a request whose rule is `map`: what the format readers may read.
/// Any other field looks absent to them, so the table alone decides what is dropped.
pub(super) struct Fields<'a> {
    body: &'a Map<String, Value>,
    pair: &'static Pair,
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a Map<String, Value>, pair: &'static Pair) -> Self {
        Fields { body, pair }
    }

    /// The field, when it is mapped and not `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        let mapped = matches!(self.pair.rule(key), Some(r) if matches!(r.policy, Policy::Map));
        self.body.get(key).filter(|v| mapped && !v.is_null())
    }

    /// The field as a string; another type is an error naming it.
    pub fn string(&self, key: &str) -> Result<Option<&'a str>, TranslateError> {
        self.get(key).map(|v| super::string(v, key)).transpose()
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, TranslateError> {
        self.get(key).map(|v| super::boolean(v, key)).transpose()
    }

    pub fn count(&self, key: &str) -> Result<Option<u64>, TranslateError> {
        self.get(key).map(|v| super::count(v, key)).transpose()
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>, TranslateError> {
        self.get(key).map(|v| super::number(v, key)).transpose()
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, TranslateError> {
        self.get(key).map(|v| super::object(v, key)).transpose()
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a [Value]>, TranslateError> {
        self.get(key)
            .map(|v| {
                v.as_array()
                    .map(Vec::as_slice)
                    .ok_or_else(|| TranslateError::invalid(key, "must be an array"))
            })
            .transpose()
    }

    /// The field as a string or a list of strings; empty when absent.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, TranslateError> {
        Ok(self
            .get(key)
            .map(|v| super::string_list(v, key))
            .transpose()?
            .unwrap_or_default())
    }
}

/// Names of what was left out of one request, in order, each once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Dropped(Vec<String>);

/// More names than this are summed up as `…`; a request's report stays short.
const MOST_NAMES: usize = 48;

impl Dropped {
    /// Records a top-level field name; one that does not look like one is recorded as `?`.
    pub fn add(&mut self, name: &str) {
        let name = if looks_like_a_name(name) { name } else { "?" };
        self.push(name.to_owned());
    }

    /// Records `container.tag`, e.g. `tools.web_search`; a tag that does not look like one is
    /// recorded as `?`.
    pub fn add_in(&mut self, container: &str, tag: &str) {
        let tag = if looks_like_a_name(tag) { tag } else { "?" };
        self.push(format!("{container}.{tag}"));
    }

    /// Every key of `object` but the ones the reader used, as `container.key`.
    pub fn rest(&mut self, container: &str, object: &Map<String, Value>, used: &[&str]) {
        for (key, value) in object {
            if !value.is_null() && !used.contains(&key.as_str()) {
                let key = if looks_like_a_name(key) { key } else { "?" };
                self.push(format!("{container}.{key}"));
            }
        }
    }

    fn push(&mut self, name: String) {
        if self.0.contains(&name) {
            return;
        }
        if self.0.len() == MOST_NAMES {
            self.0.push("…".to_owned());
        } else if self.0.len() < MOST_NAMES {
            self.0.push(name);
        }
    }

    pub fn into_names(self) -> Vec<String> {
        self.0
    }
}

/// Field names and type tags of these APIs are short snake case: lowercase ASCII letters,
/// digits, `_` and `.` (`client_metadata`, `web_search_20250305`). Anything else might be the
/// user's own words and is never reported.
fn looks_like_a_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_names_each_field_once_with_a_parsable_example() {
        for pair in pairs() {
            for (i, rule) in pair.rules.iter().enumerate() {
                assert!(!rule.field.is_empty());
                assert!(
                    pair.rules[..i].iter().all(|r| r.field != rule.field),
                    "{:?}→{:?}: {} twice",
                    pair.client,
                    pair.provider,
                    rule.field
                );
                let example: Value = serde_json::from_str(rule.example)
                    .unwrap_or_else(|e| panic!("{}: {e}", rule.field));
                if let Policy::Refuse(refused) = rule.policy {
                    assert!(refused(&example), "{}'s example is refused", rule.field);
                }
            }
            assert!(pair.rule("model").is_some());
        }
    }

    #[test]
    fn dropped_names_are_kept_once_and_never_quote_text() {
        let mut dropped = Dropped::default();
        dropped.add("include");
        dropped.add("include");
        dropped.add_in("tools", "web_search");
        dropped.add("def secret(): return 42");
        dropped.add_in("input", "x y");
        dropped.add_in("input.role", "Reviewer");
        dropped.add("brandNewFlag");
        dropped.rest(
            "reasoning",
            serde_json::json!({"effort": "low", "summary": "auto", "gone": null})
                .as_object()
                .unwrap(),
            &["effort"],
        );
        assert_eq!(
            dropped.clone().into_names(),
            [
                "include",
                "tools.web_search",
                "?",
                "input.?",
                "input.role.?",
                "reasoning.summary"
            ]
        );
        for i in 0..100 {
            dropped.add(&format!("f{i}"));
        }
        let names = dropped.into_names();
        assert_eq!(names.len(), MOST_NAMES + 1);
        assert_eq!(names.last().map(String::as_str), Some("…"));
    }
}
