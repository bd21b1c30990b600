//! A user's own usage as the dashboard shows it: totals for today and the last 7 and 30 days,
//! totals per UTC day and per model, a filtered log of requests page by page, and the same rows
//! as CSV. Only metadata is read; request content is never stored in the first place.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::db::DbError;
use crate::db::accounts::KeyRow;
use crate::db::usage::{
    self as repo, DAY_MS, DayTotals, ModelTotals, Position, Totals, UsageFilter, UsageRow,
};
use crate::money::Money;

/// Days covered by the daily charts, today included.
pub const CHART_DAYS: i64 = 30;
/// Requests per page of the log.
pub const PAGE_SIZE: i64 = 50;
/// Models drawn one by one in the per-model chart; the rest are added up.
pub const MODELS_SHOWN: usize = 10;
/// Rows read from the database at a time while writing a CSV export.
pub const EXPORT_CHUNK: i64 = 1000;

/// The UTC day (days since 1970-01-01) of a time in unix ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

fn date_of_day(day: i64) -> Option<time::Date> {
    let julian = i32::try_from(day.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    time::Date::from_julian_day(julian).ok()
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// `YYYY-MM-DD` as a UTC day; `None` for anything else.
pub fn parse_day(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text.trim(), &format).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// A UTC day as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date_of_day(day)
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_default()
}

/// A UTC day as a short label: `Nov 27`.
pub fn short_day(day: i64) -> String {
    let format = time::macros::format_description!("[month repr:short] [day padding:none]");
    date_of_day(day)
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_default()
}

/// A time in unix ms as `2026-11-27T05:43:22.123Z`.
pub fn format_timestamp(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Every day of `first_day..first_day + days`, oldest first, zero where `sparse` has no entry.
pub fn daily_series(sparse: &[DayTotals], first_day: i64, days: i64) -> Vec<DayTotals> {
    let by_day: HashMap<i64, Totals> = sparse.iter().map(|d| (d.day, d.totals)).collect();
    (first_day..first_day + days)
        .map(|day| DayTotals {
            day,
            totals: by_day.get(&day).copied().unwrap_or_default(),
        })
        .collect()
}

/// Totals for today, the last 7 days and the last 30 days (each including today).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub today: Totals,
    pub week: Totals,
    pub month: Totals,
}

/// Adds up a daily series into the windows of a [`Summary`] that ends on `today`.
pub fn summarize(series: &[DayTotals], today: i64) -> Summary {
    let mut summary = Summary::default();
    for d in series {
        let age = today - d.day;
        if !(0..CHART_DAYS).contains(&age) {
            continue;
        }
        summary.month.add(&d.totals);
        if age < 7 {
            summary.week.add(&d.totals);
        }
        if age == 0 {
            summary.today.add(&d.totals);
        }
    }
    summary
}

/// Which page of the log to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The newest requests.
    First,
    /// The page of requests just older than a position.
    Older(Position),
    /// The page of requests just newer than a position.
    Newer(Position),
}

/// One page of the log and where its neighbours start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    /// Newest first.
    pub rows: Vec<UsageRow>,
    /// The position above the first row, when newer rows exist.
    pub newer: Option<Position>,
    /// The position below the last row, when older rows exist.
    pub older: Option<Position>,
}

/// The page of rows matching `filter` that `nav` names, `limit` rows at most.
pub fn log_page(
    conn: &Connection,
    filter: &UsageFilter,
    nav: Nav,
    limit: i64,
) -> Result<LogPage, DbError> {
    let limit = limit.max(1);
    let (mut rows, newer, more_older) = match nav {
        Nav::First | Nav::Older(_) => {
            let from = match nav {
                Nav::Older(pos) => pos,
                _ => Position::TOP,
            };
            let mut rows = repo::rows_below(conn, filter, from, limit + 1)?;
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let newer = matches!(nav, Nav::Older(_)).then_some(from);
            (rows, newer, more)
        }
        Nav::Newer(pos) => {
            let mut rows = repo::rows_above(conn, filter, pos, limit + 1)?;
            if (rows.len() as i64) < limit {
                // Fewer than a page are newer: that is the first page, shown in full.
                return log_page(conn, filter, Nav::First, limit);
            }
            let more_newer = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            rows.reverse();
            let newer = match rows.first() {
                Some((id, row)) if more_newer => {
                    Some(repo::position_above(conn, filter, row.at, *id)?)
                }
                _ => None,
            };
            (rows, newer, true)
        }
    };
    let older = match rows.last() {
        Some((id, row)) if more_older => Some(repo::position_below(conn, filter, row.at, *id)?),
        _ => None,
    };
    Ok(LogPage {
        rows: rows.drain(..).map(|(_, row)| row).collect(),
        newer,
        older,
    })
}

/// The per-model totals as the page draws them. Only a model this server serves, or a name
/// whose requests reached a provider, counts as a model: a name a client made up and that was
/// refused at once is not one, so it gets no bar and no place in the filter; its requests are
/// added up in `unknown` (the log still shows each with the name it asked for).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSummary {
    /// The most expensive models, at most [`MODELS_SHOWN`].
    pub models: Vec<ModelTotals>,
    /// How many further models were added up into `rest`.
    pub others: usize,
    pub rest: Totals,
    /// Requests that named no model, or none this server serves, and reached no provider.
    pub unknown: Totals,
}

impl ModelSummary {
    /// `rows` in the order they are to be drawn; `known` says which names are models here.
    pub fn from_rows(rows: Vec<ModelTotals>, keep: usize, known: &dyn Fn(&str) -> bool) -> Self {
        let mut summary = ModelSummary::default();
        for row in rows {
            let counts = row.served || row.model.as_deref().is_some_and(known);
            if !counts {
                summary.unknown.add(&row.totals);
            } else if summary.models.len() < keep {
                summary.models.push(row);
            } else {
                summary.others += 1;
                summary.rest.add(&row.totals);
            }
        }
        summary
    }
}

/// Everything the usage page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub summary: Summary,
    /// The last [`CHART_DAYS`] days, oldest first, whatever the filter.
    pub days: Vec<DayTotals>,
    /// Per model, for the filter's dates or else the last [`CHART_DAYS`] days.
    pub models: ModelSummary,
    /// The days the per-model totals cover, first and last, inclusive; `None` where the
    /// filter leaves that end open.
    pub model_days: (Option<i64>, Option<i64>),
    pub page: LogPage,
}

/// The usage page's numbers for the user of `filter`, today being `today`. Without dates in the
/// filter the per-model totals cover the last [`CHART_DAYS`] days and the log goes back to the
/// first request. `known` says which model names this server serves (see [`ModelSummary`]).
pub fn report(
    conn: &Connection,
    filter: &UsageFilter,
    dates_given: bool,
    nav: Nav,
    today: i64,
    known: &dyn Fn(&str) -> bool,
) -> Result<Report, DbError> {
    let first_day = today - (CHART_DAYS - 1);
    let sparse = repo::daily_totals(conn, &filter.user_id, first_day, today + 1)?;
    let days = daily_series(&sparse, first_day, CHART_DAYS);
    let mut model_filter = filter.clone();
    if !dates_given {
        model_filter.from_ms = first_day * DAY_MS;
        model_filter.to_ms = (today + 1) * DAY_MS;
    }
    let model_days = (
        (model_filter.from_ms != i64::MIN).then(|| day_of(model_filter.from_ms)),
        (model_filter.to_ms != i64::MAX).then(|| day_of(model_filter.to_ms.saturating_sub(1))),
    );
    Ok(Report {
        summary: summarize(&days, today),
        models: ModelSummary::from_rows(
            match repo::model_totals_by_day(conn, &model_filter)? {
                Some(models) => models,
                None => repo::model_totals(conn, &model_filter, usize::MAX)?.models,
            },
            MODELS_SHOWN,
            known,
        ),
        model_days,
        days,
        page: log_page(conn, filter, nav, PAGE_SIZE)?,
    })
}

// ---------------------------------------------------------------- CSV

/// The columns of a CSV export, in this order for good: new columns are only ever added at the
/// end. `time` is RFC 3339 in UTC; `key_name` and `key_prefix` are empty for a deleted key;
/// `streamed` and `estimated` (tokens counted locally because the provider reported none) are
/// `true` or `false`; `ttfb_ms` (time to first byte) is empty when no byte arrived; `cost` is a
/// decimal amount in `currency`; `dropped` names the request fields a translation between API
/// formats left out, separated by commas (empty when none).
pub const CSV_COLUMNS: &[&str] = &[
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
    "dropped",
];

/// The header line of an export.
pub fn csv_header() -> String {
    let mut out = String::new();
    crate::csv::record(&mut out, CSV_COLUMNS.iter().copied());
    out
}

/// Free text of a row, safe for a spreadsheet.
fn text(value: Option<&str>) -> String {
    crate::csv::text(value.unwrap_or_default()).into_owned()
}

/// Appends one row of an export; `keys` are the user's keys by id.
pub fn csv_row(out: &mut String, row: &UsageRow, keys: &HashMap<String, KeyRow>, currency: &str) {
    let key = row.key_id.as_ref().and_then(|id| keys.get(id));
    let fields = [
        format_timestamp(row.at),
        row.endpoint.as_str().to_owned(),
        text(row.model.as_deref()),
        text(key.map(|k| k.name.as_str())),
        text(key.map(|k| k.prefix.as_str())),
        row.status.to_string(),
        row.outcome.as_str().to_owned(),
        row.streamed.to_string(),
        row.estimated.to_string(),
        row.input_tokens.to_string(),
        row.cached_input_tokens.to_string(),
        row.cache_creation_tokens.to_string(),
        row.output_tokens.to_string(),
        row.reasoning_tokens.to_string(),
        row.latency_ms.to_string(),
        row.ttfb_ms.map(|t| t.to_string()).unwrap_or_default(),
        Money::from_micros(row.cost).to_decimal_string(),
        currency.to_owned(),
        row.dropped.clone().unwrap_or_default(),
    ];
    crate::csv::record(out, fields.iter().map(String::as_str));
}

/// Where the next chunk of an export starts: after the row (`at`, `id`).
pub type ExportCursor = Option<(i64, i64)>;

/// The next chunk of an export as CSV text, and the cursor after it (`None` once done).
pub fn export_chunk(
    conn: &Connection,
    filter: &UsageFilter,
    after: ExportCursor,
    keys: &HashMap<String, KeyRow>,
    currency: &str,
) -> Result<(String, Option<ExportCursor>), DbError> {
    let rows = repo::export_chunk(conn, filter, after, EXPORT_CHUNK)?;
    let mut out = String::with_capacity(rows.len() * 160);
    for (_, row) in &rows {
        csv_row(&mut out, row, keys, currency);
    }
    let next = if (rows.len() as i64) < EXPORT_CHUNK {
        None
    } else {
        rows.last().map(|(id, row)| Some((row.at, *id)))
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: Option<&str>, served: bool, requests: i64, cost: i64) -> ModelTotals {
        ModelTotals {
            model: name.map(str::to_owned),
            served,
            totals: Totals {
                requests,
                cost,
                ..Totals::default()
            },
        }
    }

    #[test]
    fn only_models_of_this_server_or_served_names_count_as_models() {
        let known = |name: &str| name == "real" || name == "second";
        let rows = vec![
            model(Some("real"), true, 3, 30),
            model(Some("gone-but-served"), true, 2, 20),
            model(Some("second"), false, 1, 10),
            model(Some("made-up"), false, 4, 0),
            model(None, false, 5, 0),
        ];
        let summary = ModelSummary::from_rows(rows.clone(), 10, &known);
        let names: Vec<_> = summary.models.iter().map(|m| m.model.clone()).collect();
        assert_eq!(
            names,
            [
                Some("real".to_owned()),
                Some("gone-but-served".to_owned()),
                Some("second".to_owned())
            ]
        );
        assert_eq!(summary.unknown.requests, 9);
        assert_eq!(summary.others, 0);

        // A made-up name takes no place among the models kept.
        let summary = ModelSummary::from_rows(rows, 2, &known);
        assert_eq!(summary.models.len(), 2);
        assert_eq!((summary.others, summary.rest.requests), (1, 1));
        assert_eq!(summary.unknown.requests, 9);
    }

    fn day(totals: i64, cost: i64) -> Totals {
        Totals {
            requests: totals,
            errors: 0,
            input_tokens: totals * 10,
            cached_input_tokens: 0,
            output_tokens: totals,
            cost,
        }
    }

    #[test]
    fn days_parse_and_format_in_utc() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-11-27"), Some(20_784));
        assert_eq!(format_day(20_784), "2026-11-27");
        assert_eq!(short_day(20_784), "Nov 27");
        assert_eq!(short_day(20_789), "Dec 2");
        assert_eq!(day_of(20_784 * DAY_MS + DAY_MS - 1), 20_784);
        assert_eq!(day_of(-1), -1);
        for bad in [
            "",
            "2026-11-31",
            "27.11.2026",
            "2026-1-5",
            "tomorrow",
            "2026-11-27x",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(20_784 * DAY_MS + 5 * 3_600_000 + 123),
            "2026-11-27T05:00:00.123Z"
        );
    }

    #[test]
    fn the_daily_series_fills_gaps_and_the_summary_adds_up_windows() {
        let today = 20_784;
        let sparse = [
            // Outside the 30 days: left out.
            DayTotals {
                day: today - 30,
                totals: day(100, 100),
            },
            DayTotals {
                day: today - 29,
                totals: day(1, 10),
            },
            DayTotals {
                day: today - 7,
                totals: day(2, 20),
            },
            DayTotals {
                day: today - 6,
                totals: day(3, 30),
            },
            DayTotals {
                day: today,
                totals: day(4, 40),
            },
        ];
        let series = daily_series(&sparse, today - 29, CHART_DAYS);
        assert_eq!(series.len(), 30);
        assert_eq!(series[0].day, today - 29);
        assert_eq!(series[29].day, today);
        assert_eq!(series[0].totals.cost, 10);
        assert_eq!(series[1].totals, Totals::default());
        assert_eq!(series[29].totals.cost, 40);

        let summary = summarize(&series, today);
        assert_eq!(summary.today, day(4, 40));
        assert_eq!(summary.week.cost, 30 + 40);
        assert_eq!(summary.week.requests, 7);
        assert_eq!(summary.month.cost, 10 + 20 + 30 + 40);
        assert_eq!(summary.month.input_tokens, 100);
        assert_eq!(summarize(&[], today), Summary::default());
    }

    #[test]
    fn csv_header_names_every_column() {
        assert_eq!(
            csv_header().trim_end().split(',').count(),
            CSV_COLUMNS.len()
        );
    }

    #[test]
    fn a_csv_row_has_every_column_in_order() {
        let keys = HashMap::from([(
            "k1".to_owned(),
            KeyRow {
                id: "k1".to_owned(),
                name: "Laptop, work".to_owned(),
                prefix: "sk-cx-abcd".to_owned(),
                ..KeyRow::default()
            },
        )]);
        let row = UsageRow {
            at: 1_000,
            key_id: Some("k1".to_owned()),
            endpoint: crate::db::usage::Endpoint::ChatCompletions,
            model: Some("chat-model".to_owned()),
            status: 200,
            latency_ms: 120,
            ttfb_ms: Some(40),
            input_tokens: 11,
            cached_input_tokens: 3,
            output_tokens: 7,
            estimated: true,
            streamed: false,
            outcome: crate::db::usage::Outcome::Completed,
            cost: 37,
            ..UsageRow::default()
        };
        let mut out = String::new();
        csv_row(&mut out, &row, &keys, "USD");
        assert_eq!(
            out,
            "1970-01-01T00:00:01.000Z,/v1/chat/completions,chat-model,\"Laptop, work\",sk-cx-abcd,\
             200,completed,false,true,11,3,0,7,0,120,40,0.000037,USD,\r\n"
        );
        let mut out = String::new();
        let deleted = UsageRow {
            key_id: None,
            ttfb_ms: None,
            ..row
        };
        csv_row(&mut out, &deleted, &keys, "EUR");
        assert!(out.contains(",chat-model,,,200,"), "{out}");
        assert!(out.ends_with(",120,,0.000037,EUR,\r\n"), "{out}");

        // A key named like a formula stays text in a spreadsheet.
        let keys = HashMap::from([(
            "k1".to_owned(),
            KeyRow {
                id: "k1".to_owned(),
                name: "=HYPERLINK(\"https://evil.example\")".to_owned(),
                prefix: "sk-cx-abcd".to_owned(),
                ..KeyRow::default()
            },
        )]);
        let mut out = String::new();
        let named = UsageRow {
            key_id: Some("k1".to_owned()),
            ..deleted
        };
        csv_row(&mut out, &named, &keys, "USD");
        assert!(
            out.contains(",\"'=HYPERLINK(\"\"https://evil.example\"\")\","),
            "{out}"
        );
    }
}

#[cfg(test)]
mod paging_tests {

    use super::*;

    fn db_with_rows() -> Connection {
        // Rows of two users, with made-up keys (not stored, so the rows link to none).
        let conn = crate::db::test_db(&["a", "b"]);
        let mut rows = Vec::new();
        for i in 0..130 {
            for user in ["a", "b"] {
                rows.push(UsageRow {
                    // Runs of up to four requests in the same millisecond, across page ends.
                    at: 5_000 + i / 4,
                    user_id: Some(user.to_owned()),
                    endpoint: crate::db::usage::Endpoint::Responses,
                    model: Some(if i % 2 == 0 { "even" } else { "odd" }.to_owned()),
                    status: 200,
                    outcome: crate::db::usage::Outcome::Completed,
                    cost: i,
                    ..UsageRow::default()
                });
            }
        }
        crate::db::usage::insert_rows(&conn, &rows).unwrap();
        conn
    }

    fn costs(page: &LogPage) -> Vec<i64> {
        page.rows.iter().map(|r| r.cost).collect()
    }

    /// Walks to the last page and back, checking every page on the way.
    fn walk(conn: &Connection, filter: &UsageFilter, expected: &[i64], limit: i64) {
        let mut pages = vec![log_page(conn, filter, Nav::First, limit).unwrap()];
        assert_eq!(pages[0].newer, None);
        while let Some(older) = pages.last().and_then(|p| p.older) {
            pages.push(log_page(conn, filter, Nav::Older(older), limit).unwrap());
        }
        let all: Vec<i64> = pages.iter().flat_map(costs).collect();
        assert_eq!(all, expected);
        assert!(pages.iter().all(|p| p.rows.len() as i64 <= limit));
        assert!(
            pages
                .iter()
                .all(|p| p.rows.iter().all(|r| r.user_id.as_deref() == Some("a")))
        );

        // Back from the last page, each "newer" link shows the page before it again.
        for i in (1..pages.len()).rev() {
            let newer = pages[i].newer.expect("a later page links back");
            let back = log_page(conn, filter, Nav::Newer(newer), limit).unwrap();
            assert_eq!(costs(&back), costs(&pages[i - 1]), "page {i}");
            assert_eq!(back.newer.is_some(), i > 1);
        }
    }

    #[test]
    fn pages_cover_every_row_once_forwards_and_backwards() {
        let conn = db_with_rows();
        let mut filter = UsageFilter::all("a");
        // Newest first; within a millisecond, the later insert first.
        let everything: Vec<i64> = (0..130).rev().collect();
        walk(&conn, &filter, &everything, PAGE_SIZE);
        walk(&conn, &filter, &everything, 7);

        filter.model = Some("odd".to_owned());
        let odd: Vec<i64> = (0..130).rev().filter(|i| i % 2 == 1).collect();
        walk(&conn, &filter, &odd, 10);

        filter.model = Some("none such".to_owned());
        let page = log_page(&conn, &filter, Nav::First, 10).unwrap();
        assert_eq!(page, LogPage::default());
    }

    #[test]
    fn stale_or_made_up_positions_still_give_a_page() {
        let conn = db_with_rows();
        let filter = UsageFilter::all("a");
        // Newer than everything: the first page, in full.
        let top = Position {
            at: 1_000_000,
            skip: 0,
        };
        let first = log_page(&conn, &filter, Nav::First, 10).unwrap();
        assert_eq!(
            log_page(&conn, &filter, Nav::Newer(top), 10).unwrap(),
            first
        );
        // Older than everything: nothing, with a way back.
        let bottom = Position { at: 0, skip: 0 };
        let page = log_page(&conn, &filter, Nav::Older(bottom), 10).unwrap();
        assert!(page.rows.is_empty() && page.newer == Some(bottom) && page.older.is_none());
        // The second of the two rows at 5032 ms, and on into older ones.
        let pos = Position { at: 5_032, skip: 1 };
        let page = log_page(&conn, &filter, Nav::Older(pos), 3).unwrap();
        assert_eq!(costs(&page), [128, 127, 126]);
    }
}
