//! The operator's round trip in a real browser: approve a sign-up, grant credit, watch the
//! account's requests arrive in analytics, see a provider fail and recover, suspend the account
//! and see its next API call refused, delete it. Then every console page at 1280 and 390 px,
//! with screenshots, failing on a page that scrolls sideways.
//!
//! Needs node, Chromium and tests/e2e/node_modules: `scripts/test` installs them.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use common::e2e::{require_tooling, run_phase, screenshot_dir};
use common::upstream::FakeUpstream;
use common::{PASSWORD, Server};
use serde_json::json;

const ADMIN: &str = "op@example.test";
const USER: &str = "ada@example.test";

fn chat(server: &Server, key: &str) -> u16 {
    common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn an_operator_runs_the_service_from_the_console_in_a_real_browser() {
    require_tooling();
    let up = FakeUpstream::start();
    let server = Server::start(&format!(
        r#"
[accounts]
signup = "approval"
require_verified_email = false

[gateway]
breaker_failures = 2

{providers}

[[models]]
id = "chat-model"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "1.00", cached_input = "0.50", output = "2.00" }}
"#,
        providers = up.providers_toml()
    ));
    let _ = common::admin(&server, ADMIN);
    let shots = screenshot_dir("console-screenshots");
    let shots = shots.to_str().unwrap();
    let base = server.base.clone();
    let phase = |name: &str, extra: &[(&str, &str)]| {
        let mut env = vec![
            ("BASE_URL", base.as_str()),
            ("ADMIN", ADMIN),
            ("PASSWORD", PASSWORD),
            ("SHOTS", shots),
            ("USER", USER),
            ("PROVIDER", "compat"),
        ];
        env.extend_from_slice(extra);
        run_phase("console.mjs", name, &env)
    };

    // A sign-up waits; the operator approves it and grants credit.
    let res = common::browser(&server)
        .post(server.url("/signup"))
        .form(&[
            ("name", "Ada Lovelace"),
            ("email", USER),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert!(res.status().is_success() || res.status() == 303);
    phase("approve", &[]);

    // The account's requests arrive in analytics.
    let (status, key, stderr) = common::run(
        server.dir.path(),
        &[
            "--config",
            server.config_path().to_str().unwrap(),
            "key",
            "create",
            "--user",
            USER,
            "--name",
            "laptop",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let key = key.trim().to_owned();
    for _ in 0..4 {
        assert_eq!(chat(&server, &key), 200);
    }
    phase("analytics", &[("REQUESTS", "4")]);

    // The provider fails, and recovers.
    up.set_down(true);
    for _ in 0..2 {
        assert_ne!(chat(&server, &key), 200);
    }
    phase("down", &[]);
    up.set_down(false);
    phase("up", &[]);
    assert_eq!(chat(&server, &key), 200);

    // Suspended: the next API call is refused.
    phase("suspend", &[]);
    let started = Instant::now();
    while chat(&server, &key) == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the key still works a second after the suspension"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Deleted: the account is gone from the file.
    phase("delete", &[]);
    let left: i64 = rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row("SELECT count(*) FROM users WHERE email = ?1", [USER], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left, 0);

    // Every console page at a desktop and a phone width.
    let _ = common::user_with_key(&server, "dev@example.test");
    let dev_key = common::user_with_key(&server, "second@example.test");
    assert_eq!(chat(&server, &dev_key), 200);
    let dev_id: String = rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT id FROM users WHERE email = 'dev@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let pages = [
        "/admin".to_owned(),
        "/admin/users".to_owned(),
        format!("/admin/users/{dev_id}"),
        "/admin/codes".to_owned(),
        "/admin/analytics".to_owned(),
        "/admin/site".to_owned(),
        "/admin/providers".to_owned(),
        "/admin/flags".to_owned(),
        "/admin/notices".to_owned(),
        "/admin/outbox".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/system".to_owned(),
    ]
    .join(",");
    run_phase(
        "flow.mjs",
        "layout",
        &[
            ("BASE_URL", base.as_str()),
            ("EMAIL", ADMIN),
            ("PASSWORD", PASSWORD),
            ("SHOTS", shots),
            ("PAGES", pages.as_str()),
        ],
    );
}
