//! `/admin/system`: the housekeeping the server does by itself.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::{AppState, Console};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/system", web::get().to(system));
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/system.html")]
struct SystemPage {
    layout: Layout,
    console: Console,
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
        layout: super::layout(&state, "System"),
        console: Console::new(&state, &signed_in, "system"),
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
