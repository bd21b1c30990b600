//! `/admin/analytics`: usage and revenue across every account — per day, model, provider and
//! account: requests, tokens, cost and error rate — as charts with their tables, and as CSV.
//! Read from the daily sums (`db::rollup`), so a page costs the same at ten million requests.

use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, DAY_MS};
use crate::db::rollup::{self, Group};
use crate::db::usage::Totals;
use crate::money::Money;
use crate::web::charts::{self, Bar, Columns, Series, compact_count, group_digits};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/analytics", web::get().to(analytics))
        .route("/admin/analytics.csv", web::get().to(analytics_csv));
}

/// The periods the page offers, in days.
const PERIODS: [i64; 3] = [7, 30, 90];
/// Rows of each ranking.
const TOP: i64 = 20;
/// Rows one export holds at most.
const EXPORT_ROWS: i64 = 200_000;

#[derive(Deserialize)]
pub(super) struct PeriodQuery {
    days: Option<i64>,
}

impl PeriodQuery {
    /// The days `first..=today` the period covers; a period not offered is a 400 naming it.
    fn days(&self) -> Result<(i64, i64, i64), WebError> {
        let days = self.days.unwrap_or(30);
        if !PERIODS.contains(&days) {
            return Err(WebError::BadRequest(format!(
                "days: expected one of 7, 30 or 90, not {days}"
            )));
        }
        let today = crate::db::now_ms() / DAY_MS;
        Ok((days, today - days + 1, today))
    }
}

/// Sums written for people.
pub struct TotalsView {
    pub label: String,
    pub requests: String,
    pub tokens: String,
    pub cost: String,
    pub error_rate: String,
}

impl TotalsView {
    pub(super) fn new(label: String, t: &Totals, currency: &str) -> TotalsView {
        TotalsView {
            label,
            requests: group_digits(t.requests),
            tokens: group_digits(t.tokens()),
            cost: Money::from_micros(t.cost).cost_in(currency),
            error_rate: error_rate(t),
        }
    }
}

fn error_rate(t: &Totals) -> String {
    if t.requests == 0 {
        return "—".to_owned();
    }
    // Tenths of a percent, in integers.
    let permille = t.errors * 1000 / t.requests;
    format!("{}.{}%", permille / 10, permille % 10)
}

/// One ranking (by model, provider or account) with its chart.
pub struct Ranking {
    pub id: &'static str,
    pub title: &'static str,
    pub first: &'static str,
    pub chart: String,
    pub rows: Vec<TotalsView>,
}

pub struct RevenueView {
    pub kind: &'static str,
    pub count: i64,
    pub amount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/analytics.html")]
struct AnalyticsPage {
    layout: Layout,
    console: Console,
    days: i64,
    periods: [i64; 3],
    total: TotalsView,
    requests_chart: String,
    cost_chart: String,
    per_day: Vec<TotalsView>,
    rankings: Vec<Ranking>,
    revenue: Vec<RevenueView>,
}

/// `GET /admin/analytics?days=30`: usage and revenue across all accounts.
async fn analytics(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<PeriodQuery>,
) -> Result<AnalyticsPage, WebError> {
    let (days, first, today) = query.days()?;
    let to = today + 1;
    let (total, per_day, ranked, revenue) = state
        .db
        .run(move |conn| {
            let mut ranked = Vec::new();
            for group in [Group::Model, Group::Provider, Group::Account] {
                ranked.push(rollup::grouped(conn, group, first, to, TOP)?);
            }
            Ok((
                rollup::totals(conn, first, to)?,
                rollup::grouped(conn, Group::Day, first, to, days)?,
                ranked,
                rollup::revenue(conn, first * DAY_MS, to * DAY_MS)?,
            ))
        })
        .await?;
    let currency = state.config().billing.currency.clone();
    let series: Vec<(String, Totals)> = (first..=today)
        .map(|day| {
            let found = per_day.iter().find(|(d, _)| *d == day.to_string());
            (
                crate::usage::short_day(day),
                found.map(|(_, t)| *t).unwrap_or_default(),
            )
        })
        .collect();
    let labels: Vec<String> = series.iter().map(|(l, _)| l.clone()).collect();
    let requests: Vec<i64> = series.iter().map(|(_, t)| t.requests).collect();
    let errors: Vec<i64> = series.iter().map(|(_, t)| t.errors).collect();
    let costs: Vec<i64> = series.iter().map(|(_, t)| t.cost).collect();
    let count = |v: i64| group_digits(v);
    let money = |v: i64| Money::from_micros(v).cost_in(&currency);
    let requests_chart_columns = Columns {
        id: "chart-admin-requests",
        title: "Requests per day",
        labels: &labels,
        series: &[
            Series {
                name: "Requests",
                values: &requests,
            },
            Series {
                name: "Errors",
                values: &errors,
            },
        ],
        tick: &compact_count,
        value: &count,
        empty: "No requests in this period",
    };
    let requests_chart = charts::fitted(|fit| charts::columns_fit(&requests_chart_columns, fit));
    let cost_chart_columns = Columns {
        id: "chart-admin-cost",
        title: "Spend per day",
        labels: &labels,
        series: &[Series {
            name: "Spend",
            values: &costs,
        }],
        tick: &money,
        value: &money,
        empty: "Nothing spent in this period",
    };
    let cost_chart = charts::fitted(|fit| charts::columns_fit(&cost_chart_columns, fit));
    let titles = [
        ("admin-models", "By model", "Model"),
        ("admin-providers", "By provider", "Provider"),
        ("admin-accounts", "Top accounts", "Account"),
    ];
    let rankings = titles
        .into_iter()
        .zip(ranked)
        .map(|((id, title, first), rows)| {
            let bars: Vec<Bar> = rows
                .iter()
                .map(|(label, t)| Bar {
                    label: shown_label(label),
                    value: t.cost,
                    text: format!("{} · {} requests", money(t.cost), group_digits(t.requests)),
                })
                .collect();
            Ranking {
                id,
                title,
                first,
                chart: charts::bars(id, title, &bars, "Nothing in this period"),
                rows: rows
                    .iter()
                    .map(|(label, t)| TotalsView::new(shown_label(label), t, &currency))
                    .collect(),
            }
        })
        .collect();
    Ok(AnalyticsPage {
        layout: super::layout(&state, "Analytics"),
        console: Console::new(&state, &admin.0, "analytics"),
        days,
        periods: PERIODS,
        total: TotalsView::new(String::new(), &total, &currency),
        requests_chart,
        cost_chart,
        per_day: series
            .iter()
            .rev()
            .map(|(label, t)| TotalsView::new(label.clone(), t, &currency))
            .collect(),
        rankings,
        revenue: revenue
            .into_iter()
            .map(|(kind, count, amount)| RevenueView {
                kind: revenue_kind(&kind),
                count,
                amount: Money::from_micros(amount).amount_in(&currency),
            })
            .collect(),
    })
}

/// A group's label as the page shows it: usage that reached no model, provider or account
/// (refused requests, erased accounts) is named for what it is.
fn shown_label(label: &str) -> String {
    if label.is_empty() {
        "(none)".to_owned()
    } else {
        label.to_owned()
    }
}

fn revenue_kind(kind: &str) -> &'static str {
    match kind {
        "topup" => "Card top-ups",
        "refund" => "Refunds",
        "grant" => "Grants",
        "redemption" => "Redeemed codes",
        "adjustment" => "Adjustments",
        _ => "Other",
    }
}

/// `GET /admin/analytics.csv?days=30`: the daily sums per account, model and provider.
async fn analytics_csv(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, WebError> {
    use crate::csv;
    let (days, first, today) = query.days()?;
    let rows = state
        .db
        .run(move |conn| rollup::daily_rows(conn, first, today + 1, EXPORT_ROWS))
        .await?;
    let currency = &state.config().billing.currency;
    let mut out = String::new();
    csv::record(
        &mut out,
        [
            "day",
            "account",
            "model",
            "provider",
            "requests",
            "errors",
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            &format!("cost_{}", currency.to_lowercase()),
        ],
    );
    for row in rows {
        let t = &row.totals;
        csv::record(
            &mut out,
            [
                crate::usage::format_day(row.day).as_str(),
                &csv::text(&row.account),
                &csv::text(&row.model),
                &csv::text(&row.provider),
                &t.requests.to_string(),
                &t.errors.to_string(),
                &t.input_tokens.to_string(),
                &t.cached_input_tokens.to_string(),
                &t.output_tokens.to_string(),
                &Money::from_micros(t.cost).to_decimal_string(),
            ],
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"usage-{days}-days.csv\""),
        ))
        .body(out))
}
