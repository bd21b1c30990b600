//! The admin pages: for accounts with the admin role only; anyone else gets a 404, as if the
//! pages did not exist.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::dashboard::{Dash, layout};
use super::error::WebError;
use super::session::Admin;
use super::site::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/providers", web::get().to(providers))
        .route("/admin/flags", web::get().to(flags))
        .route("/admin/site", web::get().to(site_analytics))
        .route("/admin/system", web::get().to(system));
}

/// One provider's health, written for people.
pub struct ProviderRow {
    pub name: String,
    pub kind: &'static str,
    pub host: String,
    /// "Serving" or "Resting for 12 s".
    pub state: String,
    pub resting: bool,
    pub consecutive_failures: u32,
    pub successes: u64,
    pub failures: u64,
    pub last_failure: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/providers.html")]
struct ProvidersPage {
    layout: Layout,
    dash: Dash,
    rows: Vec<ProviderRow>,
    breaker_failures: u32,
    breaker_cooldown_secs: u64,
}

/// `GET /admin/providers`: each upstream provider and its health since the server started.
async fn providers(
    state: web::Data<AppState>,
    Admin(signed_in): Admin,
) -> Result<ProvidersPage, WebError> {
    let rows = state
        .health
        .providers()
        .into_iter()
        .map(|p| {
            let resting_for = p.resting_for.map(|d| d.as_secs() + 1);
            ProviderRow {
                name: p.name,
                kind: match p.kind {
                    crate::config::ProviderKind::Openai => "OpenAI",
                    crate::config::ProviderKind::Anthropic => "Anthropic",
                    crate::config::ProviderKind::OpenaiCompatible => "OpenAI-compatible",
                },
                host: p.host,
                state: resting_for.map_or_else(
                    || "Serving".to_owned(),
                    |secs| format!("Resting for {secs} s"),
                ),
                resting: resting_for.is_some(),
                consecutive_failures: p.consecutive_failures,
                successes: p.successes,
                failures: p.failures,
                last_failure: p.last_failure.unwrap_or("—"),
            }
        })
        .collect();
    Ok(ProvidersPage {
        layout: layout(&state, "Providers"),
        dash: Dash::new(&state, &signed_in, "admin-providers"),
        rows,
        breaker_failures: state.config.gateway.breaker_failures,
        breaker_cooldown_secs: state.config.gateway.breaker_cooldown_secs,
    })
}

/// One flag, written for people.
pub struct FlagRow {
    pub at: String,
    pub account: String,
    pub kind: String,
    pub reference: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/flags.html")]
struct FlagsPage {
    layout: Layout,
    dash: Dash,
    rows: Vec<FlagRow>,
}

/// `GET /admin/flags`: what needs an admin's attention (disputed payments, payments that did not
/// match their checkout), newest first.
async fn flags(state: web::Data<AppState>, Admin(signed_in): Admin) -> Result<FlagsPage, WebError> {
    let flags = state
        .db
        .run(|conn| crate::db::billing::open_flags(conn, 200))
        .await?;
    let rows = flags
        .into_iter()
        .map(|f| FlagRow {
            at: crate::clock::format_ms(f.at),
            account: f.email.unwrap_or_else(|| "—".to_owned()),
            kind: f.kind.replace('_', " "),
            reference: f.reference.unwrap_or_default(),
            detail: f.detail,
        })
        .collect();
    Ok(FlagsPage {
        layout: layout(&state, "Flags"),
        dash: Dash::new(&state, &signed_in, "admin-flags"),
        rows,
    })
}

/// One day of site analytics.
pub struct DayRow {
    pub day: String,
    pub views: i64,
    pub visitors: i64,
}

/// One ranked value (a page, a referrer, a browser…).
pub struct RankRow {
    pub value: String,
    pub views: i64,
    pub visitors: i64,
}

/// A ranking with its chart.
pub struct Ranking {
    pub id: &'static str,
    pub title: &'static str,
    pub chart: String,
    pub rows: Vec<RankRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/site.html")]
struct SitePage {
    layout: Layout,
    dash: Dash,
    views_chart: String,
    days: Vec<DayRow>,
    total_views: i64,
    rankings: Vec<Ranking>,
}

/// Days the site analytics page covers.
const SITE_DAYS: i64 = 30;

/// `GET /admin/site`: first-party site analytics over the last 30 days: views and visitors per
/// day, top pages, referrers, browsers, operating systems and devices.
async fn site_analytics(
    state: web::Data<AppState>,
    Admin(signed_in): Admin,
) -> Result<SitePage, WebError> {
    use super::charts::{self, Bar, Columns, Series, compact_count, group_digits};
    use crate::db::analytics::{self as repo, Dimension};
    const DAY_MS: i64 = 86_400_000;
    let today = crate::db::now_ms() / DAY_MS;
    let (first, to) = (today - SITE_DAYS + 1, (today + 1) * DAY_MS);
    let from = first * DAY_MS;
    let dimensions = [
        (Dimension::Path, "site-pages", "Top pages"),
        (Dimension::Referrer, "site-referrers", "Referring sites"),
        (Dimension::Browser, "site-browsers", "Browsers"),
        (Dimension::Os, "site-os", "Operating systems"),
        (Dimension::Device, "site-devices", "Devices"),
    ];
    let (per_day, ranked) = state
        .db
        .run(move |conn| {
            let per_day = repo::per_day(conn, from, to)?;
            let mut ranked = Vec::new();
            for (dimension, _, _) in dimensions {
                ranked.push(repo::top(conn, dimension, from, to, 10)?);
            }
            Ok((per_day, ranked))
        })
        .await?;
    let days: Vec<DayRow> = (first..=today)
        .map(|day| {
            let found = per_day.iter().find(|(d, _, _)| *d == day);
            DayRow {
                day: crate::usage::short_day(day),
                views: found.map_or(0, |f| f.1),
                visitors: found.map_or(0, |f| f.2),
            }
        })
        .collect();
    let labels: Vec<String> = days.iter().map(|d| d.day.clone()).collect();
    let views: Vec<i64> = days.iter().map(|d| d.views).collect();
    let count = |v: i64| group_digits(v);
    let views_chart = charts::columns(&Columns {
        id: "chart-site-views",
        title: "Page views per day, last 30 days",
        labels: &labels,
        series: &[Series {
            name: "Page views",
            values: &views,
        }],
        tick: &compact_count,
        value: &count,
        empty: "No page views in the last 30 days",
    });
    let rankings = dimensions
        .iter()
        .zip(ranked)
        .map(|((_, id, title), rows)| {
            let bars: Vec<Bar> = rows
                .iter()
                .map(|(value, views, visitors)| Bar {
                    label: value.clone(),
                    value: *views,
                    text: format!(
                        "{} views · {} visitors",
                        group_digits(*views),
                        group_digits(*visitors)
                    ),
                })
                .collect();
            Ranking {
                id,
                title,
                chart: charts::bars(id, title, &bars, "Nothing counted yet"),
                rows: rows
                    .into_iter()
                    .map(|(value, views, visitors)| RankRow {
                        value,
                        views,
                        visitors,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(SitePage {
        layout: layout(&state, "Site analytics"),
        dash: Dash::new(&state, &signed_in, "admin-site"),
        total_views: views.iter().sum(),
        views_chart,
        days,
        rankings,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/system.html")]
struct SystemPage {
    layout: Layout,
    dash: Dash,
    retention: Option<crate::privacy::retention::Report>,
    last_run: String,
    metadata_days: u32,
    ip_days: u32,
    outbox_days: u32,
    secret_guard: &'static str,
    secrets_found: Vec<(String, u64)>,
    /// Accounts that restricted processing: address and since when.
    restricted: Vec<(String, String)>,
}

/// `GET /admin/system`: the housekeeping the server does by itself, and when it last did it.
async fn system(
    state: web::Data<AppState>,
    Admin(signed_in): Admin,
) -> Result<SystemPage, WebError> {
    let (retention, restricted) = state
        .db
        .run(|conn| {
            Ok((
                crate::privacy::retention::last_run(conn)?,
                crate::db::privacy::restricted_accounts(conn, 500)?,
            ))
        })
        .await?;
    let privacy = &state.config.privacy;
    Ok(SystemPage {
        layout: layout(&state, "System"),
        dash: Dash::new(&state, &signed_in, "admin-system"),
        last_run: retention
            .as_ref()
            .map(|r| crate::clock::format_ms(r.at))
            .unwrap_or_default(),
        retention,
        metadata_days: privacy.metadata_retention_days,
        ip_days: privacy.ip_retention_days,
        outbox_days: privacy.outbox_retention_days,
        secret_guard: match privacy.secret_guard {
            crate::config::SecretGuard::Off => "off",
            crate::config::SecretGuard::Redact => "redact",
            crate::config::SecretGuard::Block => "block",
        },
        secrets_found: state.health.secrets_found(),
        restricted: restricted
            .into_iter()
            .map(|(email, at)| (email, crate::clock::format_ms(at)))
            .collect(),
    })
}
