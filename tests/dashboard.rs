//! The dashboard's rough edges, through the real binary: a new key shown once behind a redirect
//! (a reload makes no second key), sign-up that signs in when the account may be used at once
//! and says what credit it starts with, money written by one rule, set-up snippets named after
//! the site, the styled 404 for every page that is not there (or not for this user), refusals
//! beside their form, a way to confirm an address, credit without card payments, and names a
//! client made up kept out of the usage page's models.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use codexapi::db::usage::{Endpoint, Outcome, UsageRow, insert_rows};
use common::smtp::SmtpServer;
use common::{PASSWORD, Server, browser, csrf, grant, location, signed_in, text, user_and_key};
use reqwest::blocking::Client;
use rusqlite::{Connection, params};

fn page(http: &Client, server: &Server, path: &str) -> String {
    let res = http.get(server.url(path)).send().unwrap();
    assert_eq!(res.status(), 200, "{path}");
    text(res)
}

fn key_count(server: &Server) -> i64 {
    Connection::open(server.db_path())
        .unwrap()
        .query_row("SELECT count(*) FROM api_keys", [], |r| r.get(0))
        .unwrap()
}

fn post_key(http: &Client, server: &Server, name: &str) -> reqwest::blocking::Response {
    let token = csrf(&page(http, server, "/dashboard/keys"));
    http.post(server.url("/dashboard/keys"))
        .form(&[("csrf", token.as_str()), ("name", name)])
        .send()
        .unwrap()
}

fn the_key(html: &str) -> Option<String> {
    let start = html.find("sk-cx-")?;
    let key = &html[start..];
    let end = key
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .unwrap_or(key.len());
    Some(key[..end].to_owned()).filter(|k| k.len() == 49)
}

#[test]
fn a_new_key_is_shown_once_after_a_redirect_and_a_reload_makes_no_second_key() {
    let server = Server::start("");
    user_and_key(&server, "ada@example.test");
    let http = signed_in(&server, "ada@example.test");
    let before = key_count(&server);

    let res = post_key(&http, &server, "laptop");
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert_eq!(to, "/dashboard/keys/new", "the key is never in the URL");
    assert_eq!(key_count(&server), before + 1);

    // Another session of the same account does not get it.
    let other = signed_in(&server, "ada@example.test");
    let res = other.get(server.url(&to)).send().unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/keys?shown=1");

    let res = http.get(server.url(&to)).send().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let shown = text(res);
    let key = the_key(&shown).expect("the new key is on the page");
    assert!(shown.contains("Your new key: laptop"));

    // Reloading: no second key, and the key is not shown again.
    let res = http.get(server.url(&to)).send().unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/keys?shown=1");
    assert_eq!(key_count(&server), before + 1, "a reload made no key");
    let list = page(&http, &server, "/dashboard/keys?shown=1");
    assert!(!list.contains(&key));
    assert!(list.contains("shown only once"), "{list}");

    // Only the hash is stored; the key works.
    let conn = Connection::open(server.db_path()).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM api_keys WHERE key_hash = ?1",
            params![sha256(&key)],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 1);
    let plain: i64 = conn
        .query_row(
            "SELECT count(*) FROM api_keys WHERE instr(prefix, ?1) > 0 OR instr(name, ?1) > 0",
            params![key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plain, 0);
    assert!(!server.log().contains(&key), "the key is in the log");

    // A refused form still answers in place, next to the form, with nothing made.
    let token = csrf(&page(&http, &server, "/dashboard/keys"));
    let res = http
        .post(server.url("/dashboard/keys"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", "x"),
            ("expires_in_days", "99999"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = text(res);
    let form_at = html.find("id=\"create-title\"").unwrap();
    let error_at = html.find("Choose when the key expires.").unwrap();
    assert!(
        error_at > form_at,
        "the refusal stands in the create form's panel"
    );
    assert_eq!(key_count(&server), before + 1);
}

fn sha256(text: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).to_vec()
}

fn sign_up(http: &Client, server: &Server, email: &str) -> reqwest::blocking::Response {
    http.post(server.url("/signup"))
        .form(&[("name", "Ada"), ("email", email), ("password", PASSWORD)])
        .send()
        .unwrap()
}

#[test]
fn sign_up_signs_in_when_the_account_may_be_used_at_once_and_names_the_credit() {
    let server = Server::start("[billing]\nsignup_credit = \"5\"\n");
    let form = text(browser(&server).get(server.url("/signup")).send().unwrap());
    assert!(form.contains("<strong>$5.00</strong> of credit"), "{form}");
    let home = text(browser(&server).get(server.url("/")).send().unwrap());
    assert!(home.contains("href=\"/signup\""), "the site offers sign-up");
    assert!(home.contains("<strong>$5.00</strong> of credit"));

    let http = browser(&server);
    let res = sign_up(&http, &server, "ada@example.test");
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard?welcome=1");
    let overview = page(&http, &server, "/dashboard?welcome=1");
    assert!(
        overview.contains("your account is ready and starts with $5.00 of credit"),
        "{overview}"
    );
    assert!(overview.contains("Welcome, Ada"));

    // A taken address: no session for anyone, and a way to sign in instead.
    let stranger = browser(&server);
    let res = sign_up(&stranger, &server, "ada@example.test");
    assert_eq!(res.status(), 200);
    let html = text(res);
    assert!(html.contains("Sign in instead") && html.contains("href=\"/forgot\""));
    let res = stranger.get(server.url("/dashboard")).send().unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login"));
}

#[test]
fn sign_up_waits_for_the_confirmed_address_where_one_is_required() {
    let smtp = SmtpServer::start();
    let mail = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Gateway <noreply@gateway.test>\"\n",
        smtp.port
    );
    let strict = Server::start(&mail);
    let http = browser(&strict);
    let res = sign_up(&http, &strict, "ada@example.test");
    assert_eq!(res.status(), 200);
    assert!(text(res).contains("Check your email"));
    let res = http.get(strict.url("/dashboard")).send().unwrap();
    assert_eq!(
        res.status(),
        303,
        "not signed in before the address is confirmed"
    );

    // Mail is sent but not required: the account is usable at once, so it is signed in.
    let relaxed = Server::start(&format!(
        "{mail}\n[accounts]\nrequire_verified_email = false\n"
    ));
    let http = browser(&relaxed);
    let res = sign_up(&http, &relaxed, "bob@example.test");
    assert_eq!(res.status(), 303);
    // The profile says the address is not confirmed, and offers a new link.
    let profile = page(&http, &relaxed, "/dashboard/profile");
    assert!(profile.contains("Not confirmed"));
    assert!(
        profile.contains("action=\"/dashboard/verify/resend\""),
        "{profile}"
    );
    assert!(profile.contains("Send a new link"));
    let token = csrf(&profile);
    let res = http
        .post(relaxed.url("/dashboard/verify/resend"))
        .form(&[("csrf", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/profile?notice=resent");
}

/// The pages that show money, with a balance of 4.996198 and one request that cost 0.000258.
#[test]
fn money_is_written_by_one_rule() {
    let server = Server::start("");
    user_and_key(&server, "ada@example.test");
    grant(&server, "ada@example.test", "4.996198");
    let conn = Connection::open(server.db_path()).unwrap();
    let user: String = conn
        .query_row("SELECT id FROM users", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "INSERT INTO usage (at, user_id, endpoint, model, status, latency_ms, outcome, cost)
         VALUES (?1, ?2, '/v1/chat/completions', 'm', 200, 5, 'completed', 258)",
        params![codexapi::db::now_ms(), user],
    )
    .unwrap();
    let http = signed_in(&server, "ada@example.test");

    let overview = page(&http, &server, "/dashboard");
    assert!(overview.contains("$5.00"), "the balance in cents");
    assert!(!overview.contains("$4.996198"));
    assert!(
        overview.contains("$0.0003"),
        "a request's cost below a cent"
    );
    assert!(!overview.contains("$0.000258"));
    let billing = page(&http, &server, "/dashboard/billing");
    assert!(billing.contains("$5.00") && !billing.contains("4.996198"));
    let usage = page(&http, &server, "/dashboard/usage");
    assert!(usage.contains("$0.0003") && !usage.contains("0.000258"));
}

#[test]
fn set_up_snippets_are_named_after_the_site_and_claude_gets_a_claude_model() {
    let server = Server::start(
        r#"
[site]
name = "Acme"

[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "x"

[[providers]]
name = "an"
kind = "anthropic"
base_url = "http://127.0.0.1:9/v1"
api_key = "x"

[[models]]
id = "gpt-house"
routes = [{ provider = "oa" }]
price = { input = 1, output = 2 }

[[models]]
id = "sonnet-house"
routes = [{ provider = "an" }]
price = { input = 1, output = 2 }
"#,
    );
    user_and_key(&server, "ada@example.test");
    let http = signed_in(&server, "ada@example.test");
    let docs = text(browser(&server).get(server.url("/docs")).send().unwrap());
    let setup = page(&http, &server, "/dashboard/setup");
    for html in [&docs, &setup] {
        assert!(html.contains("export ACME_API_KEY="), "{html}");
        assert!(html.contains("[model_providers.acme]"));
        assert!(html.contains("model_provider = \"acme\""));
        assert!(html.contains("name = \"Acme\""));
        assert!(!html.contains("CODEXAPI_API_KEY") && !html.contains("\"CodexAPI\""));
        assert!(html.contains("claude --model sonnet-house"));
        assert!(
            html.contains("model=\"sonnet-house\""),
            "the Anthropic SDK example"
        );
        assert!(
            html.contains("model=\"gpt-house\""),
            "the OpenAI SDK example"
        );
    }

    let res = post_key(&http, &server, "laptop");
    assert_eq!(res.status(), 303);
    let shown = page(&http, &server, "/dashboard/keys/new");
    let key = the_key(&shown).unwrap();
    assert!(shown.contains(&format!("export ACME_API_KEY=\"{key}\"")));
}

fn is_styled_404(res: reqwest::blocking::Response) -> bool {
    let status = res.status();
    let html = text(res);
    status == 404 && html.contains("Page not found") && html.contains("class=\"brand-name\"")
}

#[test]
fn every_missing_page_is_the_sites_styled_404() {
    let server = Server::start("[site]\nname = \"Acme\"\n");
    user_and_key(&server, "ada@example.test");
    let user = signed_in(&server, "ada@example.test");
    let nobody = browser(&server);

    for path in ["/admin", "/admin/providers", "/admin/payments"] {
        let res = user.get(server.url(path)).send().unwrap();
        assert!(is_styled_404(res), "{path} for a user");
        let res = nobody.get(server.url(path)).send().unwrap();
        assert!(is_styled_404(res), "{path} for nobody");
    }
    // A used or wrong set-up link, another user's key, a path no route has.
    let res = nobody
        .get(server.url("/setup/admin?token=used-up"))
        .send()
        .unwrap();
    assert!(is_styled_404(res), "a set-up link that no longer works");
    let res = user
        .get(server.url("/dashboard/keys/not-a-key/revoke"))
        .send()
        .unwrap();
    assert!(is_styled_404(res), "a key that is not the user's");
    let res = nobody.get(server.url("/no/such/page")).send().unwrap();
    assert!(is_styled_404(res));

    // The styled page carries the site's headers like any page.
    let res = user.get(server.url("/admin/providers")).send().unwrap();
    assert!(res.headers().contains_key("content-security-policy"));
    let html = text(res);
    assert!(html.contains("Acme"), "the site's own name in its frame");

    // The API keeps its own 404s, in the client's format.
    let res = common::client()
        .get(server.url("/v1/nothing-here"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(!text(res).contains("Page not found"));
}

#[test]
fn a_refusal_stands_beside_its_own_form() {
    let server = Server::start("");
    user_and_key(&server, "ada@example.test");
    let http = signed_in(&server, "ada@example.test");

    let profile = page(&http, &server, "/dashboard/profile");
    let token = csrf(&profile);
    let res = http
        .post(server.url("/dashboard/profile/email"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "new@example.test"),
            ("password", "not-the-password"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = text(res);
    let refusal = html.find("form-refusal").expect("a refusal is shown");
    let name_panel = html.find("id=\"name-title\"").unwrap();
    let email_panel = html.find("id=\"email-title\"").unwrap();
    let email_form = html.find("action=\"/dashboard/profile/email\"").unwrap();
    assert!(
        refusal > email_panel && refusal < email_form && refusal > name_panel,
        "the refusal stands in the email panel, before its form"
    );
    assert_eq!(html.matches("form-refusal").count(), 1);

    let res = http
        .post(server.url("/dashboard/security/password"))
        .form(&[
            ("csrf", token.as_str()),
            ("current", "wrong-password-here"),
            ("password", "a-new-long-passphrase-71"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = text(res);
    let refusal = html.find("form-refusal").expect("a refusal is shown");
    let panel = html.find("id=\"password-title\"").unwrap();
    let form = html
        .find("action=\"/dashboard/security/password\"")
        .unwrap();
    assert!(refusal > panel && refusal < form);
}

#[test]
fn billing_without_card_payments_says_how_credit_comes() {
    let server = Server::start("[site]\ncontact_email = \"ops@acme.test\"\n");
    user_and_key(&server, "ada@example.test");
    let http = signed_in(&server, "ada@example.test");
    let billing = page(&http, &server, "/dashboard/billing");
    assert!(!billing.contains("Add credit by card"));
    assert!(
        !billing.contains("id=\"topup-title\""),
        "no empty top-up box"
    );
    assert!(billing.contains("How to get credit"));
    assert!(billing.contains("href=\"#redeem\""));
    assert!(billing.contains("mailto:ops@acme.test"));
}

/// Rows as the gateway writes them for: a model of this server, a name that is none (refused
/// before any provider; older versions kept such names), a request with no model, and a model
/// no longer configured whose requests did reach a provider.
#[test]
fn names_that_are_no_model_here_make_no_chart_series_or_filter_option() {
    let server = Server::start(
        r#"
[[providers]]
name = "up"
kind = "openai_compatible"
base_url = "http://127.0.0.1:9/v1"
api_key = "x"

[[models]]
id = "real-model"
routes = [{ provider = "up" }]
price = { input = 1, output = 2 }
"#,
    );
    user_and_key(&server, "ada@example.test");
    let conn = Connection::open(server.db_path()).unwrap();
    let user: String = conn
        .query_row("SELECT id FROM users", [], |r| r.get(0))
        .unwrap();
    let now = codexapi::db::now_ms();
    let mut rows = Vec::new();
    for (model, provider, status, outcome, tokens, cost) in [
        (
            Some("real-model"),
            Some("up"),
            200,
            Outcome::Completed,
            100,
            1_000,
        ),
        (Some("made-up-model"), None, 404, Outcome::Rejected, 0, 0),
        (None, None, 400, Outcome::Rejected, 0, 0),
        (
            Some("retired-model"),
            Some("up"),
            200,
            Outcome::Completed,
            50,
            500,
        ),
    ] {
        rows.push(UsageRow {
            at: now,
            user_id: Some(user.clone()),
            endpoint: Endpoint::ChatCompletions,
            model: model.map(str::to_owned),
            provider: provider.map(str::to_owned),
            status,
            latency_ms: 5,
            outcome,
            input_tokens: tokens,
            output_tokens: tokens,
            cost,
            ..UsageRow::default()
        });
    }
    // Through the usage writer's own insert, which keeps the daily sums in step.
    insert_rows(&conn, &rows).unwrap();
    let http = signed_in(&server, "ada@example.test");
    let usage = page(&http, &server, "/dashboard/usage");

    let filter = &usage[usage.find("id=\"f-model\"").unwrap()..];
    let filter = &filter[..filter.find("</select>").unwrap()];
    assert!(filter.contains("value=\"real-model\""));
    assert!(
        filter.contains("value=\"retired-model\""),
        "it reached a provider"
    );
    assert!(!filter.contains("made-up-model"), "{filter}");

    let chart = &usage[usage.find("id=\"chart-models-title\"").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert!(chart.contains("real-model") && chart.contains("retired-model"));
    assert!(!chart.contains("made-up-model") && !chart.contains("(no model)"));

    // The table under the chart counts them together; the log shows each as it was asked.
    assert!(usage.contains("Unknown models (refused)"));
    let log = &usage[usage
        .find("class=\"stack-table cards-narrow usage-log\"")
        .unwrap()..];
    assert!(log.contains("made-up-model"));
}
