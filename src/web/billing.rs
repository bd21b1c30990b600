//! The billing pages: wallet balance, top-ups through Stripe Checkout and their receipts, the
//! transaction history (on the page and as CSV), redemption codes and the low-balance warning;
//! and the endpoint where Stripe delivers its webhooks.
//!
//! One module because the pages, the receipts and the webhook share one view of a payment and its
//! states.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::AppState;
use super::dashboard::{Dash, layout, render_with, see_other};
use super::error::WebError;
use super::session::SignedIn;
use super::site::Layout;
use crate::billing::service;
use crate::billing::stripe::StripeClient;
use crate::billing::topup::{self, Buyer, Handled, Shop, TopupError};
use crate::clock::format_ms;
use crate::config::{BillingMode, Config, ConfigError};
use crate::db::billing::{self as repo, Payment, PaymentStatus};
use crate::db::ledger::{self, LedgerRow};
use crate::mail::MailContext;
use crate::money::Money;

/// Where Stripe delivers events; the origin check exempts it.
pub const WEBHOOK_PATH: &str = "/stripe/webhook";
/// Stripe's events are a few kilobytes; this leaves room for large ones and no more.
const WEBHOOK_MAX_BYTES: usize = 256 * 1024;
/// Ledger rows per page of the history.
const HISTORY_PAGE: i64 = 25;
/// Payments listed on the billing page.
const PAYMENTS_SHOWN: i64 = 20;
/// Seconds between reloads of the page that waits for a payment to be confirmed.
const CONFIRM_REFRESH_SECS: u32 = 3;

/// The webhook's part of the OpenAPI description (`app` joins it to the API's).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(webhook),
    tags((name = "billing", description = "Stripe's deliveries of payment events")),
)]
pub struct WebhookApi;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard/billing", web::get().to(billing))
        .route(
            "/dashboard/billing/transactions.csv",
            web::get().to(transactions_csv),
        )
        .route("/dashboard/billing/topup", web::post().to(start_topup))
        .route("/dashboard/billing/topup/done", web::get().to(topup_done))
        .route(
            "/dashboard/billing/topup/cancelled",
            web::get().to(topup_cancelled),
        )
        .route("/dashboard/billing/receipts/{id}", web::get().to(receipt))
        .route("/dashboard/billing/redeem", web::post().to(redeem))
        .route("/dashboard/billing/alert", web::post().to(set_alert))
        .service(
            web::resource(WEBHOOK_PATH)
                .app_data(web::PayloadConfig::new(WEBHOOK_MAX_BYTES))
                .route(web::post().to(webhook)),
        );
}

/// The Stripe client for `AppState`, when `[stripe]` is configured.
pub fn stripe_client(config: &Config) -> Result<Option<StripeClient>, ConfigError> {
    let Some(key) = config.stripe.secret_key.as_ref() else {
        return Ok(None);
    };
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| ConfigError {
            key: Some("stripe".to_owned()),
            message: format!("cannot build the HTTP client for Stripe: {e}"),
        })?;
    Ok(Some(StripeClient::new(
        http,
        config.stripe.api_base.as_str(),
        key.expose(),
    )))
}

/// A balance, a limit or a payment, in whole cents.
fn money(state: &AppState, micros: i64) -> String {
    Money::from_micros(micros).amount_in(&state.config().billing.currency)
}

/// What requests cost, which may be less than a cent.
fn cost(state: &AppState, micros: i64) -> String {
    Money::from_micros(micros).cost_in(&state.config().billing.currency)
}

fn topups_open(state: &AppState) -> bool {
    state.config().billing.mode == BillingMode::Prepaid && state.stripe.is_some()
}

/// The origin of the payment pages Stripe sends people to: Checkout's own for the real API, the
/// API's origin for a stand-in (tests).
fn checkout_origin(config: &Config) -> String {
    let api = &config.stripe.api_base;
    if api.host_str() == Some("api.stripe.com") {
        "https://checkout.stripe.com".to_owned()
    } else {
        api.origin().ascii_serialization()
    }
}

/// The top-up form answers with a redirect to Stripe, and browsers check that redirect against
/// the submitting page's `form-action`: pages with the form allow Stripe's origin there too.
fn allow_checkout(state: &AppState, mut res: HttpResponse) -> HttpResponse {
    if !topups_open(state) {
        return res;
    }
    let policy = super::middleware::CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", checkout_origin(&state.config())),
    );
    if let Ok(value) = header::HeaderValue::from_str(&policy) {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    res
}

// ---------------------------------------------------------------- the billing page

pub struct PresetView {
    pub value: String,
    pub label: String,
}

pub struct PaymentView {
    pub id: String,
    pub created: String,
    pub amount: String,
    pub status: &'static str,
    /// `ok`, `warn` or `danger`, for the badge.
    pub tone: &'static str,
    pub refunded: Option<String>,
    pub disputed: bool,
    pub has_receipt: bool,
}

pub struct LedgerView {
    pub at: String,
    pub kind: &'static str,
    pub amount: String,
    pub credit: bool,
    pub balance_after: String,
    pub note: String,
}

/// The forms of the page as sent back after a mistake.
#[derive(Default)]
struct Forms {
    topup_error: Option<String>,
    topup_amount: String,
    redeem_error: Option<String>,
    redeem_code: String,
    alert_error: Option<String>,
    alert_value: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/billing.html")]
struct BillingPage {
    layout: Layout,
    dash: Dash,
    /// `prepaid`, `budget` or `off`.
    mode: &'static str,
    currency: String,
    notice: Option<String>,
    /// Who to ask for credit when cards are not taken here.
    operator: String,
    contact_email: Option<String>,
    balance: String,
    negative: bool,
    topups: bool,
    presets: Vec<PresetView>,
    topup_min: String,
    topup_min_label: String,
    topup_max_label: String,
    topup_error: Option<String>,
    topup_amount: String,
    redeem_error: Option<String>,
    redeem_code: String,
    alert_current: Option<String>,
    alert_value: String,
    alert_error: Option<String>,
    monthly_cap: Option<String>,
    month_spent: String,
    payments: Vec<PaymentView>,
    history: Vec<LedgerView>,
    /// Cursor of the next (older) page of the history.
    older: Option<i64>,
    /// Whether this is a later page of the history.
    paged: bool,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "topup" => "Top-up",
        "usage" => "API usage",
        "grant" => "Credit",
        "adjustment" => "Adjustment",
        "refund" => "Refund",
        "redemption" => "Code redeemed",
        _ => "Other",
    }
}

fn status_view(status: PaymentStatus) -> (&'static str, &'static str) {
    match status {
        PaymentStatus::Open => ("Not completed", "warn"),
        PaymentStatus::Paid => ("Paid", "ok"),
        PaymentStatus::Failed => ("Failed", "danger"),
        PaymentStatus::Expired => ("Expired", "warn"),
        PaymentStatus::Refunded => ("Refunded", "warn"),
        PaymentStatus::PartiallyRefunded => ("Partly refunded", "warn"),
    }
}

fn payment_view(state: &AppState, p: Payment) -> PaymentView {
    let (status, tone) = status_view(p.status);
    PaymentView {
        created: format_ms(p.created_at),
        amount: money(state, p.amount),
        status,
        tone,
        refunded: (p.refunded > 0).then(|| money(state, p.refunded)),
        disputed: p.disputed,
        has_receipt: p.paid_at.is_some(),
        id: p.id,
    }
}

fn notice_text(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "redeemed" => "The code was redeemed and the credit added to your balance.",
            "alert-set" => "The low-balance warning is saved.",
            "alert-off" => "The low-balance warning is off.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn billing_page(
    state: &AppState,
    signed_in: &SignedIn,
    before: Option<i64>,
    notice: Option<String>,
    forms: Forms,
) -> Result<BillingPage, WebError> {
    let user_id = signed_in.user.id.clone();
    let (wallet, payments, mut rows) = state
        .db
        .run(move |conn| {
            Ok((
                repo::wallet(conn, &user_id)?,
                repo::payments_for_user(conn, &user_id, PAYMENTS_SHOWN)?,
                ledger::for_user(conn, &user_id, before, HISTORY_PAGE + 1)?,
            ))
        })
        .await?;
    let older = if rows.len() as i64 > HISTORY_PAGE {
        rows.truncate(HISTORY_PAGE as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let config = &state.config();
    let billing = &config.billing;
    let currency = &billing.currency;
    let cap = config
        .tier(wallet.tier.as_deref())
        .monthly_cap(wallet.monthly_cap)
        .map(|c| money(state, c));
    let this_month = crate::billing::wallet::month_of(crate::db::now_ms());
    let month_spent = wallet.spent_in(this_month);
    let alert_current = wallet.low_balance_alert.map(|a| money(state, a));
    Ok(BillingPage {
        layout: layout(state, "Billing"),
        dash: Dash::new(state, signed_in, "billing"),
        mode: billing.mode.name(),
        currency: currency.clone(),
        notice,
        balance: money(state, wallet.balance),
        negative: wallet.balance < 0,
        topups: topups_open(state),
        operator: config.site.operator_name().to_owned(),
        contact_email: config.site.contact_email.clone(),
        presets: billing
            .topup_presets
            .iter()
            .map(|p| PresetView {
                value: p.to_decimal_string(),
                label: p.amount_in(currency),
            })
            .collect(),
        topup_min: billing.topup_min.to_decimal_string(),
        topup_min_label: billing.topup_min.amount_in(currency),
        topup_max_label: billing.topup_max.amount_in(currency),
        topup_error: forms.topup_error,
        topup_amount: forms.topup_amount,
        redeem_error: forms.redeem_error,
        redeem_code: forms.redeem_code,
        alert_value: forms.alert_value.unwrap_or_else(|| {
            wallet
                .low_balance_alert
                .map(|a| Money::from_micros(a).to_decimal_string())
                .unwrap_or_default()
        }),
        alert_current,
        alert_error: forms.alert_error,
        monthly_cap: cap,
        month_spent: cost(state, month_spent),
        payments: payments
            .into_iter()
            .map(|p| payment_view(state, p))
            .collect(),
        history: rows
            .into_iter()
            .map(|r| LedgerView {
                at: format_ms(r.at),
                kind: kind_label(&r.kind),
                amount: cost(state, r.amount),
                credit: r.amount > 0,
                balance_after: money(state, r.balance_after),
                note: r.note.unwrap_or_default(),
            })
            .collect(),
        older,
        paged: before.is_some(),
    })
}

#[derive(Deserialize)]
struct BillingQuery {
    before: Option<i64>,
    notice: Option<String>,
}

async fn billing(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    query: web::Query<BillingQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let page = billing_page(
        &state,
        &signed_in,
        query.before,
        notice_text(query.notice.as_deref()),
        Forms::default(),
    )
    .await?;
    Ok(allow_checkout(
        &state,
        render_with(page, &req, StatusCode::OK),
    ))
}

/// The page again with a form's error, answered with `status`.
async fn page_with_error(
    state: &AppState,
    req: &HttpRequest,
    signed_in: &SignedIn,
    forms: Forms,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let page = billing_page(state, signed_in, None, None, forms).await?;
    Ok(allow_checkout(state, render_with(page, req, status)))
}

// ---------------------------------------------------------------- top-ups

#[derive(Deserialize)]
struct TopupForm {
    csrf: String,
    #[serde(default)]
    amount: String,
}

async fn start_topup(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<TopupForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    let Some(stripe) = state.stripe.as_ref().filter(|_| topups_open(&state)) else {
        return Err(WebError::NotFound);
    };
    let form = form.into_inner();
    let retry = |message: &str| Forms {
        topup_error: Some(message.to_owned()),
        topup_amount: form.amount.clone(),
        ..Forms::default()
    };
    let result = match topup::parse_amount(&state.config().billing, &form.amount) {
        Ok(amount) => {
            let buyer = Buyer {
                user_id: &signed_in.user.id,
                email: &signed_in.user.email,
                public_url: &state.public_url,
            };
            topup::start(&state.db, stripe, &state.config().billing, &buyer, amount).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(url) => Ok(see_other(&url)),
        Err(TopupError::Invalid(message)) => {
            page_with_error(
                &state,
                &req,
                &signed_in,
                retry(&message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(TopupError::Stripe(e)) => {
            tracing::warn!("Stripe checkout could not be started: {e}");
            page_with_error(
                &state,
                &req,
                &signed_in,
                retry("The payment page could not be opened just now. Nothing was charged; please try again in a few minutes."),
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/topup_result.html")]
struct TopupResultPage {
    layout: Layout,
    dash: Dash,
    /// `pending`, `paid`, `failed` or `cancelled`.
    outcome: &'static str,
    amount: String,
    status: &'static str,
    receipt_id: Option<String>,
    session_id: String,
    refresh_secs: u32,
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    session_id: String,
}

/// Where Stripe sends the browser after paying. It only shows what the webhook has recorded:
/// coming back here credits nothing.
async fn topup_done(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let session_id = query.into_inner().session_id;
    let lookup = session_id.clone();
    let payment = state
        .db
        .run(move |conn| repo::payment_by_session(conn, &lookup))
        .await?
        .filter(|p| p.user_id.as_deref() == Some(signed_in.user.id.as_str()))
        .ok_or(WebError::NotFound)?;
    let outcome = match payment.status {
        PaymentStatus::Open => "pending",
        PaymentStatus::Failed | PaymentStatus::Expired => "failed",
        PaymentStatus::Paid | PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => "paid",
    };
    let page = TopupResultPage {
        layout: layout(&state, "Payment"),
        dash: Dash::new(&state, &signed_in, "billing"),
        outcome,
        amount: money(&state, payment.amount),
        status: status_view(payment.status).0,
        receipt_id: payment.paid_at.map(|_| payment.id.clone()),
        session_id,
        refresh_secs: CONFIRM_REFRESH_SECS,
    };
    let mut res = render_with(page, &req, StatusCode::OK);
    if outcome == "pending" {
        // Reload until the webhook has been handled; a header, so no script is needed.
        if let Ok(value) = header::HeaderValue::from_str(&CONFIRM_REFRESH_SECS.to_string()) {
            res.headers_mut()
                .insert(header::HeaderName::from_static("refresh"), value);
        }
    }
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

async fn topup_cancelled(state: web::Data<AppState>, signed_in: SignedIn) -> TopupResultPage {
    TopupResultPage {
        layout: layout(&state, "Payment cancelled"),
        dash: Dash::new(&state, &signed_in, "billing"),
        outcome: "cancelled",
        amount: String::new(),
        status: "",
        receipt_id: None,
        session_id: String::new(),
        refresh_secs: 0,
    }
}

// ---------------------------------------------------------------- receipts

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/receipt.html")]
struct ReceiptPage {
    layout: Layout,
    dash: Dash,
    site_name: String,
    public_url: String,
    contact_email: Option<String>,
    id: String,
    paid_at: String,
    amount: String,
    currency: String,
    status: &'static str,
    refunded: Option<String>,
    stripe_reference: Option<String>,
    name: String,
    email: String,
}

async fn receipt(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<ReceiptPage, WebError> {
    let id = path.into_inner();
    let payment = state
        .db
        .run(move |conn| repo::payment(conn, &id))
        .await?
        .filter(|p| p.user_id.as_deref() == Some(signed_in.user.id.as_str()))
        .ok_or(WebError::NotFound)?;
    let Some(paid_at) = payment.paid_at else {
        return Err(WebError::NotFound);
    };
    Ok(ReceiptPage {
        layout: layout(&state, "Receipt"),
        dash: Dash::new(&state, &signed_in, "billing"),
        site_name: state.config().site.name.clone(),
        public_url: state.public_url.to_string(),
        contact_email: state.config().site.contact_email.clone(),
        paid_at: format_ms(paid_at),
        amount: money(&state, payment.amount),
        currency: payment.currency.clone(),
        status: status_view(payment.status).0,
        refunded: (payment.refunded > 0).then(|| money(&state, payment.refunded)),
        stripe_reference: payment.payment_intent.clone(),
        name: signed_in.user.name.clone(),
        email: signed_in.user.email.clone(),
        id: payment.id,
    })
}

// ---------------------------------------------------------------- CSV export

/// One CSV field. Free text (`text`) that a spreadsheet would run as a formula gets a leading
/// apostrophe.
fn csv_field(out: &mut String, value: &str, text: bool) {
    if text {
        crate::csv::field(out, &crate::csv::text(value));
    } else {
        crate::csv::field(out, value);
    }
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The whole ledger as CSV, newest first: one line per row, amounts as decimal strings.
pub fn ledger_csv(rows: &[LedgerRow], currency: &str) -> String {
    let mut out = String::from("date,kind,amount,balance_after,currency,reference,note\r\n");
    for row in rows {
        csv_field(&mut out, &rfc3339(row.at), false);
        out.push(',');
        csv_field(&mut out, &row.kind, false);
        out.push(',');
        csv_field(
            &mut out,
            &Money::from_micros(row.amount).to_decimal_string(),
            false,
        );
        out.push(',');
        csv_field(
            &mut out,
            &Money::from_micros(row.balance_after).to_decimal_string(),
            false,
        );
        out.push(',');
        csv_field(&mut out, currency, false);
        out.push(',');
        csv_field(&mut out, row.reference.as_deref().unwrap_or_default(), true);
        out.push(',');
        csv_field(&mut out, row.note.as_deref().unwrap_or_default(), true);
        out.push_str("\r\n");
    }
    out
}

async fn transactions_csv(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let user_id = signed_in.user.id.clone();
    let rows = state
        .db
        .run(move |conn| {
            let mut all = Vec::new();
            let mut before = None;
            loop {
                let page = ledger::for_user(conn, &user_id, before, 1000)?;
                let Some(last) = page.last() else { break };
                before = Some(last.id);
                all.extend(page);
            }
            Ok(all)
        })
        .await?;
    let body = ledger_csv(&rows, &state.config().billing.currency);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"transactions.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

// ---------------------------------------------------------------- codes and warnings

#[derive(Deserialize)]
struct RedeemForm {
    csrf: String,
    #[serde(default)]
    code: String,
}

async fn redeem(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<RedeemForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    if state.config().billing.mode != BillingMode::Prepaid {
        return Err(WebError::NotFound);
    }
    let form = form.into_inner();
    let retry = |message: String| Forms {
        redeem_error: Some(message),
        redeem_code: form.code.clone(),
        ..Forms::default()
    };
    if form.code.trim().is_empty() {
        return page_with_error(
            &state,
            &req,
            &signed_in,
            retry("Enter the code you were given.".to_owned()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // Guessing codes costs a lockout after a few misses, as guessing passwords does.
    let throttle_key = format!("redeem:{}", signed_in.user.id);
    let attempt = match state.account_throttle.attempt(&throttle_key) {
        Ok(attempt) => attempt,
        Err(wait) => {
            let message = format!(
                "Too many codes that did not work. Wait {} seconds and try again.",
                wait.as_secs().max(1)
            );
            return page_with_error(
                &state,
                &req,
                &signed_in,
                retry(message),
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await;
        }
    };
    let (user_id, code) = (signed_in.user.id.clone(), form.code.clone());
    let result = state
        .db
        .run(move |conn| Ok(service::redeem(conn, &user_id, &code, crate::db::now_ms())))
        .await?;
    match result {
        Ok(_) => {
            attempt.succeeded();
            Ok(see_other("/dashboard/billing?notice=redeemed"))
        }
        Err(service::BillingError::Invalid(message)) => {
            drop(attempt);
            page_with_error(
                &state,
                &req,
                &signed_in,
                retry(message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct AlertForm {
    csrf: String,
    #[serde(default)]
    threshold: String,
    /// Present when the "Turn off" button was used.
    #[serde(default)]
    off: Option<String>,
}

async fn set_alert(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<AlertForm>,
) -> Result<HttpResponse, WebError> {
    signed_in.check_csrf(&form.csrf)?;
    if state.config().billing.mode != BillingMode::Prepaid {
        return Err(WebError::NotFound);
    }
    let form = form.into_inner();
    let text = form.threshold.trim();
    let threshold = if form.off.is_some() || text.is_empty() {
        None
    } else {
        match text.parse::<Money>() {
            Ok(amount) => Some(amount),
            Err(_) => {
                let forms = Forms {
                    alert_error: Some(format!(
                        "\"{text}\" is not an amount. Write it like 5 or 12.50."
                    )),
                    alert_value: Some(form.threshold.clone()),
                    ..Forms::default()
                };
                return page_with_error(&state, &req, &signed_in, forms, StatusCode::BAD_REQUEST)
                    .await;
            }
        }
    };
    let user_id = signed_in.user.id.clone();
    let result = state
        .db
        .run(move |conn| Ok(service::set_low_balance_alert(conn, &user_id, threshold)))
        .await?;
    match result {
        Ok(()) if threshold.is_some() => Ok(see_other("/dashboard/billing?notice=alert-set")),
        Ok(()) => Ok(see_other("/dashboard/billing?notice=alert-off")),
        Err(service::BillingError::Invalid(message)) => {
            let forms = Forms {
                alert_error: Some(message),
                alert_value: Some(form.threshold),
                ..Forms::default()
            };
            page_with_error(&state, &req, &signed_in, forms, StatusCode::BAD_REQUEST).await
        }
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------- the webhook

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(format!("{text}\n"))
}

/// Stripe's webhook.
///
/// 400 for anything not signed with our secret (nothing changes); 200 for every verified event,
/// handled or not ours, so Stripe stops sending it; 500 only when the database failed, so Stripe
/// tries again later. The body is never logged.
#[utoipa::path(
    post,
    path = "/stripe/webhook",
    tag = "billing",
    operation_id = "stripeWebhook",
    params(("stripe-signature" = String, Header, description = "Stripe's signature of the body with the webhook secret")),
    request_body(content = serde_json::Value, content_type = "application/json", description = "A Stripe event"),
    responses(
        (status = 200, description = "A verified event, handled now or before, or not one of ours", body = String, content_type = "text/plain"),
        (status = 400, description = "Not signed with this server's webhook secret, or not an event; nothing changed", body = String, content_type = "text/plain"),
        (status = 404, description = "Stripe is not configured on this server", body = String, content_type = "text/plain"),
        (status = 413, description = "The body is over 256 KiB", body = String, content_type = "text/plain"),
        (status = 500, description = "The database failed; Stripe sends the event again later", body = String, content_type = "text/plain"),
    ),
    security(()),
)]
async fn webhook(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let config = state.config();
    let Some(secret) = config
        .stripe
        .webhook_secret
        .as_ref()
        .filter(|_| state.stripe.is_some())
    else {
        return plain(StatusCode::NOT_FOUND, "Stripe is not configured here.");
    };
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now_secs = crate::db::now_ms() / 1000;
    let event = match topup::verify(
        signature,
        &body,
        secret.expose(),
        state.config().stripe.webhook_tolerance_secs,
        now_secs,
    ) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!("Stripe webhook refused: {e}");
            return plain(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let event_id = event.id.clone();
    let (site_name, public_url, contact, currency) = (
        state.config().site.name.clone(),
        state.public_url.to_string(),
        state.config().site.contact_email.clone(),
        state.config().billing.currency.clone(),
    );
    let handled = state
        .db
        .run(move |conn| {
            let shop = Shop {
                currency: &currency,
                mail: MailContext {
                    site_name: &site_name,
                    public_url: &public_url,
                    contact_email: contact.as_deref(),
                },
            };
            topup::apply(conn, &event, &shop, crate::db::now_ms())
        })
        .await;
    match handled {
        Ok(Handled::Duplicate) => {
            tracing::info!("Stripe event {event_id} was handled before");
            plain(StatusCode::OK, "already handled")
        }
        Ok(Handled::Done { mail }) => {
            if mail {
                state.mailer.wake();
            }
            plain(StatusCode::OK, "ok")
        }
        Err(e) => {
            tracing::error!("Stripe event {event_id} could not be handled: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "temporary failure; please retry",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let rows = vec![
            LedgerRow {
                id: 2,
                at: 1_700_000_000_000,
                kind: "usage".to_owned(),
                amount: -1_250,
                balance_after: 98_750,
                reference: Some("42".to_owned()),
                note: Some("said \"hi\", then\nleft".to_owned()),
            },
            LedgerRow {
                id: 1,
                at: 1_600_000_000_000,
                kind: "grant".to_owned(),
                amount: 100_000,
                balance_after: 100_000,
                reference: None,
                note: Some("=cmd()".to_owned()),
            },
        ];
        let csv = ledger_csv(&rows, "USD");
        assert_eq!(
            csv,
            "date,kind,amount,balance_after,currency,reference,note\r\n\
             2023-11-14T22:13:20Z,usage,-0.00125,0.09875,USD,42,\"said \"\"hi\"\", then\nleft\"\r\n\
             2020-09-13T12:26:40Z,grant,0.10,0.10,USD,,'=cmd()\r\n"
        );
    }
}
