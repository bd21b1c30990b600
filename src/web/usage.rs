//! The dashboard's usage page and its CSV export: a signed-in user's own requests, as totals,
//! charts and a filtered log of metadata. Filters arrive as query parameters; a value that does
//! not make sense is named on the page and left out, never an error page.
//!
//! One module because the page and the export share the filter parsing and the checked query.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::charts::{self, Bar, Columns, Series, compact_count, group_digits};
use super::dashboard::Dash;
use super::error::WebError;
use super::session::SignedIn;
use super::site::Layout;
use crate::db::accounts::{self as accounts_repo, KeyRow};
use crate::db::usage::{DAY_MS, Endpoint, Outcome, Position, Totals, UsageFilter};
use crate::money::Money;
use crate::usage::{self, Nav, Report};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/usage", web::get().to(page))
        .route("/dashboard/usage.csv", web::get().to(export));
}

// ---------------------------------------------------------------- query parameters

/// The page's filters as they came in (and go back into the form and links).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub model: String,
    pub endpoint: String,
    pub key: String,
    /// `ok` or `errors`.
    pub status: String,
    pub outcome: String,
    /// `YYYY-MM-DD`, inclusive, UTC.
    pub from: String,
    pub to: String,
}

/// The query string: filters plus where the page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Query {
    filters: Filters,
    /// A [`Position`]: show the requests older than it.
    before: String,
    /// A [`Position`]: show the requests newer than it.
    after: String,
}

impl Query {
    /// Reads the raw query string; unknown names are ignored, and of a repeated name the last
    /// value counts.
    fn parse(query: &str) -> Query {
        let mut q = Query::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim().to_owned();
            let slot = match name.as_ref() {
                "model" => &mut q.filters.model,
                "endpoint" => &mut q.filters.endpoint,
                "key" => &mut q.filters.key,
                "status" => &mut q.filters.status,
                "outcome" => &mut q.filters.outcome,
                "from" => &mut q.filters.from,
                "to" => &mut q.filters.to,
                "before" => &mut q.before,
                "after" => &mut q.after,
                _ => continue,
            };
            *slot = value;
        }
        q
    }
}

/// Longest model name a filter may hold.
const MAX_MODEL_LEN: usize = 200;
/// More rows than this at one millisecond cannot happen; a larger skip is a made-up link.
const MAX_SKIP: i64 = 10_000;

/// A position as it appears in links: `<unix ms>.<skip>`.
fn format_position(pos: Position) -> String {
    format!("{}.{}", pos.at, pos.skip)
}

fn parse_position(text: &str) -> Option<Position> {
    let (at, skip) = text.split_once('.')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(at) || !all_digits(skip) {
        return None;
    }
    let pos = Position {
        at: at.parse().ok()?,
        skip: skip.parse().ok()?,
    };
    (pos.skip <= MAX_SKIP).then_some(pos)
}

/// The filters checked: what applies, what was left out and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Checked {
    filter: UsageFilter,
    dates_given: bool,
    nav: Nav,
    /// The filters that apply, for the form and the links; left-out values are blank.
    kept: Filters,
    errors: Vec<String>,
}

/// A user's value quoted in a message, cut short.
fn quoted(value: &str) -> String {
    let mut short: String = value.chars().take(40).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("“{short}”")
}

fn check(query: &Query, user_id: &str, keys: &[KeyRow]) -> Checked {
    let f = &query.filters;
    let mut errors = Vec::new();
    let mut kept = f.clone();
    let mut filter = UsageFilter::all(user_id);

    if f.model.chars().count() > MAX_MODEL_LEN {
        errors.push(format!(
            "A model name has at most {MAX_MODEL_LEN} characters; the model filter was left out."
        ));
        kept.model.clear();
    } else if !f.model.is_empty() {
        filter.model = Some(f.model.clone());
    }

    if !f.endpoint.is_empty() {
        if let Some(endpoint) = Endpoint::known(&f.endpoint) {
            filter.endpoint = Some(endpoint);
        } else {
            errors.push(format!(
                "There is no endpoint {}; the endpoint filter was left out.",
                quoted(&f.endpoint)
            ));
            kept.endpoint.clear();
        }
    }

    if !f.key.is_empty() {
        if keys.iter().any(|k| k.id == f.key) {
            filter.key_id = Some(f.key.clone());
        } else {
            errors.push("That API key is not one of yours; the key filter was left out.".into());
            kept.key.clear();
        }
    }

    match f.status.as_str() {
        "" => {}
        "ok" => filter.ok = Some(true),
        "errors" => filter.ok = Some(false),
        other => {
            errors.push(format!(
                "Status is “ok” or “errors”, not {}; the status filter was left out.",
                quoted(other)
            ));
            kept.status.clear();
        }
    }

    if !f.outcome.is_empty() {
        if let Some(outcome) = Outcome::known(&f.outcome) {
            filter.outcome = Some(outcome);
        } else {
            errors.push(format!(
                "There is no outcome {}; the outcome filter was left out.",
                quoted(&f.outcome)
            ));
            kept.outcome.clear();
        }
    }

    let mut date = |text: &str, label: &str, kept: &mut String| -> Option<i64> {
        if text.is_empty() {
            return None;
        }
        let day = usage::parse_day(text);
        if day.is_none() {
            errors.push(format!(
                "{label} must be a date like 2026-01-31, not {}; it was left out.",
                quoted(text)
            ));
            kept.clear();
        }
        day
    };
    let from = date(&f.from, "From", &mut kept.from);
    let to = date(&f.to, "To", &mut kept.to);
    let (from, to) = match (from, to) {
        (Some(a), Some(b)) if a > b => {
            errors.push("The start date is after the end date; the dates were left out.".into());
            kept.from.clear();
            kept.to.clear();
            (None, None)
        }
        pair => pair,
    };
    if let Some(day) = from {
        filter.from_ms = day.saturating_mul(DAY_MS);
    }
    if let Some(day) = to {
        filter.to_ms = day.saturating_add(1).saturating_mul(DAY_MS);
    }

    let nav = match (query.before.as_str(), query.after.as_str()) {
        ("", "") => Nav::First,
        (before, "") => parse_position(before).map_or(Nav::First, Nav::Older),
        ("", after) => parse_position(after).map_or(Nav::First, Nav::Newer),
        _ => Nav::First,
    };
    if nav == Nav::First && !(query.before.is_empty() && query.after.is_empty()) {
        errors.push("That page link is not valid; here are the newest requests.".into());
    }

    Checked {
        dates_given: from.is_some() || to.is_some(),
        filter,
        nav,
        kept,
        errors,
    }
}

/// A link to `path` with the filters that apply and, optionally, a place in the log.
fn link(path: &str, filters: &Filters, place: Option<(&str, Position)>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("model", &filters.model),
        ("endpoint", &filters.endpoint),
        ("key", &filters.key),
        ("status", &filters.status),
        ("outcome", &filters.outcome),
        ("from", &filters.from),
        ("to", &filters.to),
    ] {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    if let Some((name, pos)) = place {
        query.append_pair(name, &format_position(pos));
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

// ---------------------------------------------------------------- the page

/// One of the three totals at the top of the page.
pub struct SummaryCard {
    pub title: &'static str,
    pub cost: String,
    pub requests: String,
    pub errors: String,
    pub input: String,
    pub output: String,
}

/// A row of a chart's table, with its numbers formatted.
pub struct TotalsRow {
    pub label: String,
    pub requests: String,
    pub input: String,
    pub cached: String,
    pub output: String,
    pub cost: String,
}

/// One request of the log: metadata only.
pub struct LogRow {
    pub at: String,
    pub endpoint: &'static str,
    pub model: String,
    pub key: String,
    pub status: u16,
    pub ok: bool,
    pub outcome: String,
    pub streamed: bool,
    pub estimated: bool,
    pub input: String,
    /// Of the input, when any was cached.
    pub cached: Option<String>,
    pub output: String,
    pub latency: String,
    pub cost: String,
    /// The request fields a translation between API formats left out, when any.
    pub dropped: Option<String>,
}

/// An option of a filter's `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/usage.html")]
struct UsagePage {
    layout: Layout,
    dash: Dash,
    errors: Vec<String>,
    currency: String,
    cards: Vec<SummaryCard>,
    /// SVG markup from [`charts`]: every text in it is escaped there.
    cost_chart: String,
    tokens_chart: String,
    model_chart: String,
    days: Vec<TotalsRow>,
    models: Vec<TotalsRow>,
    model_period: String,
    filters: Filters,
    filtered: bool,
    model_choices: Vec<Choice>,
    endpoint_choices: Vec<Choice>,
    key_choices: Vec<Choice>,
    outcome_choices: Vec<Choice>,
    rows: Vec<LogRow>,
    /// Whether the explanation of the "est." mark is needed.
    any_estimated: bool,
    any_dropped: bool,
    newer_link: Option<String>,
    older_link: Option<String>,
    csv_link: String,
}

/// A date-time with seconds, in UTC (the log's heading says so): `2026-11-27 05:43:22`.
fn format_seconds(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn totals_row(label: String, t: &Totals, currency: &str) -> TotalsRow {
    TotalsRow {
        label,
        requests: group_digits(t.requests),
        input: group_digits(t.input_tokens),
        cached: group_digits(t.cached_input_tokens),
        output: group_digits(t.output_tokens),
        cost: Money::from_micros(t.cost).cost_in(currency),
    }
}

fn card(title: &'static str, t: &Totals, currency: &str) -> SummaryCard {
    let plural = |n: i64, one: &str, many: &str| {
        format!("{} {}", group_digits(n), if n == 1 { one } else { many })
    };
    SummaryCard {
        title,
        cost: Money::from_micros(t.cost).cost_in(currency),
        requests: plural(t.requests, "request", "requests"),
        errors: if t.errors > 0 {
            plural(t.errors, "error", "errors")
        } else {
            String::new()
        },
        input: group_digits(t.input_tokens),
        output: group_digits(t.output_tokens),
    }
}

fn choice(value: &str, label: &str, current: &str) -> Choice {
    Choice {
        value: value.to_owned(),
        label: label.to_owned(),
        selected: value == current,
    }
}

fn outcome_label(outcome: Outcome) -> String {
    match outcome {
        Outcome::UpstreamDropped => "dropped by provider".to_owned(),
        Outcome::ClientCancelled => "cancelled by client".to_owned(),
        other => other.as_str().replace('_', " "),
    }
}

/// The per-model row of requests that named no model this server serves.
const UNKNOWN_MODELS: &str = "Unknown models (refused)";

/// The page for a user with these keys, from a checked query and its report.
fn render_page(
    state: &AppState,
    signed_in: &SignedIn,
    keys: &[KeyRow],
    checked: Checked,
    report: Report,
) -> UsagePage {
    let config = state.config();
    let currency = config.billing.currency.as_str();
    let money = |v: i64| Money::from_micros(v).cost_in(currency);
    let kept = &checked.kept;

    // The daily charts.
    let labels: Vec<String> = report
        .days
        .iter()
        .map(|d| usage::short_day(d.day))
        .collect();
    let cost: Vec<i64> = report.days.iter().map(|d| d.totals.cost).collect();
    let fresh: Vec<i64> = report
        .days
        .iter()
        .map(|d| d.totals.input_tokens - d.totals.cached_input_tokens.min(d.totals.input_tokens))
        .collect();
    let cached: Vec<i64> = report
        .days
        .iter()
        .map(|d| d.totals.cached_input_tokens.min(d.totals.input_tokens))
        .collect();
    let output: Vec<i64> = report.days.iter().map(|d| d.totals.output_tokens).collect();
    let empty = "No requests in the last 30 days";
    let cost_columns = Columns {
        id: "chart-cost",
        title: "Cost per day, last 30 days",
        labels: &labels,
        series: &[Series {
            name: "Cost",
            values: &cost,
        }],
        tick: &money,
        value: &money,
        empty,
    };
    let cost_chart = charts::fitted(|fit| charts::columns_fit(&cost_columns, fit));
    let token_columns = Columns {
        id: "chart-tokens",
        title: "Tokens per day, last 30 days",
        labels: &labels,
        series: &[
            Series {
                name: "Uncached input",
                values: &fresh,
            },
            Series {
                name: "Cached input",
                values: &cached,
            },
            Series {
                name: "Output",
                values: &output,
            },
        ],
        tick: &compact_count,
        value: &group_digits,
        empty,
    };
    let tokens_chart = charts::fitted(|fit| charts::columns_fit(&token_columns, fit));

    // The per-model chart: by cost, or by tokens where nothing cost anything.
    let model_period = match report.model_days {
        (Some(first), Some(last)) if first == last => usage::format_day(first),
        (Some(first), Some(last)) => {
            format!("{} – {}", usage::format_day(first), usage::format_day(last))
        }
        (Some(first), None) => format!("since {}", usage::format_day(first)),
        (None, Some(last)) => format!("up to {}", usage::format_day(last)),
        (None, None) => "all time".to_owned(),
    };
    let mut model_rows: Vec<(String, Totals)> = report
        .models
        .models
        .iter()
        .map(|m| {
            let name = m.model.clone().unwrap_or_else(|| "(no model)".to_owned());
            (name, m.totals)
        })
        .collect();
    if report.models.others > 0 {
        model_rows.push((
            format!("{} other models", report.models.others),
            report.models.rest,
        ));
    }
    let by_cost = model_rows.iter().any(|(_, t)| t.cost > 0);
    let bars: Vec<Bar> = model_rows
        .iter()
        .map(|(name, t)| Bar {
            label: name.clone(),
            value: if by_cost { t.cost } else { t.tokens() },
            text: format!("{} · {} tokens", money(t.cost), compact_count(t.tokens())),
        })
        .collect();
    let model_title = format!(
        "{} by model, {model_period}",
        if by_cost { "Cost" } else { "Tokens" }
    );
    let model_chart = charts::fitted(|fit| {
        charts::bars_fit(
            "chart-models",
            &model_title,
            &bars,
            "No requests match in this period",
            fit,
        )
    });
    // The table under the chart also counts the refused requests for names that are no model.
    if report.models.unknown.requests > 0 {
        model_rows.push((UNKNOWN_MODELS.to_owned(), report.models.unknown));
    }

    // The filter form's choices.
    let mut models: Vec<String> = state.config().models.iter().map(|m| m.id.clone()).collect();
    for m in report.models.models.iter().filter_map(|m| m.model.clone()) {
        if !models.contains(&m) {
            models.push(m);
        }
    }
    if !kept.model.is_empty() && !models.contains(&kept.model) {
        models.push(kept.model.clone());
    }
    let mut model_choices = vec![choice("", "All models", &kept.model)];
    model_choices.extend(models.iter().map(|m| choice(m, m, &kept.model)));
    let mut endpoint_choices = vec![choice("", "All endpoints", &kept.endpoint)];
    endpoint_choices.extend(
        Endpoint::ALL
            .iter()
            .map(|e| choice(e.as_str(), e.as_str(), &kept.endpoint)),
    );
    let mut key_choices = vec![choice("", "All keys", &kept.key)];
    key_choices.extend(keys.iter().map(|k| {
        let label = format!("{} ({}…)", k.name, k.prefix);
        choice(&k.id, &label, &kept.key)
    }));
    let mut outcome_choices = vec![choice("", "All outcomes", &kept.outcome)];
    outcome_choices.extend(
        Outcome::ALL
            .iter()
            .map(|o| choice(o.as_str(), &outcome_label(*o), &kept.outcome)),
    );

    // The log.
    let names: HashMap<&str, &str> = keys
        .iter()
        .map(|k| (k.id.as_str(), k.name.as_str()))
        .collect();
    let rows: Vec<LogRow> = report
        .page
        .rows
        .iter()
        .map(|r| LogRow {
            at: format_seconds(r.at),
            endpoint: r.endpoint.as_str(),
            model: r.model.clone().unwrap_or_default(),
            key: r
                .key_id
                .as_deref()
                .and_then(|id| names.get(id))
                .map_or_else(|| "deleted key".to_owned(), |n| (*n).to_owned()),
            status: r.status,
            ok: (200..300).contains(&r.status),
            outcome: outcome_label(r.outcome),
            streamed: r.streamed,
            estimated: r.estimated,
            input: group_digits(r.input_tokens),
            cached: (r.cached_input_tokens > 0).then(|| group_digits(r.cached_input_tokens)),
            output: group_digits(r.output_tokens),
            latency: format!("{} ms", group_digits(r.latency_ms)),
            cost: money(r.cost),
            dropped: r.dropped.as_ref().map(|d| d.replace(',', ", ")),
        })
        .collect();

    let page_path = "/dashboard/usage";
    UsagePage {
        layout: Layout::new(state, "dashboard", "Usage").signed_in(),
        dash: Dash::new(state, signed_in, "usage"),
        errors: checked.errors,
        currency: currency.to_owned(),
        cards: vec![
            card("Today", &report.summary.today, currency),
            card("Last 7 days", &report.summary.week, currency),
            card("Last 30 days", &report.summary.month, currency),
        ],
        cost_chart,
        tokens_chart,
        model_chart,
        days: report
            .days
            .iter()
            .rev()
            .map(|d| totals_row(usage::format_day(d.day), &d.totals, currency))
            .collect(),
        models: model_rows
            .iter()
            .map(|(name, t)| totals_row(name.clone(), t, currency))
            .collect(),
        model_period,
        filtered: *kept != Filters::default(),
        model_choices,
        endpoint_choices,
        key_choices,
        outcome_choices,
        any_estimated: rows.iter().any(|r: &LogRow| r.estimated),
        any_dropped: rows.iter().any(|r: &LogRow| r.dropped.is_some()),
        rows,
        newer_link: report
            .page
            .newer
            .map(|p| link(page_path, kept, Some(("after", p)))),
        older_link: report
            .page
            .older
            .map(|p| link(page_path, kept, Some(("before", p)))),
        csv_link: link("/dashboard/usage.csv", kept, None),
        filters: checked.kept,
    }
}

/// Reads the user's keys and checks the query against them.
async fn checked_query(
    state: &AppState,
    signed_in: &SignedIn,
    req: &HttpRequest,
) -> Result<(Vec<KeyRow>, Checked), WebError> {
    let query = Query::parse(req.query_string());
    let user_id = signed_in.user.id.clone();
    let keys = state
        .db
        .run(move |conn| accounts_repo::list_keys(conn, &user_id))
        .await?;
    let checked = check(&query, &signed_in.user.id, &keys);
    Ok((keys, checked))
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    req: &HttpRequest,
    keys: Vec<KeyRow>,
    checked: Checked,
) -> Result<HttpResponse, WebError> {
    let today = usage::day_of(crate::db::now_ms());
    let filter = checked.filter.clone();
    let (dates_given, nav) = (checked.dates_given, checked.nav);
    let config = state.config().clone();
    let known = move |name: &str| {
        config
            .models
            .iter()
            .any(|m| m.id == name || m.aliases.iter().any(|a| a == name))
    };
    let report = state
        .db
        .run(move |conn| usage::report(conn, &filter, dates_given, nav, today, &known))
        .await?;
    let status = if checked.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = render_page(state, signed_in, &keys, checked, report);
    let mut res = page.respond_to(req).map_into_boxed_body();
    *res.status_mut() = status;
    Ok(res)
}

async fn page(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let (keys, checked) = checked_query(&state, &signed_in, &req).await?;
    render(&state, &signed_in, &req, keys, checked).await
}

// ---------------------------------------------------------------- CSV export

/// Every request that the filters match, newest first, as CSV (columns: [`usage::CSV_COLUMNS`]).
/// Rows are read and sent a chunk at a time, so memory stays bounded however many there are.
/// Filters that make no sense show the page with the message instead.
async fn export(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let (keys, checked) = checked_query(&state, &signed_in, &req).await?;
    if !checked.errors.is_empty() {
        return render(&state, &signed_in, &req, keys, checked).await;
    }
    let filter = checked.filter;
    let keys: HashMap<String, KeyRow> = keys.into_iter().map(|k| (k.id.clone(), k)).collect();
    let keys = std::sync::Arc::new(keys);
    let currency: std::sync::Arc<str> = state.config().billing.currency.as_str().into();
    let filename = format!(
        "usage-{}.csv",
        usage::format_day(usage::day_of(crate::db::now_ms()))
    );

    // The header first, then one chunk per step until a short chunk ends the export.
    let start: Option<usage::ExportCursor> = Some(None);
    let body = futures_util::stream::unfold(
        (start, true, state.into_inner()),
        move |(cursor, header, state)| {
            let filter = filter.clone();
            let keys = keys.clone();
            let currency = currency.clone();
            async move {
                if header {
                    let head = web::Bytes::from(usage::csv_header());
                    return Some((Ok(head), (cursor, false, state)));
                }
                let after = cursor?;
                let chunk = state
                    .db
                    .run(move |conn| usage::export_chunk(conn, &filter, after, &keys, &currency))
                    .await;
                match chunk {
                    Ok((text, next)) => Some((Ok(web::Bytes::from(text)), (next, false, state))),
                    Err(e) => {
                        tracing::error!("usage export failed: {e}");
                        Some((
                            Err(std::io::Error::other("the export could not be completed")),
                            (None, false, state),
                        ))
                    }
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> KeyRow {
        KeyRow {
            id: id.to_owned(),
            name: "Laptop".to_owned(),
            prefix: "sk-cx-ab".to_owned(),
            ..KeyRow::default()
        }
    }

    fn checked(query: &str) -> Checked {
        check(&Query::parse(query), "u1", &[key("k1")])
    }

    #[test]
    fn filters_become_a_query_on_the_users_rows() {
        let c = checked(
            "model=chat-model&endpoint=%2Fv1%2Fmessages&key=k1&status=errors&outcome=failed\
             &from=2026-11-01&to=2026-11-02&unknown=1",
        );
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(
            c.filter,
            UsageFilter {
                user_id: "u1".to_owned(),
                from_ms: usage::parse_day("2026-11-01").unwrap() * DAY_MS,
                to_ms: (usage::parse_day("2026-11-02").unwrap() + 1) * DAY_MS,
                model: Some("chat-model".to_owned()),
                endpoint: Some(Endpoint::Messages),
                key_id: Some("k1".to_owned()),
                ok: Some(false),
                outcome: Some(Outcome::Failed),
            }
        );
        assert!(c.dates_given);
        assert_eq!(c.nav, Nav::First);
        assert_eq!(c.kept, Query::parse("model=chat-model&endpoint=/v1/messages&key=k1&status=errors&outcome=failed&from=2026-11-01&to=2026-11-02").filters);

        let plain = checked("");
        assert_eq!(plain.filter, UsageFilter::all("u1"));
        assert!(!plain.dates_given && plain.errors.is_empty());
        let blank = checked("model=&endpoint=&key=&status=&outcome=&from=&to=");
        assert_eq!(blank.filter, UsageFilter::all("u1"));
    }

    #[test]
    fn nonsense_is_named_and_left_out() {
        let c = checked(
            "endpoint=/v1/nope&key=someone-elses&status=maybe&outcome=lost&from=2026-13-01&to=soon",
        );
        assert_eq!(c.filter, UsageFilter::all("u1"));
        assert_eq!(c.kept, Filters::default());
        assert_eq!(c.errors.len(), 6, "{:?}", c.errors);
        assert!(c.errors[0].contains("“/v1/nope”"));
        assert!(c.errors[1].contains("not one of yours"));
        assert!(c.errors.iter().any(|e| e.contains("“2026-13-01”")));

        let c = checked("from=2026-11-05&to=2026-11-04&model=m");
        assert_eq!(c.errors.len(), 1);
        assert!(c.errors[0].contains("start date is after the end date"));
        assert!(!c.dates_given);
        assert_eq!(c.filter.model.as_deref(), Some("m"));

        let long = "m".repeat(MAX_MODEL_LEN + 1);
        assert_eq!(checked(&format!("model={long}")).filter.model, None);
    }

    #[test]
    fn page_links_carry_the_filters_and_a_position() {
        let pos = Position {
            at: 1_764_201_600_123,
            skip: 2,
        };
        assert_eq!(parse_position(&format_position(pos)), Some(pos));
        for bad in [
            "", "1", "1.", ".1", "-1.0", "1.-1", "x.1", "1.99999", "1.2.3",
        ] {
            assert_eq!(parse_position(bad), None, "{bad}");
        }
        assert_eq!(checked("before=1764201600123.2").nav, Nav::Older(pos));
        assert_eq!(checked("after=1764201600123.2").nav, Nav::Newer(pos));
        let bad = checked("before=12&model=m");
        assert_eq!(bad.nav, Nav::First);
        assert_eq!(bad.errors.len(), 1);
        assert_eq!(bad.filter.model.as_deref(), Some("m"));

        let filters = Filters {
            model: "a model&more".to_owned(),
            status: "ok".to_owned(),
            ..Filters::default()
        };
        assert_eq!(
            link("/dashboard/usage", &filters, Some(("before", pos))),
            "/dashboard/usage?model=a+model%26more&status=ok&before=1764201600123.2"
        );
        assert_eq!(
            link("/dashboard/usage.csv", &Filters::default(), None),
            "/dashboard/usage.csv"
        );
        // A link parses back to the same filters.
        let again = Query::parse(
            link("/x", &filters, None)
                .split_once('?')
                .map_or("", |(_, q)| q),
        );
        assert_eq!(again.filters, filters);
    }
}
