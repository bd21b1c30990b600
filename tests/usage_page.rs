//! The dashboard's usage page and CSV export through the real binary: requests made through the
//! gateway to a fake upstream, then the page's totals, charts, filters, pages and export checked
//! against the rows in the database. One user never sees another's rows, and no request content
//! shows up anywhere.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use codexapi::money::Money;
use codexapi::web::charts::group_digits;
use common::Server;
use common::upstream::{ANSWER, FakeUpstream};
use reqwest::blocking::Client;
use rusqlite::Connection;
use serde_json::json;

const DAY_MS: i64 = 86_400_000;
/// Sent in every prompt; the fake upstream answers with `ECHO-…` in its place.
const CANARY: &str = "CANARY-usage-page-7731";
const SECOND_KEY: &str = "laptop, \"work\"";

fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret"

[[models]]
id = "chat-model"
aliases = ["chat-alias"]
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "1.00", cached_input = "0.50", output = "2.00" }}

[[models]]
id = "gpt-test"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 3, output = 15 }}

[[models]]
id = "no-usage-model"
routes = [{{ provider = "compat", model = "no-usage" }}]
price = {{ input = 1, output = 2 }}
"#,
        base = up.base
    )
}

fn api(server: &Server, key: &str, model: &str) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({
            "model": model,
            "messages": [{"role": "user", "content": format!("Refactor this {CANARY}")}],
        }))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn get(browser: &Client, server: &Server, path: &str) -> (u16, String) {
    let res = browser.get(server.url(path)).send().unwrap();
    let status = res.status().as_u16();
    (status, unescape(&res.text().unwrap()))
}

/// Undoes HTML escaping, in the forms the templates use.
fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The text of an HTML fragment, tags removed and white space squeezed. As in HTML, a `<` opens
/// a tag only before a letter, `/` or `!` (so the unescaped text `<$0.0001` stays text).
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        let opens = c == '<'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '/' || *n == '!');
        match c {
            '<' if opens && !in_tag => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The part of `html` from `start` up to the following `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in page"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The rows of the request log, each as the text of its cells.
fn log_rows(page: &str) -> Vec<Vec<String>> {
    let Some(at) = page.find("class=\"stack-table cards-narrow usage-log\"") else {
        return Vec::new();
    };
    let table = between(&page[at..], "<tbody>", "</tbody>");
    table
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| text_of(&format!("<td{cell}")))
                .collect()
        })
        .collect()
}

/// The link of the anchor whose text contains `label`.
fn link_labelled(page: &str, label: &str) -> Option<String> {
    let at = page.find(label)?;
    let start = page[..at].rfind("href=\"")? + 6;
    let end = start + page[start..].find('"')?;
    Some(page[start..end].to_owned())
}

/// A usage row as the test reads it straight from the database.
#[derive(Debug, Clone)]
struct Row {
    at: i64,
    model: String,
    key: String,
    status: i64,
    input: i64,
    cached: i64,
    output: i64,
    cost: i64,
    estimated: bool,
    dropped: String,
}

/// A user's rows, newest first.
fn rows_of(server: &Server, email: &str) -> Vec<Row> {
    let conn = Connection::open(server.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT u.at, coalesce(u.model, ''), coalesce(k.name, ''), u.status, u.input_tokens,
                    u.cached_input_tokens, u.output_tokens, u.cost, u.estimated,
                    coalesce(u.dropped, '')
             FROM usage u JOIN users s ON s.id = u.user_id LEFT JOIN api_keys k ON k.id = u.key_id
             WHERE s.email = ?1 ORDER BY u.at DESC, u.id DESC",
        )
        .unwrap();
    stmt.query_map([email], |r| {
        Ok(Row {
            at: r.get(0)?,
            model: r.get(1)?,
            key: r.get(2)?,
            status: r.get(3)?,
            input: r.get(4)?,
            cached: r.get(5)?,
            output: r.get(6)?,
            cost: r.get(7)?,
            estimated: r.get(8)?,
            dropped: r.get(9)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// A cost as the pages write it (`Money::cost_in`: cents, or four decimals below a cent).
fn usd(micros: i64) -> String {
    Money::from_micros(micros).cost_in("USD")
}

fn format_time(ms: i64, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(format)
        .unwrap()
}

fn log_time(ms: i64) -> String {
    format_time(
        ms,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
}

fn day_label(day: i64) -> String {
    format_time(
        day * DAY_MS,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
}

/// What the page shows of a set of rows: cost, requests, errors and tokens in and out.
struct Expected {
    cost: i64,
    requests: i64,
    errors: i64,
    input: i64,
    cached: i64,
    output: i64,
}

fn expected<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Expected {
    let mut e = Expected {
        cost: 0,
        requests: 0,
        errors: 0,
        input: 0,
        cached: 0,
        output: 0,
    };
    for r in rows {
        e.cost += r.cost;
        e.requests += 1;
        e.errors += i64::from(!(200..300).contains(&r.status));
        e.input += r.input;
        e.cached += r.cached;
        e.output += r.output;
    }
    e
}

#[test]
fn the_usage_page_shows_a_users_own_totals_charts_log_and_export() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key_a = common::user_with_key(&server, "a@example.test");
    let key_b = common::user_with_key(&server, "b@example.test");
    let (status, stdout, stderr) = common::run(
        server.dir.path(),
        &[
            "--config",
            server.config_path().to_str().unwrap(),
            "key",
            "create",
            "--user",
            "a@example.test",
            "--name",
            SECOND_KEY,
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let key_a2 = stdout.trim().to_owned();

    // User A: 56 chat requests, 3 with the second key, one counted locally, one refused.
    for _ in 0..56 {
        assert_eq!(api(&server, &key_a, "chat-model"), 200);
    }
    for _ in 0..3 {
        assert_eq!(api(&server, &key_a2, "gpt-test"), 200);
    }
    assert_eq!(api(&server, &key_a, "no-usage-model"), 200);
    assert_ne!(api(&server, &key_a, "no-such-model"), 200);
    // User B, through an alias A never uses.
    for _ in 0..4 {
        assert_eq!(api(&server, &key_b, "chat-alias"), 200);
    }

    // Spread some of A's requests over earlier days: 3 and 10 days ago, and one 40 days ago.
    {
        let conn = Connection::open(server.db_path()).unwrap();
        let shift = |days: i64, ids: &str| {
            conn.execute(
                &format!("UPDATE usage SET at = at - {days} * {DAY_MS} WHERE id IN ({ids})"),
                [],
            )
            .unwrap();
        };
        shift(3, "1, 2, 3, 4");
        shift(10, "5, 6, 7, 8, 9");
        shift(40, "10");
        // The daily sums the writer keeps move with their rows, as if they had been written then.
        conn.execute_batch(
            "DELETE FROM usage_daily;
             INSERT INTO usage_daily (day, user_id, model, provider, requests, errors, input_tokens,
                                      cached_input_tokens, output_tokens, cost, latency_ms)
             SELECT at / 86400000, user_id,
                    CASE WHEN provider IS NULL THEN '' ELSE coalesce(model, '') END,
                    coalesce(provider, ''), count(*),
                    count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299), sum(input_tokens),
                    sum(cached_input_tokens), sum(output_tokens), sum(cost), sum(latency_ms)
             FROM usage GROUP BY 1, coalesce(user_id, ''), 3, 4;",
        )
        .unwrap();
    }
    let rows = rows_of(&server, "a@example.test");
    assert_eq!(rows.len(), 61);
    assert!(rows.iter().any(|r| r.estimated));

    let a = common::signed_in(&server, "a@example.test");
    let (status, page) = get(&a, &server, "/dashboard/usage");
    assert_eq!(status, 200);

    // Totals for today, 7 days and 30 days, computed here from the rows.
    let today = codexapi::db::now_ms().div_euclid(DAY_MS);
    let within = |days: i64| {
        expected(
            rows.iter()
                .filter(move |r| today - r.at.div_euclid(DAY_MS) < days),
        )
    };
    let cards = between(&page, "id=\"summary-title\"", "id=\"daily-title\"");
    for (title, e) in [
        ("Today", within(1)),
        ("Last 7 days", within(7)),
        ("Last 30 days", within(30)),
    ] {
        let card = text_of(between(cards, &format!(">{title}<"), "</section>"));
        let errors = match e.errors {
            0 => String::new(),
            1 => " · 1 error".to_owned(),
            n => format!(" · {n} errors"),
        };
        let want = format!(
            "{title} {} {} requests{errors} Tokens: {} in · {} out",
            usd(e.cost),
            group_digits(e.requests),
            group_digits(e.input),
            group_digits(e.output),
        );
        assert_eq!(card, want);
    }
    assert_eq!(within(1).requests, 51);
    assert_eq!(within(30).requests, 60);

    // The charts: drawn, named, with a table of the same numbers per day.
    assert!(page.contains("aria-labelledby=\"chart-cost-title chart-cost-desc\""));
    assert!(page.contains("aria-labelledby=\"chart-tokens-title chart-tokens-desc\""));
    assert!(page.contains("<title id=\"chart-models-title\">Cost by model, "));
    for day in [today, today - 3, today - 10] {
        let e = expected(rows.iter().filter(|r| r.at.div_euclid(DAY_MS) == day));
        let row = text_of(between(
            &page,
            &format!(
                "<th scope=\"row\" class=\"nowrap card-cell-wide\">{}",
                day_label(day)
            ),
            "</tr>",
        ));
        assert_eq!(
            row,
            format!(
                "{} {} {} {} {} {}",
                day_label(day),
                e.requests,
                group_digits(e.input),
                group_digits(e.cached),
                group_digits(e.output),
                usd(e.cost)
            )
        );
    }
    assert!(
        !page.contains(&day_label(today - 40)),
        "older than the chart"
    );

    // Per model over the last 30 days, the most expensive first.
    let mut by_model: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| today - r.at.div_euclid(DAY_MS) < 30) {
        // A refused request names no model the server has: it is not written down, and it
        // is counted with the other requests for no model of this server.
        let model = if r.model.is_empty() {
            "Unknown models (refused)"
        } else {
            &r.model
        };
        by_model.entry(model).or_default().push(r);
    }
    let model_table = between(&page, "aria-label=\"Totals per model\"", "</table>");
    for (model, rs) in &by_model {
        let e = expected(rs.iter().copied());
        let row = text_of(between(
            model_table,
            &format!("<th scope=\"row\" class=\"usage-model card-cell-wide\">{model}<"),
            "</tr>",
        ));
        assert_eq!(
            row,
            format!(
                "{model} {} {} {} {} {}",
                e.requests,
                group_digits(e.input),
                group_digits(e.cached),
                group_digits(e.output),
                usd(e.cost)
            )
        );
    }

    // The log: 50 newest, then the rest on the next page, and back.
    let first = log_rows(&page);
    assert_eq!(first.len(), 50);
    // Cells: time, model and key, endpoint, status and outcome, input, output, latency, cost.
    let expect_row = |r: &Row| {
        let mut input = group_digits(r.input);
        if r.estimated {
            input.push_str(" est.");
        }
        if r.cached > 0 {
            input.push_str(&format!(" {} cached", group_digits(r.cached)));
        }
        let outcome = if r.status == 200 {
            "completed"
        } else {
            "rejected"
        };
        vec![
            log_time(r.at),
            format!("{} {}", r.model, r.key).trim().to_owned(),
            "/v1/chat/completions".to_owned(),
            format!("{} {outcome}", r.status),
            input,
            group_digits(r.output),
        ]
    };
    for (shown, row) in first.iter().zip(&rows) {
        assert_eq!(shown.len(), 8);
        assert_eq!(shown[..6], expect_row(row)[..], "{shown:?}");
        assert_eq!(shown[7], usd(row.cost));
    }
    assert!(link_labelled(&page, "&larr; Newer").is_none() && !page.contains("rel=\"prev\""));
    let older = link_labelled(&page, "Older").expect("a next page");
    let (_, second_page) = get(&a, &server, &older);
    let second = log_rows(&second_page);
    assert_eq!(second.len(), 11);
    for (shown, row) in second.iter().zip(&rows[50..]) {
        assert_eq!(shown[..6], expect_row(row)[..]);
    }
    assert!(!second_page.contains("rel=\"next\""));
    let newer = link_labelled(&second_page, "Newer").expect("a way back");
    let (_, back) = get(&a, &server, &newer);
    assert_eq!(log_rows(&back), first);

    // Filters, each on its own and together, keep their values in the page links.
    let key2_id: String = Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT id FROM api_keys WHERE name = ?1",
            [SECOND_KEY],
            |r| r.get(0),
        )
        .unwrap();
    assert!(page.contains(&format!("<option value=\"{key2_id}\">{SECOND_KEY} (")));
    // How many rows a query matches: all of them in its export, the first 50 on its page.
    let count = |query: &str| {
        let (status, page) = get(&a, &server, &format!("/dashboard/usage?{query}"));
        assert_eq!(status, 200, "{query}");
        let (status, csv) = get(&a, &server, &format!("/dashboard/usage.csv?{query}"));
        assert_eq!(status, 200, "{query}");
        let matching = common::parse_csv(&csv).len() - 1;
        assert_eq!(log_rows(&page).len(), matching.min(50), "{query}");
        matching
    };
    assert_eq!(count("model=gpt-test"), 3);
    assert_eq!(count(&format!("key={key2_id}")), 3);
    assert_eq!(count("status=errors"), 1);
    assert_eq!(count("outcome=rejected"), 1);
    assert_eq!(count("status=ok&model=no-such-model"), 0);
    assert_eq!(count("endpoint=%2Fv1%2Fmessages"), 0);
    let today_label = day_label(today);
    assert_eq!(count(&format!("from={today_label}&to={today_label}")), 51);
    let (_, since) = get(&a, &server, &format!("/dashboard/usage?from={today_label}"));
    assert!(since.contains(&format!("Cost by model, since {today_label}")));
    let three_days_ago = day_label(today - 3);
    assert_eq!(
        count(&format!("from={three_days_ago}&to={three_days_ago}")),
        4
    );
    assert_eq!(count(&format!("to={}", day_label(today - 1))), 10);
    let (_, filtered) = get(&a, &server, "/dashboard/usage?model=chat-model");
    assert_eq!(log_rows(&filtered).len(), 50);
    let older = link_labelled(&filtered, "Older").unwrap();
    assert!(older.contains("model=chat-model"), "{older}");
    let (_, rest) = get(&a, &server, &older);
    let rest = log_rows(&rest);
    assert_eq!(rest.len(), 56 - 50);
    assert!(rest.iter().all(|r| r[1].starts_with("chat-model ")));
    let (_, empty) = get(&a, &server, "/dashboard/usage?endpoint=%2Fv1%2Fmessages");
    assert!(empty.contains("No requests match these filters."));

    // Values that make no sense are named on the page, which still answers.
    let b_key_id: String = Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT k.id FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.email = 'b@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let b_key_query = format!("key={b_key_id}");
    for (query, message) in [
        ("from=2026-13-45", "From must be a date like 2026-01-31"),
        ("to=yesterday", "To must be a date like 2026-01-31"),
        (
            "from=2026-02-02&to=2026-02-01",
            "The start date is after the end date",
        ),
        ("endpoint=/etc/passwd", "There is no endpoint “/etc/passwd”"),
        ("status=maybe", "Status is “ok” or “errors”"),
        ("outcome=%3Cb%3E", "There is no outcome “<b>”"),
        (b_key_query.as_str(), "That API key is not one of yours"),
        ("before=nonsense", "That page link is not valid"),
        ("after=1.99999999", "That page link is not valid"),
    ] {
        let res = a
            .get(server.url(&format!("/dashboard/usage?{query}")))
            .send()
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let raw = res.text().unwrap();
        assert!(!raw.contains("<b>"), "escaped: {query}");
        let page = unescape(&raw);
        assert!(page.contains(message), "{query}: {message}");
        // The rest of the page is there, unfiltered where the filter was left out.
        assert_eq!(log_rows(&page).len(), 50, "{query}");
    }

    // The CSV export: every matching row, newest first, quoted where needed.
    let res = a.get(server.url("/dashboard/usage.csv")).send().unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = res.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"usage-"),
        "{disposition}"
    );
    let csv_text = res.text().unwrap();
    let csv = common::parse_csv(&csv_text);
    assert_eq!(
        csv[0],
        [
            "time",
            "endpoint",
            "model",
            "key_name",
            "key_prefix",
            "status",
            "outcome",
            "streamed",
            "estimated",
            "input_tokens",
            "cached_input_tokens",
            "cache_creation_tokens",
            "output_tokens",
            "reasoning_tokens",
            "latency_ms",
            "ttfb_ms",
            "cost",
            "currency",
            "dropped"
        ]
    );
    assert_eq!(csv.len() - 1, rows.len());
    let csv_time = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    for (record, row) in csv[1..].iter().zip(&rows) {
        assert_eq!(record.len(), 19);
        assert_eq!(record[0], format_time(row.at, csv_time));
        assert_eq!(record[2], row.model);
        assert_eq!(record[3], row.key);
        assert!(record[4].starts_with("sk-"), "{record:?}");
        assert_eq!(record[5], row.status.to_string());
        assert_eq!(record[8], row.estimated.to_string());
        assert_eq!(record[9], row.input.to_string());
        assert_eq!(record[10], row.cached.to_string());
        assert_eq!(record[12], row.output.to_string());
        assert_eq!(
            record[16].parse::<Money>().unwrap(),
            Money::from_micros(row.cost)
        );
        assert_eq!(record[17], "USD");
        assert_eq!(record[18], row.dropped);
    }
    assert!(
        csv_text.contains("\"laptop, \"\"work\"\"\""),
        "quoted key name"
    );
    let (status, filtered_csv) = get(&a, &server, "/dashboard/usage.csv?model=gpt-test");
    assert_eq!(status, 200);
    assert_eq!(common::parse_csv(&filtered_csv).len(), 1 + 3);
    let (status, refused) = get(&a, &server, "/dashboard/usage.csv?from=someday");
    assert_eq!(status, 400);
    assert!(refused.contains("From must be a date like"));

    // B's rows never show for A, and A's never for B.
    for text in [&page, &second_page, &csv_text] {
        assert!(!text.contains("chat-alias"), "B's model on A's page");
    }
    let (_, b_csv) = get(
        &common::signed_in(&server, "b@example.test"),
        &server,
        "/dashboard/usage.csv",
    );
    let b_rows = common::parse_csv(&b_csv);
    assert_eq!(b_rows.len() - 1, rows_of(&server, "b@example.test").len());
    assert!(b_rows[1..].iter().all(|r| r[2] == "chat-alias"));
    let (_, b_page) = get(
        &common::signed_in(&server, "b@example.test"),
        &server,
        "/dashboard/usage",
    );
    assert_eq!(log_rows(&b_page).len(), 4);
    assert!(!b_page.contains(SECOND_KEY), "A's key name on B's page");

    // Metadata only: neither what was sent nor what came back, anywhere.
    let echo = CANARY.replace("CANARY", "ECHO");
    for text in [&page, &second_page, &csv_text, &b_csv, &b_page] {
        assert!(!text.contains(CANARY) && !text.contains(&echo) && !text.contains(ANSWER));
    }
    // The strict CSP holds: no inline style or script.
    assert!(!page.contains("style="));
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=").count()
    );

    // The overview links here.
    let (_, overview) = get(&a, &server, "/dashboard");
    assert_eq!(
        link_labelled(&overview, "All requests").as_deref(),
        Some("/dashboard/usage")
    );
}

#[test]
fn without_requests_the_page_says_so() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    common::user_with_key(&server, "new@example.test");
    let browser = common::signed_in(&server, "new@example.test");
    let (status, page) = get(&browser, &server, "/dashboard/usage");
    assert_eq!(status, 200);
    // Two charts, each drawn for a wide and a narrow box, each saying it in its text and desc.
    assert_eq!(
        page.matches("No requests in the last 30 days").count(),
        2 * 2 * 2
    );
    assert!(page.contains("No requests match in this period"));
    assert!(page.contains("No requests yet."));
    assert!(log_rows(&page).is_empty());
    assert!(!page.contains("rel=\"next\""));
    let (status, csv) = get(&browser, &server, "/dashboard/usage.csv");
    assert_eq!(status, 200);
    assert_eq!(common::parse_csv(&csv).len(), 1, "just the header");

    // Signed out, the page and the export ask to sign in.
    let res = common::client()
        .get(server.url("/dashboard/usage.csv"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
}
