//! Security: password, sessions, recent security events, and two-factor sign-in.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::accounts::{self, Actor, describe_user_agent};
use crate::clock::format_ms;
use crate::db::accounts as repo;
use crate::web::AppState;
use crate::web::account::{CsrfForm, form_error, user_agent};
use crate::web::error::WebError;
use crate::web::session::SignedIn;
use crate::web::site::Layout;

use super::profile::{NoticeQuery, profile_notice};
use super::{Dash, Refusal, layout, render_with, see_other};

pub struct SessionView {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub last_seen: String,
    pub created: String,
    pub current: bool,
}

pub struct EventView {
    pub at: String,
    pub what: String,
    pub ip: String,
    pub device: String,
}

pub(super) fn describe_event(kind: &str, detail: &str) -> String {
    match kind {
        "signed_up" => "Account created".to_owned(),
        "sign_in" => "Signed in".to_owned(),
        "sign_in_failed" => "Failed sign-in (wrong password)".to_owned(),
        "failed_burst" => format!("Several failed sign-ins in a row ({detail})"),
        "new_device" => format!("Sign-in from a new device: {detail}"),
        "email_verified" => "Email address confirmed".to_owned(),
        "password_changed" => "Password changed".to_owned(),
        "password_reset" => "Password reset by email link".to_owned(),
        "email_change_requested" => "Email address change requested".to_owned(),
        "email_changed" => "Email address changed".to_owned(),
        "key_created" => format!("API key created: {detail}"),
        "key_revoked" => format!("API key revoked: {detail}"),
        "keys_revoked" => format!("All API keys revoked with the password reset ({detail})"),
        "totp_enabled" => "Two-factor sign-in turned on".to_owned(),
        "totp_disabled" => "Two-factor sign-in turned off".to_owned(),
        "recovery_code_used" => format!("Recovery code used ({detail} left)"),
        other => other.replace('_', " "),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/security.html")]
pub(super) struct SecurityPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) notice: Option<String>,
    pub(super) refusal: Option<Refusal>,
    pub(super) min_length: usize,
    pub(super) sessions: Vec<SessionView>,
    pub(super) events: Vec<EventView>,
}

pub(super) async fn security_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    refusal: Option<Refusal>,
) -> Result<SecurityPage, WebError> {
    let user_id = signed_in.user.id.clone();
    let (sessions, events) = state
        .db
        .run(move |conn| {
            Ok((
                repo::list_sessions(conn, &user_id)?,
                repo::list_events(conn, &user_id, 50)?,
            ))
        })
        .await?;
    Ok(SecurityPage {
        layout: layout(state, "Security"),
        dash: Dash::new(state, signed_in, "security"),
        notice,
        refusal,
        min_length: state.config().accounts.password_min_length,
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == signed_in.session_id,
                device: describe_user_agent(&s.user_agent),
                ip: s.ip,
                last_seen: format_ms(s.last_seen_at),
                created: format_ms(s.created_at),
                id: s.id,
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventView {
                at: format_ms(e.at),
                what: describe_event(&e.kind, &e.detail),
                device: describe_user_agent(&e.user_agent),
                ip: e.ip,
            })
            .collect(),
    })
}

pub(super) async fn security(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<NoticeQuery>,
) -> Result<SecurityPage, WebError> {
    security_page(
        &state,
        &signed_in,
        profile_notice(query.notice.as_deref()),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    pub(super) csrf: String,
    pub(super) current: String,
    pub(super) password: String,
}

pub(super) async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::change_password(
        &state.accounts,
        &signed_in.user,
        &signed_in.token_hash,
        form.current,
        form.password,
        &actor,
    )
    .await
    {
        Ok(()) => Ok(see_other("/dashboard/security?notice=password")),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page =
                security_page(&state, &signed_in, None, Refusal::at("password", message)).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

pub(super) async fn revoke_session(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    if !accounts::revoke_session(&state.accounts, &signed_in.user, path.into_inner()).await? {
        return Err(WebError::NotFound);
    }
    Ok(see_other("/dashboard/security?notice=session"))
}

pub(super) async fn revoke_other_sessions(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    accounts::revoke_other_sessions(&state.accounts, &signed_in.user, &signed_in.token_hash)
        .await?;
    Ok(see_other("/dashboard/security?notice=sessions"))
}

// ---------------------------------------------------------------- two-factor

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/totp_setup.html")]
pub(super) struct TotpSetupPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    /// None until a set-up is started.
    pub(super) setup: Option<accounts::TotpSetup>,
    pub(super) error: Option<String>,
}

/// The set-up page: the pending secret when a set-up was started, else the button that starts
/// one. Showing it changes nothing.
pub(super) async fn totp_setup(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    if signed_in.user.totp_enabled {
        return Ok(see_other("/dashboard/security"));
    }
    let setup = accounts::pending_totp_setup(&state.accounts, &signed_in.user).await?;
    Ok(totp_page(
        &state,
        &req,
        &signed_in,
        setup,
        None,
        StatusCode::OK,
    ))
}

/// Starts a set-up: a new secret, kept until a code from the app confirms it.
pub(super) async fn totp_start(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    if !signed_in.user.totp_enabled {
        accounts::start_totp_setup(&state.accounts, &signed_in.user).await?;
    }
    Ok(see_other("/dashboard/security/2fa"))
}

fn totp_page(
    state: &AppState,
    req: &HttpRequest,
    signed_in: &SignedIn,
    setup: Option<accounts::TotpSetup>,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let page = TotpSetupPage {
        layout: layout(state, "Two-factor sign-in"),
        dash: Dash::new(state, signed_in, "security"),
        setup,
        error,
    };
    let mut res = render_with(page, req, status);
    // The secret is on the page: no cache may keep it.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    pub(super) csrf: String,
    pub(super) code: String,
    #[serde(default)]
    pub(super) password: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/recovery_codes.html")]
pub(super) struct RecoveryCodesPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) codes: Vec<String>,
}

pub(super) async fn totp_enable(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    let proof = signed_in.proof(&form.password);
    match accounts::enable_totp(&state.accounts, &signed_in.user, &form.code, &proof, &actor).await
    {
        Ok(codes) => {
            let mut dash = Dash::new(&state, &signed_in, "security");
            dash.totp_enabled = true;
            let page = RecoveryCodesPage {
                layout: layout(&state, "Recovery codes"),
                dash,
                codes,
            };
            let mut res = render_with(page, &req, StatusCode::OK);
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            Ok(res)
        }
        Err(e) => {
            let (message, status) = form_error(e)?;
            // A wrong code: show the same secret again so the app already set up still fits.
            let Some(setup) =
                accounts::pending_totp_setup(&state.accounts, &signed_in.user).await?
            else {
                return Ok(see_other("/dashboard/security/2fa"));
            };
            Ok(totp_page(
                &state,
                &req,
                &signed_in,
                Some(setup),
                Some(message),
                status,
            ))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct DisableTotpForm {
    pub(super) csrf: String,
    pub(super) password: String,
}

pub(super) async fn totp_disable(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<DisableTotpForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::disable_totp(&state.accounts, &signed_in.user, form.password, &actor).await {
        Ok(()) => Ok(see_other("/dashboard/security?notice=2fa-off")),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page =
                security_page(&state, &signed_in, None, Refusal::at("totp", message)).await?;
            Ok(render_with(page, &req, status))
        }
    }
}
