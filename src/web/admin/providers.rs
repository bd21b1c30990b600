//! `/admin/providers`: each upstream provider's live state — the breaker, its last success and
//! failure, its error rate and latency over the last hour — a test request, and the switch that
//! takes it out of rotation without a restart.

use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, Posted, posted};
use crate::clock::format_ms;
use crate::health::Probe;
use crate::web::dashboard::see_other;
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/providers", web::get().to(providers))
        .route("/admin/providers/{name}/test", web::post().to(test))
        .route("/admin/providers/{name}/rotation", web::post().to(rotation));
}

/// The window of the error rate and latencies.
const HOUR_MS: i64 = 3_600_000;
/// Requests of that hour read at most.
const HOUR_ROWS: i64 = 50_000;

/// One provider, written for people.
pub struct ProviderRow {
    pub name: String,
    pub kind: &'static str,
    pub host: String,
    /// "Serving", "Resting for 12 s" or "Out of rotation".
    pub state: String,
    pub serving: bool,
    pub in_rotation: bool,
    pub consecutive_failures: u32,
    pub successes: u64,
    pub failures: u64,
    pub last_success: String,
    pub last_failure: String,
    pub hour_requests: i64,
    pub hour_error_rate: String,
    pub p50: String,
    pub p95: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/providers.html")]
struct ProvidersPage {
    layout: Layout,
    console: Console,
    rows: Vec<ProviderRow>,
    breaker_failures: u32,
    breaker_cooldown_secs: u64,
    /// The outcome of a test just run: provider and what it found.
    tested: Option<(String, Probe)>,
}

/// The latency below which `share` (0–100) of the requests finished.
fn percentile(sorted: &[i64], share: usize) -> String {
    if sorted.is_empty() {
        return "—".to_owned();
    }
    let at = (sorted.len() * share).div_ceil(100).clamp(1, sorted.len()) - 1;
    format!("{} ms", sorted[at])
}

async fn providers_page(
    state: &AppState,
    admin: &Admin,
    tested: Option<(String, Probe)>,
) -> Result<ProvidersPage, WebError> {
    let since = crate::db::now_ms() - HOUR_MS;
    let hour = state
        .db
        .run(move |conn| crate::db::rollup::recent_by_provider(conn, since, HOUR_ROWS))
        .await?;
    let rows = state
        .health
        .providers()
        .into_iter()
        .map(|p| {
            let recent = hour
                .iter()
                .find(|(name, _)| *name == p.name)
                .map(|(_, r)| r.clone())
                .unwrap_or_default();
            let resting_for = p.resting_for.map(|d| d.as_secs() + 1);
            let last = |memory: Option<i64>, hour: Option<i64>| {
                memory
                    .max(hour)
                    .map(format_ms)
                    .unwrap_or_else(|| "—".to_owned())
            };
            ProviderRow {
                kind: match p.kind {
                    crate::config::ProviderKind::Openai => "OpenAI",
                    crate::config::ProviderKind::Anthropic => "Anthropic",
                    crate::config::ProviderKind::OpenaiCompatible => "OpenAI-compatible",
                },
                host: p.host,
                state: match (p.in_rotation, resting_for) {
                    (false, _) => "Out of rotation".to_owned(),
                    (true, Some(secs)) => format!("Resting for {secs} s"),
                    (true, None) => "Serving".to_owned(),
                },
                serving: p.in_rotation && resting_for.is_none(),
                in_rotation: p.in_rotation,
                consecutive_failures: p.consecutive_failures,
                successes: p.successes,
                failures: p.failures,
                last_success: last(p.last_success_at, recent.last_success),
                last_failure: match (last(p.last_failure_at, recent.last_failure), p.last_failure) {
                    (when, Some(what)) if when != "—" => format!("{when} ({what})"),
                    (when, _) => when,
                },
                hour_requests: recent.requests,
                hour_error_rate: if recent.requests == 0 {
                    "—".to_owned()
                } else {
                    format!("{}%", recent.errors * 100 / recent.requests)
                },
                p50: percentile(&recent.latencies, 50),
                p95: percentile(&recent.latencies, 95),
                name: p.name,
            }
        })
        .collect();
    Ok(ProvidersPage {
        layout: super::layout(state, "Providers"),
        console: Console::new(state, &admin.0, "providers"),
        rows,
        breaker_failures: state.config().gateway.breaker_failures,
        breaker_cooldown_secs: state.config().gateway.breaker_cooldown_secs,
        tested,
    })
}

/// `GET /admin/providers`.
async fn providers(state: web::Data<AppState>, admin: Admin) -> Result<ProvidersPage, WebError> {
    providers_page(&state, &admin, None).await
}

/// `POST /admin/providers/{name}/test`: one minimal request, and the page with its outcome.
async fn test(
    state: web::Data<AppState>,
    admin: Admin,
    name: web::Path<String>,
    form: Posted<crate::web::account::CsrfForm>,
) -> Result<ProvidersPage, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let name = name.into_inner();
    let probe = state.health.probe(&name).await.ok_or(WebError::NotFound)?;
    let detail = format!(
        "{}: {} in {} ms",
        if probe.ok { "ok" } else { "failed" },
        probe.summary,
        probe.latency_ms
    );
    record(&state, &admin, "provider.test", &name, &detail).await?;
    providers_page(&state, &admin, Some((name, probe))).await
}

#[derive(Deserialize)]
pub(super) struct RotationForm {
    csrf: String,
    /// "in" or "out".
    rotation: String,
}

/// `POST /admin/providers/{name}/rotation`: takes the provider out of rotation or back, at once
/// and for the next start.
async fn rotation(
    state: web::Data<AppState>,
    admin: Admin,
    name: web::Path<String>,
    form: Posted<RotationForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let on = match form.rotation.as_str() {
        "in" => true,
        "out" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "rotation: expected in or out, not {other:?}"
            )));
        }
    };
    let name = name.into_inner();
    let health = state.health.clone();
    let (lookup, changed) = (name.clone(), state.db.clone());
    let found = changed
        .run(move |conn| crate::health::set_in_rotation(conn, &*health, &lookup, on))
        .await?;
    if !found {
        return Err(WebError::NotFound);
    }
    let detail = if on {
        "back in rotation"
    } else {
        "out of rotation"
    };
    record(&state, &admin, "provider.rotation", &name, detail).await?;
    Ok(see_other("/admin/providers"))
}

/// An audit row for a provider action; the provider's name stands in the detail, since the
/// target column names accounts.
async fn record(
    state: &AppState,
    admin: &Admin,
    action: &'static str,
    provider: &str,
    detail: &str,
) -> Result<(), WebError> {
    super::record(state, admin, action, format!("{provider}: {detail}")).await
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_are_of_the_sorted_latencies() {
        let sorted: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50), "50 ms");
        assert_eq!(percentile(&sorted, 95), "95 ms");
        assert_eq!(percentile(&[7], 95), "7 ms");
        assert_eq!(percentile(&[], 50), "—");
    }
}
