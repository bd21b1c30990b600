//! The site's one error type: each variant maps to one status and one page. Causes of 5xx are
//! logged; people see only the public message.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    /// The message is shown as it is.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// Not signed in: go to the sign-in page, then back to `next`.
    #[error("sign in first")]
    SignIn { next: String },
    /// Send the browser elsewhere (e.g. a pending account to its waiting page).
    #[error("redirect")]
    Redirect(String),
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The one place an account flow's failure becomes a page: a refusal shown as it is, a throttle
/// with its wait, the rest as the pages' own errors.
impl From<crate::accounts::AccountError> for WebError {
    fn from(e: crate::accounts::AccountError) -> WebError {
        use crate::accounts::AccountError;
        match e {
            AccountError::Invalid(message) => WebError::BadRequest(message),
            AccountError::Throttled(wait) => WebError::TooManyAttempts {
                retry_after_secs: wait.as_secs().max(1),
            },
            AccountError::NotFound => WebError::NotFound,
            AccountError::Db(e) => WebError::Db(e),
            AccountError::Internal(message) => WebError::Internal(message),
        }
    }
}

impl From<crate::abuse::AbuseError> for WebError {
    fn from(e: crate::abuse::AbuseError) -> WebError {
        use crate::abuse::AbuseError;
        match e {
            AbuseError::Invalid { message, .. } => WebError::BadRequest(message),
            AbuseError::NotFound => WebError::NotFound,
            AbuseError::Db(e) => WebError::Db(e),
            AbuseError::Account(e) => e.into(),
        }
    }
}

impl From<crate::billing::service::BillingError> for WebError {
    fn from(e: crate::billing::service::BillingError) -> WebError {
        use crate::billing::service::BillingError;
        match e {
            BillingError::Invalid(message) => WebError::BadRequest(message),
            BillingError::Db(e) => WebError::Db(e),
        }
    }
}

impl From<crate::billing::topup::TopupError> for WebError {
    fn from(e: crate::billing::topup::TopupError) -> WebError {
        use crate::billing::topup::TopupError;
        match e {
            TopupError::Invalid(message) => WebError::BadRequest(message),
            TopupError::Stripe(e) => WebError::Internal(format!("payment provider: {e}")),
            TopupError::Db(e) => WebError::Db(e),
        }
    }
}

impl From<crate::auth::password::PasswordError> for WebError {
    fn from(e: crate::auth::password::PasswordError) -> WebError {
        WebError::Internal(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::SignIn { .. } | WebError::Redirect(_) => StatusCode::SEE_OTHER,
            WebError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Db(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Db(_) | WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let location = match self {
            WebError::SignIn { next } => Some(format!("/login?next={}", encode_query(next))),
            WebError::Redirect(to) => Some(to.clone()),
            _ => None,
        };
        if let Some(location) = location {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let (title, message) = match self {
            WebError::NotFound => ("Not found", "There is nothing here.".to_owned()),
            WebError::BadRequest(m) => ("That did not work", m.clone()),
            WebError::Forbidden(m) => ("Not allowed", m.clone()),
            WebError::TooManyAttempts { retry_after_secs } => (
                "Too many attempts",
                format!("Please wait {retry_after_secs} seconds and try again."),
            ),
            WebError::Db(e) if e.is_unavailable() => {
                tracing::warn!("request refused, the database is unavailable: {e}");
                (
                    "Unavailable for a moment",
                    "The server cannot reach its data right now. Please try again in a moment."
                        .to_owned(),
                )
            }
            WebError::Db(e) => {
                tracing::error!("request failed: {e}");
                (
                    "Something went wrong",
                    "Please try again in a moment.".to_owned(),
                )
            }
            WebError::Internal(e) => {
                tracing::error!("request failed: {e}");
                (
                    "Something went wrong",
                    "Please try again in a moment.".to_owned(),
                )
            }
            WebError::SignIn { .. } | WebError::Redirect(_) => ("", String::new()),
        };
        let body = ErrorPage {
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        let mut res = HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body);
        if let WebError::TooManyAttempts { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// Turns a page's [`WebError::NotFound`] (a handler's, or an extractor's such as
/// `session::Admin`) into the site's styled 404 page. That page needs the site's state, which
/// [`ResponseError::error_response`] does not get, so `app` wraps this around the routes as an
/// error handler for 404s. Other 404s (the API's, in the client's format) pass unchanged.
pub fn styled_not_found<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let page_not_found = res
        .response()
        .error()
        .and_then(|e| e.as_error::<WebError>())
        .is_some_and(|e| matches!(e, WebError::NotFound));
    if !page_not_found {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, _) = res.into_parts();
    let page = super::site::not_found_response(&req);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, page).map_into_right_body(),
    ))
}

/// Percent-encodes a value for a query string.
pub fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
