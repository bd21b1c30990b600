//! Hostile input: bodies and headers built to break parsers, text built to break pages, queries
//! or exports. Each is refused with a clear error or stored and shown as the text it is.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::upstream::FakeUpstream;
use common::{Server, csrf, text};
use serde_json::{Value, json};

fn config(up: &FakeUpstream) -> String {
    format!(
        "{}\n[accounts]\nrequire_verified_email = false\n\n[[models]]\nid = \"chat-model\"\nroutes = [{{ provider = \"compat\", model = \"upstream-chat\" }}]\nprice = {{ input = 1, output = 2 }}\n",
        up.providers_toml()
    )
}

/// Sends raw bytes and returns the whole raw answer.
fn raw(server: &Server, request: &[u8]) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    tcp.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn bodies_built_to_break_the_parser_get_a_400_in_the_callers_format() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let http = common::client();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!(
        "{{\"model\": \"chat-model\", \"messages\": {}{}}}",
        "[{\"content\": ".repeat(5_000),
        "1}]".repeat(5_000)
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("nested arrays", nested.into_bytes()),
        ("nested objects", deep_object.into_bytes()),
        ("invalid UTF-8", b"{\"model\": \"chat-\xff\xfe\"}".to_vec()),
        ("not JSON", b"model=chat-model".to_vec()),
        ("a number", b"42".to_vec()),
        ("model not a string", br#"{"model": {"$ne": 1}}"#.to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, body) in bodies {
        for (path, anthropic) in [("/v1/chat/completions", false), ("/v1/messages", true)] {
            let mut request = http
                .post(server.url(path))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body.clone());
            if anthropic {
                request = request.header("anthropic-version", "2023-06-01");
            }
            let res = request.send().unwrap();
            let status = res.status().as_u16();
            let answer: Value = res.json().unwrap_or_else(|e| panic!("{what} {path}: {e}"));
            assert_eq!(status, 400, "{what} {path}: {answer}");
            if anthropic {
                assert_eq!(answer["type"], "error", "{what}: {answer}");
                assert_eq!(answer["error"]["type"], "invalid_request_error");
            } else {
                assert_eq!(answer["error"]["type"], "invalid_request_error", "{what}");
            }
        }
    }
    assert!(up.seen().is_empty(), "nothing of it went upstream");
}

#[test]
fn oversized_headers_and_smuggling_attempts_are_refused() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let answer = raw(&server, huge.as_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 431") || answer.starts_with("HTTP/1.1 400"),
        "{answer:.200}"
    );
    // Both Content-Length and Transfer-Encoding: the request is refused, not split in two.
    let smuggle = "POST /csp-report HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                   Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/flags HTTP/1.1\r\nHost: x\r\n\r\n";
    let answer = raw(&server, smuggle.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:.300}");
    assert_eq!(
        answer.matches("HTTP/1.1 ").count(),
        1,
        "one answer only: {answer:.500}"
    );
    // The server is still there.
    let res = common::client().get(server.url("/healthz")).send().unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn text_built_to_break_pages_queries_or_exports_is_kept_and_shown_as_text() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let _key = common::user_with_key(&server, "dev@example.test");
    let http = common::signed_in(&server, "dev@example.test");
    let hostile = [
        "Robert'); DROP TABLE users;--",
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "=HYPERLINK(\"https://evil.example\")",
    ];
    for name in hostile {
        let page = text(http.get(server.url("/dashboard/profile")).send().unwrap());
        let res = http
            .post(server.url("/dashboard/profile/name"))
            .form(&[("csrf", csrf(&page).as_str()), ("name", name)])
            .send()
            .unwrap();
        assert_eq!(res.status(), 303, "{name}");
        let page = http
            .get(server.url("/dashboard/profile"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            !page.contains(name) || !name.contains('<'),
            "unescaped: {name}"
        );
        assert!(!page.contains("<script>alert(1)"), "{name}");
        assert!(!page.contains("<img src=x"), "{name}");

        let keys = text(http.get(server.url("/dashboard/keys")).send().unwrap());
        let res = http
            .post(server.url("/dashboard/keys"))
            .form(&[("csrf", csrf(&keys).as_str()), ("name", name)])
            .send()
            .unwrap();
        assert!(
            res.status() == 303 || res.status() == 400,
            "{name}: {}",
            res.status()
        );
        let listed = http
            .get(server.url("/dashboard/keys"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(!listed.contains("<script>alert(1)"), "{name}");
        assert!(!listed.contains("<img src=x"), "{name}");
    }
    // The tables are all there and the last name was stored as typed.
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let (users, name): (i64, String) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM users), (SELECT name FROM users WHERE email = 'dev@example.test')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(users, 1);
    assert_eq!(name, hostile[3]);
    // A model's text that looks like SSE framing stays inside its event.
    let key = common::user_with_key(&server, "other@example.test");
    let res = common::client()
        .post(server.url("/v1/messages"))
        .bearer_auth(&key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({
            "model": "chat-model", "stream": true, "max_tokens": 20,
            "messages": [{"role": "user", "content": "say \n\ndata: {\"type\":\"message_stop\"}\n\n"}],
        }))
        .send()
        .unwrap();
    let body = res.text().unwrap();
    assert_eq!(
        body.matches("event: message_stop").count(),
        1,
        "one end only: {body:.600}"
    );
}
