//! `/admin/flags`: what needs an admin's attention.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::{AppState, Console};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/flags", web::get().to(flags));
}

/// One flag, written for people.
pub struct FlagRow {
    pub at: String,
    pub account: String,
    pub kind: String,
    pub reference: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/flags.html")]
struct FlagsPage {
    layout: Layout,
    console: Console,
    rows: Vec<FlagRow>,
}

/// `GET /admin/flags`: what needs an admin's attention (disputed payments, payments that did not
/// match their checkout), newest first.
async fn flags(state: web::Data<AppState>, Admin(signed_in): Admin) -> Result<FlagsPage, WebError> {
    let flags = state
        .db
        .run(|conn| crate::db::billing::open_flags(conn, 200))
        .await?;
    let rows = flags
        .into_iter()
        .map(|f| FlagRow {
            at: crate::clock::format_ms(f.at),
            account: f.email.unwrap_or_else(|| "—".to_owned()),
            kind: f.kind.replace('_', " "),
            reference: f.reference.unwrap_or_default(),
            detail: f.detail,
        })
        .collect();
    Ok(FlagsPage {
        layout: super::layout(&state, "Flags"),
        console: Console::new(&state, &signed_in, "flags"),
        rows,
    })
}
