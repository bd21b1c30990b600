//! The signed-in dashboard, a module per page: `overview`, `keys`, `setup`, `profile`,
//! `security` (with two-factor sign-in), `privacy` (the user's data rights). Usage and billing
//! are in their own `web` modules. This module holds the routes and the frame every page shares.

mod keys;
mod overview;
mod privacy;
mod profile;
mod security;
mod setup;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, web};

use super::AppState;
use super::session::SignedIn;
use super::site::Layout;
use crate::accounts;
use crate::db::accounts as repo;

pub use keys::FreshKeys;
use keys::{NEW_KEY_PATH, create_key, keys, new_key, revoke_key, revoke_key_confirm};
use overview::overview;
pub(crate) use privacy::export_download;
use privacy::{delete_account, export_json, export_page, policy_seen, privacy, restrict};
use profile::{change_email, change_name, profile, resend_confirmation};
use security::{
    change_password, revoke_other_sessions, revoke_session, security, totp_disable, totp_enable,
    totp_setup, totp_start,
};
use setup::setup;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(overview))
        .route("/dashboard/keys", web::get().to(keys))
        .route("/dashboard/keys", web::post().to(create_key))
        .route(NEW_KEY_PATH, web::get().to(new_key))
        .route(
            "/dashboard/keys/{id}/revoke",
            web::get().to(revoke_key_confirm),
        )
        .route("/dashboard/keys/{id}/revoke", web::post().to(revoke_key))
        .route("/dashboard/setup", web::get().to(setup))
        .route("/dashboard/profile", web::get().to(profile))
        .route("/dashboard/profile/name", web::post().to(change_name))
        .route("/dashboard/profile/email", web::post().to(change_email))
        .route("/dashboard/security", web::get().to(security))
        .route(
            "/dashboard/security/password",
            web::post().to(change_password),
        )
        .route("/dashboard/security/2fa", web::get().to(totp_setup))
        .route("/dashboard/security/2fa", web::post().to(totp_enable))
        .route("/dashboard/security/2fa/start", web::post().to(totp_start))
        .route(
            "/dashboard/security/2fa/disable",
            web::post().to(totp_disable),
        )
        .route(
            "/dashboard/sessions/{id}/revoke",
            web::post().to(revoke_session),
        )
        .route(
            "/dashboard/sessions/revoke-others",
            web::post().to(revoke_other_sessions),
        )
        .route(
            "/dashboard/verify/resend",
            web::post().to(resend_confirmation),
        )
        .route("/dashboard/policy/seen", web::post().to(policy_seen))
        .route("/dashboard/privacy", web::get().to(privacy))
        .route("/dashboard/privacy/export", web::get().to(export_json))
        .route("/dashboard/privacy/data", web::get().to(export_page))
        .route("/dashboard/privacy/restrict", web::post().to(restrict))
        .route("/dashboard/privacy/delete", web::post().to(delete_account));
}

/// What the dashboard frame shows around every page.
pub struct Dash {
    pub section: &'static str,
    pub csrf: String,
    pub user_name: String,
    pub user_email: String,
    pub email_verified: bool,
    /// Unconfirmed accounts cannot create keys (only when mail is sent).
    pub must_verify: bool,
    /// The address is not confirmed and mail is sent: a new link can be asked for.
    pub can_confirm: bool,
    pub is_admin: bool,
    pub totp_enabled: bool,
    /// The sign-in is old enough that changes a stolen session must not make ask for the
    /// password.
    pub confirm_password: bool,
    /// The effective date of a policy version the user has not acknowledged yet.
    pub policy_news: Option<String>,
    /// A notice from the admins, shown until the user closes it.
    pub banner: Option<crate::db::notices::Banner>,
}

impl Dash {
    pub fn new(state: &AppState, signed_in: &SignedIn, section: &'static str) -> Dash {
        let user = &signed_in.user;
        Dash {
            section,
            csrf: signed_in.csrf_token.clone(),
            user_name: user.name.clone(),
            user_email: user.email.clone(),
            email_verified: user.email_verified,
            must_verify: !user.email_verified && accounts::verification_required(&state.accounts),
            can_confirm: !user.email_verified && state.mailer.delivers(),
            is_admin: user.role == repo::Role::Admin,
            totp_enabled: user.totp_enabled,
            confirm_password: accounts::Proof::needs_password(
                signed_in.signed_in_at,
                &state.config().accounts,
            ),
            banner: signed_in.banner.clone(),
            policy_news: state
                .policy
                .is_news_to(user.created_at, user.policy_seen.as_deref())
                .then(|| state.policy.effective_date.clone()),
        }
    }
}

/// A form's refusal, shown beside the form it belongs to; `form` names that form in the page.
pub struct Refusal {
    pub form: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn at(form: &'static str, message: String) -> Option<Refusal> {
        Some(Refusal { form, message })
    }
}

pub fn layout(state: &AppState, title: &str) -> Layout {
    Layout::new(state, "dashboard", title).signed_in()
}

pub(super) fn render_with(
    page: impl Responder,
    req: &HttpRequest,
    status: StatusCode,
) -> HttpResponse {
    let mut res = page.respond_to(req).map_into_boxed_body();
    *res.status_mut() = status;
    res
}

pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}
