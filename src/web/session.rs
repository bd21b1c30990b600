//! Browser sessions: a random 256-bit token in an HttpOnly cookie, of which only the SHA-256 hash
//! is stored; idle and absolute expiry; a per-session CSRF token checked in constant time.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::WebError;
use crate::auth::token;
use crate::client::ClientInfo;
use crate::db::accounts::{self, Status, User};
use crate::db::now_ms;

/// Cookie name over HTTPS: the `__Host-` prefix pins it to this host, path `/` and Secure.
const SECURE_COOKIE: &str = "__Host-codexapi";
const PLAIN_COOKIE: &str = "codexapi_session";
/// Where a session whose second factor is due is sent.
pub const SECOND_FACTOR_PATH: &str = "/login/2fa";
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY_MS: i64 = 60_000;

pub fn cookie_name(https: bool) -> &'static str {
    if https { SECURE_COOKIE } else { PLAIN_COOKIE }
}

/// The cookie that carries a new session's token.
pub fn session_cookie(token: &str, https: bool, max_days: u32) -> Cookie<'static> {
    Cookie::build(cookie_name(https), token.to_owned())
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::days(i64::from(max_days)))
        .finish()
}

/// A cookie that deletes the session cookie.
pub fn removal_cookie(https: bool) -> Cookie<'static> {
    let mut cookie = session_cookie("", https, 0);
    cookie.make_removal();
    cookie
}

/// The signed-in user of a request. Handlers that take it are for signed-in users only: without a
/// valid session the browser is sent to the sign-in page and back afterwards.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// The admins' notice whose banner this account should see now, if any.
    pub banner: Option<crate::db::notices::Banner>,
    pub session_id: String,
    pub csrf_token: String,
    pub token_hash: Vec<u8>,
    pub client: ClientInfo,
    /// The password was right but the second factor is still due.
    pub mfa_pending: bool,
    /// When the sign-in (both factors) was completed, unix ms.
    pub signed_in_at: i64,
}

impl SignedIn {
    /// What this session offers as proof of identity, with the password typed in a form.
    pub fn proof(&self, password: &str) -> crate::accounts::Proof {
        crate::accounts::Proof {
            signed_in_at: self.signed_in_at,
            password: password.to_owned(),
        }
    }

    /// Checks a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if bool::from(submitted.as_bytes().ct_eq(self.csrf_token.as_bytes())) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "This form has expired. Go back, reload the page and try again.".to_owned(),
            ))
        }
    }
}

/// The session, if any, without sending anyone to sign in.
pub struct MaybeSignedIn(pub Option<SignedIn>);

async fn load(req: HttpRequest) -> Result<Option<SignedIn>, WebError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(WebError::Internal("application state missing".to_owned()));
    };
    let Some(client) = req.extensions().get::<ClientInfo>().cloned() else {
        return Err(WebError::Internal("client info missing".to_owned()));
    };
    // Over HTTPS only the `__Host-` cookie counts: a plain one could have been planted by a
    // sibling subdomain or over plain HTTP (session fixation).
    let Some(cookie) = req.cookie(cookie_name(client.https)) else {
        return Ok(None);
    };
    let token_hash = token::sha256(cookie.value());
    let accounts_config = &state.config().accounts;
    let idle_ms = i64::from(accounts_config.session_idle_hours) * 3_600_000;
    let max_ms = i64::from(accounts_config.session_max_days) * 86_400_000;
    let ip = client.ip.to_string();
    let hash = token_hash.clone();
    let found = state
        .db
        .run(move |conn| {
            let now = now_ms();
            let Some((session, user)) = accounts::session_by_hash(conn, &hash)? else {
                return Ok(None);
            };
            let expired = now - session.last_seen_at > idle_ms || now - session.created_at > max_ms;
            if expired || user.status == Status::Suspended {
                accounts::delete_session(conn, &hash)?;
                return Ok(None);
            }
            if now - session.last_seen_at > TOUCH_EVERY_MS || session.ip != ip {
                accounts::touch_session(conn, &hash, &ip, now)?;
            }
            let banner = crate::db::notices::banner_for(conn, &user.id, now)?;
            Ok(Some((session, user, banner)))
        })
        .await?;
    Ok(found.map(|(session, user, banner)| SignedIn {
        user,
        banner,
        mfa_pending: session.mfa_pending,
        signed_in_at: session.created_at,
        session_id: session.id,
        csrf_token: session.csrf_token,
        token_hash,
        client,
    }))
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<SignedIn, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let next = match req.uri().path_and_query() {
                Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_owned(),
                _ => "/dashboard".to_owned(),
            };
            let signed_in = load(req.clone()).await?.ok_or(WebError::SignIn { next })?;
            let path = req.path();
            if signed_in.mfa_pending && path != SECOND_FACTOR_PATH && path != "/logout" {
                return Err(WebError::Redirect(SECOND_FACTOR_PATH.to_owned()));
            }
            if signed_in.user.status == Status::Pending && path != "/pending" && path != "/logout" {
                return Err(WebError::Redirect("/pending".to_owned()));
            }
            Ok(signed_in)
        })
    }
}

/// The signed-in administrator of a request. Anyone else, signed in or not, gets the site's 404:
/// the admin pages do not admit that they exist.
pub struct Admin(pub SignedIn);

impl FromRequest for Admin {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match load(req).await? {
                Some(s)
                    if !s.mfa_pending
                        && s.user.role == crate::db::accounts::Role::Admin
                        && s.user.status == Status::Active =>
                {
                    Ok(Admin(s))
                }
                _ => Err(WebError::NotFound),
            }
        })
    }
}

impl FromRequest for MaybeSignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<MaybeSignedIn, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        // Half a sign-in (second factor due) does not count as signed in here.
        Box::pin(async move { Ok(MaybeSignedIn(load(req).await?.filter(|s| !s.mfa_pending))) })
    }
}

/// The signed-in page a form was sent from, from this site's own `Referer`: the path of a
/// dashboard or console page, or else the dashboard. Never anywhere else.
pub fn back_to_page(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_owned())
        .filter(|p| p.starts_with("/dashboard") || p.starts_with("/admin"))
        .unwrap_or_else(|| "/dashboard".to_owned())
}

/// Only paths inside this site are followed after sign-in: `/x`, never `//host` or `https://…`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn redirects_stay_on_the_site() {
        assert_eq!(safe_next(Some("/dashboard/keys")), "/dashboard/keys");
        for bad in [
            "//evil.test",
            "https://evil.test",
            "/\\evil.test",
            "evil",
            "/\nx",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad}");
        }
        assert_eq!(safe_next(None), "/dashboard");
    }
}
