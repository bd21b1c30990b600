//! Every coding agent on every provider kind: Codex CLI and Claude Code, as pinned in
//! tests/clients, each set up from the docs page, run one plain turn and one turn with a tool
//! round trip against a model served by an `openai`, an `openai_compatible` and an `anthropic`
//! provider (a fake upstream speaking each one's wire format and checking its rules). Twelve
//! cells; each checks the agent's exit code and final text, what reached the upstream, and the
//! usage rows with their cost.
//!
//! The matrix is written to target/compat.md (`scripts/compat` prints it).

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::sync::Mutex;

use common::agents::{self, Run};
use common::upstream::{ANSWER, FakeUpstream, ROUND_TRIP, THOUGHT, TOOL_OUTPUT, seal};
use common::{Server, usage_rows};

/// Prices per million tokens in the test config: input, cached input, output.
const PRICE: (i64, i64, i64) = (3, 1, 15);
/// What the fake upstream reports for every answer: input (cached included), cached, output.
const TOKENS: (i64, i64, i64) = (21, 4, 9);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agent {
    Codex,
    ClaudeCode,
}

impl Agent {
    fn name(self) -> &'static str {
        match self {
            Agent::Codex => "Codex CLI",
            Agent::ClaudeCode => "Claude Code",
        }
    }

    fn version(self) -> String {
        match self {
            Agent::Codex => agents::installed_version("codex", "@openai/codex"),
            Agent::ClaudeCode => agents::installed_version("claude", "@anthropic-ai/claude-code"),
        }
    }

    /// The endpoint it calls.
    fn endpoint(self) -> &'static str {
        match self {
            Agent::Codex => "/v1/responses",
            Agent::ClaudeCode => "/v1/messages",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Provider {
    kind: &'static str,
    /// The public model id routed to it.
    model: &'static str,
    /// The path every agent's turns take at the provider.
    path: &'static str,
}

const PROVIDERS: [Provider; 3] = [
    Provider {
        kind: "openai",
        model: "gpt-test",
        path: "/v1/responses",
    },
    Provider {
        kind: "openai_compatible",
        model: "chat-model",
        path: "/v1/chat/completions",
    },
    Provider {
        kind: "anthropic",
        model: "claude-test",
        path: "/v1/messages",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Plain,
    ToolRoundTrip,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Plain => "plain turn",
            Case::ToolRoundTrip => "tool round trip",
        }
    }
}

fn config(up: &FakeUpstream) -> String {
    let (input, cached, output) = PRICE;
    let price =
        format!("price = {{ input = {input}, cached_input = {cached}, output = {output} }}");
    format!(
        r#"{providers}
[[models]]
id = "gpt-test"
routes = [{{ provider = "openai" }}]
reasoning_efforts = ["low", "medium", "high"]
{price}

[[models]]
id = "chat-model"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
{price}

[[models]]
id = "claude-test"
routes = [{{ provider = "anthropic" }}]
reasoning_efforts = ["low", "medium", "high"]
max_output_tokens = 32000
{price}
"#,
        providers = up.providers_toml()
    )
}

/// One cell's outcome: `Ok` or what went wrong.
struct Outcome {
    agent: Agent,
    provider: Provider,
    case: Case,
    result: Result<(), String>,
}

fn run_cell(agent: Agent, provider: Provider, case: Case) -> Result<(), String> {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(
        &server,
        &format!("{:?}-{}@example.test", agent, provider.kind).to_lowercase(),
    );
    let (prompt, tools) = match case {
        Case::Plain => ("Say hi.".to_owned(), false),
        Case::ToolRoundTrip => (
            format!(
                "{ROUND_TRIP}: run `echo {TOOL_OUTPUT}` in the shell and tell me what it printed."
            ),
            true,
        ),
    };
    let Run { out, answer } = match agent {
        // Codex asks for reasoning when the user sets an effort, as many do.
        Agent::Codex => agents::codex(
            &agents::codex_config(&server),
            &key,
            &[
                &format!("model={:?}", provider.model),
                "model_reasoning_effort=\"high\"",
            ],
            &prompt,
            tools,
        ),
        Agent::ClaudeCode => agents::claude(&server, &key, provider.model, &prompt, tools),
    };
    let seen = up.seen();
    let rows = usage_rows(&server);
    let report = || {
        format!(
            "stdout:\n{}\nstderr:\n{}\nanswer: {answer:?}\nupstream saw: {:#?}\nusage rows: {rows:#?}\nserver log:\n{}",
            out.stdout,
            out.stderr,
            seen.iter()
                .map(|s| (&s.path, &s.body["model"]))
                .collect::<Vec<_>>(),
            server.log()
        )
    };
    let fail = |what: &str| Err(format!("{what}\n{}", report()));
    if !out.success {
        return fail("the agent failed");
    }
    if !answer.contains(ANSWER) {
        return fail("the agent did not give the upstream's answer");
    }
    let turns = match case {
        Case::Plain => 1,
        Case::ToolRoundTrip => 2,
    };
    if case == Case::ToolRoundTrip && !answer.contains(&format!("The tool said: {TOOL_OUTPUT}")) {
        return fail("the tool's output did not come back through the model");
    }
    let path = provider.path;
    if seen.len() != turns || seen.iter().any(|s| s.path != path) {
        return fail(&format!("expected {turns} request(s) to {path} upstream"));
    }
    if provider.kind == "openai" && seen.iter().any(|s| s.body["store"] != false) {
        return fail("a Responses request went upstream without store: false");
    }
    if case == Case::ToolRoundTrip {
        let second = seen[1].body.to_string();
        if !second.contains(TOOL_OUTPUT) {
            return fail("the second request does not carry the tool's output");
        }
        // Reasoning the provider sealed comes back to it as it was given.
        let sealed = match provider.kind {
            "openai" => seal("enc", THOUGHT),
            "anthropic" => seal("sig", THOUGHT),
            _ => String::new(),
        };
        if !second.contains(&sealed) {
            return fail("the provider's sealed reasoning did not come back to it");
        }
    }
    let (input, cached, output) = TOKENS;
    let (p_in, p_cached, p_out) = PRICE;
    let cost = (input - cached) * p_in + cached * p_cached + output * p_out;
    let good = rows.len() == turns
        && rows.iter().all(|r| {
            r.endpoint == agent.endpoint()
                && r.provider == provider.kind_name()
                && r.status == 200
                && r.outcome == "completed"
                && r.streamed
                && (r.input, r.cached, r.output) == TOKENS
                && r.cost == cost
        });
    if !good {
        return fail(&format!(
            "expected {turns} usage row(s), streamed and completed, {TOKENS:?} tokens, cost {cost}"
        ));
    }
    Ok(())
}

impl Provider {
    /// The provider's name in the test config.
    fn kind_name(&self) -> &'static str {
        match self.kind {
            "openai_compatible" => "compat",
            other => other,
        }
    }
}

#[test]
fn every_agent_works_through_every_provider_kind() {
    let mut cells = Vec::new();
    for agent in [Agent::Codex, Agent::ClaudeCode] {
        for provider in PROVIDERS {
            for case in [Case::Plain, Case::ToolRoundTrip] {
                cells.push((agent, provider, case));
            }
        }
    }
    let queue = Mutex::new(cells.clone());
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some((agent, provider, case)) = next else {
                        break;
                    };
                    let result = std::panic::catch_unwind(|| run_cell(agent, provider, case))
                        .unwrap_or_else(|panic| {
                            Err(panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| "panicked".to_owned()))
                        });
                    outcomes.lock().unwrap().push(Outcome {
                        agent,
                        provider,
                        case,
                        result,
                    });
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    let order = |o: &Outcome| {
        cells
            .iter()
            .position(|c| c.0 == o.agent && c.1.kind == o.provider.kind && c.2 == o.case)
    };
    outcomes.sort_by_key(order);

    let mut table = String::from(
        "| agent | version | provider kind | case | result |\n|---|---|---|---|---|\n",
    );
    for o in &outcomes {
        table.push_str(&format!(
            "| {} | {} | `{}` | {} | {} |\n",
            o.agent.name(),
            o.agent.version(),
            o.provider.kind,
            o.case.name(),
            if o.result.is_ok() { "pass" } else { "FAIL" }
        ));
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/compat.md");
    std::fs::write(&path, &table).unwrap();
    println!("{table}");
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.result.as_ref().err().map(|e| {
                format!(
                    "== {} × {} × {}:\n{e}",
                    o.agent.name(),
                    o.provider.kind,
                    o.case.name()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cells failed:\n{table}\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n\n")
    );
    assert_eq!(outcomes.len(), 12);
}
