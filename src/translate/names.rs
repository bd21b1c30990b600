//! Tool names as the provider sees them, and back.
//!
//! A tool reaches the provider under its own name when that name is one every provider accepts
//! (`[A-Za-z0-9_-]`, at most 64 characters) and no other tool has it. Otherwise it gets one: its
//! characters made to fit, prefixed with its namespace when two namespaces declare the same
//! name, numbered when that is still taken. Calls in the conversation are renamed the same way,
//! and the provider's calls are given back under the client's name and namespace; calls of a
//! custom tool get their raw input back out of the one parameter it was declared with.

use serde_json::Value;

use super::ir::{CUSTOM_INPUT, Call, CallInput, Conversation, Item, ToolChoice, ToolKind};

const LONGEST: usize = 64;

/// The client's side of one tool the provider knows under `upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Alias {
    upstream: String,
    name: String,
    namespace: Option<String>,
    custom: bool,
}

/// How the client's tools are named at the provider, for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolNames(Vec<Alias>);

/// A tool the provider called, in the client's terms.
pub(super) struct ClientTool<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub custom: bool,
}

impl ToolNames {
    /// Names the conversation's tools for the provider, renaming its calls and tool choice too.
    pub(super) fn assign(c: &mut Conversation) -> ToolNames {
        let mut aliases: Vec<Alias> = Vec::with_capacity(c.tools.len());
        for tool in &mut c.tools {
            let taken = |name: &str, aliases: &[Alias]| aliases.iter().any(|a| a.upstream == name);
            let mut upstream = fit(&tool.name);
            if taken(&upstream, &aliases)
                && let Some(namespace) = &tool.namespace
            {
                upstream = fit(&format!("{namespace}__{}", tool.name));
            }
            let base = upstream.clone();
            let mut n = 2;
            while taken(&upstream, &aliases) {
                let suffix = format!("_{n}");
                upstream = format!("{}{suffix}", truncate(&base, LONGEST - suffix.len()));
                n += 1;
            }
            aliases.push(Alias {
                upstream: upstream.clone(),
                name: std::mem::replace(&mut tool.name, upstream),
                namespace: tool.namespace.take(),
                custom: matches!(tool.kind, ToolKind::Custom { .. }),
            });
        }
        let names = ToolNames(aliases);
        for item in &mut c.items {
            if let Item::Call(call) = item {
                call.name = names.upstream(&call.name, call.namespace.as_deref());
                call.namespace = None;
            }
        }
        if let Some(ToolChoice::Named(name)) = &mut c.tool_choice {
            *name = names.upstream(name, None);
        }
        names
    }

    /// The provider's name for a tool the client calls `name` (in `namespace`).
    fn upstream(&self, name: &str, namespace: Option<&str>) -> String {
        let found = self
            .0
            .iter()
            .find(|a| a.name == name && a.namespace.as_deref() == namespace)
            .or_else(|| self.0.iter().find(|a| a.name == name));
        match found {
            Some(alias) => alias.upstream.clone(),
            None => fit(name),
        }
    }

    /// The client's view of the tool the provider calls `upstream`, if it is one it declared.
    pub(super) fn client(&self, upstream: &str) -> Option<ClientTool<'_>> {
        self.0
            .iter()
            .find(|a| a.upstream == upstream)
            .map(|a| ClientTool {
                name: &a.name,
                namespace: a.namespace.as_deref(),
                custom: a.custom,
            })
    }

    /// Gives a call the provider made back the client's name, namespace and input form.
    pub(super) fn restore(&self, call: &mut Call) {
        let Some(tool) = self.client(&call.name) else {
            return;
        };
        let (name, namespace, custom) = (
            tool.name.to_owned(),
            tool.namespace.map(str::to_owned),
            tool.custom,
        );
        call.name = name;
        call.namespace = namespace;
        if custom && let CallInput::Json(arguments) = &call.input {
            call.input = CallInput::Raw(raw_input(arguments));
        }
    }
}

/// The raw input of a custom tool out of the arguments it was called with as a function; the
/// arguments themselves when the model did not use the one parameter.
pub(super) fn raw_input(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v.get(CUSTOM_INPUT)?.as_str().map(str::to_owned))
        .unwrap_or_else(|| arguments.to_owned())
}

/// `text` with every character but ASCII letters, digits, `_` and `-` made a `_`: the
/// characters every provider accepts in tool names and call ids.
pub(super) fn identifier(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A name every provider accepts.
fn fit(name: &str) -> String {
    let fitted = truncate(&identifier(name), LONGEST).to_owned();
    if fitted.is_empty() {
        "tool".to_owned()
    } else {
        fitted
    }
}

fn truncate(ascii: &str, len: usize) -> &str {
    &ascii[..ascii.len().min(len)]
}

#[cfg(test)]
mod tests {
    use super::super::ir::Tool;
    use super::*;
    use serde_json::json;

    fn tool(name: &str, namespace: Option<&str>, custom: bool) -> Tool {
        Tool {
            name: name.to_owned(),
            description: None,
            namespace: namespace.map(str::to_owned),
            kind: if custom {
                ToolKind::Custom { format: None }
            } else {
                ToolKind::Function {
                    parameters: json!({}),
                    strict: None,
                }
            },
        }
    }

    #[test]
    fn names_fit_collisions_get_their_namespace_and_calls_follow() {
        let mut c = Conversation {
            tools: vec![
                tool("spawn_agent", Some("multi_agent_v1"), false),
                tool("spawn_agent", Some("collaboration"), false),
                tool("mcp.read file", None, false),
                tool("exec", Some("functions"), true),
                tool(&"x".repeat(80), None, false),
                tool(&"x".repeat(80), None, false),
            ],
            items: vec![Item::Call(Call {
                id: "c1".to_owned(),
                name: "spawn_agent".to_owned(),
                namespace: Some("collaboration".to_owned()),
                input: CallInput::Json("{}".to_owned()),
            })],
            tool_choice: Some(ToolChoice::Named("mcp.read file".to_owned())),
            ..Conversation::default()
        };
        let names = ToolNames::assign(&mut c);
        let upstream: Vec<&str> = c.tools.iter().map(|t| t.name.as_str()).collect();
        let long = "x".repeat(64);
        let numbered = format!("{}_2", "x".repeat(62));
        assert_eq!(
            upstream,
            [
                "spawn_agent",
                "collaboration__spawn_agent",
                "mcp_read_file",
                "exec",
                long.as_str(),
                numbered.as_str()
            ]
        );
        assert!(c.tools.iter().all(|t| t.namespace.is_none()));
        let Item::Call(call) = &c.items[0] else {
            panic!()
        };
        assert_eq!(call.name, "collaboration__spawn_agent");
        assert_eq!(
            c.tool_choice,
            Some(ToolChoice::Named("mcp_read_file".to_owned()))
        );

        let mut call = Call {
            id: "c2".to_owned(),
            name: "exec".to_owned(),
            namespace: None,
            input: CallInput::Json(json!({"input": "text(1)"}).to_string()),
        };
        names.restore(&mut call);
        assert_eq!(call.namespace.as_deref(), Some("functions"));
        assert_eq!(call.input, CallInput::Raw("text(1)".to_owned()));
        let mut call = Call {
            id: "c3".to_owned(),
            name: "collaboration__spawn_agent".to_owned(),
            namespace: None,
            input: CallInput::Json("{}".to_owned()),
        };
        names.restore(&mut call);
        assert_eq!(
            (call.name.as_str(), call.namespace.as_deref()),
            ("spawn_agent", Some("collaboration"))
        );
        assert_eq!(raw_input("not json"), "not json");
    }
}
