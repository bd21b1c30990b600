//! The profile: name and email address, with the confirmation of a new address.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::accounts::{self, AccountError, Actor};
use crate::web::AppState;
use crate::web::account::{CsrfForm, form_error, user_agent};
use crate::web::error::WebError;
use crate::web::session::SignedIn;
use crate::web::site::Layout;

use super::{Dash, Refusal, layout, render_with, see_other};

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/profile.html")]
pub(super) struct ProfilePage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) notice: Option<String>,
    pub(super) refusal: Option<Refusal>,
    pub(super) name: String,
    pub(super) new_email: String,
}

#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    pub(super) notice: Option<String>,
}

pub(super) fn profile_notice(code: Option<&str>) -> Option<String> {
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

pub(super) async fn profile(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<NoticeQuery>,
) -> ProfilePage {
    ProfilePage {
        layout: layout(&state, "Profile"),
        dash: Dash::new(&state, &signed_in, "profile"),
        notice: profile_notice(query.notice.as_deref()),
        refusal: None,
        name: signed_in.user.name.clone(),
        new_email: String::new(),
    }
}

#[derive(Deserialize)]
pub(super) struct NameForm {
    pub(super) csrf: String,
    pub(super) name: String,
}

pub(super) async fn change_name(
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
            ("name", e),
            form.into_inner().name,
            String::new(),
        ),
    }
}

pub(super) fn profile_error(
    state: &AppState,
    req: &HttpRequest,
    signed_in: &SignedIn,
    (form, e): (&'static str, AccountError),
    name: String,
    new_email: String,
) -> Result<HttpResponse, WebError> {
    let (message, status) = form_error(e)?;
    let page = ProfilePage {
        layout: layout(state, "Profile"),
        dash: Dash::new(state, signed_in, "profile"),
        notice: None,
        refusal: Refusal::at(form, message),
        name,
        new_email,
    };
    Ok(render_with(page, req, status))
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    pub(super) csrf: String,
    pub(super) email: String,
    pub(super) password: String,
}

pub(super) async fn change_email(
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
            ("email", e),
            signed_in.user.name.clone(),
            form.email,
        ),
    }
}

pub(super) async fn resend_confirmation(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    accounts::resend_confirmation(&state.accounts, &signed_in.user).await?;
    Ok(see_other("/dashboard/profile?notice=resent"))
}
