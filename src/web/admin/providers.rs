//! `/admin/providers`: the upstream providers and their health.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::{AppState, Console};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/providers", web::get().to(providers));
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
    console: Console,
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
        layout: super::layout(&state, "Providers"),
        console: Console::new(&state, &signed_in, "providers"),
        rows,
        breaker_failures: state.config.gateway.breaker_failures,
        breaker_cooldown_secs: state.config.gateway.breaker_cooldown_secs,
    })
}
