//! API keys: the list, the form that creates one (shown once), and revocation.
//!
//! Creating a key answers with a redirect (Post/Redirect/Get), so that reloading the page that
//! shows the key cannot create another. The key waits for that next page in [`FreshKeys`]: in
//! memory, under the session that made it, for a few minutes, and is taken out when shown.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;

use crate::accounts::{self, AccountError, Actor, KeyRequest};
use crate::clock::format_ms;
use crate::db::accounts as repo;
use crate::money::Money;
use crate::setup::{ExampleModels, Naming, Snippets, snippets};
use crate::web::AppState;
use crate::web::account::{CsrfForm, user_agent};
use crate::web::error::WebError;
use crate::web::session::SignedIn;
use crate::web::site::Layout;

use super::{Dash, layout, render_with, see_other};

/// Where the page that shows a new key once lives.
pub(super) const NEW_KEY_PATH: &str = "/dashboard/keys/new";
/// How long a new key waits for its page.
const FRESH_KEY_TTL: Duration = Duration::from_secs(300);
/// The most keys waiting at once; the oldest goes first beyond it.
const FRESH_KEY_SLOTS: usize = 10_000;

/// A key just created, until the page after the form shows it.
struct FreshKey {
    name: String,
    key: String,
    /// The models the key was limited to (none: all), for the examples.
    models: Vec<String>,
    made: Instant,
}

/// New keys waiting for the one page that shows each, one slot per session. Only here, never in
/// the database, a URL or a log; gone when shown, when the session makes another, or after
/// [`FRESH_KEY_TTL`]. A server restart in between loses the key: the list shows it by its
/// prefix, to be revoked.
#[derive(Default)]
pub struct FreshKeys {
    slots: Mutex<HashMap<String, FreshKey>>,
}

impl FreshKeys {
    fn put(&self, session_id: &str, fresh: FreshKey) {
        // Nothing panics while holding the lock; were it poisoned, the map is still whole.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, f| f.made.elapsed() < FRESH_KEY_TTL);
        if slots.len() >= FRESH_KEY_SLOTS
            && let Some(oldest) = slots
                .iter()
                .min_by_key(|(_, f)| f.made)
                .map(|(id, _)| id.clone())
        {
            slots.remove(&oldest);
        }
        slots.insert(session_id.to_owned(), fresh);
    }

    fn take(&self, session_id: &str) -> Option<FreshKey> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .remove(session_id)
            .filter(|f| f.made.elapsed() < FRESH_KEY_TTL)
    }
}

pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub models: String,
    /// "$1.20 of $25.00", or what it spent when it has no limit.
    pub spend: String,
    /// Its own requests per minute ("30 requests/min"), if it has a limit of its own.
    pub requests_per_minute: Option<String>,
    /// "active", "expired" or "revoked".
    pub status: &'static str,
}

pub(super) fn key_status(key: &repo::KeyRow, now: i64) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

pub(super) fn key_view(state: &AppState, key: repo::KeyRow, now: i64) -> KeyView {
    KeyView {
        status: key_status(&key, now),
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        created: format_ms(key.created_at),
        last_used: key
            .last_used_at
            .map(format_ms)
            .unwrap_or_else(|| "Never".to_owned()),
        expires: key
            .expires_at
            .map(format_ms)
            .unwrap_or_else(|| "Never".to_owned()),
        models: key
            .models
            .map(|m| m.join(", "))
            .unwrap_or_else(|| "All models".to_owned()),
        spend: {
            let currency = &state.config().billing.currency;
            let spent = Money::from_micros(key.spent).cost_in(currency);
            match key.spend_limit {
                Some(limit) => format!(
                    "{spent} of {}",
                    Money::from_micros(limit).amount_in(currency)
                ),
                None => spent,
            }
        },
        requests_per_minute: key.requests_per_minute.map(|n| format!("{n} requests/min")),
    }
}

pub struct ModelChoice {
    pub id: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/keys.html")]
pub(super) struct KeysPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) keys: Vec<KeyView>,
    pub(super) models: Vec<ModelChoice>,
    pub(super) currency: String,
    /// Said above the list: a key's page was opened again, after it had shown the key.
    pub(super) notice: Option<String>,
    pub(super) error: Option<String>,
    pub(super) name: String,
    pub(super) expires_in_days: String,
    pub(super) spend_limit: String,
    pub(super) requests_per_minute: String,
}

pub(super) async fn keys_page(
    state: &AppState,
    signed_in: &SignedIn,
    error: Option<String>,
    form: Option<&KeyForm>,
) -> Result<KeysPage, WebError> {
    let user_id = signed_in.user.id.clone();
    let rows = state
        .db
        .run(move |conn| repo::list_keys(conn, &user_id))
        .await?;
    let now = crate::db::now_ms();
    let chosen: Vec<String> = form.map(|f| f.models()).unwrap_or_default();
    Ok(KeysPage {
        layout: layout(state, "API keys"),
        dash: Dash::new(state, signed_in, "keys"),
        keys: rows.into_iter().map(|k| key_view(state, k, now)).collect(),
        models: state
            .config()
            .models
            .iter()
            .map(|m| ModelChoice {
                id: m.id.clone(),
                name: m.name().to_owned(),
                checked: chosen.contains(&m.id),
            })
            .collect(),
        currency: state.config().billing.currency.clone(),
        notice: None,
        error,
        name: form.map(|f| f.name.clone()).unwrap_or_default(),
        expires_in_days: form.map(|f| f.expires_in_days.clone()).unwrap_or_default(),
        spend_limit: form.map(|f| f.spend_limit.clone()).unwrap_or_default(),
        requests_per_minute: form
            .map(|f| f.requests_per_minute.clone())
            .unwrap_or_default(),
    })
}

#[derive(serde::Deserialize)]
pub(super) struct KeysQuery {
    #[serde(default)]
    shown: Option<String>,
}

pub(super) async fn keys(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<KeysQuery>,
) -> Result<KeysPage, WebError> {
    let mut page = keys_page(&state, &signed_in, None, None).await?;
    if query.shown.is_some() {
        page.notice = Some(
            "A new key is shown only once, and that page has been shown. The key is in the list \
             by its first characters; if you did not copy it, revoke it and create another."
                .to_owned(),
        );
    }
    Ok(page)
}

/// The create-key form; `model` may repeat, so it is read from the raw pairs.
pub(super) struct KeyForm {
    pub(super) csrf: String,
    pub(super) name: String,
    pub(super) expires_in_days: String,
    pub(super) spend_limit: String,
    pub(super) requests_per_minute: String,
    pub(super) password: String,
    pub(super) pairs: Vec<(String, String)>,
}

impl KeyForm {
    pub(super) fn parse(body: &[u8]) -> KeyForm {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        KeyForm {
            csrf: get("csrf"),
            name: get("name"),
            expires_in_days: get("expires_in_days"),
            spend_limit: get("spend_limit"),
            requests_per_minute: get("requests_per_minute"),
            password: get("password"),
            pairs,
        }
    }

    pub(super) fn models(&self) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == "model")
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/key_created.html")]
pub(super) struct KeyCreatedPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) name: String,
    pub(super) key: String,
    pub(super) setup: Snippets,
}

pub(super) async fn create_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = KeyForm::parse(&body);
    signed_in.check_csrf(&form.csrf)?;
    let expires_in_days = match form.expires_in_days.trim() {
        "" | "never" => None,
        days => match days.parse::<u32>() {
            Ok(d) if (1..=3650).contains(&d) => Some(d),
            _ => {
                let page = keys_page(
                    &state,
                    &signed_in,
                    Some("Choose when the key expires.".to_owned()),
                    Some(&form),
                )
                .await?;
                return Ok(render_with(page, &req, StatusCode::BAD_REQUEST));
            }
        },
    };
    let request = KeyRequest {
        name: form.name.clone(),
        expires_in_days,
        models: form.models(),
        spend_limit: form.spend_limit.clone(),
        requests_per_minute: form.requests_per_minute.clone(),
    };
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    let proof = signed_in.proof(&form.password);
    match accounts::create_key(&state.accounts, &signed_in.user, request, &proof, &actor).await {
        Ok(created) => {
            state.fresh_keys.put(
                &signed_in.session_id,
                FreshKey {
                    name: form.name.trim().to_owned(),
                    key: created.key,
                    models: form.models(),
                    made: Instant::now(),
                },
            );
            Ok(see_other(NEW_KEY_PATH))
        }
        Err(AccountError::Invalid(message)) => {
            let page = keys_page(&state, &signed_in, Some(message), Some(&form)).await?;
            Ok(render_with(page, &req, StatusCode::BAD_REQUEST))
        }
        Err(e) => Err(e.into()),
    }
}

/// The page after the form: the new key, once. Opened again, it sends to the list.
pub(super) async fn new_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let Some(fresh) = state.fresh_keys.take(&signed_in.session_id) else {
        return Ok(see_other("/dashboard/keys?shown=1"));
    };
    let models = ExampleModels::among(&state.config(), &fresh.models);
    let page = KeyCreatedPage {
        layout: layout(&state, "Your new API key"),
        dash: Dash::new(&state, &signed_in, "keys"),
        setup: snippets(
            &state.public_url,
            &fresh.key,
            &Naming::for_site(&state.config().site.name),
            &models,
        ),
        name: fresh.name,
        key: fresh.key,
    };
    let mut res = render_with(page, &req, StatusCode::OK);
    // The key is shown this once: no cache may keep the page.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/revoke_key.html")]
pub(super) struct RevokeKeyPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) key: KeyView,
}

pub(super) async fn revoke_key_confirm(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<RevokeKeyPage, WebError> {
    let key = accounts::key_of_user(&state.accounts, &signed_in.user, path.into_inner()).await?;
    Ok(RevokeKeyPage {
        layout: layout(&state, "Revoke key"),
        dash: Dash::new(&state, &signed_in, "keys"),
        key: key_view(&state, key, crate::db::now_ms()),
    })
}

pub(super) async fn revoke_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let actor = Actor::new(&signed_in.client, &user_agent(&req));
    accounts::revoke_key(&state.accounts, &signed_in.user, path.into_inner(), &actor).await?;
    Ok(see_other("/dashboard/keys"))
}
