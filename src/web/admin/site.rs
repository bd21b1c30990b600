//! `/admin/site`: first-party site analytics.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::{AppState, Console};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/site", web::get().to(site_analytics));
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
    console: Console,
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
    use crate::db::analytics::{self as repo, Dimension};
    use crate::web::charts::{self, Bar, Columns, Series, compact_count, group_digits};
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
    let views_chart_columns = Columns {
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
    };
    let views_chart = charts::fitted(|fit| charts::columns_fit(&views_chart_columns, fit));
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
        layout: super::layout(&state, "Site analytics"),
        console: Console::new(&state, &signed_in, "site"),
        total_views: views.iter().sum(),
        views_chart,
        days,
        rankings,
    })
}
