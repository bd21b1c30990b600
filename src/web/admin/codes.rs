//! `/admin/codes`: redemption codes (credit a user adds to their own wallet) and invites (for
//! sign-up by invitation). A new code is shown once, on the page its form returns; only its hash
//! is kept.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, DAY_MS, Posted, posted};
use crate::clock::format_ms;
use crate::db::audit;
use crate::money::Money;
use crate::web::account::form_error;
use crate::web::dashboard::render_with;
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/codes", web::get().to(list))
        .route("/admin/codes", web::post().to(create_code))
        .route("/admin/invites", web::post().to(create_invite));
}

/// Uses and days a form may ask for at most.
const MAX_USES: u32 = 100_000;
const MAX_DAYS: u32 = 3_650;

pub struct CodeView {
    pub amount: String,
    pub uses: String,
    pub expires: String,
    pub created_by: String,
    pub created: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/codes.html")]
struct CodesPage {
    layout: Layout,
    console: Console,
    codes: Vec<CodeView>,
    invites: (i64, i64),
    invite_mode: bool,
    currency: String,
    /// A code or invite just made, shown this once: what it is and the secret.
    made: Option<(&'static str, String)>,
    error: Option<(&'static str, String)>,
}

impl CodesPage {
    fn error_for(&self, form: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| *f == form)
            .map(|(_, m)| m.as_str())
    }
}

async fn page(
    state: &AppState,
    admin: &Admin,
    made: Option<(&'static str, String)>,
    error: Option<(&'static str, String)>,
) -> Result<CodesPage, WebError> {
    let now = crate::db::now_ms();
    let (codes, invites) = state
        .db
        .run(move |conn| {
            Ok((
                crate::db::billing::list_codes(conn, 100)?,
                crate::db::accounts::invites_in_force(conn, now)?,
            ))
        })
        .await?;
    let currency = state.config().billing.currency.clone();
    Ok(CodesPage {
        layout: super::layout(state, "Codes and invites"),
        console: Console::new(state, &admin.0, "codes"),
        codes: codes
            .into_iter()
            .map(|c| CodeView {
                amount: Money::from_micros(c.amount).amount_in(&currency),
                uses: format!("{} of {}", c.uses, c.max_uses),
                expires: match c.expires_at {
                    Some(at) if at <= now => format!("expired {}", format_ms(at)),
                    Some(at) => format_ms(at),
                    None => "never".to_owned(),
                },
                created_by: c.created_by,
                created: format_ms(c.created_at),
            })
            .collect(),
        invites,
        invite_mode: state.config().accounts.signup == crate::config::SignupMode::Invite,
        currency,
        made,
        error,
    })
}

/// `GET /admin/codes`.
async fn list(state: web::Data<AppState>, admin: Admin) -> Result<CodesPage, WebError> {
    page(&state, &admin, None, None).await
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    uses: String,
    /// Days until it expires; empty for never.
    #[serde(default)]
    expires_in_days: String,
}

/// A whole number in `1..=max` from a form field, or the refusal naming the field.
fn number(field: &str, text: &str, max: u32) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{field}: a whole number from 1 to {max}.")),
    }
}

fn expiry(text: &str, now: i64) -> Result<Option<i64>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    number("expires_in_days", text, MAX_DAYS).map(|d| Some(now + i64::from(d) * DAY_MS))
}

/// The page a new secret is shown on: never cached, never kept in the history's cache.
fn show_once(page: CodesPage, req: &HttpRequest) -> HttpResponse {
    let mut res = render_with(page, req, actix_web::http::StatusCode::OK);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// `POST /admin/codes`: a new redemption code.
async fn create_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    form: Posted<CodeForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let now = crate::db::now_ms();
    let parsed = (|| {
        let amount: Money = form
            .amount
            .trim()
            .parse()
            .map_err(|_| "amount: an amount such as 10.00.".to_owned())?;
        Ok::<_, String>((
            amount,
            number("uses", &form.uses, MAX_USES)?,
            expiry(&form.expires_in_days, now)?,
        ))
    })();
    let (amount, uses, expires_at) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            let page = page(&state, &admin, None, Some(("code", message))).await?;
            return Ok(render_with(
                page,
                &req,
                actix_web::http::StatusCode::BAD_REQUEST,
            ));
        }
    };
    let (actor, ip) = (admin.0.user.id.clone(), admin.0.client.ip.to_string());
    let currency = state.config().billing.currency.clone();
    let made = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let code = crate::billing::service::create_code(
                &tx,
                &crate::billing::service::NewCode {
                    amount,
                    max_uses: uses,
                    expires_at,
                    created_by: actor.clone(),
                },
                now,
            );
            let Ok(code) = code else {
                return Ok(code);
            };
            let detail = format!("{} for {uses} uses", amount.display_in(&currency));
            audit::record(
                &tx,
                &audit::Entry {
                    at: now,
                    actor: &actor,
                    action: "code.create",
                    target: None,
                    detail: Some(&detail),
                    ip: Some(&ip),
                },
            )?;
            tx.commit()?;
            Ok(Ok(code))
        })
        .await?;
    match made {
        Ok(code) => Ok(show_once(
            page(&state, &admin, Some(("redemption code", code)), None).await?,
            &req,
        )),
        Err(e) => {
            let (message, status) = form_error(e.into())?;
            let page = page(&state, &admin, None, Some(("code", message))).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct InviteForm {
    csrf: String,
    #[serde(default)]
    uses: String,
    #[serde(default)]
    expires_in_days: String,
}

/// `POST /admin/invites`: a new invite code for sign-up.
async fn create_invite(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    form: Posted<InviteForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let now = crate::db::now_ms();
    let parsed = number("uses", &form.uses, MAX_USES)
        .and_then(|uses| Ok((uses, expiry(&form.expires_in_days, now)?)));
    let (uses, expires_at) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            let page = page(&state, &admin, None, Some(("invite", message))).await?;
            return Ok(render_with(
                page,
                &req,
                actix_web::http::StatusCode::BAD_REQUEST,
            ));
        }
    };
    let (actor, ip) = (admin.0.user.id.clone(), admin.0.client.ip.to_string());
    let code = crate::auth::token::short_code();
    let hash = crate::auth::token::sha256(&code);
    state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            crate::db::accounts::insert_invite(
                &tx,
                &hash,
                Some(&actor),
                i64::from(uses),
                expires_at,
                now,
            )?;
            audit::record(
                &tx,
                &audit::Entry {
                    at: now,
                    actor: &actor,
                    action: "invite.create",
                    target: None,
                    detail: Some(&format!("for {uses} sign-ups")),
                    ip: Some(&ip),
                },
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(show_once(
        page(&state, &admin, Some(("invite code", code)), None).await?,
        &req,
    ))
}
