//! The admins' notices as account holders see them: the banner in the dashboard's frame, and
//! closing it.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::account::CsrfForm;
use super::dashboard::see_other;
use super::error::WebError;
use super::session::{SignedIn, back_to_page};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/notices/{id}/dismiss", web::post().to(dismiss));
}

/// `POST /dashboard/notices/{id}/dismiss`: the banner goes for this account; the browser returns
/// to the page it was on.
async fn dismiss(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let user = signed_in.user.id.clone();
    state
        .db
        .run(move |conn| crate::db::notices::dismiss(conn, id, &user, crate::db::now_ms()))
        .await?;
    Ok(see_other(&back_to_page(&req)))
}
