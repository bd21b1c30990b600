//! A fake provider fast enough not to be what a throughput figure measures: plain HTTP/1.1 with
//! keep-alive on one thread of its own, answers made once at start (Chat Completions, Responses
//! and Anthropic Messages, whole or streamed, each with its usage), and a count of the requests
//! it served. The upstream model name picks a behaviour:
//!
//! - anything else: the short answer, whole or as a stream of a few events;
//! - `many`: a stream of [`MANY_EVENTS`] text deltas, sent as fast as the socket takes them;
//! - `slow`: a stream of [`SLOW_EVENTS`] text deltas, [`SLOW_PAUSE`] apart.
//!
//! `tests/common/upstream.rs` checks what it is sent and records every request; this one only
//! counts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memchr::memmem;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const MANY_EVENTS: usize = 2_000;
pub const SLOW_EVENTS: usize = 20;
pub const SLOW_PAUSE: Duration = Duration::from_millis(250);
/// Largest request head or body it reads.
const MAX_REQUEST: usize = 8 << 20;

pub struct FastUpstream {
    pub base: String,
    served: Arc<AtomicU64>,
}

impl FastUpstream {
    pub fn start() -> FastUpstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let served = Arc::new(AtomicU64::new(0));
        let count = served.clone();
        let answers = Arc::new(Answers::new());
        std::thread::Builder::new()
            .name("fast-upstream".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("listener");
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = socket.set_nodelay(true);
                        tokio::spawn(serve(socket, answers.clone(), count.clone()));
                    }
                });
            })
            .expect("upstream thread");
        FastUpstream {
            base: format!("http://{addr}/v1"),
            served,
        }
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

/// The three formats, by the request's path.
#[derive(Clone, Copy)]
enum Wire {
    Chat,
    Responses,
    Messages,
}

/// Every answer, written once.
struct Answers {
    whole: [Vec<u8>; 3],
    stream: [Vec<u8>; 3],
    /// One text delta of each format, for `many` and `slow`; the last events of each.
    delta: [String; 3],
    tail: [String; 3],
    head: [String; 3],
}

fn sse(events: &[(Option<&str>, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(name, data)| match name {
            Some(name) => format!("event: {name}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect()
}

fn whole_response(body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunk(text: &str) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", text.len()).into_bytes();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

const STREAM_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";

impl Answers {
    fn new() -> Answers {
        let text = "Hello from the fast upstream.";
        // Chat Completions.
        let chat_usage = json!({"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30, "prompt_tokens_details": {"cached_tokens": 4}});
        let chat_chunk = |delta: Value, finish: Value| json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "fast", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        let chat_whole = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fast",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}], "usage": chat_usage.clone()});
        let chat_head = sse(&[(
            None,
            chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        )]);
        let chat_delta = sse(&[(None, chat_chunk(json!({"content": "tok "}), Value::Null))]);
        let chat_tail = sse(&[
            (None, chat_chunk(json!({}), json!("stop"))),
            (
                None,
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "fast", "choices": [], "usage": chat_usage}),
            ),
        ])
        .concat()
            + "data: [DONE]\n\n";
        // Responses.
        let usage = json!({"input_tokens": 21, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 30});
        let item = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]});
        let response = |status: &str, output: Value, usage: Value| json!({"id": "resp_1", "object": "response", "created_at": 1, "status": status, "model": "fast", "output": output, "usage": usage});
        let responses_whole = response("completed", json!([item.clone()]), usage);
        let responses_head = sse(&[
            (Some("response.created"), json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress", json!([]), Value::Null)})),
            (Some("response.output_item.added"), json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}})),
            (Some("response.content_part.added"), json!({"type": "response.content_part.added", "sequence_number": 2, "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})),
        ])
        .concat();
        let responses_delta = sse(&[(
            Some("response.output_text.delta"),
            json!({"type": "response.output_text.delta", "sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "tok "}),
        )]);
        let responses_tail = sse(&[
            (Some("response.output_text.done"), json!({"type": "response.output_text.done", "sequence_number": 4, "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": text})),
            (Some("response.content_part.done"), json!({"type": "response.content_part.done", "sequence_number": 5, "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}})),
            (Some("response.output_item.done"), json!({"type": "response.output_item.done", "sequence_number": 6, "output_index": 0, "item": item})),
            (Some("response.completed"), json!({"type": "response.completed", "sequence_number": 7, "response": responses_whole.clone()})),
        ])
        .concat();
        // Anthropic Messages.
        let messages_whole = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "fast",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 17, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 9}});
        let messages_head = sse(&[
            (Some("message_start"), json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "fast", "content": [], "stop_reason": null, "usage": {"input_tokens": 17, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 1}}})),
            (Some("content_block_start"), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
        ])
        .concat();
        let messages_delta = sse(&[(
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}}),
        )]);
        let messages_tail = sse(&[
            (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0})),
            (Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 9}})),
            (Some("message_stop"), json!({"type": "message_stop"})),
        ])
        .concat();
        let head = [chat_head.concat(), responses_head, messages_head];
        let delta = [
            chat_delta.concat(),
            responses_delta.concat(),
            messages_delta.concat(),
        ];
        let tail = [chat_tail, responses_tail, messages_tail];
        let stream = std::array::from_fn(|i| {
            let mut out = STREAM_HEAD.to_vec();
            // One event per chunk, as providers send them.
            for part in [&head[i], &delta[i], &tail[i]] {
                for event in part.split_inclusive("\n\n") {
                    out.extend(chunk(event));
                }
            }
            out.extend_from_slice(b"0\r\n\r\n");
            out
        });
        Answers {
            whole: [
                whole_response(&chat_whole),
                whole_response(&responses_whole),
                whole_response(&messages_whole),
            ],
            stream,
            delta,
            tail,
            head,
        }
    }
}

/// The request's head: where it goes and how long its body is.
struct Head {
    len: usize,
    path_wire: Option<Wire>,
    body_len: usize,
}

fn parse_head(buf: &[u8]) -> Option<Head> {
    let end = memmem::find(buf, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?;
    let path_wire = if path.ends_with("/chat/completions") {
        Some(Wire::Chat)
    } else if path.ends_with("/responses") {
        Some(Wire::Responses)
    } else if path.ends_with("/messages") {
        Some(Wire::Messages)
    } else {
        None
    };
    let body_len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    Some(Head {
        len: end + 4,
        path_wire,
        body_len,
    })
}

/// The value of `"model"` in a JSON body, found without parsing it.
fn model_of(body: &[u8]) -> &[u8] {
    let Some(at) = memmem::find(body, b"\"model\"") else {
        return b"";
    };
    let rest = &body[at + 7..];
    let Some(open) = memchr::memchr(b'"', rest) else {
        return b"";
    };
    let rest = &rest[open + 1..];
    let close = memchr::memchr(b'"', rest).unwrap_or(0);
    &rest[..close]
}

fn streamed(body: &[u8]) -> bool {
    memmem::find(body, b"\"stream\":true").is_some()
        || memmem::find(body, b"\"stream\": true").is_some()
}

async fn serve(mut socket: TcpStream, answers: Arc<Answers>, served: Arc<AtomicU64>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut read = vec![0u8; 64 * 1024];
    loop {
        // One whole request: its head, then its body.
        let head = loop {
            if let Some(head) = parse_head(&buf) {
                break head;
            }
            if buf.len() > MAX_REQUEST {
                return;
            }
            match socket.read(&mut read).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&read[..n]),
            }
        };
        let total = head.len + head.body_len;
        if total > MAX_REQUEST {
            return;
        }
        while buf.len() < total {
            match socket.read(&mut read).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&read[..n]),
            }
        }
        let body = &buf[head.len..total];
        let Some(wire) = head.path_wire else {
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        };
        let i = wire as usize;
        let model = model_of(body);
        let ok = if !streamed(body) {
            socket.write_all(&answers.whole[i]).await.is_ok()
        } else if model == b"many" || model == b"slow" {
            let (count, pause) = if model == b"many" {
                (MANY_EVENTS, None)
            } else {
                (SLOW_EVENTS, Some(SLOW_PAUSE))
            };
            paced(&mut socket, &answers, i, count, pause).await
        } else {
            socket.write_all(&answers.stream[i]).await.is_ok()
        };
        served.fetch_add(1, Ordering::SeqCst);
        if !ok {
            return;
        }
        buf.drain(..total);
    }
}

/// A stream of `count` deltas, each its own write, with `pause` between them.
async fn paced(
    socket: &mut TcpStream,
    answers: &Answers,
    i: usize,
    count: usize,
    pause: Option<Duration>,
) -> bool {
    let delta = chunk(&answers.delta[i]);
    let mut out = STREAM_HEAD.to_vec();
    for event in answers.head[i].split_inclusive("\n\n") {
        out.extend(chunk(event));
    }
    if socket.write_all(&out).await.is_err() {
        return false;
    }
    for _ in 0..count {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        if socket.write_all(&delta).await.is_err() {
            return false;
        }
    }
    let mut out = Vec::new();
    for event in answers.tail[i].split_inclusive("\n\n") {
        out.extend(chunk(event));
    }
    out.extend_from_slice(b"0\r\n\r\n");
    socket.write_all(&out).await.is_ok()
}
