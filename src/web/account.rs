//! Signing up, in and out, email links (confirm, reset, change), the pending-approval page and
//! the one-time link that creates the first admin.
//!
//! One module because these pages share their forms, throttles and redirect rules; the flows
//! themselves live in `accounts`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::WebError;
use super::session::{self, MaybeSignedIn, SignedIn};
use super::site::Layout;
use crate::accounts::{self, AccountError, Actor, SignUp};
use crate::client::ClientInfo;
use crate::config::SignupMode;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signup", web::get().to(signup_form))
        .route("/signup", web::post().to(signup))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route(
            session::SECOND_FACTOR_PATH,
            web::get().to(second_factor_form),
        )
        .route(session::SECOND_FACTOR_PATH, web::post().to(second_factor))
        .route("/verify", web::get().to(verify))
        .route("/forgot", web::get().to(forgot_form))
        .route("/forgot", web::post().to(forgot))
        .route("/reset", web::get().to(reset_form))
        .route("/reset", web::post().to(reset))
        .route("/confirm-email", web::get().to(confirm_email_change))
        .route("/pending", web::get().to(pending))
        .route("/setup/admin", web::get().to(admin_setup_form))
        .route("/setup/admin", web::post().to(admin_setup));
}

pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Pages with a form re-rendered on error answer 400 (429 when throttled) with the form again.
fn with_status(
    page: impl Responder,
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let mut res = page.respond_to(req).map_into_boxed_body();
    *res.status_mut() = status;
    res
}

/// A refusal the form shows beside itself (with its status), or the failure that becomes an
/// error page.
pub(super) fn form_error(
    e: AccountError,
) -> Result<(String, actix_web::http::StatusCode), WebError> {
    use actix_web::http::StatusCode;
    match e {
        AccountError::Invalid(message) => Ok((message, StatusCode::BAD_REQUEST)),
        AccountError::Throttled(wait) => Ok((
            format!(
                "Too many attempts. Wait {} seconds and try again.",
                wait.as_secs().max(1)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        )),
        other => Err(other.into()),
    }
}

/// A page that only says something, with one link onwards.
#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    pub ok: bool,
    pub link_href: String,
    pub link_label: String,
}

impl MessagePage {
    pub fn new(
        state: &AppState,
        heading: &str,
        message: &str,
        ok: bool,
        link: (&str, &str),
    ) -> MessagePage {
        MessagePage {
            layout: Layout::new(state, "", heading),
            heading: heading.to_owned(),
            message: message.to_owned(),
            ok,
            link_href: link.0.to_owned(),
            link_label: link.1.to_owned(),
        }
    }
}

// ---------------------------------------------------------------- sign-up

#[derive(Template, WebTemplate)]
#[template(path = "signup.html")]
struct SignupPage {
    layout: Layout,
    /// "open", "approval", "invite" or "closed".
    mode: &'static str,
    min_length: usize,
    /// The credit a new account starts with, if any.
    credit: Option<String>,
    error: Option<String>,
    name: String,
    email: String,
    invite: String,
}

/// The sign-up credit written for people, when new accounts get one.
pub fn signup_credit(state: &AppState) -> Option<String> {
    let credit = state.config().billing.welcome_credit();
    (credit > 0).then(|| {
        crate::money::Money::from_micros(credit).amount_in(&state.config().billing.currency)
    })
}

fn mode_name(mode: SignupMode) -> &'static str {
    match mode {
        SignupMode::Open => "open",
        SignupMode::Approval => "approval",
        SignupMode::Invite => "invite",
        SignupMode::Closed => "closed",
    }
}

fn signup_page(
    state: &AppState,
    error: Option<String>,
    name: String,
    email: String,
    invite: String,
) -> SignupPage {
    SignupPage {
        layout: Layout::new(state, "", "Create an account"),
        mode: mode_name(state.config().accounts.signup),
        min_length: state.config().accounts.password_min_length,
        credit: signup_credit(state),
        error,
        name,
        email,
        invite,
    }
}

#[derive(Deserialize)]
struct InviteQuery {
    invite: Option<String>,
}

async fn signup_form(state: web::Data<AppState>, query: web::Query<InviteQuery>) -> impl Responder {
    signup_page(
        &state,
        None,
        String::new(),
        String::new(),
        query.into_inner().invite.unwrap_or_default(),
    )
}

#[derive(Deserialize)]
struct SignupForm {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    invite: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "signup_done.html")]
struct SignupDonePage {
    layout: Layout,
    confirm_by_mail: bool,
    needs_approval: bool,
    credit: Option<String>,
    /// New accounts are signed in at once here, and this one was not: the address has one.
    /// (Where nothing is confirmed, signing in with the typed password tells as much anyway.)
    taken: bool,
}

/// Where a new account that is signed in at once lands.
pub const WELCOME_PATH: &str = "/dashboard?welcome=1";

async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    current: MaybeSignedIn,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let actor = Actor::new(&client, &user_agent(&req));
    let request = SignUp {
        name: form.name.clone(),
        email: form.email.clone(),
        password: form.password,
        invite: Some(form.invite.clone()),
    };
    match accounts::sign_up(&state.accounts, request, &client, &actor).await {
        Ok(accounts::SignedUp {
            session: Some(token),
            ..
        }) => {
            // As at sign-in: a session that was there before does not live on beside the new one.
            if let Some(old) = current.0 {
                accounts::sign_out(&state.accounts, old.token_hash).await?;
            }
            Ok(HttpResponse::SeeOther()
                .cookie(session::session_cookie(
                    &token,
                    client.https,
                    state.config().accounts.session_max_days,
                ))
                .insert_header((header::LOCATION, WELCOME_PATH))
                .finish())
        }
        Ok(accounts::SignedUp { outcome, .. }) => {
            let taken = accounts::usable_at_once(&state.accounts);
            Ok(SignupDonePage {
                layout: Layout::new(
                    &state,
                    "",
                    if taken {
                        "Sign in instead"
                    } else if outcome.confirm_by_mail {
                        "Check your email"
                    } else {
                        "Account created"
                    },
                ),
                confirm_by_mail: outcome.confirm_by_mail,
                needs_approval: outcome.needs_approval,
                credit: signup_credit(&state),
                taken,
            }
            .respond_to(&req)
            .map_into_boxed_body())
        }
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page = signup_page(&state, Some(message), form.name, form.email, form.invite);
            Ok(with_status(page, &req, status))
        }
    }
}

// ---------------------------------------------------------------- sign-in

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    next: String,
    signup_open: bool,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "reset" => "Your password was changed. Sign in with the new one.",
            "signed-out" => "You are signed out.",
            "verified" => "Your email address is confirmed. Sign in to continue.",
            _ => return None,
        }
        .to_owned(),
    )
}

fn login_page(
    state: &AppState,
    error: Option<String>,
    notice: Option<String>,
    email: String,
    next: String,
) -> LoginPage {
    LoginPage {
        layout: Layout::new(state, "", "Sign in"),
        error,
        notice,
        email,
        next,
        signup_open: state.config().accounts.signup != SignupMode::Closed,
    }
}

async fn login_form(
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
    current: MaybeSignedIn,
) -> HttpResponse {
    let query = query.into_inner();
    let next = session::safe_next(query.next.as_deref());
    if current.0.is_some() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .finish();
    }
    let page = login_page(
        &state,
        None,
        notice_text(query.notice.as_deref()),
        String::new(),
        next,
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render().unwrap_or_default())
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    current: MaybeSignedIn,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let next = session::safe_next(Some(&form.next));
    let actor = Actor::new(&client, &user_agent(&req));
    match accounts::sign_in(&state.accounts, &form.email, form.password, &client, &actor).await {
        Ok(signed) => {
            // A new session id at every sign-in: a session planted before cannot be taken over.
            if let Some(old) = current.0 {
                accounts::sign_out(&state.accounts, old.token_hash).await?;
            }
            let location = if signed.second_factor_due {
                format!(
                    "{}?next={}",
                    session::SECOND_FACTOR_PATH,
                    super::error::encode_query(&next)
                )
            } else {
                next
            };
            Ok(HttpResponse::SeeOther()
                .cookie(session::session_cookie(
                    &signed.token,
                    client.https,
                    state.config().accounts.session_max_days,
                ))
                .insert_header((header::LOCATION, location))
                .finish())
        }
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page = login_page(&state, Some(message), None, form.email, next);
            Ok(with_status(page, &req, status))
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

async fn logout(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    accounts::sign_out(&state.accounts, signed_in.token_hash.clone()).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(session::removal_cookie(signed_in.client.https))
        .insert_header((header::LOCATION, "/login?notice=signed-out"))
        .finish())
}

// ---------------------------------------------------------------- email links

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&client, &user_agent(&req));
    let page = if accounts::confirm_email(&state.accounts, &query.token, &actor).await? {
        MessagePage::new(
            &state,
            "Email address confirmed",
            "Thank you. Your email address is confirmed and you can create API keys.",
            true,
            ("/dashboard", "Go to the dashboard"),
        )
    } else {
        MessagePage::new(
            &state,
            "This link has expired",
            "This confirmation link is not valid any more: it was used already or is too old. Sign in to get a new one.",
            false,
            ("/login", "Sign in"),
        )
    };
    let status = if page.ok { 200 } else { 400 };
    Ok(with_status(
        page,
        &req,
        actix_web::http::StatusCode::from_u16(status).unwrap_or_default(),
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "forgot.html")]
struct ForgotPage {
    layout: Layout,
    sent: bool,
    error: Option<String>,
    email: String,
}

async fn forgot_form(state: web::Data<AppState>) -> impl Responder {
    ForgotPage {
        layout: Layout::new(&state, "", "Reset your password"),
        sent: false,
        error: None,
        email: String::new(),
    }
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let (sent, error, status) =
        match accounts::request_password_reset(&state.accounts, &form.email, &client).await {
            Ok(()) => (true, None, actix_web::http::StatusCode::OK),
            Err(e) => {
                let (message, status) = form_error(e)?;
                (false, Some(message), status)
            }
        };
    let page = ForgotPage {
        layout: Layout::new(&state, "", "Reset your password"),
        sent,
        error,
        email: form.email,
    };
    Ok(with_status(page, &req, status))
}

#[derive(Template, WebTemplate)]
#[template(path = "reset.html")]
struct ResetPage {
    layout: Layout,
    valid: bool,
    token: String,
    min_length: usize,
    error: Option<String>,
}

async fn reset_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let valid = accounts::reset_link_valid(&state.accounts, &query.token).await?;
    let page = ResetPage {
        layout: Layout::new(&state, "", "Choose a new password"),
        valid,
        token: query.into_inner().token,
        min_length: state.config().accounts.password_min_length,
        error: None,
    };
    let status = if valid { 200 } else { 400 };
    Ok(with_status(
        page,
        &req,
        actix_web::http::StatusCode::from_u16(status).unwrap_or_default(),
    ))
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
    /// The "also revoke all my API keys" box, when ticked.
    #[serde(default)]
    revoke_keys: Option<String>,
}

async fn reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let actor = Actor::new(&client, &user_agent(&req));
    let revoke_keys = form.revoke_keys.is_some();
    match accounts::reset_password(
        &state.accounts,
        &form.token,
        form.password,
        revoke_keys,
        &actor,
    )
    .await
    {
        Ok(()) => Ok(HttpResponse::SeeOther()
            .cookie(session::removal_cookie(client.https))
            .insert_header((header::LOCATION, "/login?notice=reset"))
            .finish()),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let valid = accounts::reset_link_valid(&state.accounts, &form.token).await?;
            let page = ResetPage {
                layout: Layout::new(&state, "", "Choose a new password"),
                valid,
                token: form.token,
                min_length: state.config().accounts.password_min_length,
                error: Some(message),
            };
            Ok(with_status(page, &req, status))
        }
    }
}

async fn confirm_email_change(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, WebError> {
    let actor = Actor::new(&client, &user_agent(&req));
    let (page, status) =
        match accounts::confirm_email_change(&state.accounts, &query.token, &actor).await {
            Ok(()) => (
                MessagePage::new(
                    &state,
                    "Email address changed",
                    "Your account now uses this email address.",
                    true,
                    ("/dashboard/profile", "Go to your profile"),
                ),
                actix_web::http::StatusCode::OK,
            ),
            Err(e) => {
                let (message, status) = form_error(e)?;
                (
                    MessagePage::new(
                        &state,
                        "The address was not changed",
                        &message,
                        false,
                        ("/dashboard/profile", "Go to your profile"),
                    ),
                    status,
                )
            }
        };
    Ok(with_status(page, &req, status))
}

async fn pending(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    if signed_in.user.status != crate::db::accounts::Status::Pending {
        return Err(WebError::Redirect("/dashboard".to_owned()));
    }
    let page = MessagePage::new(
        &state,
        "Waiting for approval",
        "Your account was created and is waiting for an administrator to approve it. You will be able to use the dashboard as soon as that happens.",
        true,
        ("/", "Back to the home page"),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            page.render()
                .map_err(|e| WebError::Internal(e.to_string()))?,
        ))
}

// ---------------------------------------------------------------- first admin

#[derive(Template, WebTemplate)]
#[template(path = "admin_setup.html")]
struct AdminSetupPage {
    layout: Layout,
    token: String,
    min_length: usize,
    error: Option<String>,
    name: String,
    email: String,
}

fn setup_token_matches(state: &AppState, token: &str) -> bool {
    let expected = state
        .admin_setup
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    expected.is_some_and(|hash| bool::from(crate::auth::token::sha256(token).ct_eq(&hash)))
}

async fn admin_setup_form(
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<AdminSetupPage, WebError> {
    if !setup_token_matches(&state, &query.token) {
        return Err(WebError::NotFound);
    }
    Ok(AdminSetupPage {
        layout: Layout::new(&state, "", "Create the first administrator"),
        token: query.into_inner().token,
        min_length: state.config().accounts.password_min_length,
        error: None,
        name: String::new(),
        email: String::new(),
    })
}

#[derive(Deserialize)]
struct AdminSetupForm {
    token: String,
    name: String,
    email: String,
    password: String,
}

async fn admin_setup(
    state: web::Data<AppState>,
    req: HttpRequest,
    client: ClientInfo,
    form: web::Form<AdminSetupForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    if !setup_token_matches(&state, &form.token) {
        return Err(WebError::NotFound);
    }
    let actor = Actor::new(&client, &user_agent(&req));
    match accounts::create_first_admin(
        &state.accounts,
        &form.name,
        &form.email,
        form.password,
        &client,
        &actor,
    )
    .await
    {
        Ok(token) => {
            *state.admin_setup.lock().unwrap_or_else(|e| e.into_inner()) = None;
            Ok(HttpResponse::SeeOther()
                .cookie(session::session_cookie(
                    &token,
                    client.https,
                    state.config().accounts.session_max_days,
                ))
                .insert_header((header::LOCATION, "/dashboard"))
                .finish())
        }
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page = AdminSetupPage {
                layout: Layout::new(&state, "", "Create the first administrator"),
                token: form.token,
                min_length: state.config().accounts.password_min_length,
                error: Some(message),
                name: form.name,
                email: form.email,
            };
            Ok(with_status(page, &req, status))
        }
    }
}

// ---------------------------------------------------------------- second factor

#[derive(Template, WebTemplate)]
#[template(path = "login_2fa.html")]
struct SecondFactorPage {
    layout: Layout,
    csrf: String,
    next: String,
    error: Option<String>,
}

async fn second_factor_form(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, WebError> {
    let next = session::safe_next(query.next.as_deref());
    if !signed_in.mfa_pending {
        return Err(WebError::Redirect(next));
    }
    let page = SecondFactorPage {
        layout: Layout::new(&state, "", "Two-factor sign-in"),
        csrf: signed_in.csrf_token.clone(),
        next,
        error: None,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            page.render()
                .map_err(|e| WebError::Internal(e.to_string()))?,
        ))
}

#[derive(Deserialize)]
struct SecondFactorForm {
    csrf: String,
    code: String,
    #[serde(default)]
    next: String,
}

async fn second_factor(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<SecondFactorForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let next = session::safe_next(Some(&form.next));
    if !signed_in.mfa_pending {
        return Err(WebError::Redirect(next));
    }
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::complete_second_factor(
        &state.accounts,
        &signed_in.user,
        &signed_in.token_hash,
        &form.code,
        &signed_in.client,
        &actor,
    )
    .await
    {
        Ok(token) => Ok(HttpResponse::SeeOther()
            .cookie(session::session_cookie(
                &token,
                signed_in.client.https,
                state.config().accounts.session_max_days,
            ))
            .insert_header((header::LOCATION, next))
            .finish()),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page = SecondFactorPage {
                layout: Layout::new(&state, "", "Two-factor sign-in"),
                csrf: signed_in.csrf_token.clone(),
                next,
                error: Some(message),
            };
            Ok(with_status(page, &req, status))
        }
    }
}
