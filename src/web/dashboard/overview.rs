//! The dashboard's first page: balance, this month's figures and the latest requests.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use crate::clock::format_ms;
use crate::db::accounts as repo;
use crate::money::Money;
use crate::web::AppState;
use crate::web::error::WebError;
use crate::web::session::SignedIn;
use crate::web::site::Layout;

use super::keys::key_status;
use super::{Dash, layout};

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/overview.html")]
pub(super) struct OverviewPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) active_keys: usize,
    pub(super) currency: String,
    pub(super) recent: Vec<RequestView>,
    /// "prepaid", "budget" or "off".
    pub(super) mode: &'static str,
    /// The balance (prepaid) or this month's spend (budget), written for people.
    pub(super) wallet: String,
    pub(super) overdrawn: bool,
    /// Said to a new account on its first look: signed in, and its sign-up credit.
    pub(super) welcome: Option<String>,
}

#[derive(serde::Deserialize)]
pub(super) struct OverviewQuery {
    #[serde(default)]
    welcome: Option<String>,
}

/// One API request as the overview lists it: metadata only.
pub struct RequestView {
    pub at: String,
    pub endpoint: &'static str,
    pub model: String,
    pub status: u16,
    pub ok: bool,
    pub outcome: &'static str,
    pub streamed: bool,
    pub input: i64,
    pub output: i64,
    pub latency: String,
    pub cost: String,
}

/// Requests shown on the overview.
pub(super) const RECENT_REQUESTS: i64 = 20;

pub(super) async fn overview(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    query: web::Query<OverviewQuery>,
) -> Result<OverviewPage, WebError> {
    let user_id = signed_in.user.id.clone();
    let now = crate::db::now_ms();
    let month = crate::billing::wallet::month_of(now);
    let (keys, recent, (balance, month_spent)) = state
        .db
        .run(move |conn| {
            let wallet = crate::db::billing::wallet(conn, &user_id)?;
            let figures = (wallet.balance, wallet.spent_in(month));
            Ok((
                repo::list_keys(conn, &user_id)?,
                crate::db::usage::recent_for_user(conn, &user_id, RECENT_REQUESTS)?,
                figures,
            ))
        })
        .await?;
    let mode = state.config().billing.mode;
    let currency = &state.config().billing.currency;
    let recent = recent
        .into_iter()
        .map(|r| RequestView {
            at: format_ms(r.at),
            endpoint: r.endpoint.as_str(),
            model: r.model.unwrap_or_default(),
            status: r.status,
            ok: (200..300).contains(&r.status),
            outcome: r.outcome.as_str(),
            streamed: r.streamed,
            input: r.input_tokens,
            output: r.output_tokens,
            latency: format!("{} ms", r.latency_ms),
            cost: Money::from_micros(r.cost).cost_in(currency),
        })
        .collect();
    Ok(OverviewPage {
        recent,
        layout: layout(&state, "Dashboard"),
        dash: Dash::new(&state, &signed_in, "overview"),
        active_keys: keys
            .iter()
            .filter(|k| key_status(k, now) == "active")
            .count(),
        currency: state.config().billing.currency.clone(),
        mode: mode.name(),
        wallet: match mode {
            crate::config::BillingMode::Prepaid => Money::from_micros(balance).amount_in(currency),
            _ => Money::from_micros(month_spent).cost_in(currency),
        },
        overdrawn: mode == crate::config::BillingMode::Prepaid && balance < 0,
        welcome: query.welcome.is_some().then(|| {
            let site = &state.config().site.name;
            match crate::web::account::signup_credit(&state) {
                Some(credit) => format!(
                    "Welcome to {site}: your account is ready and starts with {credit} of credit."
                ),
                None => format!("Welcome to {site}: your account is ready."),
            }
        }),
    })
}
