//! Privacy: what is stored about the user (read from the schema), a copy of it all (JSON and a
//! readable page), the restriction of processing, and deleting the account.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use crate::accounts::{self, Actor};
use crate::clock::format_ms;
use crate::db::privacy as repo;
use crate::web::AppState;
use crate::web::account::{MessagePage, form_error, user_agent};
use crate::web::error::WebError;
use crate::web::session::{self, SignedIn};
use crate::web::site::Layout;

use super::profile::NoticeQuery;
use super::{Dash, Refusal, layout, render_with, see_other};

/// Rows of one table the readable page shows; the download has them all.
const ROWS_SHOWN: usize = 200;

pub struct StoredView {
    pub name: String,
    pub about: String,
    /// Column names, a withheld one with what it holds instead.
    pub columns: Vec<(String, Option<&'static str>)>,
    pub rows: i64,
    pub on_erase: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/privacy.html")]
pub(super) struct PrivacyPage {
    layout: Layout,
    dash: Dash,
    notice: Option<&'static str>,
    refusal: Option<Refusal>,
    stored: Vec<StoredView>,
    restricted_since: Option<String>,
    deleted: String,
    kept: String,
}

async fn privacy_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<&'static str>,
    refusal: Option<Refusal>,
) -> Result<PrivacyPage, WebError> {
    let stored = accounts::what_is_stored(&state.accounts).await?;
    let (deleted, kept) = accounts::erasure_summary(&stored);
    let (user_id, email) = (signed_in.user.id.clone(), signed_in.user.email.clone());
    let counts = state
        .db
        .run(move |conn| repo::personal_counts(conn, &user_id, &email))
        .await?;
    let stored = stored
        .into_iter()
        .map(|s| {
            let rows = counts
                .iter()
                .find(|(t, _)| t.name == s.table.name)
                .map_or(0, |(_, n)| *n);
            StoredView {
                columns: s
                    .table
                    .columns
                    .iter()
                    .map(|c| (c.clone(), s.table.withheld(c)))
                    .collect(),
                name: s.table.name,
                about: s.table.about,
                rows,
                on_erase: s.on_erase,
            }
        })
        .collect();
    Ok(PrivacyPage {
        layout: layout(state, "Privacy"),
        dash: Dash::new(state, signed_in, "privacy"),
        notice,
        refusal,
        stored,
        restricted_since: signed_in.user.restricted_at.map(format_ms),
        deleted,
        kept,
    })
}

fn privacy_notice(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "restricted" => Some(
            "Processing is restricted: your page views are not counted and no non-essential mail goes to you.",
        ),
        "lifted" => Some("The restriction is lifted."),
        _ => None,
    }
}

pub(super) async fn privacy(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<NoticeQuery>,
) -> Result<PrivacyPage, WebError> {
    privacy_page(
        &state,
        &signed_in,
        privacy_notice(query.notice.as_deref()),
        None,
    )
    .await
}

/// The download: one JSON file with everything stored about the account.
pub(super) async fn export_json(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let export = accounts::export(&state.accounts, &signed_in.user).await?;
    export_download(&state, &export, "my-data")
}

/// A copy of an account's data as a JSON file to download, named `<prefix>-<day>.json`: the
/// owner's own, or the one an admin takes for them.
pub(crate) fn export_download(
    state: &AppState,
    export: &accounts::Export,
    prefix: &str,
) -> Result<HttpResponse, WebError> {
    let body = serde_json::to_vec_pretty(&export.to_json(&state.config().site.name))
        .map_err(|e| WebError::Internal(format!("cannot write the export: {e}")))?;
    let day = format_ms(export.generated_at)
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{prefix}-{day}.json\""),
        ))
        .body(body))
}

pub struct TableView {
    pub name: String,
    pub about: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub more: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/my_data.html")]
pub(super) struct MyDataPage {
    layout: Layout,
    dash: Dash,
    generated: String,
    tables: Vec<TableView>,
}

/// The same data as the download, as a page to read.
pub(super) async fn export_page(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<MyDataPage, WebError> {
    let export = accounts::export(&state.accounts, &signed_in.user).await?;
    let tables = export
        .tables
        .iter()
        .map(|part| {
            let table = &part.table;
            let shown: Vec<usize> = (0..table.columns.len())
                .filter(|i| table.withheld(&table.columns[*i]).is_none())
                .collect();
            TableView {
                name: table.name.clone(),
                about: table.about.clone(),
                columns: shown.iter().map(|i| table.columns[*i].clone()).collect(),
                rows: part
                    .rows
                    .iter()
                    .take(ROWS_SHOWN)
                    .map(|row| {
                        shown
                            .iter()
                            .map(|i| cell(&table.columns[*i], row[*i].as_ref()))
                            .collect()
                    })
                    .collect(),
                more: part.rows.len().saturating_sub(ROWS_SHOWN),
            }
        })
        .collect();
    Ok(MyDataPage {
        layout: layout(&state, "Your data"),
        dash: Dash::new(&state, &signed_in, "privacy"),
        generated: format_ms(export.generated_at),
        tables,
    })
}

/// A value as the page shows it; times (columns named `at` or `…_at`) as dates.
fn cell(column: &str, value: Option<&serde_json::Value>) -> String {
    let is_time = column == "at" || column.ends_with("_at");
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::Number(n)) if is_time => {
            n.as_i64().map_or_else(String::new, format_ms)
        }
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[derive(Deserialize)]
pub(super) struct RestrictForm {
    csrf: String,
    /// "on" or "off".
    restrict: String,
}

pub(super) async fn restrict(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<RestrictForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let on = match form.restrict.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return Err(WebError::BadRequest(
                "restrict: expected on or off".to_owned(),
            ));
        }
    };
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    accounts::set_restricted(&state.accounts, &signed_in.user, on, &actor).await?;
    Ok(see_other(if on {
        "/dashboard/privacy?notice=restricted"
    } else {
        "/dashboard/privacy?notice=lifted"
    }))
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    csrf: String,
    password: String,
    #[serde(default)]
    code: String,
}

pub(super) async fn delete_account(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    match accounts::erase_own_account(
        &state.accounts,
        &signed_in.user,
        form.password,
        &form.code,
        &signed_in.client,
        &actor,
    )
    .await
    {
        Ok(_) => {
            let page = MessagePage::new(
                &state,
                "Your account is deleted",
                "Your sessions and API keys no longer work, and your personal data is gone. A last email confirms what was deleted and what was kept for accounting.",
                true,
                ("/", "Home"),
            );
            let mut res = render_with(page, &req, actix_web::http::StatusCode::OK);
            res.add_cookie(&session::removal_cookie(signed_in.client.https))
                .map_err(|e| WebError::Internal(format!("cannot clear the cookie: {e}")))?;
            Ok(res)
        }
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page =
                privacy_page(&state, &signed_in, None, Refusal::at("delete", message)).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

/// The user acknowledged the policy version in force: the banner goes, and the browser returns
/// to the dashboard page it was on.
pub(super) async fn policy_seen(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<crate::web::account::CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    crate::privacy::policy::acknowledge(&state.db, &signed_in.user.id, &state.policy).await?;
    // Only the path of a signed-in page, taken from this site's own Referer: never elsewhere.
    let back = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| u.path().to_owned())
        .filter(|p| p.starts_with("/dashboard") || p.starts_with("/admin"))
        .unwrap_or_else(|| "/dashboard".to_owned());
    Ok(see_other(&back))
}
