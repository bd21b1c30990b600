//! `/admin/flags`: what needs an admin's attention (the abuse rules' flags with their evidence,
//! disputed and mismatched payments), resolving a flag with a note, and the blocklist of
//! networks.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console};
use crate::abuse::blocklist::{self, BlockRequest};
use crate::abuse::rules::Rule;
use crate::abuse::{self, AbuseError};
use crate::accounts::moderation::By;
use crate::clock::format_ms;
use crate::db::abuse as repo;
use crate::db::now_ms;
use crate::web::error::WebError;
use crate::web::session::{Admin, SignedIn};
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/flags", web::get().to(flags))
        .route("/admin/flags/{id}/resolve", web::post().to(resolve))
        .route("/admin/blocklist", web::post().to(block))
        .route("/admin/blocklist/{id}/remove", web::post().to(unblock));
}

/// Resolved flags listed below the open ones: those of the last 30 days.
const RESOLVED_SHOWN_MS: i64 = 30 * 86_400_000;

/// One flag, written for people.
pub struct FlagRow {
    pub id: i64,
    pub at: String,
    pub account: String,
    pub what: String,
    pub reference: String,
    pub detail: String,
    pub evidence: abuse::Evidence,
    /// What the server did on its own.
    pub action: String,
    /// The network a "block" link fills in, for flags about one.
    pub network: Option<String>,
    pub resolved: String,
    pub resolved_by: String,
    pub resolution: String,
}

fn flag_row(flag: repo::Flag) -> FlagRow {
    let rule = Rule::from_kind(&flag.kind);
    let network = matches!(
        rule,
        Some(Rule::SigninFailuresNetwork | Rule::SignupsNetwork)
    )
    .then(|| flag.reference.clone())
    .flatten();
    // A key's or account's id says nothing to a person; the evidence names the key.
    let reference = match rule {
        Some(Rule::Dispute) | None => flag.reference.clone().unwrap_or_default(),
        Some(_) => String::new(),
    };
    FlagRow {
        id: flag.id,
        at: format_ms(flag.at),
        account: flag.email.unwrap_or_else(|| "—".to_owned()),
        what: rule.map_or_else(|| flag.kind.replace('_', " "), |r| r.label().to_owned()),
        reference,
        detail: flag.detail,
        evidence: abuse::evidence_of(flag.evidence.as_deref()),
        action: flag.action.unwrap_or_default(),
        network,
        resolved: flag.resolved_at.map(format_ms).unwrap_or_default(),
        resolved_by: flag.resolved_by.unwrap_or_else(|| "—".to_owned()),
        resolution: flag.resolution.unwrap_or_default(),
    }
}

/// One blocklist entry, written for people.
pub struct BlockRow {
    pub id: String,
    pub network: String,
    pub reason: String,
    pub by: String,
    pub created: String,
    pub expires: String,
    pub expired: bool,
}

/// What the forms on the page were sent with, and why they were refused.
#[derive(Default)]
pub struct Forms {
    pub notice: Option<String>,
    /// The flag whose note was refused, and why.
    pub note_error: Option<(i64, String)>,
    pub note: String,
    pub block_error: Option<(&'static str, String)>,
    pub network: String,
    pub expires_in_hours: String,
    pub reason: String,
}

impl Forms {
    /// The refusal at a field of the blocklist form.
    pub fn block_error_at(&self, field: &str) -> Option<&str> {
        self.block_error
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn note_error_for(&self, id: &i64) -> Option<&str> {
        self.note_error
            .as_ref()
            .filter(|(f, _)| f == id)
            .map(|(_, m)| m.as_str())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/flags.html")]
struct FlagsPage {
    layout: Layout,
    console: Console,
    open: Vec<FlagRow>,
    resolved: Vec<FlagRow>,
    blocked: Vec<BlockRow>,
    stripe: bool,
    /// "60 seconds".
    scan_every: String,
    forms: Forms,
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    done: String,
    /// A network to fill into the blocklist form.
    #[serde(default)]
    block: String,
}

async fn page(state: &AppState, signed_in: &SignedIn, forms: Forms) -> Result<FlagsPage, WebError> {
    let now = now_ms();
    let (open, resolved, blocked) = state
        .db
        .run(move |conn| {
            Ok((
                repo::open_flags(conn, 200)?,
                repo::resolved_flags(conn, now - RESOLVED_SHOWN_MS)?,
                repo::blocklist(conn)?,
            ))
        })
        .await?;
    let blocked = blocked
        .into_iter()
        .map(|b| BlockRow {
            expired: b.expires_at.is_some_and(|at| at <= now),
            expires: b.expires_at.map_or_else(|| "Never".to_owned(), format_ms),
            id: b.id,
            network: b.network,
            reason: b.reason,
            by: b.created_by.unwrap_or_else(|| "—".to_owned()),
            created: format_ms(b.created_at),
        })
        .collect();
    Ok(FlagsPage {
        layout: super::layout(state, "Flags"),
        console: Console::new(state, signed_in, "flags"),
        open: open.into_iter().map(flag_row).collect(),
        resolved: resolved.into_iter().map(flag_row).collect(),
        blocked,
        stripe: state.stripe.is_some(),
        scan_every: crate::abuse::rules::count(state.config().abuse.scan_every_secs, "second"),
        forms,
    })
}

/// `GET /admin/flags`: open flags newest first, recently resolved ones, and the blocklist.
async fn flags(
    state: web::Data<AppState>,
    Admin(signed_in): Admin,
    query: web::Query<PageQuery>,
) -> Result<FlagsPage, WebError> {
    let notice = match query.done.as_str() {
        "resolved" => Some("The flag is resolved.".to_owned()),
        "blocked" => Some("The network is blocked.".to_owned()),
        "unblocked" => Some("The network is no longer blocked.".to_owned()),
        _ => None,
    };
    let network = blocklist::parse_network(&query.block)
        .map(|n| n.to_string())
        .unwrap_or_default();
    let forms = Forms {
        notice,
        network,
        ..Forms::default()
    };
    page(&state, &signed_in, forms).await
}

fn by<'a>(signed_in: &'a SignedIn, ip: &'a str) -> By<'a> {
    By {
        actor: &signed_in.user.id,
        ip: Some(ip),
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

fn refused(page: FlagsPage, req: &HttpRequest) -> HttpResponse {
    let mut res = page.respond_to(req).map_into_boxed_body();
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res
}

#[derive(Deserialize)]
struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /admin/flags/{id}/resolve`.
async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    Admin(signed_in): Admin,
    path: web::Path<String>,
    form: web::Form<ResolveForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let id: i64 = path.parse().map_err(|_| WebError::NotFound)?;
    let (user_id, ip, note) = (
        signed_in.user.id.clone(),
        signed_in.client.ip.to_string(),
        form.note.clone(),
    );
    let result = state
        .db
        .run(move |conn| {
            let by = By {
                actor: &user_id,
                ip: Some(&ip),
            };
            Ok(abuse::resolve(conn, id, &note, by))
        })
        .await?;
    match result {
        Ok(()) => Ok(see_other("/admin/flags?done=resolved")),
        Err(AbuseError::Invalid { message, .. }) => {
            let forms = Forms {
                note_error: Some((id, message)),
                note: form.note.clone(),
                ..Forms::default()
            };
            Ok(refused(page(&state, &signed_in, forms).await?, &req))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct BlockForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    network: String,
    #[serde(default)]
    expires_in_hours: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/blocklist`: blocks a network, for a number of hours or until removed.
async fn block(
    state: web::Data<AppState>,
    req: HttpRequest,
    Admin(signed_in): Admin,
    form: web::Form<BlockForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let (db_state, sent) = (state.clone(), signed_in.clone());
    let (network, expires, reason) = (
        form.network.clone(),
        form.expires_in_hours.clone(),
        form.reason.clone(),
    );
    let result = state
        .db
        .run(move |conn| {
            let ip = sent.client.ip.to_string();
            let request = BlockRequest {
                network: &network,
                expires_in_hours: &expires,
                reason: &reason,
                own_address: Some(sent.client.ip),
            };
            Ok(blocklist::block(
                conn,
                &db_state.blocklist,
                &request,
                by(&sent, &ip),
            ))
        })
        .await?;
    match result {
        Ok(_) => Ok(see_other("/admin/flags?done=blocked#blocklist")),
        Err(AbuseError::Invalid { field, message }) => {
            let forms = Forms {
                block_error: Some((field, message)),
                network: form.network,
                expires_in_hours: form.expires_in_hours,
                reason: form.reason,
                ..Forms::default()
            };
            Ok(refused(page(&state, &signed_in, forms).await?, &req))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/blocklist/{id}/remove`.
async fn unblock(
    state: web::Data<AppState>,
    Admin(signed_in): Admin,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let (db_state, sent, id) = (state.clone(), signed_in.clone(), path.into_inner());
    state
        .db
        .run(move |conn| {
            let ip = sent.client.ip.to_string();
            Ok(blocklist::unblock(
                conn,
                &db_state.blocklist,
                &id,
                by(&sent, &ip),
            ))
        })
        .await??;
    Ok(see_other("/admin/flags?done=unblocked#blocklist"))
}
