//! `/admin/audit`: every admin action — who, what, to whom, when, from where, before and after —
//! filtered, paged and exported as CSV.

use actix_web::{HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, DAY_MS, day_param};
use crate::clock::format_ms;
use crate::db::audit::{self as repo, Query, Row};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/audit", web::get().to(audit))
        .route("/admin/audit.csv", web::get().to(audit_csv));
}

/// Rows on one page.
const PAGE_SIZE: i64 = 100;
/// Rows one export holds at most; narrow the filter for more.
const EXPORT_ROWS: i64 = 100_000;

#[derive(Deserialize, Default, Clone)]
pub(super) struct AuditQuery {
    #[serde(default)]
    action: String,
    /// An admin's email address, or `cli` or `system`.
    #[serde(default)]
    actor: String,
    /// The email address of the account acted on.
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

impl AuditQuery {
    /// The stored filter: addresses become account ids; an address no account has matches
    /// nothing.
    async fn resolve(&self, state: &AppState) -> Result<Query, WebError> {
        let from = day_param("from", &self.from)?;
        let to = day_param("to", &self.to)?.map(|d| d + DAY_MS);
        let (actor, target) = (self.actor.trim().to_owned(), self.target.trim().to_owned());
        let (actor, target) = state
            .db
            .run(move |conn| {
                let id_of = |email: &str| -> Result<Option<String>, crate::db::DbError> {
                    if email.is_empty() {
                        return Ok(None);
                    }
                    if matches!(email, "cli" | "system" | "owner") {
                        return Ok(Some(email.to_owned()));
                    }
                    Ok(Some(
                        crate::db::billing::user_id_by_email(conn, email)?
                            .unwrap_or_else(|| format!("no account: {email}")),
                    ))
                };
                Ok((id_of(&actor)?, id_of(&target)?))
            })
            .await?;
        Ok(Query {
            action: Some(self.action.trim().to_owned()).filter(|a| !a.is_empty()),
            actor,
            target,
            from,
            to,
        })
    }

    fn link(&self, path: &str, before: Option<i64>) -> String {
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("action", &self.action),
            ("actor", &self.actor),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                link.append_pair(name, value);
            }
        }
        if let Some(before) = before {
            link.append_pair("before", &before.to_string());
        }
        format!("{path}?{}", link.finish())
    }
}

/// One row as people read it.
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

impl From<Row> for AuditView {
    fn from(row: Row) -> AuditView {
        AuditView {
            at: format_ms(row.at),
            actor: row.actor_email.or(row.actor).unwrap_or_default(),
            action: row.action,
            // An erased account's rows name it as such (the erasure rewrites its id).
            target: row.target_email.or(row.target).unwrap_or_default(),
            detail: row.detail.unwrap_or_default(),
            ip: row.ip.unwrap_or_default(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    console: Console,
    query: AuditQuery,
    actions: Vec<String>,
    rows: Vec<AuditView>,
    older: Option<String>,
    csv: String,
}

/// `GET /admin/audit`: the audit log, newest first, a hundred rows to a page.
async fn audit(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<AuditPage, WebError> {
    let query = query.into_inner();
    let filter = query.resolve(&state).await?;
    let before = query.before;
    let (rows, actions) = state
        .db
        .run(move |conn| {
            Ok((
                repo::list(conn, &filter, before, PAGE_SIZE)?,
                repo::actions(conn)?,
            ))
        })
        .await?;
    let older = (rows.len() == usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX))
        .then(|| rows.last().map(|r| query.link("/admin/audit", Some(r.id))))
        .flatten();
    Ok(AuditPage {
        layout: super::layout(&state, "Audit log"),
        console: Console::new(&state, &admin.0, "audit"),
        csv: query.link("/admin/audit.csv", None),
        rows: rows.into_iter().map(AuditView::from).collect(),
        older,
        actions,
        query,
    })
}

/// `GET /admin/audit.csv`: the rows the filter matches, newest first, as CSV.
async fn audit_csv(
    state: web::Data<AppState>,
    _admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    use crate::csv;
    let filter = query.resolve(&state).await?;
    let rows = state
        .db
        .run(move |conn| repo::list(conn, &filter, None, EXPORT_ROWS))
        .await?;
    let mut out = String::new();
    csv::record(
        &mut out,
        ["time_utc", "actor", "action", "target", "detail", "ip"],
    );
    for row in rows.into_iter().map(AuditView::from) {
        csv::record(
            &mut out,
            [
                row.at.as_str(),
                &csv::text(&row.actor),
                &csv::text(&row.action),
                &csv::text(&row.target),
                &csv::text(&row.detail),
                &row.ip,
            ],
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit-log.csv\"",
        ))
        .body(out))
}
