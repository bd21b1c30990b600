//! The signed-in dashboard: overview, API keys, client setup, profile and security. Usage,
//! billing and privacy have their places in the navigation already.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::AppState;
use super::account::{CsrfForm, form_error, user_agent};
use super::error::WebError;
use super::session::SignedIn;
use super::site::Layout;
use crate::accounts::{self, AccountError, Actor, KeyRequest, describe_user_agent};
use crate::clock::format_ms;
use crate::db::accounts as repo;
use crate::money::Money;
use crate::setup::{Snippets, snippets};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(overview))
        .route("/dashboard/keys", web::get().to(keys))
        .route("/dashboard/keys", web::post().to(create_key))
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
        .route("/dashboard/privacy", web::get().to(privacy));
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
    pub is_admin: bool,
    pub totp_enabled: bool,
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
            is_admin: user.role == repo::Role::Admin,
            totp_enabled: user.totp_enabled,
        }
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

// ---------------------------------------------------------------- overview

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    layout: Layout,
    dash: Dash,
    active_keys: usize,
    currency: String,
    recent: Vec<RequestView>,
    /// "prepaid", "budget" or "off".
    mode: &'static str,
    /// The balance (prepaid) or this month's spend (budget), written for people.
    wallet: String,
    overdrawn: bool,
}

/// One API request as the overview lists it: metadata only.
pub struct RequestView {
    pub at: String,
    pub endpoint: &'static str,
    pub model: String,
    pub status: u16,
    pub ok: bool,
    pub outcome: &'static str,
    pub streamed: bool,
    pub input: i64,
    pub output: i64,
    pub latency: String,
    pub cost: String,
}

/// Requests shown on the overview.
const RECENT_REQUESTS: i64 = 20;

async fn overview(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<OverviewPage, WebError> {
    let user_id = signed_in.user.id.clone();
    let now = crate::db::now_ms();
    let month = crate::billing::wallet::month_of(now);
    let (keys, recent, (balance, month_spent)) = state
        .db
        .run(move |conn| {
            let wallet = crate::db::billing::wallet(conn, &user_id)?;
            let figures = (wallet.balance, wallet.spent_in(month));
            Ok((
                repo::list_keys(conn, &user_id)?,
                crate::db::usage::recent_for_user(conn, &user_id, RECENT_REQUESTS)?,
                figures,
            ))
        })
        .await?;
    let mode = state.config.billing.mode;
    let currency = &state.config.billing.currency;
    let recent = recent
        .into_iter()
        .map(|r| RequestView {
            at: format_ms(r.at),
            endpoint: r.endpoint.as_str(),
            model: r.model.unwrap_or_default(),
            status: r.status,
            ok: (200..300).contains(&r.status),
            outcome: r.outcome.as_str(),
            streamed: r.streamed,
            input: r.input_tokens,
            output: r.output_tokens,
            latency: format!("{} ms", r.latency_ms),
            cost: Money::from_micros(r.cost).display_in(currency),
        })
        .collect();
    Ok(OverviewPage {
        recent,
        layout: layout(&state, "Dashboard"),
        dash: Dash::new(&state, &signed_in, "overview"),
        active_keys: keys
            .iter()
            .filter(|k| key_status(k, now) == "active")
            .count(),
        currency: state.config.billing.currency.clone(),
        mode: mode.name(),
        wallet: Money::from_micros(match mode {
            crate::config::BillingMode::Prepaid => balance,
            _ => month_spent,
        })
        .display_in(currency),
        overdrawn: mode == crate::config::BillingMode::Prepaid && balance < 0,
    })
}

// ---------------------------------------------------------------- keys

pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub models: String,
    /// "$1.20 of $25.00", or what it spent when it has no limit.
    pub spend: String,
    /// Its own requests per minute ("30 requests/min"), if it has a limit of its own.
    pub requests_per_minute: Option<String>,
    /// "active", "expired" or "revoked".
    pub status: &'static str,
}

fn key_status(key: &repo::KeyRow, now: i64) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

fn key_view(state: &AppState, key: repo::KeyRow, now: i64) -> KeyView {
    KeyView {
        status: key_status(&key, now),
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        created: format_ms(key.created_at),
        last_used: key
            .last_used_at
            .map(format_ms)
            .unwrap_or_else(|| "Never".to_owned()),
        expires: key
            .expires_at
            .map(format_ms)
            .unwrap_or_else(|| "Never".to_owned()),
        models: key
            .models
            .map(|m| m.join(", "))
            .unwrap_or_else(|| "All models".to_owned()),
        spend: {
            let currency = &state.config.billing.currency;
            let spent = Money::from_micros(key.spent).display_in(currency);
            match key.spend_limit {
                Some(limit) => format!(
                    "{spent} of {}",
                    Money::from_micros(limit).display_in(currency)
                ),
                None => spent,
            }
        },
        requests_per_minute: key.requests_per_minute.map(|n| format!("{n} requests/min")),
    }
}

pub struct ModelChoice {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    layout: Layout,
    dash: Dash,
    keys: Vec<KeyView>,
    models: Vec<ModelChoice>,
    currency: String,
    error: Option<String>,
    name: String,
    expires_in_days: String,
    spend_limit: String,
    requests_per_minute: String,
}

async fn keys_page(
    state: &AppState,
    signed_in: &SignedIn,
    error: Option<String>,
    form: Option<&KeyForm>,
) -> Result<KeysPage, WebError> {
    let user_id = signed_in.user.id.clone();
    let rows = state
        .db
        .run(move |conn| repo::list_keys(conn, &user_id))
        .await?;
    let now = crate::db::now_ms();
    let chosen: Vec<String> = form.map(|f| f.models()).unwrap_or_default();
    Ok(KeysPage {
        layout: layout(state, "API keys"),
        dash: Dash::new(state, signed_in, "keys"),
        keys: rows.into_iter().map(|k| key_view(state, k, now)).collect(),
        models: state
            .config
            .models
            .iter()
            .map(|m| ModelChoice {
                id: m.id.clone(),
                name: m.name().to_owned(),
                checked: chosen.contains(&m.id),
            })
            .collect(),
        currency: state.config.billing.currency.clone(),
        error,
        name: form.map(|f| f.name.clone()).unwrap_or_default(),
        expires_in_days: form.map(|f| f.expires_in_days.clone()).unwrap_or_default(),
        spend_limit: form.map(|f| f.spend_limit.clone()).unwrap_or_default(),
        requests_per_minute: form
            .map(|f| f.requests_per_minute.clone())
            .unwrap_or_default(),
    })
}

async fn keys(state: web::Data<AppState>, signed_in: SignedIn) -> Result<KeysPage, WebError> {
    keys_page(&state, &signed_in, None, None).await
}

/// The create-key form; `model` may repeat, so it is read from the raw pairs.
struct KeyForm {
    csrf: String,
    name: String,
    expires_in_days: String,
    spend_limit: String,
    requests_per_minute: String,
    pairs: Vec<(String, String)>,
}

impl KeyForm {
    fn parse(body: &[u8]) -> KeyForm {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        KeyForm {
            csrf: get("csrf"),
            name: get("name"),
            expires_in_days: get("expires_in_days"),
            spend_limit: get("spend_limit"),
            requests_per_minute: get("requests_per_minute"),
            pairs,
        }
    }

    fn models(&self) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == "model")
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/key_created.html")]
struct KeyCreatedPage {
    layout: Layout,
    dash: Dash,
    name: String,
    key: String,
    setup: Snippets,
}

async fn create_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = KeyForm::parse(&body);
    signed_in.check_csrf(&form.csrf)?;
    let expires_in_days = match form.expires_in_days.trim() {
        "" | "never" => None,
        days => match days.parse::<u32>() {
            Ok(d) if (1..=3650).contains(&d) => Some(d),
            _ => {
                let page = keys_page(
                    &state,
                    &signed_in,
                    Some("Choose when the key expires.".to_owned()),
                    Some(&form),
                )
                .await?;
                return Ok(render_with(page, &req, StatusCode::BAD_REQUEST));
            }
        },
    };
    let request = KeyRequest {
        name: form.name.clone(),
        expires_in_days,
        models: form.models(),
        spend_limit: form.spend_limit.clone(),
        requests_per_minute: form.requests_per_minute.clone(),
    };
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::create_key(&state.accounts, &signed_in.user, request, &actor).await {
        Ok(created) => {
            let model = form
                .models()
                .first()
                .cloned()
                .or_else(|| state.config.models.first().map(|m| m.id.clone()))
                .unwrap_or_else(|| "MODEL_ID".to_owned());
            let page = KeyCreatedPage {
                layout: layout(&state, "Your new API key"),
                dash: Dash::new(&state, &signed_in, "keys"),
                name: form.name.trim().to_owned(),
                setup: snippets(&state.public_url, &created.key, &model),
                key: created.key,
            };
            let mut res = render_with(page, &req, StatusCode::OK);
            // The key is shown this once: no cache may keep the page.
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            Ok(res)
        }
        Err(AccountError::Invalid(message)) => {
            let page = keys_page(&state, &signed_in, Some(message), Some(&form)).await?;
            Ok(render_with(page, &req, StatusCode::BAD_REQUEST))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/revoke_key.html")]
struct RevokeKeyPage {
    layout: Layout,
    dash: Dash,
    key: KeyView,
}

async fn revoke_key_confirm(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<RevokeKeyPage, WebError> {
    let key = accounts::key_of_user(&state.accounts, &signed_in.user, path.into_inner()).await?;
    Ok(RevokeKeyPage {
        layout: layout(&state, "Revoke key"),
        dash: Dash::new(&state, &signed_in, "keys"),
        key: key_view(&state, key, crate::db::now_ms()),
    })
}

async fn revoke_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    accounts::revoke_key(&state.accounts, &signed_in.user, path.into_inner(), &actor).await?;
    Ok(see_other("/dashboard/keys"))
}

// ---------------------------------------------------------------- setup

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/setup.html")]
struct SetupPage {
    layout: Layout,
    dash: Dash,
    base: String,
    setup: Snippets,
}

async fn setup(state: web::Data<AppState>, signed_in: SignedIn) -> SetupPage {
    let model = state
        .config
        .models
        .first()
        .map(|m| m.id.clone())
        .unwrap_or_else(|| "MODEL_ID".to_owned());
    SetupPage {
        layout: layout(&state, "Set up your tools"),
        dash: Dash::new(&state, &signed_in, "setup"),
        base: state.public_url.to_string(),
        setup: snippets(&state.public_url, "sk-cx-YOUR-KEY", &model),
    }
}

// ---------------------------------------------------------------- profile

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/profile.html")]
struct ProfilePage {
    layout: Layout,
    dash: Dash,
    notice: Option<String>,
    error: Option<String>,
    name: String,
    new_email: String,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

fn profile_notice(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "name" => "Your name was saved.",
            "email" => "We sent a confirmation link to the new address. The change takes effect when you open it.",
            "password" => "Your password was changed. Your other sessions were signed out.",
            "sessions" => "Your other sessions were signed out.",
            "session" => "The session was signed out.",
            "resent" => "We sent a new confirmation link to your email address.",
            "2fa-off" => "Two-factor sign-in is off.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn profile(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<NoticeQuery>,
) -> ProfilePage {
    ProfilePage {
        layout: layout(&state, "Profile"),
        dash: Dash::new(&state, &signed_in, "profile"),
        notice: profile_notice(query.notice.as_deref()),
        error: None,
        name: signed_in.user.name.clone(),
        new_email: String::new(),
    }
}

#[derive(Deserialize)]
struct NameForm {
    csrf: String,
    name: String,
}

async fn change_name(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    match accounts::change_name(&state.accounts, &signed_in.user, &form.name).await {
        Ok(()) => Ok(see_other("/dashboard/profile?notice=name")),
        Err(e) => profile_error(
            &state,
            &req,
            &signed_in,
            e,
            form.into_inner().name,
            String::new(),
        ),
    }
}

fn profile_error(
    state: &AppState,
    req: &HttpRequest,
    signed_in: &SignedIn,
    e: AccountError,
    name: String,
    new_email: String,
) -> Result<HttpResponse, WebError> {
    let (message, status) = form_error(e)?;
    let page = ProfilePage {
        layout: layout(state, "Profile"),
        dash: Dash::new(state, signed_in, "profile"),
        notice: None,
        error: Some(message),
        name,
        new_email,
    };
    Ok(render_with(page, req, status))
}

#[derive(Deserialize)]
struct EmailForm {
    csrf: String,
    email: String,
    password: String,
}

async fn change_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<EmailForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::request_email_change(
        &state.accounts,
        &signed_in.user,
        &form.email,
        form.password,
        &actor,
    )
    .await
    {
        Ok(()) => Ok(see_other("/dashboard/profile?notice=email")),
        Err(e) => profile_error(
            &state,
            &req,
            &signed_in,
            e,
            signed_in.user.name.clone(),
            form.email,
        ),
    }
}

async fn resend_confirmation(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    accounts::resend_confirmation(&state.accounts, &signed_in.user).await?;
    Ok(see_other("/dashboard/profile?notice=resent"))
}

// ---------------------------------------------------------------- security

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

fn describe_event(kind: &str, detail: &str) -> String {
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
        "totp_enabled" => "Two-factor sign-in turned on".to_owned(),
        "totp_disabled" => "Two-factor sign-in turned off".to_owned(),
        "recovery_code_used" => format!("Recovery code used ({detail} left)"),
        other => other.replace('_', " "),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/security.html")]
struct SecurityPage {
    layout: Layout,
    dash: Dash,
    notice: Option<String>,
    error: Option<String>,
    min_length: usize,
    sessions: Vec<SessionView>,
    events: Vec<EventView>,
}

async fn security_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    error: Option<String>,
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
        error,
        min_length: state.config.accounts.password_min_length,
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

async fn security(
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
struct PasswordForm {
    csrf: String,
    current: String,
    password: String,
}

async fn change_password(
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
            let page = security_page(&state, &signed_in, None, Some(message)).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

async fn revoke_session(
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

async fn revoke_other_sessions(
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
struct TotpSetupPage {
    layout: Layout,
    dash: Dash,
    secret: String,
    qr_svg: String,
    error: Option<String>,
}

async fn totp_setup(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    if signed_in.user.totp_enabled {
        return Ok(see_other("/dashboard/security"));
    }
    let setup = accounts::start_totp_setup(&state.accounts, &signed_in.user).await?;
    let page = TotpSetupPage {
        layout: layout(&state, "Two-factor sign-in"),
        dash: Dash::new(&state, &signed_in, "security"),
        secret: setup.secret,
        qr_svg: setup.qr_svg,
        error: None,
    };
    let mut res = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            page.render()
                .map_err(|e| WebError::Internal(e.to_string()))?,
        );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    dash: Dash,
    codes: Vec<String>,
}

async fn totp_enable(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::enable_totp(&state.accounts, &signed_in.user, &form.code, &actor).await {
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
            let user_id = signed_in.user.id.clone();
            let pending = state
                .db
                .run(move |conn| repo::totp_state(conn, &user_id))
                .await?;
            let Some((secret, false, _)) = pending else {
                return Ok(see_other("/dashboard/security/2fa"));
            };
            let url = crate::auth::totp::otpauth_url(
                &secret,
                &state.config.site.name,
                &signed_in.user.email,
            )
            .unwrap_or_default();
            let page = TotpSetupPage {
                layout: layout(&state, "Two-factor sign-in"),
                dash: Dash::new(&state, &signed_in, "security"),
                qr_svg: crate::auth::totp::qr_svg(&url).unwrap_or_default(),
                secret,
                error: Some(message),
            };
            Ok(render_with(page, &req, status))
        }
    }
}

#[derive(Deserialize)]
struct DisableTotpForm {
    csrf: String,
    password: String,
}

async fn totp_disable(
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
            let page = security_page(&state, &signed_in, None, Some(message)).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

// ---------------------------------------------------------------- places for later pages

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/placeholder.html")]
struct PlaceholderPage {
    layout: Layout,
    dash: Dash,
    heading: &'static str,
    text: &'static str,
}

async fn privacy(state: web::Data<AppState>, signed_in: SignedIn) -> PlaceholderPage {
    PlaceholderPage {
        layout: layout(&state, "Privacy"),
        dash: Dash::new(&state, &signed_in, "privacy"),
        heading: "Your data",
        text: "Download everything we hold about you, restrict processing, or delete your account. Until these controls arrive here, write to the contact address on the contact page and the operator will do it for you.",
    }
}
