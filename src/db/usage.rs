//! SQL for request metadata: the usage rows the gateway's writer commits in batches (with their
//! daily sums), and a user's own reading of them: totals, per day, per model, the paged log and
//! the export.
//! One module because the writer and every reader share the row's columns, the stored names and
//! the filter's numbered parameters.

use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql, params};

use super::DbError;

/// One API request's metadata. Nothing of its content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    pub at: i64,
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub endpoint: Endpoint,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub status: u16,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    /// Counted locally because the upstream reported no usage.
    pub estimated: bool,
    pub streamed: bool,
    pub outcome: Outcome,
    pub error_kind: Option<&'static str>,
    /// Micro-units of the configured currency.
    pub cost: i64,
    pub ip: Option<String>,
    /// Request fields a translation left out, comma-separated names.
    pub dropped: Option<String>,
}

/// A closed set of names stored as text: each variant's name, the list for forms, and the
/// conversions to and from SQLite. A stored name this build does not know reads as `Other`.
macro_rules! stored_names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A name this build does not know (a row written by another version).
            #[default]
            Other,
        }

        impl $name {
            /// Every known name, in the order forms list them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other => "other",
                }
            }

            /// The variant named `text`, if it is one this build knows.
            pub fn known(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The variant stored as `text`, `Other` for anything else.
            pub fn parse(text: &str) -> $name {
                $name::known(text).unwrap_or($name::Other)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str().map($name::parse)
            }
        }
    };
}

stored_names! {
    /// The API endpoint a usage row is about.
    Endpoint {
        ChatCompletions => "/v1/chat/completions",
        Completions => "/v1/completions",
        Responses => "/v1/responses",
        ResponsesCompact => "/v1/responses/compact",
        ResponsesInputTokens => "/v1/responses/input_tokens",
        Messages => "/v1/messages",
        CountTokens => "/v1/messages/count_tokens",
        Models => "/v1/models",
    }
}

stored_names! {
    /// How a request ended.
    Outcome {
        Completed => "completed",
        Incomplete => "incomplete",
        Failed => "failed",
        UpstreamDropped => "upstream_dropped",
        ClientCancelled => "client_cancelled",
        Rejected => "rejected",
    }
}

/// Inserts rows, stamps their keys' `last_used_at` and adds their cost to their keys' spend
/// (one update of each key's row); returns the rows' ids. The caller holds the transaction.
pub fn insert_rows<R: std::borrow::Borrow<UsageRow>>(
    conn: &Connection,
    rows: &[R],
) -> Result<Vec<i64>, DbError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO usage (at, user_id, key_id, endpoint, model, provider, status, latency_ms, ttfb_ms,
             input_tokens, cached_input_tokens, cache_creation_tokens, output_tokens, reasoning_tokens,
             estimated, streamed, outcome, error_kind, cost, ip, dropped)
         SELECT ?1, ?2, (SELECT id FROM api_keys WHERE id = ?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21
         WHERE ?2 IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = ?2)",
    )?;
    let mut touch = conn.prepare_cached(
        "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2), spent = spent + ?3
         WHERE id = ?1",
    )?;
    let mut roll_up = conn.prepare_cached(
        "INSERT INTO usage_daily (day, user_id, model, provider, requests, errors, input_tokens,
             cached_input_tokens, output_tokens, cost, latency_ms)
         VALUES (?1 / 86400000, ?2, coalesce(?3, ''), coalesce(?4, ''), 1, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (day, coalesce(user_id, ''), model, provider) DO UPDATE SET
             requests = requests + 1, errors = errors + excluded.errors,
             input_tokens = input_tokens + excluded.input_tokens,
             cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
             output_tokens = output_tokens + excluded.output_tokens,
             cost = cost + excluded.cost, latency_ms = latency_ms + excluded.latency_ms",
    )?;
    let mut roll_up_totals = conn.prepare_cached(
        "INSERT INTO usage_daily_totals (day, model, provider, requests, errors, input_tokens,
             cached_input_tokens, output_tokens, cost, latency_ms)
         VALUES (?1 / 86400000, coalesce(?2, ''), coalesce(?3, ''), 1, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (day, model, provider) DO UPDATE SET
             requests = requests + 1, errors = errors + excluded.errors,
             input_tokens = input_tokens + excluded.input_tokens,
             cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
             output_tokens = output_tokens + excluded.output_tokens,
             cost = cost + excluded.cost, latency_ms = latency_ms + excluded.latency_ms",
    )?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let row = row.borrow();
        // An account erased while its request ran leaves no row (and a deleted key no link):
        // the row would have gone with the account, and must not stop the rows around it.
        let inserted = insert.execute(params![
            row.at,
            row.user_id,
            row.key_id,
            row.endpoint,
            row.model,
            row.provider,
            row.status,
            row.latency_ms,
            row.ttfb_ms,
            row.input_tokens,
            row.cached_input_tokens,
            row.cache_creation_tokens,
            row.output_tokens,
            row.reasoning_tokens,
            row.estimated,
            row.streamed,
            row.outcome,
            row.error_kind,
            row.cost,
            row.ip,
            row.dropped,
        ])?;
        ids.push(if inserted == 1 {
            conn.last_insert_rowid()
        } else {
            0
        });
        if inserted == 1 {
            // A request that reached no provider sums under no model: its model is whatever
            // the client typed, not one the server serves.
            let model = row.provider.as_ref().and(row.model.as_ref());
            roll_up.execute(params![
                row.at,
                row.user_id,
                model,
                row.provider,
                !(200..300).contains(&row.status),
                row.input_tokens,
                row.cached_input_tokens,
                row.output_tokens,
                row.cost,
                row.latency_ms,
            ])?;
            roll_up_totals.execute(params![
                row.at,
                model,
                row.provider,
                !(200..300).contains(&row.status),
                row.input_tokens,
                row.cached_input_tokens,
                row.output_tokens,
                row.cost,
                row.latency_ms,
            ])?;
        }
        if let Some(key_id) = &row.key_id {
            touch.execute(params![key_id, row.at, row.cost])?;
        }
    }
    Ok(ids)
}

/// A user's most recent requests, newest first.
pub fn recent_for_user(
    conn: &Connection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<UsageRow>, DbError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {LISTED} FROM usage WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![user_id, limit], |r| {
        listed_row(r, user_id).map(|(_, row)| row)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------- reading for the dashboard

use rusqlite::types::Value;
use rusqlite::{Row, params_from_iter};

/// Which of one user's rows a dashboard query looks at. Every query is confined to `user_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageFilter {
    pub user_id: String,
    /// Unix ms, inclusive.
    pub from_ms: i64,
    /// Unix ms, exclusive.
    pub to_ms: i64,
    pub model: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub key_id: Option<String>,
    /// `Some(true)`: 2xx statuses only; `Some(false)`: everything else.
    pub ok: Option<bool>,
    pub outcome: Option<Outcome>,
}

impl UsageFilter {
    /// All of a user's rows.
    pub fn all(user_id: &str) -> UsageFilter {
        UsageFilter {
            user_id: user_id.to_owned(),
            from_ms: i64::MIN,
            to_ms: i64::MAX,
            model: None,
            endpoint: None,
            key_id: None,
            ok: None,
            outcome: None,
        }
    }

    /// The filter as parameters `?1` to `?8` of [`FILTER`], its time range narrowed to
    /// `from..to`. Each query passes its whole time range this way, as one lower and one upper
    /// bound: given a second bound on `at`, SQLite may pick the wrong one for the index range.
    fn params_within(&self, from: i64, to: i64) -> Vec<Value> {
        let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
        let name = |v: Option<&'static str>| v.map_or(Value::Null, |v| Value::Text(v.to_owned()));
        vec![
            Value::Text(self.user_id.clone()),
            Value::Integer(self.from_ms.max(from)),
            Value::Integer(self.to_ms.min(to)),
            text(&self.model),
            name(self.endpoint.map(Endpoint::as_str)),
            text(&self.key_id),
            self.ok.map_or(Value::Null, |ok| Value::Integer(ok.into())),
            name(self.outcome.map(Outcome::as_str)),
        ]
    }

    fn params(&self) -> Vec<Value> {
        self.params_within(i64::MIN, i64::MAX)
    }
}

/// The `WHERE` condition for a [`UsageFilter`]; further parameters of a query start at `?9`.
/// `user_id` and the `at` range come first so that `usage_user_at` bounds every scan.
const FILTER: &str = "user_id = ?1 AND at >= ?2 AND at < ?3
    AND (?4 IS NULL OR model = ?4)
    AND (?5 IS NULL OR endpoint = ?5)
    AND (?6 IS NULL OR key_id = ?6)
    AND (?7 IS NULL OR (status BETWEEN 200 AND 299) = ?7)
    AND (?8 IS NULL OR outcome = ?8)";

/// Sums over a set of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    /// Requests whose status was not 2xx.
    pub errors: i64,
    /// Input tokens, cached ones included.
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// Micro-units of the configured currency.
    pub cost: i64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cost = self.cost.saturating_add(other.cost);
    }

    /// Input and output tokens together.
    pub fn tokens(&self) -> i64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// The aggregate columns that [`totals_from`] reads, starting at `offset`.
const TOTALS: &str = "count(*), coalesce(sum(status NOT BETWEEN 200 AND 299), 0),
    coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
    coalesce(sum(output_tokens), 0), coalesce(sum(cost), 0)";

fn totals_from(r: &Row<'_>, offset: usize) -> rusqlite::Result<Totals> {
    Ok(Totals {
        requests: r.get(offset)?,
        errors: r.get(offset + 1)?,
        input_tokens: r.get(offset + 2)?,
        cached_input_tokens: r.get(offset + 3)?,
        output_tokens: r.get(offset + 4)?,
        cost: r.get(offset + 5)?,
    })
}

/// The totals of `user_id`'s requests at or after `from` (unix ms).
pub fn totals_since(conn: &Connection, user_id: &str, from: i64) -> Result<Totals, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOTALS} FROM usage WHERE user_id = ?1 AND at >= ?2"
        ))?
        .query_row(params![user_id, from], |r| totals_from(r, 0))?)
}

/// One UTC day's totals; `day` counts days since 1970-01-01.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub day: i64,
    pub totals: Totals,
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// From the per-account daily sums the usage writer keeps in step with the rows: a few rows a
/// day, however many requests.
const DAILY_SQL: &str = "SELECT day, sum(requests), sum(errors), sum(input_tokens),
        sum(cached_input_tokens), sum(output_tokens), sum(cost)
     FROM usage_daily WHERE user_id = ?1 AND day >= ?2 AND day < ?3
     GROUP BY day ORDER BY day";

/// A user's totals per UTC day for the days `first_day..end_day`, days without requests left
/// out, oldest first.
pub fn daily_totals(
    conn: &Connection,
    user_id: &str,
    first_day: i64,
    end_day: i64,
) -> Result<Vec<DayTotals>, DbError> {
    let mut stmt = conn.prepare_cached(DAILY_SQL)?;
    // Days are counted from 1970 by integer division, so the range starts there at the earliest.
    let rows = stmt.query_map(params![user_id, first_day.max(0), end_day], |r| {
        Ok(DayTotals {
            day: r.get(0)?,
            totals: totals_from(r, 1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One model's totals; `model` is what the client asked for, as it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTotals {
    pub model: Option<String>,
    pub totals: Totals,
    /// At least one of these requests reached a provider.
    pub served: bool,
}

/// The result of [`model_totals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSummary {
    pub models: Vec<ModelTotals>,
    /// How many further models were added up into `rest`.
    pub others: usize,
    pub rest: Totals,
}

fn models_sql() -> String {
    format!(
        "SELECT model, {TOTALS}, max(provider IS NOT NULL) FROM usage WHERE {FILTER}
         GROUP BY model
         ORDER BY sum(cost) DESC, sum(input_tokens) + sum(output_tokens) DESC, count(*) DESC, model"
    )
}

/// Totals per model of the rows that `filter` matches, the most expensive first. Models after
/// the first `keep` are added up into `rest`.
pub fn model_totals(
    conn: &Connection,
    filter: &UsageFilter,
    keep: usize,
) -> Result<ModelSummary, DbError> {
    let mut stmt = conn.prepare_cached(&models_sql())?;
    let mut rows = stmt.query(params_from_iter(filter.params()))?;
    let mut summary = ModelSummary::default();
    while let Some(r) = rows.next()? {
        let totals = totals_from(r, 1)?;
        if summary.models.len() < keep {
            summary.models.push(ModelTotals {
                model: r.get(0)?,
                totals,
                served: r.get(7)?,
            });
        } else {
            summary.others += 1;
            summary.rest.add(&totals);
        }
    }
    Ok(summary)
}

/// What reached a provider, per model, from the daily sums (which key it by model only then).
const SERVED_BY_DAY_SQL: &str = "SELECT nullif(model, ''), sum(requests), sum(errors),
        sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), sum(cost)
     FROM usage_daily
     WHERE user_id = ?1 AND day >= ?2 AND day < ?3 AND provider <> ''
         AND (?4 IS NULL OR model = ?4)
     GROUP BY model";

/// What reached no provider, per model as the client named it, from its own few rows.
fn unserved_sql() -> String {
    format!(
        "SELECT model, {TOTALS} FROM usage INDEXED BY usage_unserved
         WHERE user_id = ?1 AND at >= ?2 AND at < ?3 AND provider IS NULL
             AND (?4 IS NULL OR model = ?4)
         GROUP BY model"
    )
}

/// What [`model_totals`] finds for `filter` with every model kept, in the same order, without
/// reading each row: served requests come from the daily sums, the rest from the rows that
/// reached no provider. `None` when the sums cannot tell: the filter names an endpoint, key,
/// status class or outcome, or a time that is not midnight UTC.
pub fn model_totals_by_day(
    conn: &Connection,
    filter: &UsageFilter,
) -> Result<Option<Vec<ModelTotals>>, DbError> {
    let whole_day = |ms: i64| ms == i64::MIN || ms == i64::MAX || ms.rem_euclid(DAY_MS) == 0;
    let answerable = filter.endpoint.is_none()
        && filter.key_id.is_none()
        && filter.ok.is_none()
        && filter.outcome.is_none()
        && whole_day(filter.from_ms)
        && whole_day(filter.to_ms);
    if !answerable {
        return Ok(None);
    }
    let days = params![
        filter.user_id,
        filter.from_ms.div_euclid(DAY_MS),
        filter.to_ms.div_euclid(DAY_MS),
        filter.model,
    ];
    let times = params![filter.user_id, filter.from_ms, filter.to_ms, filter.model];
    let mut models: Vec<ModelTotals> = Vec::new();
    for (sql, args, served) in [
        (SERVED_BY_DAY_SQL.to_owned(), days, true),
        (unserved_sql(), times, false),
    ] {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(args)?;
        while let Some(r) = rows.next()? {
            let model: Option<String> = r.get(0)?;
            let totals = totals_from(r, 1)?;
            match models.iter_mut().find(|m| m.model == model) {
                Some(known) => known.totals.add(&totals),
                None => models.push(ModelTotals {
                    model,
                    totals,
                    served,
                }),
            }
        }
    }
    // As `models_sql` orders them; SQLite puts NULL before any text, as `None < Some` does.
    models.sort_by(|a, b| {
        let tokens = |m: &ModelTotals| m.totals.input_tokens + m.totals.output_tokens;
        b.totals
            .cost
            .cmp(&a.totals.cost)
            .then_with(|| tokens(b).cmp(&tokens(a)))
            .then_with(|| b.totals.requests.cmp(&a.totals.requests))
            .then_with(|| a.model.cmp(&b.model))
    });
    Ok(Some(models))
}

/// A place in a user's list of requests (newest first) that names no row id: the rows above it
/// are those newer than `at`, then the first `skip` of the rows at exactly `at` (newest id
/// first). Row ids are sequential across all users, so they stay out of links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub at: i64,
    pub skip: i64,
}

impl Position {
    /// Above every row.
    pub const TOP: Position = Position {
        at: i64::MAX,
        skip: 0,
    };
}

/// The columns [`listed_row`] reads.
const LISTED: &str = "id, at, endpoint, model, status, latency_ms, ttfb_ms, input_tokens,
    cached_input_tokens, cache_creation_tokens, output_tokens, reasoning_tokens, estimated,
    streamed, outcome, cost, key_id, dropped";

/// A row as the dashboard lists it, with its id for internal paging.
fn listed_row(r: &Row<'_>, user_id: &str) -> rusqlite::Result<(i64, UsageRow)> {
    Ok((
        r.get(0)?,
        UsageRow {
            at: r.get(1)?,
            endpoint: r.get(2)?,
            model: r.get(3)?,
            status: r.get(4)?,
            latency_ms: r.get(5)?,
            ttfb_ms: r.get(6)?,
            input_tokens: r.get(7)?,
            cached_input_tokens: r.get(8)?,
            cache_creation_tokens: r.get(9)?,
            output_tokens: r.get(10)?,
            reasoning_tokens: r.get(11)?,
            estimated: r.get(12)?,
            streamed: r.get(13)?,
            outcome: r.get(14)?,
            cost: r.get(15)?,
            key_id: r.get(16)?,
            user_id: Some(user_id.to_owned()),
            provider: None,
            error_kind: None,
            ip: None,
            dropped: r.get(17)?,
        },
    ))
}

fn listed(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
    user_id: &str,
) -> Result<Vec<(i64, UsageRow)>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| listed_row(r, user_id))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn newest_first_sql() -> String {
    format!(
        "SELECT {LISTED} FROM usage WHERE {FILTER} ORDER BY at DESC, id DESC LIMIT ?9 OFFSET ?10"
    )
}

fn oldest_first_sql() -> String {
    format!("SELECT {LISTED} FROM usage WHERE {FILTER} ORDER BY at ASC, id ASC LIMIT ?9 OFFSET ?10")
}

fn count_at_sql() -> String {
    format!("SELECT count(*) FROM usage WHERE {FILTER} AND id >= ?9")
}

fn export_sql() -> String {
    format!(
        "SELECT {LISTED} FROM usage WHERE {FILTER} AND (at < ?9 OR id < ?10)
         ORDER BY at DESC, id DESC LIMIT ?11"
    )
}

/// Up to `limit` matching rows below `pos`, newest first, each with its id.
pub fn rows_below(
    conn: &Connection,
    filter: &UsageFilter,
    pos: Position,
    limit: i64,
) -> Result<Vec<(i64, UsageRow)>, DbError> {
    // The rows at `pos.at` come first, newest id first; the first `skip` of them are above.
    let mut params = filter.params_within(i64::MIN, pos.at.saturating_add(1));
    params.extend([Value::Integer(limit), Value::Integer(pos.skip)]);
    listed(conn, &newest_first_sql(), params, &filter.user_id)
}

/// Up to `limit` matching rows just above `pos`, oldest first, each with its id.
pub fn rows_above(
    conn: &Connection,
    filter: &UsageFilter,
    pos: Position,
    limit: i64,
) -> Result<Vec<(i64, UsageRow)>, DbError> {
    // Oldest first, the rows at `pos.at` come first, and of them the last `skip` are above.
    let at_same_ms = count_at(conn, filter, pos.at, i64::MIN)?;
    let mut params = filter.params_within(pos.at, i64::MAX);
    params.extend([
        Value::Integer(limit),
        Value::Integer((at_same_ms - pos.skip).max(0)),
    ]);
    listed(conn, &oldest_first_sql(), params, &filter.user_id)
}

/// How many matching rows have exactly `at` and an id of at least `min_id`.
pub fn count_at(
    conn: &Connection,
    filter: &UsageFilter,
    at: i64,
    min_id: i64,
) -> Result<i64, DbError> {
    let mut stmt = conn.prepare_cached(&count_at_sql())?;
    let mut params = filter.params_within(at, at.saturating_add(1));
    params.push(Value::Integer(min_id));
    Ok(stmt.query_row(params_from_iter(params), |r| r.get(0))?)
}

/// The position just above the row (`at`, `id`).
pub fn position_above(
    conn: &Connection,
    filter: &UsageFilter,
    at: i64,
    id: i64,
) -> Result<Position, DbError> {
    Ok(Position {
        at,
        skip: count_at(conn, filter, at, id.saturating_add(1))?,
    })
}

/// The position just below the row (`at`, `id`).
pub fn position_below(
    conn: &Connection,
    filter: &UsageFilter,
    at: i64,
    id: i64,
) -> Result<Position, DbError> {
    Ok(Position {
        at,
        skip: count_at(conn, filter, at, id)?,
    })
}

/// Up to `limit` matching rows after the row (`at`, `id`) (or from the newest, with `None`),
/// newest first: the chunks of an export, stable while new rows arrive.
pub fn export_chunk(
    conn: &Connection,
    filter: &UsageFilter,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<(i64, UsageRow)>, DbError> {
    let (at, id) = after.unwrap_or((i64::MAX, i64::MAX));
    let mut params = filter.params_within(i64::MIN, at.saturating_add(1));
    params.extend([
        Value::Integer(at),
        Value::Integer(id),
        Value::Integer(limit),
    ]);
    listed(conn, &export_sql(), params, &filter.user_id)
}

#[cfg(test)]
mod reading_tests {

    use super::*;

    fn db() -> Connection {
        // Rows of two users, with made-up keys (not stored, so the rows link to none).
        crate::db::test_db(&["a", "b"])
    }

    fn row(user: &str, at: i64, model: &str, status: u16, cost: i64) -> UsageRow {
        UsageRow {
            at,
            user_id: Some(user.to_owned()),
            key_id: Some(format!("{user}-key")),
            endpoint: Endpoint::ChatCompletions,
            model: Some(model.to_owned()),
            status,
            input_tokens: 10,
            cached_input_tokens: 4,
            output_tokens: 5,
            outcome: if status == 200 {
                Outcome::Completed
            } else {
                Outcome::Failed
            },
            cost,
            ..UsageRow::default()
        }
    }

    /// What SQLite plans for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            out.push(r.get::<_, String>(3).unwrap());
        }
        out.join("\n")
    }

    #[test]
    fn stored_names_round_trip_and_unknown_ones_read_as_other() {
        let conn = db();
        for &endpoint in Endpoint::ALL {
            let back: Endpoint = conn
                .query_row("SELECT ?1", [endpoint], |r| r.get(0))
                .unwrap();
            assert_eq!(back, endpoint);
            assert!(endpoint.as_str().starts_with("/v1/"));
        }
        for &outcome in Outcome::ALL {
            let back: Outcome = conn
                .query_row("SELECT ?1", [outcome], |r| r.get(0))
                .unwrap();
            assert_eq!(back, outcome);
        }
        let unknown: (Endpoint, Outcome) = conn
            .query_row("SELECT '/v2/new', 'paused'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(unknown, (Endpoint::Other, Outcome::Other));
        assert_eq!(Endpoint::known("other"), None);
    }

    #[test]
    fn every_query_reads_one_users_time_range_through_the_index() {
        let conn = db();
        for (name, sql) in [
            ("models", models_sql()),
            ("newest first", newest_first_sql()),
            ("oldest first", oldest_first_sql()),
            ("count at", count_at_sql()),
            ("export", export_sql()),
        ] {
            let plan = plan(&conn, &sql);
            assert!(
                plan.contains("INDEX usage_user_at (user_id=? AND at>? AND at<?)"),
                "{name}: {plan}"
            );
            assert!(!plan.contains("SCAN"), "{name}: {plan}");
            if name != "models" {
                // Paging reads the index in order: no sorting, however many rows there are.
                assert!(!plan.contains("FOR ORDER BY"), "{name}: {plan}");
            }
        }
    }

    #[test]
    fn the_days_come_from_one_users_daily_sums_through_their_index() {
        let plan = plan(&db(), DAILY_SQL);
        assert!(
            plan.contains("INDEX usage_daily_user (user_id=? AND day>? AND day<?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "{plan}");
    }

    #[test]
    fn totals_add_up_per_day_and_per_model_for_one_user() {
        let conn = db();
        let day = 20_000;
        let at = |d: i64, ms: i64| d * DAY_MS + ms;
        insert_rows(
            &conn,
            &[
                row("a", at(day - 1, 5), "m1", 200, 100),
                row("a", at(day, 0), "m1", 200, 10),
                row("a", at(day, DAY_MS - 1), "m2", 500, 0),
                row("a", at(day + 1, 7), "m2", 200, 30),
                row("b", at(day, 9), "m1", 200, 1_000),
            ],
        )
        .unwrap();

        let days = daily_totals(&conn, "a", day, day + 2).unwrap();
        assert_eq!(
            days.iter().map(|d| d.day).collect::<Vec<_>>(),
            [day, day + 1]
        );
        assert_eq!(
            days[0].totals,
            Totals {
                requests: 2,
                errors: 1,
                input_tokens: 20,
                cached_input_tokens: 8,
                output_tokens: 10,
                cost: 10,
            }
        );
        assert_eq!(days[1].totals.cost, 30);
        assert!(
            daily_totals(&conn, "nobody", day, day + 2)
                .unwrap()
                .is_empty()
        );

        let mut filter = UsageFilter::all("a");
        let summary = model_totals(&conn, &filter, 10).unwrap();
        let names: Vec<_> = summary.models.iter().map(|m| m.model.clone()).collect();
        assert_eq!(names, [Some("m1".to_owned()), Some("m2".to_owned())]);
        assert_eq!(summary.models[0].totals.cost, 110);
        assert_eq!(summary.models[0].totals.requests, 2);
        assert_eq!(summary.models[1].totals.errors, 1);

        // The first model kept, the rest added up.
        let summary = model_totals(&conn, &filter, 1).unwrap();
        assert_eq!(summary.models.len(), 1);
        assert_eq!(summary.others, 1);
        assert_eq!(summary.rest.cost, 30);

        filter.from_ms = at(day, 0);
        filter.to_ms = at(day + 1, 0);
        filter.ok = Some(false);
        let summary = model_totals(&conn, &filter, 10).unwrap();
        assert_eq!(summary.models.len(), 1);
        assert_eq!(summary.models[0].model.as_deref(), Some("m2"));
        assert_eq!(summary.models[0].totals.requests, 1);
    }

    #[test]
    fn per_model_totals_from_the_daily_sums_match_those_from_the_rows() {
        let conn = db();
        let day = 20_000;
        let mut rows = Vec::new();
        for i in 0..60_i64 {
            let model = ["m1", "m2", "typo", ""][i as usize % 4];
            let mut r = row(
                ["a", "b"][i as usize % 2],
                (day + i % 5) * DAY_MS + i * 997,
                model,
                [200, 429, 500][i as usize % 3],
                i * 7 % 11,
            );
            // Some reach a provider; a name nobody serves never does; some rows name no model.
            r.provider = (i % 3 != 1 && model != "typo").then(|| format!("p{}", i % 2));
            r.model = (!model.is_empty()).then(|| model.to_owned());
            r.output_tokens = i;
            rows.push(r);
        }
        insert_rows(&conn, &rows).unwrap();

        let filters = [
            (i64::MIN, i64::MAX, None),
            (day * DAY_MS, (day + 3) * DAY_MS, None),
            ((day + 1) * DAY_MS, i64::MAX, Some("m1")),
            (i64::MIN, (day + 2) * DAY_MS, Some("typo")),
            ((day + 9) * DAY_MS, (day + 10) * DAY_MS, None),
        ];
        for user in ["a", "b"] {
            for (from_ms, to_ms, model) in filters {
                let filter = UsageFilter {
                    from_ms,
                    to_ms,
                    model: model.map(str::to_owned),
                    ..UsageFilter::all(user)
                };
                let by_day = model_totals_by_day(&conn, &filter).unwrap();
                let by_row = model_totals(&conn, &filter, usize::MAX).unwrap().models;
                assert_eq!(by_day, Some(by_row), "{filter:?}");
            }
        }

        // What the sums do not hold is left to the rows.
        let mut filter = UsageFilter::all("a");
        filter.ok = Some(true);
        assert_eq!(model_totals_by_day(&conn, &filter).unwrap(), None);
        let mut filter = UsageFilter::all("a");
        filter.from_ms = day * DAY_MS + 1;
        assert_eq!(model_totals_by_day(&conn, &filter).unwrap(), None);
    }

    #[test]
    fn per_model_totals_by_day_read_the_sums_and_the_unserved_rows_through_their_indexes() {
        let conn = db();
        let served = plan(&conn, SERVED_BY_DAY_SQL);
        assert!(
            served.contains("INDEX usage_daily_user (user_id=? AND day>? AND day<?)"),
            "{served}"
        );
        let unserved = plan(&conn, &unserved_sql());
        assert!(
            unserved.contains("COVERING INDEX usage_unserved (user_id=? AND at>? AND at<?)"),
            "{unserved}"
        );
        assert!(!format!("{served}{unserved}").contains("SCAN"));
    }

    #[test]
    fn exports_walk_every_row_once_in_order() {
        let conn = db();
        let mut rows = Vec::new();
        for i in 0..25 {
            // Three rows share each millisecond.
            rows.push(row("a", 1_000 + i / 3, "m", 200, i));
            rows.push(row("b", 1_000 + i / 3, "m", 200, i));
        }
        insert_rows(&conn, &rows).unwrap();
        let filter = UsageFilter::all("a");
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let chunk = export_chunk(&conn, &filter, after, 4).unwrap();
            assert!(chunk.len() <= 4);
            seen.extend(chunk.iter().map(|(id, r)| (r.at, *id, r.user_id.clone())));
            match chunk.last() {
                Some((id, r)) if chunk.len() == 4 => after = Some((r.at, *id)),
                _ => break,
            }
        }
        assert_eq!(seen.len(), 25);
        assert!(seen.iter().all(|(_, _, u)| u.as_deref() == Some("a")));
        assert!(seen.windows(2).all(|w| (w[0].0, w[0].1) > (w[1].0, w[1].1)));
    }
}
