//! A fake model provider on loopback that speaks the real wire formats: OpenAI Chat Completions
//! (JSON and SSE with usage), OpenAI Responses (SSE events and JSON) and Anthropic Messages
//! (JSON and SSE). The upstream model name picks a behaviour:
//!
//! - anything else: answer normally, with the text `ANSWER` below plus the request's canary;
//! - `fail-500`, `fail-429`: that status before any byte;
//! - `slow`: wait 3 s before answering;
//! - `drop`: stream a little, then cut the connection;
//! - `garbage`: stream an event that is not JSON, then stop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// The text every normal answer starts with.
pub const ANSWER: &str = "Hello from the fake upstream.";

/// What the fake upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub x_api_key: Option<String>,
    pub anthropic_version: Option<String>,
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
    handle: actix_web::dev::ServerHandle,
}

impl FakeUpstream {
    pub fn start() -> FakeUpstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let closed: Closed = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = seen.clone();
        let closed_state = closed.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(state.clone()))
                        .app_data(web::Data::new(closed_state.clone()))
                        .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                        .default_service(web::to(handle))
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
            handle,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// When each `long` stream was hung up on.
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
) -> HttpResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        path: req.path().to_owned(),
        authorization: header(&req, "authorization"),
        x_api_key: header(&req, "x-api-key"),
        anthropic_version: header(&req, "anthropic-version"),
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
        "bad-request" => return HttpResponse::BadRequest().json(json!({"error": {"message": "upstream says the request is wrong", "type": "invalid_request_error"}})),
        "slow" => actix_web::rt::time::sleep(Duration::from_secs(3)).await,
        _ => {}
    }
    let text = format!("{ANSWER} {}", canary(&body)).trim().to_owned();
    let path = req.path().to_owned();
    if path.ends_with("/messages/count_tokens") {
        return HttpResponse::Ok().json(json!({"input_tokens": 42}));
    }
    if path.ends_with("/responses/compact") {
        return HttpResponse::Ok().json(json!({
            "id": "resp_compact", "object": "response.compaction", "created_at": 1,
            "output": [{"type": "compaction", "encrypted_content": "opaque"}],
            "usage": {"input_tokens": 30, "output_tokens": 5, "total_tokens": 35},
        }));
    }
    let (mut events, mut whole) = if path.ends_with("/chat/completions") {
        chat(&model, &text)
    } else if path.ends_with("/responses") {
        responses(&model, &text)
    } else if path.ends_with("/messages") {
        messages(&model, &text)
    } else {
        return HttpResponse::NotFound().json(json!({"error": {"message": "no such path"}}));
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
        "long" => {
            // A slow answer that only ends when the listener hangs up (or after 30 s).
            let guard = CloseGuard(closed.get_ref().clone());
            let tick = chat("long", "tick").0.remove(1).1;
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
    let stream = futures_util::stream::unfold(chunks.into_iter(), |mut chunks| async move {
        let next = chunks.next()?;
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        Some((Ok::<_, std::io::Error>(next), chunks))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream)
}

fn chat(model: &str, text: &str) -> (Vec<(Option<&'static str>, String)>, Value) {
    let usage = json!({"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30, "prompt_tokens_details": {"cached_tokens": 4}});
    let (first, rest) = text.split_at(text.len() / 2);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let events = vec![
        (None, chunk(json!({"role": "assistant", "content": ""}), Value::Null)),
        (None, chunk(json!({"content": first}), Value::Null)),
        (None, chunk(json!({"content": rest}), Value::Null)),
        (None, chunk(json!({}), json!("stop"))),
        (None, json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [], "usage": usage}).to_string()),
        (None, "[DONE]".to_owned()),
    ];
    let whole = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    });
    (events, whole)
}

fn responses(model: &str, text: &str) -> (Vec<(Option<&'static str>, String)>, Value) {
    let usage = json!({"input_tokens": 21, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 30});
    let item = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let response = |status: &str, output: Value, usage: Value| json!({"id": "resp_1", "object": "response", "created_at": 1, "status": status, "model": model, "output": output, "usage": usage});
    let events = vec![
        (Some("response.created"), json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", json!([]), Value::Null)}).to_string()),
        (Some("response.output_item.added"), json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}}).to_string()),
        (Some("response.content_part.added"), json!({"type": "response.content_part.added", "sequence_number": 2, "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}).to_string()),
        (Some("response.output_text.delta"), json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}).to_string()),
        (Some("response.output_text.done"), json!({"type": "response.output_text.done", "sequence_number": 4, "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": text}).to_string()),
        (Some("response.content_part.done"), json!({"type": "response.content_part.done", "sequence_number": 5, "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}).to_string()),
        (Some("response.output_item.done"), json!({"type": "response.output_item.done", "sequence_number": 6, "output_index": 0, "item": item}).to_string()),
        (Some("response.completed"), json!({"type": "response.completed", "sequence_number": 7, "response": response("completed", json!([item]), usage.clone())}).to_string()),
    ];
    (events, response("completed", json!([item]), usage))
}

fn messages(model: &str, text: &str) -> (Vec<(Option<&'static str>, String)>, Value) {
    let events = vec![
        (Some("message_start"), json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "usage": {"input_tokens": 17, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 1}}}).to_string()),
        (Some("content_block_start"), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}).to_string()),
        (Some("content_block_delta"), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}).to_string()),
        (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0}).to_string()),
        (Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 9}}).to_string()),
        (Some("message_stop"), json!({"type": "message_stop"}).to_string()),
    ];
    let whole = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 17, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 9},
    });
    (events, whole)
}
