//! The public site: landing, pricing (from the rate cards), docs, privacy policy, terms, contact,
//! health checks and the 404 page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::assets;
use crate::setup::{ExampleModels, Naming, PLACEHOLDER_KEY, Snippets, snippets};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/pricing", web::get().to(pricing))
        .route("/docs", web::get().to(docs))
        .route("/contact", web::get().to(contact))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/robots.txt", web::get().to(robots))
        .route("/csp-report", web::post().to(csp_report))
        .route("/assets/{name:.+}", web::get().to(assets::serve));
}

/// What every page's frame shows.
pub struct Layout {
    pub site_name: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    pub title: String,
    pub css_url: String,
    pub js_url: String,
    pub icon_url: String,
    /// Whether the header offers the dashboard instead of signing in.
    pub signed_in: bool,
    /// Whether anyone may ask for an account here (any sign-up mode but `closed`).
    pub signup_open: bool,
}

impl Layout {
    pub fn new(state: &AppState, nav: &'static str, title: &str) -> Layout {
        let site_name = state.config().site.name.clone();
        let title = if title.is_empty() {
            site_name.clone()
        } else {
            format!("{title} · {site_name}")
        };
        Layout {
            site_name,
            nav,
            title,
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
            icon_url: assets::url("favicon.svg"),
            signed_in: false,
            signup_open: state.config().accounts.signup != crate::config::SignupMode::Closed,
        }
    }

    pub fn signed_in(mut self) -> Layout {
        self.signed_in = true;
        self
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
struct IndexPage {
    layout: Layout,
    model_count: usize,
    /// The billing mode: the page only promises a wallet when there is one.
    mode: &'static str,
    /// The sign-up credit, when sign-up is open and gives one.
    credit: Option<String>,
}

async fn index(state: web::Data<AppState>) -> impl Responder {
    IndexPage {
        layout: Layout::new(&state, "home", ""),
        model_count: state.config().models.len(),
        mode: state.config().billing.mode.name(),
        credit: super::account::signup_credit(&state)
            .filter(|_| state.config().accounts.signup != crate::config::SignupMode::Closed),
    }
}

/// One row of the pricing table, amounts already written for people.
pub struct PriceRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub input: String,
    pub cached_input: String,
    pub cache_creation: String,
    pub output: String,
    /// Set when reasoning tokens are priced apart from other output.
    pub reasoning: Option<String>,
    /// Set when requests carry a fee on top of their tokens.
    pub request_fee: Option<String>,
}

/// A tier's limits, written for people.
pub struct TierRow {
    pub name: String,
    pub requests_per_minute: String,
    pub tokens_per_minute: String,
    pub concurrent: String,
    pub monthly_cap: String,
    pub discount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pricing.html")]
struct PricingPage {
    layout: Layout,
    currency: String,
    rows: Vec<PriceRow>,
    mode: &'static str,
    /// Users can buy credit by card.
    topups: bool,
    tiers: Vec<TierRow>,
}

async fn pricing(state: web::Data<AppState>) -> impl Responder {
    let currency = state.config().billing.currency.clone();
    let rows = state
        .config()
        .models
        .iter()
        .map(|m| {
            let card = crate::billing::RateCard::of(&m.price);
            PriceRow {
                id: m.id.clone(),
                name: m.name().to_owned(),
                description: m.description.clone().unwrap_or_default(),
                input: card.input.display_in(&currency),
                cached_input: card.cached_input.display_in(&currency),
                cache_creation: card.cache_creation.display_in(&currency),
                output: card.output.display_in(&currency),
                reasoning: (card.reasoning != card.output)
                    .then(|| card.reasoning.display_in(&currency)),
                request_fee: (card.request_fee > crate::money::Money::ZERO)
                    .then(|| card.request_fee.display_in(&currency)),
            }
        })
        .collect();
    let limit = |v: Option<u32>| {
        v.map_or_else(
            || "No limit".to_owned(),
            |v| super::charts::group_digits(i64::from(v)),
        )
    };
    let tiers = state
        .config()
        .tiers
        .iter()
        .map(|t| {
            let full = crate::money::MICROS_PER_UNIT;
            let multiplier = t.price_multiplier.micros();
            TierRow {
                name: t.name.clone(),
                requests_per_minute: limit(t.requests_per_minute),
                tokens_per_minute: limit(t.tokens_per_minute),
                concurrent: limit(t.concurrent_requests),
                monthly_cap: t
                    .monthly_spend_cap
                    .map_or_else(|| "No cap".to_owned(), |c| c.amount_in(&currency)),
                discount: match multiplier.cmp(&full) {
                    std::cmp::Ordering::Equal => "List prices".to_owned(),
                    std::cmp::Ordering::Less => {
                        format!("{}% off", percent(full - multiplier))
                    }
                    std::cmp::Ordering::Greater => {
                        format!("{}% surcharge", percent(multiplier - full))
                    }
                },
            }
        })
        .collect();
    PricingPage {
        layout: Layout::new(&state, "pricing", "Pricing"),
        currency,
        rows,
        mode: state.config().billing.mode.name(),
        topups: state.config().stripe.enabled(),
        tiers,
    }
}

/// A fraction in millionths as a percentage, without trailing zeros (`20`, `12.5`).
fn percent(millionths: i64) -> String {
    let text = crate::money::Money::from_micros(millionths * 100).to_decimal_string();
    match text.split_once('.') {
        Some((whole, fraction)) if fraction.trim_end_matches('0').is_empty() => whole.to_owned(),
        Some((whole, fraction)) => format!("{whole}.{}", fraction.trim_end_matches('0')),
        None => text,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "docs.html")]
struct DocsPage {
    layout: Layout,
    base: String,
    model: String,
    setup: Snippets,
    policies: Vec<PolicyTable>,
}

/// One pair's field policy, as the docs page shows it.
struct PolicyTable {
    id: String,
    title: String,
    rows: Vec<PolicyRow>,
}

struct PolicyRow {
    field: &'static str,
    policy: &'static str,
    badge: &'static str,
    note: &'static str,
}

/// A table's rules as the page lists them: mapped fields, then carried, dropped, refused.
fn policy_order(
    rules: &'static [crate::translate::policy::Rule],
) -> impl Iterator<Item = &'static crate::translate::policy::Rule> {
    use crate::translate::policy::Policy;
    let rank = |policy: &Policy| match policy {
        Policy::Map => 0,
        Policy::Carry => 1,
        Policy::Drop => 2,
        Policy::Refuse(_) => 3,
    };
    let mut sorted: Vec<_> = rules.iter().collect();
    sorted.sort_by_key(|r| rank(&r.policy));
    sorted.into_iter()
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The translation tables, straight from the translator.
fn policy_tables() -> Vec<PolicyTable> {
    use crate::translate::policy::{Policy, pairs};
    pairs()
        .iter()
        .map(|pair| PolicyTable {
            id: format!(
                "policy-{}-{}",
                format!("{:?}", pair.client).to_lowercase(),
                format!("{:?}", pair.provider).to_lowercase()
            ),
            title: capitalized(&format!(
                "{} client → {} provider",
                pair.client.label(),
                pair.provider.label()
            )),
            rows: policy_order(pair.rules)
                .map(|rule| PolicyRow {
                    field: rule.field,
                    policy: rule.policy.name(),
                    badge: match rule.policy {
                        Policy::Carry => "badge badge-ok",
                        Policy::Map => "badge badge-accent",
                        Policy::Drop => "badge",
                        Policy::Refuse(_) => "badge badge-danger",
                    },
                    note: rule.note,
                })
                .collect(),
        })
        .collect()
}

async fn docs(state: web::Data<AppState>) -> impl Responder {
    let models = ExampleModels::from_config(&state.config());
    DocsPage {
        layout: Layout::new(&state, "docs", "Docs"),
        base: state.public_url.to_string(),
        setup: snippets(
            &state.public_url,
            PLACEHOLDER_KEY,
            &Naming::for_site(&state.config().site.name),
            &models,
        ),
        model: models.openai,
        policies: policy_tables(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "contact.html")]
struct ContactPage {
    layout: Layout,
    operator: String,
    contact_email: Option<String>,
}

async fn contact(state: web::Data<AppState>) -> impl Responder {
    ContactPage {
        layout: Layout::new(&state, "contact", "Contact"),
        operator: state.config().site.operator_name().to_owned(),
        contact_email: state.config().site.contact_email.clone(),
    }
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    layout: Layout,
}

/// The 404 page for any path no route matches.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    not_found_response(&req)
}

pub fn not_found_response(req: &HttpRequest) -> HttpResponse {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return HttpResponse::NotFound().finish();
    };
    let page = NotFoundPage {
        layout: Layout::new(state, "", "Not found"),
    };
    match page.render() {
        Ok(html) => HttpResponse::build(StatusCode::NOT_FOUND)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body("ok\n")
}

/// Ready when the database answers a query; the body also says when the retention job last ran.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let answer = state
        .db
        .run(|conn| {
            crate::db::ping(conn)?;
            crate::privacy::retention::last_run(conn)
        })
        .await;
    let (status, body) = match answer {
        Ok(last) => (
            StatusCode::OK,
            match last {
                Some(report) => format!(
                    "ready\nretention job: last run {}, {} rows deleted or shortened\n",
                    crate::clock::format_ms(report.at),
                    report.rows_touched()
                ),
                None => "ready\nretention job: not run yet\n".to_owned(),
            },
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable\n".to_owned(),
        ),
    };
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .body(body)
}

async fn robots() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("User-agent: *\nDisallow: /dashboard\nDisallow: /admin\nDisallow: /v1/\n")
}

/// Browsers report Content-Security-Policy violations here. Only the violated directive and the
/// origin of the blocked resource are logged: enough to spot a broken page or an injection attempt.
async fn csp_report(body: web::Bytes) -> HttpResponse {
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // `application/csp-report` wraps it in "csp-report"; the Reporting API sends a list of reports.
    let report = report
        .get("csp-report")
        .or_else(|| report.get(0).and_then(|r| r.get("body")))
        .unwrap_or(&report);
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| report.get(*n).and_then(|v| v.as_str()))
            .unwrap_or("-")
            .to_owned()
    };
    let directive = field(&[
        "effective-directive",
        "effectiveDirective",
        "violated-directive",
    ]);
    let blocked = field(&["blocked-uri", "blockedURL"]);
    // Anyone can post a report: only an origin or a short keyword of a safe alphabet reaches the
    // log, never the text as sent, and at most a few lines a minute.
    let blocked_origin = url::Url::parse(&blocked)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|origin| origin != "null")
        .unwrap_or_else(|| keyword(&blocked));
    if csp_reports_allowed() {
        tracing::info!(
            "content security policy blocked {blocked_origin:.100} ({})",
            keyword(&directive)
        );
    }
    HttpResponse::NoContent().finish()
}

/// A word of a CSP report (`script-src-elem`, `inline`, `eval`) as it is, or `other`.
/// The directives a report may name, and the words browsers use for what is not a URL.
const CSP_WORDS: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "require-trusted-types-for",
    "trusted-types",
    "inline",
    "eval",
    "wasm-eval",
    "self",
    "data",
    "blob",
    "trusted-types-policy",
    "trusted-types-sink",
];

/// A word of [`CSP_WORDS`] as it is, anything else as "other": whoever posts a report chooses
/// its text, and only words of the standard's own vocabulary reach the log.
fn keyword(text: &str) -> String {
    if CSP_WORDS.contains(&text) {
        text.to_owned()
    } else {
        "other".to_owned()
    }
}

/// CSP reports logged per minute, at most.
const CSP_REPORTS_PER_MINUTE: u64 = 30;

/// Whether another report may be logged this minute.
fn csp_reports_allowed() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WINDOW: AtomicU64 = AtomicU64::new(0);
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let minute = crate::clock::now_ms().max(0) as u64 / 60_000;
    if WINDOW.swap(minute, Ordering::Relaxed) != minute {
        COUNT.store(0, Ordering::Relaxed);
    }
    COUNT.fetch_add(1, Ordering::Relaxed) < CSP_REPORTS_PER_MINUTE
}

#[cfg(test)]
mod tests {
    use super::{keyword, percent};

    #[test]
    fn report_words_reach_the_log_only_when_they_are_words() {
        assert_eq!(keyword("script-src-elem"), "script-src-elem");
        assert_eq!(keyword("inline"), "inline");
        assert_eq!(keyword("x\nforged log line"), "other");
        assert_eq!(keyword(&"a".repeat(41)), "other");
        assert_eq!(
            keyword("CANARY1234"),
            "other",
            "a word of the sender's choosing"
        );
        assert_eq!(keyword(""), "other");
    }

    #[test]
    fn percentages_drop_trailing_zeros() {
        assert_eq!(percent(200_000), "20");
        assert_eq!(percent(125_000), "12.5");
        assert_eq!(percent(1_234), "0.1234");
    }
}
