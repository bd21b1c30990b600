//! Reloading the configuration of a running server, as an operator does: edit the file, then
//! SIGHUP (`systemctl reload`) or the admin console's button. Prices, models and providers change
//! for the next request without a restart; a broken file changes nothing and says why; keys that
//! apply only at a restart are named.

// Tests: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::Duration;

use common::upstream::FakeUpstream;
use common::{Server, csrf, text};
use serde_json::{Value, json};

/// The file with `price` as the chat model's input price (output twice that), and `extra` after.
fn config(up: &FakeUpstream, price: u32, extra: &str) -> String {
    format!(
        r#"
[accounts]
require_verified_email = false
reauthenticate_after_secs = 0

{providers}

[[models]]
id = "chat-model"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "{price}", output = "{output}" }}
{extra}
"#,
        providers = up.providers_toml(),
        output = price * 2,
    )
}

fn chat(server: &Server, key: &str, model: &str) -> (u16, Value) {
    let res = common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .unwrap();
    (res.status().as_u16(), res.json().unwrap_or(Value::Null))
}

/// The input price `/v1/models` states for the chat model.
fn listed_price(server: &Server, key: &str) -> String {
    let models: Value = common::client()
        .get(server.url("/v1/models"))
        .bearer_auth(key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "chat-model")
        .map(|m| m["pricing"]["input"].as_str().unwrap().to_owned())
        .unwrap()
}

/// The `nth` line of the log holding `needle` (1 for the first), waiting up to 10 s for it.
fn logged(server: &Server, needle: &str, nth: usize) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = server
            .log()
            .lines()
            .filter(|l| l.contains(needle))
            .nth(nth - 1)
        {
            return line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no line {nth} with {needle:?} in the log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_applies_a_new_price_and_model_and_a_broken_file_changes_nothing() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, 1, ""));
    let key = common::user_with_key(&server, "dev@example.test");

    let (status, _) = chat(&server, &key, "chat-model");
    assert_eq!(status, 200);
    let (status, body) = chat(&server, &key, "new-model");
    assert_eq!(status, 404, "{body}");
    assert_eq!(listed_price(&server, &key), "1.00");

    // A tenfold price, a new model on another provider, and a key only a restart applies.
    let new_model = "\n[[models]]\nid = \"new-model\"\nroutes = [{ provider = \"anthropic\", model = \"claude-x\" }]\nprice = { input = 1, output = 2 }\n\n[database]\npool_size = 3\n";
    std::fs::write(server.config_path(), config(&up, 10, new_model)).unwrap();
    server.signal("HUP");
    let line = logged(&server, "SIGHUP: configuration reloaded", 1);
    assert!(line.contains("2 models"), "{line}");
    assert!(
        line.contains("applied only at the next restart: database.pool_size"),
        "{line}"
    );

    assert_eq!(listed_price(&server, &key), "10.00");
    let (status, body) = chat(&server, &key, "new-model");
    assert_eq!(status, 200, "the new model serves at once: {body}");
    let (status, _) = chat(&server, &key, "chat-model");
    assert_eq!(status, 200);
    let rows = common::usage_rows(&server);
    let chats: Vec<&common::Row> = rows.iter().filter(|r| r.provider == "compat").collect();
    assert_eq!(chats.len(), 2);
    assert_eq!(
        chats[0].input, chats[1].input,
        "the same request both times"
    );
    assert!(chats[0].cost > 0);
    assert_eq!(
        chats[1].cost,
        chats[0].cost * 10,
        "the request after the reload is billed at the new price"
    );
    assert_eq!(
        rows.iter().filter(|r| r.provider == "anthropic").count(),
        1,
        "the new model went to its provider"
    );

    // A price that is not a number: nothing changes, and the log names the key.
    let broken = config(&up, 10, new_model).replace("input = \"10\"", "input = \"ten\"");
    std::fs::write(server.config_path(), broken).unwrap();
    server.signal("HUP");
    let line = logged(&server, "SIGHUP: configuration not reloaded", 1);
    assert!(line.contains("models"), "the error names the key: {line}");
    assert_eq!(
        listed_price(&server, &key),
        "10.00",
        "the running price stays"
    );
    let (status, _) = chat(&server, &key, "new-model");
    assert_eq!(status, 200, "the running models stay");

    // A file that is not TOML at all, likewise.
    std::fs::write(server.config_path(), "[[models]\nid = ").unwrap();
    server.signal("HUP");
    logged(&server, "SIGHUP: configuration not reloaded", 2);
    assert_eq!(listed_price(&server, &key), "10.00");
    let (status, _) = chat(&server, &key, "chat-model");
    assert_eq!(status, 200, "the server still serves");
    // The harness checks the database with the file when the server stops.
    std::fs::write(server.config_path(), config(&up, 10, new_model)).unwrap();
}

/// Presses the System page's reload button; returns the page it answers with.
fn reload_from_console(admin: &reqwest::blocking::Client, server: &Server, token: &str) -> String {
    let res = admin
        .post(server.url("/admin/system/reload"))
        .form(&[("csrf", token)])
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    text(res)
}

#[test]
fn an_admin_reloads_from_the_console_and_the_audit_log_keeps_it() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, 1, ""));
    let admin = common::admin(&server, "op@example.test");
    let key = common::user_with_key(&server, "dev@example.test");

    let page = text(admin.get(server.url("/admin/system")).send().unwrap());
    assert!(page.contains("Reload configuration"), "{page}");
    assert!(page.contains(server.config_path().to_str().unwrap()));
    let token = csrf(&page);

    std::fs::write(server.config_path(), config(&up, 7, "")).unwrap();
    let page = reload_from_console(&admin, &server, &token);
    assert!(
        page.contains("configuration reloaded: 3 providers, 1 models"),
        "{page}"
    );
    assert_eq!(listed_price(&server, &key), "7.00");
    let pricing = text(common::client().get(server.url("/pricing")).send().unwrap());
    assert!(
        pricing.contains("7.00"),
        "the pricing page shows the new card"
    );

    std::fs::write(
        server.config_path(),
        config(
            &up,
            7,
            "\n[[tiers]]\nname = \"pro\"\nrequests_per_minute = \"many\"\n",
        ),
    )
    .unwrap();
    let page = reload_from_console(&admin, &server, &token);
    assert!(
        page.contains("Not reloaded; the running configuration stays."),
        "{page}"
    );
    assert!(page.contains("tiers"), "the error names the key: {page}");
    assert_eq!(listed_price(&server, &key), "7.00");

    // Without the form's token nothing is reloaded.
    std::fs::write(server.config_path(), config(&up, 9, "")).unwrap();
    let res = admin
        .post(server.url("/admin/system/reload"))
        .form(&[("csrf", "wrong")])
        .send()
        .unwrap();
    assert_ne!(res.status(), 200);
    assert_eq!(listed_price(&server, &key), "7.00");

    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let reloads: Vec<String> = conn
        .prepare("SELECT detail FROM audit_log WHERE action = 'config.reload' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert!(reloads[0].starts_with("configuration reloaded"));
    assert!(reloads[1].starts_with("Not reloaded"));
}
