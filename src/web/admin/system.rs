//! `/admin/system`: the configuration (and reloading it), and the housekeeping the server does
//! by itself.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::{AppState, Console, Posted, posted};
use crate::web::account::CsrfForm;
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/system", web::get().to(system))
        .route("/admin/system/reload", web::post().to(reload));
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/system.html")]
struct SystemPage {
    layout: Layout,
    console: Console,
    /// The file a reload reads, or None when the server runs on defaults and the environment.
    config_path: Option<String>,
    live_keys: &'static [&'static str],
    /// The outcome of a reload just asked for: whether it worked, and what it said.
    reloaded: Option<(bool, String)>,
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

/// `GET /admin/system`: the configuration, the housekeeping the server does by itself, and when
/// it last did it.
async fn system(state: web::Data<AppState>, admin: Admin) -> Result<SystemPage, WebError> {
    system_page(&state, &admin, None).await
}

/// `POST /admin/system/reload`: reads the configuration file again and applies what may change
/// while the server runs; a file that does not load changes nothing, and the page says why.
async fn reload(
    state: web::Data<AppState>,
    admin: Admin,
    form: Posted<CsrfForm>,
) -> Result<SystemPage, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let live = state.live.clone();
    let outcome = web::block(move || live.reload())
        .await
        .map_err(|e| WebError::Internal(format!("the reload ended abnormally: {e}")))?;
    let (ok, message) = match outcome {
        Ok(reloaded) => {
            tracing::info!("admin console: {reloaded}");
            (true, reloaded.to_string())
        }
        Err(e) => {
            tracing::error!(
                "admin console: configuration not reloaded, the running one stays: {e}"
            );
            (
                false,
                format!("Not reloaded; the running configuration stays. {e}"),
            )
        }
    };
    super::record(&state, &admin, "config.reload", message.clone()).await?;
    system_page(&state, &admin, Some((ok, message))).await
}

async fn system_page(
    state: &AppState,
    admin: &Admin,
    reloaded: Option<(bool, String)>,
) -> Result<SystemPage, WebError> {
    let signed_in = &admin.0;
    let (retention, restricted) = state
        .db
        .run(|conn| {
            Ok((
                crate::privacy::retention::last_run(conn)?,
                crate::db::privacy::restricted_accounts(conn, 500)?,
            ))
        })
        .await?;
    let config = state.config();
    let privacy = &config.privacy;
    Ok(SystemPage {
        layout: super::layout(state, "System"),
        console: Console::new(state, signed_in, "system"),
        config_path: state.live.path().map(|p| p.display().to_string()),
        live_keys: crate::config::LIVE_KEYS,
        reloaded,
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
