//! `/admin/outbox`: the mail the server sent or is trying to send — recipient and subject only,
//! never a body — and a retry for mail that failed.

use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, Posted, posted};
use crate::clock::format_ms;
use crate::db::{audit, outbox};
use crate::web::dashboard::see_other;
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/outbox", web::get().to(list))
        .route("/admin/outbox/{id}/retry", web::post().to(retry));
}

/// Mails the page lists.
const SHOWN: i64 = 200;

pub struct MailRow {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub created: String,
    pub state: String,
    pub failed: bool,
    pub last_error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    layout: Layout,
    console: Console,
    failed_only: bool,
    standing: outbox::Standing,
    rows: Vec<MailRow>,
    retention_days: u32,
    notice: bool,
}

#[derive(Deserialize)]
pub(super) struct OutboxQuery {
    failed: Option<String>,
    retried: Option<String>,
}

/// `GET /admin/outbox`, `?failed=1` for the mail that did not go.
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<OutboxQuery>,
) -> Result<OutboxPage, WebError> {
    let failed_only = query.failed.is_some();
    let (standing, mails) = state
        .db
        .run(move |conn| {
            Ok((
                outbox::standing(conn)?,
                outbox::list(conn, failed_only, SHOWN)?,
            ))
        })
        .await?;
    let rows = mails
        .into_iter()
        .map(|m| MailRow {
            state: match (m.sent_at, m.given_up) {
                (Some(at), _) => format!("sent {}", format_ms(at)),
                (None, true) => format!("given up after {} attempts", m.attempts),
                (None, false) if m.attempts > 0 => format!("retrying ({} attempts)", m.attempts),
                (None, false) => "waiting".to_owned(),
            },
            failed: m.sent_at.is_none() && m.attempts > 0,
            id: m.id,
            to: m.to,
            subject: m.subject,
            created: format_ms(m.created_at),
            last_error: m.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(OutboxPage {
        layout: super::layout(&state, "Outbox"),
        console: Console::new(&state, &admin.0, "outbox"),
        failed_only,
        standing,
        rows,
        retention_days: state.config().privacy.outbox_retention_days,
        notice: query.retried.is_some(),
    })
}

/// `POST /admin/outbox/{id}/retry`: the mail is due again now, with its attempts counted anew.
async fn retry(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<i64>,
    form: Posted<crate::web::account::CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let (actor, ip) = (admin.0.user.id.clone(), admin.0.client.ip.to_string());
    let retried = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let retried = outbox::retry(&tx, id, crate::db::now_ms())?;
            if retried {
                audit::record(
                    &tx,
                    &audit::Entry {
                        at: crate::db::now_ms(),
                        actor: &actor,
                        action: "mail.retry",
                        target: None,
                        detail: Some(&format!("outbox mail {id}")),
                        ip: Some(&ip),
                    },
                )?;
            }
            tx.commit()?;
            Ok(retried)
        })
        .await?;
    if !retried {
        return Err(WebError::NotFound);
    }
    state.mailer.wake();
    Ok(see_other("/admin/outbox?failed=1&retried=1"))
}
