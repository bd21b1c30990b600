//! Faults of the process itself: killed without warning under load, the server comes back with
//! a sound database, a row and a debit for every answer a client received, and a ledger that
//! balances.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use common::upstream::FakeUpstream;
use rusqlite::Connection;
use serde_json::{Value, json};

#[test]
fn kill_9_under_load_loses_no_answered_request() {
    let up = FakeUpstream::start();
    let config = format!(
        "{}\n[[models]]\nid = \"chat-model\"\nroutes = [{{ provider = \"compat\", model = \"upstream-chat\" }}]\nprice = {{ input = \"1.00\", output = \"2.00\" }}\n",
        up.providers_toml()
    );
    let server = Server::start(&config);
    let key = common::user_with_key(&server, "dev@example.test");
    let url = server.url("/v1/chat/completions");

    let answered = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let http = common::client();
                // Bounded: a few hundred requests or a few seconds, whichever ends first.
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(20) {
                        return;
                    }
                    let res = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
                        .send();
                    // Only an answer read to its end counts as received.
                    let whole = res.ok().filter(|r| r.status() == 200).and_then(|r| r.json::<Value>().ok());
                    if whole.is_some_and(|v| v["choices"][0]["message"]["content"].is_string()) {
                        answered.fetch_add(1, Ordering::SeqCst);
                    } else {
                        return;
                    }
                }
            });
        }
        while answered.load(Ordering::SeqCst) < 60 && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = server.pid();
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        stop.store(true, Ordering::Relaxed);
    });
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered >= 60, "only {answered} answers before the kill");

    // Back up on the same files.
    let server = server.kill_and_restart();
    let conn = Connection::open(server.db_path()).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let (rows, debits): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM usage WHERE status = 200),
                    (SELECT count(*) FROM ledger WHERE kind = 'usage')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        rows as usize >= answered,
        "{answered} answers received, {rows} usage rows"
    );
    assert_eq!(rows, debits, "each row has its debit");
    // The restarted server serves, and the ledger still balances (checked when it stops).
    let res = common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
}
