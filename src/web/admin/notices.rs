//! `/admin/notices`: compose a technical or administrative notice — a dashboard banner, a mail
//! to the accounts of an audience, or both — and see the ones sent.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, Posted, posted};
use crate::accounts::moderation::By;
use crate::accounts::notices::{self, Draft};
use crate::clock::format_ms;
use crate::db::notices as repo;
use crate::web::account::form_error;
use crate::web::dashboard::{render_with, see_other};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/notices", web::get().to(list))
        .route("/admin/notices", web::post().to(send))
        .route("/admin/notices/{id}/end", web::post().to(end));
}

pub struct SentView {
    pub id: i64,
    pub at: String,
    pub author: String,
    pub kind: String,
    pub title: String,
    pub audience: String,
    pub banner: String,
    pub banner_on: bool,
    pub mailed: bool,
    pub dismissed: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/notices.html")]
struct NoticesPage {
    layout: Layout,
    console: Console,
    sent: Vec<SentView>,
    notice: Option<String>,
    error: Option<String>,
    draft: NoticeForm,
}

#[derive(Deserialize, Default)]
pub(super) struct NoticeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    banner_days: String,
    /// "on" when the mail box is ticked.
    #[serde(default)]
    mail: String,
}

async fn page(
    state: &AppState,
    admin: &Admin,
    notice: Option<String>,
    error: Option<String>,
    draft: NoticeForm,
) -> Result<NoticesPage, WebError> {
    let now = crate::db::now_ms();
    let sent = state
        .db
        .run(|conn| repo::recent(conn, 50))
        .await?
        .into_iter()
        .map(|s| SentView {
            id: s.id,
            at: format_ms(s.created_at),
            author: s.author.unwrap_or_default(),
            kind: s.kind,
            title: s.title,
            audience: s.audience,
            banner: match s.show_until {
                Some(until) if until > now => format!("until {}", format_ms(until)),
                Some(_) => "ended".to_owned(),
                None => "none".to_owned(),
            },
            banner_on: s.show_until.is_some_and(|until| until > now),
            mailed: s.mailed,
            dismissed: s.dismissed,
        })
        .collect();
    Ok(NoticesPage {
        layout: super::layout(state, "Notices"),
        console: Console::new(state, &admin.0, "notices"),
        sent,
        notice,
        error,
        draft,
    })
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    mailed: Option<usize>,
}

/// `GET /admin/notices`.
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<NoticesPage, WebError> {
    let notice = query.mailed.map(|n| {
        format!(
            "The notice is out; {n} mail{} queued.",
            if n == 1 { "" } else { "s" }
        )
    });
    let draft = NoticeForm {
        banner_days: "7".to_owned(),
        mail: "on".to_owned(),
        ..NoticeForm::default()
    };
    page(&state, &admin, notice, None, draft).await
}

/// `POST /admin/notices`: records the notice, shows its banner and queues its mails.
async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    form: Posted<NoticeForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let banner_days = match form.banner_days.trim() {
        "" => Ok(0),
        days => days.parse::<u32>(),
    };
    let sent = match banner_days {
        Err(_) => Err(crate::accounts::AccountError::Invalid(
            "banner: a number of days, 0 for no banner.".to_owned(),
        )),
        Ok(banner_days) => {
            let draft = Draft {
                kind: form.kind.clone(),
                audience: form.audience.clone(),
                title: form.title.clone(),
                body: form.body.clone(),
                banner_days,
                mail: form.mail == "on",
            };
            let (accounts, actor, ip) = (
                state.accounts.clone(),
                admin.0.user.id.clone(),
                admin.0.client.ip.to_string(),
            );
            state
                .db
                .run(move |conn| {
                    let by = By {
                        actor: &actor,
                        ip: Some(&ip),
                    };
                    Ok(notices::send(&accounts, conn, &draft, by))
                })
                .await?
        }
    };
    match sent {
        Ok(mailed) => Ok(see_other(&format!("/admin/notices?mailed={mailed}"))),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page = page(&state, &admin, None, Some(message), form).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

/// `POST /admin/notices/{id}/end`: the banner goes now.
async fn end(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<i64>,
    form: Posted<crate::web::account::CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    state
        .db
        .run(move |conn| repo::end_banner(conn, id, crate::db::now_ms()))
        .await?;
    Ok(see_other("/admin/notices"))
}
