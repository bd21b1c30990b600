//! A fake model provider on loopback that speaks the real wire formats: OpenAI Chat Completions
//! (JSON and SSE with usage), OpenAI Responses (SSE events and JSON) and Anthropic Messages
//! (JSON and SSE). The upstream model name picks a behaviour:
//!
//! - anything else: answer normally, with the text `ANSWER` below plus the request's canary;
//!   when the request mentions [`ROUND_TRIP`], first with a call of the client's shell tool
//!   (`exec_command`, `Bash`, `shell_command` or `shell`) running `echo TOOL-RAN-42`, and, once
//!   the request carries that tool's result, with text quoting it;
//! - `fail-500`, `fail-429`: that status before any byte;
//! - `slow`: wait 3 s before answering;
//! - `paced`: stream the normal answer with 250 ms between events, and record in
//!   [`FakeUpstream::closed`] the moment the last one was sent;
//! - `drop`: stream a little, then cut the connection;
//! - `garbage`: stream an event that is not JSON, then stop.
//!
//! [`FakeUpstream::set_down`] makes every request fail with a 503 until it is set back: an
//! outage and its end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The text every normal answer starts with.
pub const ANSWER: &str = "Hello from the fake upstream.";
/// A prompt holding this gets a tool call first (see the module docs).
pub const ROUND_TRIP: &str = "TOOL-ROUND-TRIP";
/// What the tool call of a round trip prints, and the final answer then quotes.
pub const TOOL_OUTPUT: &str = "TOOL-RAN-42";
/// The reasoning the fake writes when the request asks for reasoning or thinking.
pub const THOUGHT: &str = "Considering the request.";

/// What the fake upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub x_api_key: Option<String>,
    pub anthropic_version: Option<String>,
    pub anthropic_beta: Option<String>,
    pub body: Value,
}

/// Moments at which a `long` stream's connection was dropped by the gateway.
type Closed = Arc<Mutex<Vec<std::time::Instant>>>;

/// Records when it is dropped: the gateway hung up on the stream it belongs to.
struct CloseGuard(Closed);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(std::time::Instant::now());
    }
}

pub struct FakeUpstream {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    closed: Closed,
    down: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeUpstream {
    /// Three providers on this upstream, one of each kind: `openai`, `compat`
    /// (`openai_compatible`) and `anthropic`, each with its own key.
    pub fn providers_toml(&self) -> String {
        format!(
            r#"
[[providers]]
name = "openai"
kind = "openai"
base_url = "{base}"
api_key = "upstream-secret-openai"

[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret-compat"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{base}"
api_key = "upstream-secret-anthropic"
"#,
            base = self.base
        )
    }

    pub fn start() -> FakeUpstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let closed: Closed = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = seen.clone();
        let closed_state = closed.clone();
        let down = Arc::new(AtomicBool::new(false));
        let down_state = down.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(state.clone()))
                        .app_data(web::Data::new(closed_state.clone()))
                        .app_data(web::Data::new(down_state.clone()))
                        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                        .default_service(web::to(handle))
                })
                // Providers stream without Nagle's delays; so does the fake.
                .on_connect(|connection, _| {
                    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                        let _ = tcp.set_nodelay(true);
                    }
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind fake upstream");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).expect("send address");
                let _ = server.await;
            });
        });
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake upstream started");
        FakeUpstream {
            base: format!("http://{addr}/v1"),
            seen,
            closed,
            down,
            handle,
        }
    }

    /// Every request fails with a 503 while `down` holds.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// When each `long` stream was hung up on, and when each `paced` stream sent its last event.
    pub fn closed(&self) -> Vec<std::time::Instant> {
        self.closed.lock().unwrap().clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        let _ = futures_util::FutureExt::now_or_never(self.handle.stop(false));
    }
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A canary the request carries (`CANARY-…`), echoed back so tests can trace content.
fn canary(body: &Value) -> String {
    let text = body.to_string();
    match text.find("CANARY-") {
        Some(at) => text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .replace("CANARY", "ECHO"),
        None => String::new(),
    }
}

fn sse(events: Vec<(Option<&str>, String)>) -> String {
    events
        .into_iter()
        .map(|(name, data)| match name {
            Some(name) => format!("event: {name}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect()
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    seen: web::Data<Arc<Mutex<Vec<Seen>>>>,
    closed: web::Data<Closed>,
    down: web::Data<Arc<AtomicBool>>,
) -> HttpResponse {
    if down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().json(
            json!({"error": {"message": "the service is down", "type": "overloaded_error"}}),
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        path: req.path().to_owned(),
        authorization: header(&req, "authorization"),
        x_api_key: header(&req, "x-api-key"),
        anthropic_version: header(&req, "anthropic-version"),
        anthropic_beta: header(&req, "anthropic-beta"),
        body: body.clone(),
    });
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    match model.as_str() {
        "fail-500" => return HttpResponse::InternalServerError().json(json!({"error": {"message": "upstream exploded", "type": "server_error"}})),
        "fail-429" => {
            return HttpResponse::TooManyRequests()
                .insert_header(("retry-after", "7"))
                .json(json!({"error": {"message": "slow down", "type": "rate_limit_error"}}));
        }
        "fail-401" => {
            // What OpenAI answers a wrong key: a message quoting the key's last characters.
            return HttpResponse::Unauthorized().json(json!({"error": {
                "message": "Incorrect API key provided: sk-op****WXYZ. You can find your API key at https://platform.openai.com/account/api-keys.",
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}));
        }
        "html" => {
            // A proxy in front of the provider answering with its own error page.
            return HttpResponse::Ok()
                .content_type("text/html")
                .body("<html><body><h1>Service Unavailable</h1></body></html>");
        }
        "huge" => {
            // An answer far beyond any model's output: 20 MiB of JSON.
            let filler = "x".repeat(20 << 20);
            return HttpResponse::Ok()
                .content_type("application/json")
                .body(format!("{{\"filler\": \"{filler}\"}}"));
        }
        "echo-error" => {
            // A provider refusing the request with its content quoted back in the message.
            let quoted = body.to_string();
            return HttpResponse::BadRequest().json(json!({"error": {
                "message": format!("Invalid request content: {quoted}"),
                "type": "invalid_request_error"}}));
        }
        "bad-request" => return HttpResponse::BadRequest().json(json!({"error": {"message": "upstream says the request is wrong", "type": "invalid_request_error"}})),
        "slow" => actix_web::rt::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let path = req.path().to_owned();
    if path.ends_with("/messages/count_tokens") {
        return HttpResponse::Ok().json(json!({"input_tokens": 42}));
    }
    if path.ends_with("/responses/input_tokens") {
        return HttpResponse::Ok()
            .json(json!({"object": "response.input_tokens", "input_tokens": 43}));
    }
    if path.ends_with("/responses/compact") {
        return HttpResponse::Ok().json(json!({
            "id": "resp_compact", "object": "response.compaction", "created_at": 1,
            "output": [{"type": "compaction", "encrypted_content": "opaque"}],
            "usage": {"input_tokens": 30, "output_tokens": 5, "total_tokens": 35},
        }));
    }
    let wire = if path.ends_with("/chat/completions") {
        Wire::Chat
    } else if path.ends_with("/responses") {
        Wire::Responses
    } else if path.ends_with("/messages") {
        Wire::Messages
    } else {
        return HttpResponse::NotFound().json(json!({"error": {"message": "no such path"}}));
    };
    if let Err(message) = check(wire, &body) {
        // What the real provider says of a request that breaks its rules.
        let error = match wire {
            Wire::Messages => {
                json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
            }
            Wire::Chat | Wire::Responses => {
                json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
            }
        };
        return HttpResponse::BadRequest().json(error);
    }
    let plan = plan(wire, &body);
    let (mut events, mut whole) = match wire {
        Wire::Chat => chat(&model, &plan),
        Wire::Responses => responses(&model, &plan),
        Wire::Messages => messages(&model, &plan),
    };
    if model == "no-usage" {
        // Some servers report no usage at all: the gateway must count for itself.
        if let Some(object) = whole.as_object_mut() {
            object.remove("usage");
        }
        events.retain(|(_, data)| !data.contains("\"usage\""));
    }
    if !stream {
        return HttpResponse::Ok().json(whole);
    }
    let mut payload = sse(events);
    match model.as_str() {
        "drop" => {
            // Half the stream, then the connection breaks.
            let cut = payload.len() / 3;
            let head = web::Bytes::from(payload[..cut].to_owned());
            let stream = futures_util::stream::unfold(Some(head), |head| async move {
                match head {
                    Some(head) => Some((Ok::<_, std::io::Error>(head), None)),
                    None => {
                        // Let the first part reach the gateway before the connection breaks.
                        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
                        Some((Err(std::io::Error::other("cut")), None))
                    }
                }
            });
            return HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(stream);
        }
        "garbage" => payload = "data: {this is not json\n\n".to_owned(),
        "trickle" => {
            // The first event, then a silence far longer than any idle timeout a test sets.
            let first =
                web::Bytes::from(payload[..payload.find("\n\n").map_or(0, |at| at + 2)].to_owned());
            let stream = futures_util::stream::unfold(Some(first), |first| async move {
                match first {
                    Some(first) => Some((Ok::<_, std::io::Error>(first), None)),
                    None => {
                        actix_web::rt::time::sleep(Duration::from_secs(30)).await;
                        None
                    }
                }
            });
            return HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(stream);
        }
        "long" => {
            // A slow answer that only ends when the listener hangs up (or after 30 s).
            let guard = CloseGuard(closed.get_ref().clone());
            let tick = chat("long", &Plan::text("tick")).0.remove(1).1;
            let stream = futures_util::stream::unfold((guard, 0u32), move |(guard, n)| {
                let tick = tick.clone();
                async move {
                    if n >= 1500 {
                        return None;
                    }
                    // About the pace at which models write tokens.
                    actix_web::rt::time::sleep(Duration::from_millis(20)).await;
                    Some((
                        Ok::<_, std::io::Error>(web::Bytes::from(format!("data: {tick}\n\n"))),
                        (guard, n + 1),
                    ))
                }
            });
            return HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(stream);
        }
        _ => {}
    }
    // One event per chunk, with a little pause, like a real provider.
    let chunks: Vec<web::Bytes> = payload
        .split_inclusive("\n\n")
        .map(|e| web::Bytes::from(e.to_owned()))
        .collect();
    if model == "paced" {
        // The guard goes with the stream's state: dropped once the last event is out.
        let guard = CloseGuard(closed.get_ref().clone());
        let stream = futures_util::stream::unfold(
            (chunks.into_iter(), guard),
            |(mut chunks, guard)| async move {
                let next = chunks.next()?;
                actix_web::rt::time::sleep(Duration::from_millis(250)).await;
                Some((Ok::<_, std::io::Error>(next), (chunks, guard)))
            },
        );
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(stream);
    }
    let stream = futures_util::stream::unfold(chunks.into_iter(), |mut chunks| async move {
        let next = chunks.next()?;
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        Some((Ok::<_, std::io::Error>(next), chunks))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream)
}

/// The format a request came in, by its path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    Chat,
    Responses,
    Messages,
}

/// What the fake answers with.
struct Plan {
    /// Reasoning first, when the request asks for it.
    thought: Option<String>,
    reply: Reply,
}

enum Reply {
    Text(String),
    Call { name: String, arguments: String },
}

impl Plan {
    fn text(text: &str) -> Plan {
        Plan {
            thought: None,
            reply: Reply::Text(text.to_owned()),
        }
    }
}

/// A short stand-in for a provider's signature or encryption of `text`, checked when it comes
/// back: FNV-1a, in hex.
pub fn seal(kind: &str, text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{kind}-{hash:016x}")
}

fn plan(wire: Wire, body: &Value) -> Plan {
    let thought = match wire {
        Wire::Chat => body.get("reasoning_effort").is_some(),
        Wire::Responses => body.get("reasoning").is_some(),
        Wire::Messages => body
            .pointer("/thinking/type")
            .is_some_and(|t| t != "disabled"),
    }
    .then(|| THOUGHT.to_owned());
    let text = format!("{ANSWER} {}", canary(body)).trim().to_owned();
    if !body.to_string().contains(ROUND_TRIP) {
        return Plan {
            thought,
            reply: Reply::Text(text),
        };
    }
    let results = tool_results(wire, body);
    let reply = if !results.is_empty() {
        let said = results
            .lines()
            .find(|l| l.contains(TOOL_OUTPUT))
            .unwrap_or("(no output)")
            .trim()
            .to_owned();
        Reply::Text(format!("{text} The tool said: {said}"))
    } else {
        match shell_call(wire, body) {
            Some((name, arguments)) => Reply::Call { name, arguments },
            None => Reply::Text(format!("{text} (no shell tool offered)")),
        }
    };
    Plan { thought, reply }
}

/// The names of the tools a request offers.
fn tool_names(wire: Wire, body: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut add = |tools: &Value| {
        for tool in tools.as_array().into_iter().flatten() {
            let name = match wire {
                Wire::Chat => tool.pointer("/function/name"),
                Wire::Responses | Wire::Messages => tool.get("name"),
            };
            if let Some(name) = name.and_then(Value::as_str) {
                names.push(name.to_owned());
            }
            if let Some(inner) = tool.get("tools") {
                for t in inner.as_array().into_iter().flatten() {
                    if let Some(name) = t.get("name").and_then(Value::as_str) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
    };
    add(body.get("tools").unwrap_or(&Value::Null));
    names
}

/// A call of the client's shell tool that prints [`TOOL_OUTPUT`], with the arguments its
/// schema wants.
fn shell_call(wire: Wire, body: &Value) -> Option<(String, String)> {
    let names = tool_names(wire, body);
    let command = format!("echo {TOOL_OUTPUT}");
    let arguments = if names.iter().any(|n| n == "exec_command") {
        ("exec_command", json!({"cmd": command}))
    } else if names.iter().any(|n| n == "Bash") {
        (
            "Bash",
            json!({"command": command, "description": "Print a marker"}),
        )
    } else if names.iter().any(|n| n == "shell_command") {
        ("shell_command", json!({"command": command}))
    } else if names.iter().any(|n| n == "shell") {
        ("shell", json!({"command": ["bash", "-lc", command]}))
    } else {
        return None;
    };
    Some((arguments.0.to_owned(), arguments.1.to_string()))
}

/// The text of every tool result the request carries.
fn tool_results(wire: Wire, body: &Value) -> String {
    fn text(content: &Value) -> String {
        match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }
    let list = |key: &str| {
        body.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    match wire {
        Wire::Chat => {
            for m in list("messages").iter().filter(|m| m["role"] == "tool") {
                out.push(text(&m["content"]));
            }
        }
        Wire::Responses => {
            for item in list("input") {
                if matches!(
                    item["type"].as_str(),
                    Some("function_call_output" | "custom_tool_call_output")
                ) {
                    out.push(text(&item["output"]));
                }
            }
        }
        Wire::Messages => {
            for m in list("messages") {
                for block in m["content"].as_array().into_iter().flatten() {
                    if block["type"] == "tool_result" {
                        out.push(text(&block["content"]));
                    }
                }
            }
        }
    }
    out.join("\n")
}

/// The provider's own rules for what a request may hold, as far as translations could break
/// them: tool results answer calls made just before; Anthropic's thinking comes back signed and
/// opens a tool loop's assistant turn; OpenAI's encrypted reasoning comes back as it was issued.
fn check(wire: Wire, body: &Value) -> Result<(), String> {
    let list = |key: &str| {
        body.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    match wire {
        Wire::Chat => {
            let mut open: Vec<String> = Vec::new();
            for (i, m) in list("messages").iter().enumerate() {
                match m["role"].as_str() {
                    Some("assistant") => {
                        open = m["tool_calls"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["id"].as_str().map(str::to_owned))
                            .collect();
                    }
                    Some("tool") => {
                        let id = m["tool_call_id"].as_str().unwrap_or_default();
                        if !open.iter().any(|o| o == id) {
                            return Err(format!(
                                "messages.[{i}]: messages with role 'tool' must be a response to a preceding message with 'tool_calls'"
                            ));
                        }
                    }
                    _ => open.clear(),
                }
            }
        }
        Wire::Responses => {
            let input = list("input");
            for item in &input {
                match item["type"].as_str() {
                    Some("function_call_output" | "custom_tool_call_output") => {
                        let id = &item["call_id"];
                        if !input.iter().any(|c| {
                            c["call_id"] == *id
                                && c["type"].as_str().is_some_and(|t| t.ends_with("call"))
                        }) {
                            return Err(format!(
                                "No tool call found for function call output with call_id {id}."
                            ));
                        }
                    }
                    Some("reasoning") => {
                        let sealed = item["encrypted_content"].as_str().unwrap_or_default();
                        if sealed != seal("enc", THOUGHT) {
                            return Err(
                                "The encrypted content for item could not be verified.".to_owned()
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        Wire::Messages => {
            let messages = list("messages");
            let thinking = body
                .pointer("/thinking/type")
                .is_some_and(|t| t == "enabled" || t == "adaptive");
            for (i, m) in messages.iter().enumerate() {
                let blocks = m["content"].as_array().cloned().unwrap_or_default();
                for (j, block) in blocks.iter().enumerate() {
                    match block["type"].as_str() {
                        Some("thinking") => {
                            let text = block["thinking"].as_str().unwrap_or_default();
                            if block["signature"].as_str() != Some(seal("sig", text).as_str()) {
                                return Err(format!(
                                    "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                                ));
                            }
                        }
                        Some("tool_result") => {
                            let id = &block["tool_use_id"];
                            let called = i > 0
                                && messages[i - 1]["content"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .any(|b| b["type"] == "tool_use" && b["id"] == *id);
                            if !called {
                                return Err(format!(
                                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}"
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
            // With thinking on, the assistant turn a tool loop continues must open with thinking.
            if thinking
                && let Some(last) = messages.iter().rposition(|m| m["role"] == "assistant")
                && messages[last]["content"]
                    .as_array()
                    .is_some_and(|b| b.iter().any(|b| b["type"] == "tool_use"))
                && messages[last + 1..].iter().any(|m| {
                    m["content"]
                        .as_array()
                        .is_some_and(|b| b.iter().any(|b| b["type"] == "tool_result"))
                })
                && messages[last]["content"][0]["type"] != "thinking"
            {
                return Err(format!(
                    "messages.{last}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block."
                ));
            }
        }
    }
    Ok(())
}

fn chat(model: &str, plan: &Plan) -> (Vec<(Option<&'static str>, String)>, Value) {
    let usage = json!({"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30, "prompt_tokens_details": {"cached_tokens": 4}});
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let mut events = vec![(
        None,
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    )];
    let mut message = json!({"role": "assistant", "content": null});
    if let Some(thought) = &plan.thought {
        events.push((
            None,
            chunk(json!({"reasoning_content": thought}), Value::Null),
        ));
        message["reasoning_content"] = json!(thought);
    }
    let finish = match &plan.reply {
        Reply::Text(text) => {
            let (first, rest) = text.split_at(text.len() / 2);
            events.push((None, chunk(json!({"content": first}), Value::Null)));
            events.push((None, chunk(json!({"content": rest}), Value::Null)));
            message["content"] = json!(text);
            "stop"
        }
        Reply::Call { name, arguments } => {
            let (first, rest) = arguments.split_at(arguments.len() / 2);
            events.push((None, chunk(json!({"tool_calls": [{"index": 0, "id": "call_fake1", "type": "function", "function": {"name": name, "arguments": first}}]}), Value::Null)));
            events.push((
                None,
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": rest}}]}),
                    Value::Null,
                ),
            ));
            message["tool_calls"] = json!([{"id": "call_fake1", "type": "function", "function": {"name": name, "arguments": arguments}}]);
            "tool_calls"
        }
    };
    events.push((None, chunk(json!({}), json!(finish))));
    events.push((None, json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": usage}).to_string()));
    events.push((None, "[DONE]".to_owned()));
    let whole = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    });
    (events, whole)
}

fn responses(model: &str, plan: &Plan) -> (Vec<(Option<&'static str>, String)>, Value) {
    let usage = json!({"input_tokens": 21, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 30});
    let response = |status: &str, output: Value, usage: Value| json!({"id": "resp_1", "object": "response", "created_at": 1, "status": status, "model": model, "output": output, "usage": usage});
    let mut events: Vec<(Option<&'static str>, Value)> = vec![(
        Some("response.created"),
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    )];
    let mut output = Vec::new();
    if let Some(thought) = &plan.thought {
        let index = output.len();
        let item = json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": thought}], "encrypted_content": seal("enc", thought)});
        events.push((Some("response.output_item.added"), json!({"output_index": index, "item": {"type": "reasoning", "id": "rs_1", "summary": []}})));
        events.push((Some("response.reasoning_summary_part.added"), json!({"item_id": "rs_1", "output_index": index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}})));
        events.push((
            Some("response.reasoning_summary_text.delta"),
            json!({"item_id": "rs_1", "output_index": index, "summary_index": 0, "delta": thought}),
        ));
        events.push((
            Some("response.reasoning_summary_text.done"),
            json!({"item_id": "rs_1", "output_index": index, "summary_index": 0, "text": thought}),
        ));
        events.push((
            Some("response.output_item.done"),
            json!({"output_index": index, "item": item}),
        ));
        output.push(item);
    }
    let index = output.len();
    match &plan.reply {
        Reply::Text(text) => {
            let item = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                              "content": [{"type": "output_text", "text": text, "annotations": []}]});
            events.push((Some("response.output_item.added"), json!({"output_index": index, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}})));
            events.push((Some("response.content_part.added"), json!({"item_id": "msg_1", "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})));
            events.push((Some("response.output_text.delta"), json!({"item_id": "msg_1", "output_index": index, "content_index": 0, "delta": text})));
            events.push((Some("response.output_text.done"), json!({"item_id": "msg_1", "output_index": index, "content_index": 0, "text": text})));
            events.push((Some("response.content_part.done"), json!({"item_id": "msg_1", "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}})));
            events.push((
                Some("response.output_item.done"),
                json!({"output_index": index, "item": item}),
            ));
            output.push(item);
        }
        Reply::Call { name, arguments } => {
            let item = json!({"type": "function_call", "id": "fc_1", "status": "completed", "call_id": "call_fake1", "name": name, "arguments": arguments});
            let (first, rest) = arguments.split_at(arguments.len() / 2);
            events.push((Some("response.output_item.added"), json!({"output_index": index, "item": {"type": "function_call", "id": "fc_1", "status": "in_progress", "call_id": "call_fake1", "name": name, "arguments": ""}})));
            events.push((
                Some("response.function_call_arguments.delta"),
                json!({"item_id": "fc_1", "output_index": index, "delta": first}),
            ));
            events.push((
                Some("response.function_call_arguments.delta"),
                json!({"item_id": "fc_1", "output_index": index, "delta": rest}),
            ));
            events.push((
                Some("response.function_call_arguments.done"),
                json!({"item_id": "fc_1", "output_index": index, "arguments": arguments}),
            ));
            events.push((
                Some("response.output_item.done"),
                json!({"output_index": index, "item": item}),
            ));
            output.push(item);
        }
    }
    let whole = response("completed", Value::Array(output), usage);
    events.push((Some("response.completed"), json!({"response": whole})));
    let events = events
        .into_iter()
        .enumerate()
        .map(|(seq, (name, mut data))| {
            data["type"] = json!(name);
            data["sequence_number"] = json!(seq);
            (name, data.to_string())
        })
        .collect();
    (events, whole)
}

fn messages(model: &str, plan: &Plan) -> (Vec<(Option<&'static str>, String)>, Value) {
    let mut events: Vec<(Option<&'static str>, Value)> = vec![(
        Some("message_start"),
        json!({"message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": 17, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 1}}}),
    )];
    let mut content = Vec::new();
    if let Some(thought) = &plan.thought {
        let signature = seal("sig", thought);
        let index = content.len();
        events.push((Some("content_block_start"), json!({"index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})));
        events.push((
            Some("content_block_delta"),
            json!({"index": index, "delta": {"type": "thinking_delta", "thinking": thought}}),
        ));
        events.push((
            Some("content_block_delta"),
            json!({"index": index, "delta": {"type": "signature_delta", "signature": signature}}),
        ));
        events.push((Some("content_block_stop"), json!({"index": index})));
        content.push(json!({"type": "thinking", "thinking": thought, "signature": signature}));
    }
    let index = content.len();
    let stop = match &plan.reply {
        Reply::Text(text) => {
            events.push((
                Some("content_block_start"),
                json!({"index": index, "content_block": {"type": "text", "text": ""}}),
            ));
            events.push((
                Some("content_block_delta"),
                json!({"index": index, "delta": {"type": "text_delta", "text": text}}),
            ));
            content.push(json!({"type": "text", "text": text}));
            "end_turn"
        }
        Reply::Call { name, arguments } => {
            let (first, rest) = arguments.split_at(arguments.len() / 2);
            events.push((Some("content_block_start"), json!({"index": index, "content_block": {"type": "tool_use", "id": "toolu_fake1", "name": name, "input": {}}})));
            events.push((Some("content_block_delta"), json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": first}})));
            events.push((Some("content_block_delta"), json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": rest}})));
            let input: Value = serde_json::from_str(arguments).unwrap_or_default();
            content.push(
                json!({"type": "tool_use", "id": "toolu_fake1", "name": name, "input": input}),
            );
            "tool_use"
        }
    };
    events.push((Some("content_block_stop"), json!({"index": index})));
    events.push((Some("message_delta"), json!({"delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 9}})));
    events.push((Some("message_stop"), json!({})));
    let events = events
        .into_iter()
        .map(|(name, mut data)| {
            data["type"] = json!(name);
            (name, data.to_string())
        })
        .collect();
    let whole = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 17, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 9},
    });
    (events, whole)
}
