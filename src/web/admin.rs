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
        .route("/admin/flags", web::get().to(flags));
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
