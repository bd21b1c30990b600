//! The privacy policy and the terms: rendered once at start from Markdown with the config filled
//! in, the version in force at `/privacy` and `/terms`, earlier versions at `/privacy/{date}`
//! and `/terms/{date}`.

use actix_web::{Responder, web};
use askama::Template;
use askama_web::WebTemplate;

use super::AppState;
use super::assets;
use super::error::WebError;
use super::site::Layout;
use crate::config::{Config, ConfigError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/privacy", web::get().to(privacy))
        .route("/privacy/{date}", web::get().to(privacy_version))
        .route("/terms", web::get().to(terms))
        .route("/terms/{date}", web::get().to(terms_version));
}

/// Policy and terms, rendered to HTML once at start from Markdown with the config filled in.
pub struct Pages {
    pub privacy_html: String,
    pub terms_html: String,
}

impl Pages {
    pub fn render(config: &Config, public_url: &str) -> Result<Pages, ConfigError> {
        let load = |key: &str,
                    path: &Option<std::path::PathBuf>,
                    built_in: &str|
         -> Result<String, ConfigError> {
            match path {
                Some(path) => std::fs::read_to_string(path).map_err(|e| ConfigError {
                    key: Some(key.to_owned()),
                    message: format!("cannot read {}: {e}", path.display()),
                }),
                None => assets::Legal::get(built_in)
                    .and_then(|f| String::from_utf8(f.data.into_owned()).ok())
                    .ok_or_else(|| ConfigError {
                        key: Some(key.to_owned()),
                        message: format!("the built-in {built_in} is missing from this build"),
                    }),
            }
        };
        let privacy = load(
            "policy.privacy_path",
            &config.policy.privacy_path,
            "privacy.md",
        )?;
        let terms = load("policy.terms_path", &config.policy.terms_path, "terms.md")?;
        Ok(Pages {
            privacy_html: markdown_to_html(&fill_placeholders(&privacy, config, public_url)),
            terms_html: markdown_to_html(&fill_placeholders(&terms, config, public_url)),
        })
    }
}

/// Replaces `{{name}}` markers in policy text with values from the config.
pub fn fill_placeholders(text: &str, config: &Config, public_url: &str) -> String {
    let contact = config
        .site
        .contact_email
        .clone()
        .unwrap_or_else(|| "the contact address on our contact page".to_owned());
    let values = [
        ("site_name", config.site.name.clone()),
        ("operator", config.site.operator_name().to_owned()),
        ("contact_email", contact),
        ("effective_date", config.policy.effective_date.clone()),
        ("public_url", public_url.to_owned()),
        ("currency", config.billing.currency.clone()),
        (
            "metadata_retention_days",
            config.privacy.metadata_retention_days.to_string(),
        ),
        (
            "ip_retention_days",
            config.privacy.ip_retention_days.to_string(),
        ),
        (
            "outbox_retention_days",
            config.privacy.outbox_retention_days.to_string(),
        ),
        (
            "secret_guard",
            match config.privacy.secret_guard {
                crate::config::SecretGuard::Off => "Credentials that happen to be in your code (API keys, private keys, passwords) are forwarded as they are: this server does not look for them.".to_owned(),
                crate::config::SecretGuard::Redact => "Credentials the server recognises in your requests (cloud and API keys, tokens, private keys, passwords in connection strings) are replaced by a placeholder such as `[redacted:aws-access-token]` before the request goes to the provider. Only how often each kind was found is counted; the credentials themselves are not kept.".to_owned(),
                crate::config::SecretGuard::Block => "A request in which the server recognises a credential (a cloud or API key, a token, a private key, a password in a connection string) is refused and not sent to any provider; the error names the kind of credential, never the value. Only how often each kind was found is counted.".to_owned(),
            },
        ),
        (
            "erased_usage",
            match config.privacy.erased_usage {
                crate::config::ErasedUsage::Delete => "deleted too".to_owned(),
                crate::config::ErasedUsage::Anonymise => {
                    "kept for the service's totals, without your account, key or IP address"
                        .to_owned()
                }
            },
        ),
    ];
    let analytics_fields: Vec<String> = crate::privacy::analytics::STORED
        .iter()
        .map(|(field, what)| format!("- **{field}**: {what};"))
        .collect();
    let values = values.into_iter().chain([
        ("analytics_fields", analytics_fields.join("\n")),
        (
            "session_cookie",
            format!(
                "`{}` when the site is served over HTTPS, `{}` over plain HTTP",
                super::session::cookie_name(true),
                super::session::cookie_name(false)
            ),
        ),
    ]);
    values.fold(text.to_owned(), |acc, (name, value)| {
        acc.replace(&format!("{{{{{name}}}}}"), &value)
    })
}

fn markdown_to_html(markdown: &str) -> String {
    use pulldown_cmark::{Options, Parser, html};
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES,
    );
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "legal.html")]
struct LegalPage {
    layout: Layout,
    heading: &'static str,
    effective_date: String,
    html: String,
    /// `/privacy` or `/terms`, for the links to other versions.
    base: &'static str,
    /// Earlier versions' effective dates, newest first (on the current page).
    earlier: Vec<String>,
    /// On an earlier version's page: the date of the version in force.
    superseded_by: Option<String>,
}

/// Which of the two legal texts.
#[derive(Clone, Copy)]
enum Legal {
    Privacy,
    Terms,
}

impl Legal {
    fn heading(self) -> &'static str {
        match self {
            Legal::Privacy => "Privacy policy",
            Legal::Terms => "Terms of service",
        }
    }

    fn base(self) -> &'static str {
        match self {
            Legal::Privacy => "/privacy",
            Legal::Terms => "/terms",
        }
    }
}

fn current_legal(state: &AppState, which: Legal) -> LegalPage {
    LegalPage {
        layout: Layout::new(state, which.base().trim_start_matches('/'), which.heading()),
        heading: which.heading(),
        effective_date: state.policy.effective_date.clone(),
        html: match which {
            Legal::Privacy => state.pages.privacy_html.clone(),
            Legal::Terms => state.pages.terms_html.clone(),
        },
        base: which.base(),
        earlier: state
            .policy
            .earlier
            .iter()
            .map(|v| v.effective_date.clone())
            .collect(),
        superseded_by: None,
    }
}

async fn privacy(state: web::Data<AppState>) -> impl Responder {
    current_legal(&state, Legal::Privacy)
}

async fn terms(state: web::Data<AppState>) -> impl Responder {
    current_legal(&state, Legal::Terms)
}

/// An earlier version, at its stable address `/privacy/{date}` (or `/terms/{date}`).
async fn legal_version(
    state: &AppState,
    which: Legal,
    date: String,
) -> Result<LegalPage, WebError> {
    if date == state.policy.effective_date {
        return Ok(current_legal(state, which));
    }
    let lookup = date.clone();
    let texts = state
        .db
        .run(move |conn| crate::db::privacy::policy_text(conn, &lookup))
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(LegalPage {
        layout: Layout::new(state, which.base().trim_start_matches('/'), which.heading()),
        heading: which.heading(),
        html: match which {
            Legal::Privacy => texts.0,
            Legal::Terms => texts.1,
        },
        effective_date: date,
        base: which.base(),
        earlier: Vec::new(),
        superseded_by: Some(state.policy.effective_date.clone()),
    })
}

async fn privacy_version(
    state: web::Data<AppState>,
    date: web::Path<String>,
) -> Result<LegalPage, WebError> {
    legal_version(&state, Legal::Privacy, date.into_inner()).await
}

async fn terms_version(
    state: web::Data<AppState>,
    date: web::Path<String>,
) -> Result<LegalPage, WebError> {
    legal_version(&state, Legal::Terms, date.into_inner()).await
}
