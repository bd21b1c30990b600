//! Operator settings: defaults, then the TOML file, then `CODEXAPI_<SECTION>__<KEY>` environment
//! variables (and `…_FILE` variables that name a file holding the value), validated before start.
//!
//! Every key is declared once below with its default; `config.example.toml` documents each one.
//! A bad setting stops the program with one line that names the key.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use figment::{Figment, Provider};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::money::Money;

/// Prefix of every environment variable the config reads.
pub const ENV_PREFIX: &str = "CODEXAPI_";
/// Environment variables with the prefix that are not config keys.
const ENV_NOT_KEYS: &[&str] = &["CONFIG"];
/// Suffix of an environment variable whose value is a path to a file holding the setting.
const FILE_SUFFIX: &str = "_FILE";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub site: SiteConfig,
    pub policy: PolicyConfig,
    pub privacy: PrivacyConfig,
    pub log: LogConfig,
    pub billing: BillingConfig,
    pub accounts: AccountsConfig,
    pub smtp: SmtpConfig,
    pub stripe: StripeConfig,
    pub gateway: GatewayConfig,
    pub tiers: Vec<TierConfig>,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port the server listens on.
    pub listen: SocketAddr,
    /// The URL people and programs use to reach this server; links in pages and mail use it.
    /// Defaults to the listen address.
    pub public_url: Option<Url>,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` and `X-Forwarded-Proto`
    /// are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// How long in-flight requests may run on after SIGTERM or SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Largest request body accepted by the site's forms, in bytes.
    pub max_body_bytes: usize,
    /// `Strict-Transport-Security` max-age sent on HTTPS responses; 0 sends none.
    pub hsts_max_age_secs: u64,
    pub tls: TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_timeout_secs: 30,
            max_body_bytes: 64 * 1024,
            hsts_max_age_secs: 365 * 24 * 3600,
            tls: TlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain; with `key`, the server speaks HTTPS.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key.
    pub key: Option<PathBuf>,
    /// Optional plain-HTTP listener that only redirects to the public HTTPS URL.
    pub redirect_http_listen: Option<SocketAddr>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Normal,
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The SQLite file; its folder is created when missing.
    pub path: PathBuf,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a query waits for a lock before failing.
    pub busy_timeout_ms: u64,
    /// SQLite's `synchronous`: `full` survives power loss, `normal` only a crash of the process.
    pub synchronous: Synchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: PathBuf::from("data/codexapi.db"),
            pool_size: 8,
            busy_timeout_ms: 5000,
            synchronous: Synchronous::Full,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// Name shown in pages, mail and the policy.
    pub name: String,
    /// Legal name of whoever runs this server (the data controller in the privacy policy).
    pub operator: Option<String>,
    /// Address for questions about privacy, billing and abuse.
    pub contact_email: Option<String>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            name: "CodexAPI".to_owned(),
            operator: None,
            contact_email: None,
        }
    }
}

impl SiteConfig {
    pub fn operator_name(&self) -> &str {
        self.operator.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Date the current privacy policy and terms took effect (YYYY-MM-DD).
    pub effective_date: String,
    /// Markdown file to use instead of the built-in privacy policy.
    pub privacy_path: Option<PathBuf>,
    /// Markdown file to use instead of the built-in terms of service.
    pub terms_path: Option<PathBuf>,
}

/// The date of the built-in policy text.
pub const BUILT_IN_POLICY_DATE: &str = "2026-11-27";

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            effective_date: BUILT_IN_POLICY_DATE.to_owned(),
            privacy_path: None,
            terms_path: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Days request metadata (usage rows) is kept.
    pub metadata_retention_days: u32,
    /// Days after which stored IP addresses are truncated (IPv4 to /24, IPv6 to /48).
    pub ip_retention_days: u32,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            metadata_retention_days: 365,
            ip_retention_days: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Log filter: a level (`info`) or per-target levels (`info,codexapi=debug`).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
        }
    }
}

/// How requests are paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingMode {
    /// Each account has a wallet; a request is served only if the wallet covers its worst case.
    Prepaid,
    /// No wallets: each account may spend up to a monthly cap set by an admin (or its tier).
    Budget,
    /// Usage is metered and priced, nothing is charged or refused for money.
    Off,
}

impl BillingMode {
    pub fn name(self) -> &'static str {
        match self {
            BillingMode::Prepaid => "prepaid",
            BillingMode::Budget => "budget",
            BillingMode::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    /// ISO 4217 code of the currency every amount is in.
    pub currency: String,
    pub mode: BillingMode,
    /// Credit every new account starts with (prepaid).
    pub signup_credit: Money,
    /// Output tokens reserved for a request that sets no output limit of its own, when its
    /// model sets no `max_output_tokens`.
    pub reserve_output_tokens: u64,
    /// The tier of accounts that have none of their own; must name one of `[[tiers]]` when
    /// tiers are configured.
    pub default_tier: String,
    /// Amounts offered on the top-up page.
    pub topup_presets: Vec<Money>,
    /// Bounds of a custom top-up amount.
    pub topup_min: Money,
    pub topup_max: Money,
}

impl BillingConfig {
    /// The credit a new account starts with: the sign-up credit, in prepaid mode.
    pub fn welcome_credit(&self) -> i64 {
        match self.mode {
            BillingMode::Prepaid => self.signup_credit.micros(),
            BillingMode::Budget | BillingMode::Off => 0,
        }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            currency: "USD".to_owned(),
            mode: BillingMode::Prepaid,
            signup_credit: Money::ZERO,
            reserve_output_tokens: 8192,
            default_tier: "default".to_owned(),
            topup_presets: ["10", "25", "50", "100"]
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            topup_min: Money::from_micros(5 * crate::money::MICROS_PER_UNIT),
            topup_max: Money::from_micros(1000 * crate::money::MICROS_PER_UNIT),
        }
    }
}

/// Stripe Checkout for top-ups; enabled when `secret_key` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeConfig {
    pub secret_key: Option<Secret>,
    /// The signing secret of the webhook endpoint (`whsec_…`).
    pub webhook_secret: Option<Secret>,
    /// Stripe's API; only tests point it elsewhere.
    pub api_base: Url,
    /// Webhooks signed longer ago than this are refused.
    pub webhook_tolerance_secs: u64,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            secret_key: None,
            webhook_secret: None,
            api_base: Url::parse("https://api.stripe.com").unwrap_or_else(|_| unreachable!()),
            webhook_tolerance_secs: 300,
        }
    }
}

impl StripeConfig {
    pub fn enabled(&self) -> bool {
        self.secret_key.is_some()
    }
}

/// A class of accounts and its fair-use limits. Unset limits do not apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub name: String,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    #[serde(default)]
    pub concurrent_requests: Option<u32>,
    #[serde(default)]
    pub monthly_spend_cap: Option<Money>,
    /// Multiplies every price for accounts of this tier ("0.8" is a 20 % discount).
    #[serde(default = "TierConfig::one")]
    pub price_multiplier: Money,
}

impl TierConfig {
    fn one() -> Money {
        Money::from_micros(crate::money::MICROS_PER_UNIT)
    }

    /// The monthly cap of an account in this tier: its own (`own`, set by an admin) over the
    /// tier's.
    pub fn monthly_cap(&self, own: Option<i64>) -> Option<i64> {
        own.or(self.monthly_spend_cap.map(Money::micros))
    }

    /// The tier used when none is configured: no limits, list prices.
    pub fn unlimited(name: &str) -> TierConfig {
        TierConfig {
            name: name.to_owned(),
            requests_per_minute: None,
            tokens_per_minute: None,
            concurrent_requests: None,
            monthly_spend_cap: None,
            price_multiplier: TierConfig::one(),
        }
    }
}

/// A value that must never show up in logs or debug output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    /// Anyone may sign up.
    Open,
    /// Anyone may sign up; an admin approves the account before it can be used.
    Approval,
    /// Signing up needs an invite code.
    Invite,
    /// Only admins create accounts.
    Closed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    pub signup: SignupMode,
    /// Whether a user must confirm their email address before creating API keys. Without SMTP
    /// no mail can confirm anything, so it is not required then.
    pub require_verified_email: bool,
    /// A session unused for this long ends.
    pub session_idle_hours: u32,
    /// A session ends this long after sign-in, used or not.
    pub session_max_days: u32,
    pub password_min_length: usize,
    /// Password hashes computed at once; 0 means one per CPU core.
    pub max_concurrent_hashes: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            signup: SignupMode::Open,
            require_verified_email: true,
            session_idle_hours: 72,
            session_max_days: 30,
            password_min_length: 10,
            max_concurrent_hashes: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption; only for a relay on this machine.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Mail server; unset means mail is written to the log instead of sent.
    pub host: Option<String>,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Sender, e.g. `CodexAPI <noreply@example.com>`.
    pub from: String,
    pub timeout_secs: u64,
    /// Wait before the first retry of a failed delivery; doubles with each attempt, up to an hour.
    pub retry_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: "CodexAPI <noreply@localhost>".to_owned(),
            timeout_secs: 15,
            retry_secs: 30,
        }
    }
}

impl SmtpConfig {
    pub fn enabled(&self) -> bool {
        self.host.is_some()
    }
}

/// A model offered to users, with its rate card.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The id clients send (`"model": "…"`).
    pub id: String,
    /// Name shown on the pricing page; defaults to the id.
    pub display_name: Option<String>,
    /// One line shown on the pricing page.
    #[serde(default)]
    pub description: Option<String>,
    /// Other ids clients may use for this model.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Where requests go, tried by priority then weight. Empty: every configured provider.
    #[serde(default)]
    pub routes: Vec<ModelRoute>,
    pub price: ModelPrice,
    /// The most output tokens one request may produce; reserved in full for a request that
    /// sets no lower limit.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Tokens the model reads at most, shown to Codex CLI's model catalog.
    #[serde(default)]
    pub context_window: Option<u64>,
    /// Reasoning efforts the model accepts (`low`, `medium`, `high`…), for Codex CLI's picker;
    /// the first is the default. Empty for a model without reasoning efforts.
    #[serde(default)]
    pub reasoning_efforts: Vec<String>,
}

/// One provider that serves a model, and the model's name there.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRoute {
    pub provider: String,
    /// The model's id at the provider; defaults to the public id.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI's API: Responses and Chat Completions.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
    /// A server that speaks only Chat Completions (vLLM, Ollama, llama.cpp, DeepSeek, OpenRouter…).
    OpenaiCompatible,
}

/// An upstream model provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Up to and including the version segment: `https://api.openai.com/v1`,
    /// `https://api.anthropic.com/v1`, `http://localhost:11434/v1`.
    pub base_url: Url,
    /// The key itself (prefer `api_key_env` or the `…_FILE` variable).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Name of the environment variable that holds the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra headers sent with every request to this provider.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Longest wait for the response to start.
    #[serde(default = "defaults::first_byte_timeout")]
    pub first_byte_timeout_secs: u64,
    /// Longest silence between two streamed events.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Longest a whole request may take.
    #[serde(default = "defaults::total_timeout")]
    pub total_timeout_secs: u64,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: u32,
    /// Share of traffic among providers of the same priority.
    #[serde(default = "defaults::weight")]
    pub weight: u32,
}

mod defaults {
    pub fn connect_timeout() -> u64 {
        10
    }
    pub fn first_byte_timeout() -> u64 {
        120
    }
    pub fn idle_timeout() -> u64 {
        120
    }
    pub fn total_timeout() -> u64 {
        1800
    }
    pub fn weight() -> u32 {
        1
    }
}

impl ProviderConfig {
    /// The key to send upstream: inline, or from the named environment variable.
    pub fn resolve_key(&self) -> Option<Secret> {
        self.api_key.clone().or_else(|| {
            self.api_key_env
                .as_deref()
                .and_then(|var| std::env::var(var).ok())
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        })
    }

    /// A provider enabled only because its usual key variable is set.
    fn implicit(
        name: &str,
        kind: ProviderKind,
        base_url: &str,
        env: &str,
    ) -> Option<ProviderConfig> {
        std::env::var(env).ok().filter(|v| !v.trim().is_empty())?;
        Some(ProviderConfig {
            name: name.to_owned(),
            kind,
            base_url: Url::parse(base_url).ok()?,
            api_key: None,
            api_key_env: Some(env.to_owned()),
            headers: Default::default(),
            connect_timeout_secs: defaults::connect_timeout(),
            first_byte_timeout_secs: defaults::first_byte_timeout(),
            idle_timeout_secs: defaults::idle_timeout(),
            total_timeout_secs: defaults::total_timeout(),
            priority: 0,
            weight: defaults::weight(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Largest API request body, in bytes.
    pub max_body_bytes: usize,
    /// Let upstream Responses requests be stored by the provider (`store: true` from the client
    /// is honoured). Off: every Responses request goes upstream with `store: false`.
    pub allow_upstream_storage: bool,
    /// Providers tried for one request before giving up.
    pub max_attempts: u32,
    /// Failures in a row after which a provider is skipped for `breaker_cooldown_secs`.
    pub breaker_failures: u32,
    pub breaker_cooldown_secs: u64,
    /// The instructions Codex CLI uses with this server's models when it reads their catalog
    /// (`model_catalog_url`); they replace Codex's own. Unset: a short built-in text.
    pub codex_instructions_file: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_body_bytes: 32 * 1024 * 1024,
            allow_upstream_storage: false,
            max_attempts: 3,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            codex_instructions_file: None,
        }
    }
}

impl ModelConfig {
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.id)
    }
}

/// Prices per one million tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: Money,
    /// Input tokens served from the provider's prompt cache; defaults to the input price.
    #[serde(default)]
    pub cached_input: Option<Money>,
    /// Input tokens written to the provider's prompt cache; defaults to the input price.
    #[serde(default)]
    pub cache_creation: Option<Money>,
    pub output: Money,
    /// Reasoning tokens, when priced apart from other output; defaults to the output price.
    #[serde(default)]
    pub reasoning: Option<Money>,
    /// A fee per request on top of the tokens (not per million).
    #[serde(default)]
    pub request_fee: Option<Money>,
}

impl ModelPrice {
    pub fn cached_input(&self) -> Money {
        self.cached_input.unwrap_or(self.input)
    }

    pub fn cache_creation(&self) -> Money {
        self.cache_creation.unwrap_or(self.input)
    }

    pub fn reasoning(&self) -> Money {
        self.reasoning.unwrap_or(self.output)
    }

    pub fn request_fee(&self) -> Money {
        self.request_fee.unwrap_or(Money::ZERO)
    }
}

/// A config that cannot be used, described in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as written in the TOML file (`server.tls.key`), when one is to blame.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    fn at(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: None,
            message: message.into(),
        }
    }
}

/// Durations in seconds are bounded: a day at most, so that no clock arithmetic can overflow.
fn within_a_day(key: &str, secs: u64) -> Result<(), ConfigError> {
    if secs > 86_400 {
        return Err(ConfigError::at(key, "must be at most 86400 (a day)"));
    }
    Ok(())
}

impl From<crate::tls::TlsError> for ConfigError {
    fn from(e: crate::tls::TlsError) -> ConfigError {
        ConfigError::at(format!("server.tls.{}", e.file), e.message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep it on one line whatever the parts say.
        let message = self.message.replace(['\n', '\r'], " ");
        match &self.key {
            Some(key) => write!(f, "config error: {key}: {message}"),
            None => write!(f, "config error: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads defaults, then `path` (which must exist when given), then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(path, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given explicitly.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));

        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::general(format!("cannot read {}: {e}", path.display()))
            })?;
            // Parse here first: figment's own message for a syntax error spans several lines.
            if let Err(e) = Toml::string(&text).data() {
                return Err(ConfigError::general(format!(
                    "{}: {}",
                    path.display(),
                    one_line_toml_error(&e.to_string())
                )));
            }
            figment = figment.merge(Toml::string(&text));
        }

        // Environment values stay text; `extract_lossy` turns "8080" into a number only where a
        // number is expected, so a numeric-looking name or password remains a string.
        let mut from_env: Vec<(String, String)> = Vec::new();
        for (var, value) in env {
            let Some(name) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if ENV_NOT_KEYS.contains(&name) {
                continue;
            }
            let value = match name.strip_suffix(FILE_SUFFIX) {
                Some(_) => std::fs::read_to_string(&value)
                    .map_err(|e| ConfigError::general(format!("{var}: cannot read {value}: {e}")))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
                None => value,
            };
            let name = name.strip_suffix(FILE_SUFFIX).unwrap_or(name);
            let key = env_name_to_key(name);
            let parsed = match value
                .trim()
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
            {
                // A list: `[10.0.0.0/8, "192.168.1.1"]`.
                Some(items) => Value::from(
                    items
                        .split(',')
                        .map(|item| item.trim().trim_matches('"').to_owned())
                        .filter(|item| !item.is_empty())
                        .collect::<Vec<String>>(),
                ),
                None => Value::from(value),
            };
            figment = figment.merge((key.as_str(), parsed));
            from_env.push((key, var));
        }

        let config: Config = figment
            .extract_lossy()
            .map_err(|e| describe_figment_error(e, &from_env))?;
        let mut config = config;
        if config.providers.is_empty() {
            config.providers = [
                ProviderConfig::implicit(
                    "openai",
                    ProviderKind::Openai,
                    "https://api.openai.com/v1",
                    "OPENAI_API_KEY",
                ),
                ProviderConfig::implicit(
                    "anthropic",
                    ProviderKind::Anthropic,
                    "https://api.anthropic.com/v1",
                    "ANTHROPIC_API_KEY",
                ),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot: combinations, formats, files that must exist.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if let Some(url) = &server.public_url {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::at(
                    "server.public_url",
                    format!("must start with http:// or https://, got {url}"),
                ));
            }
            if url.host().is_none() {
                return Err(ConfigError::at("server.public_url", "has no host"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::at(
                    "server.public_url",
                    "must not have a query string or fragment",
                ));
            }
        }
        if server.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "server.max_body_bytes",
                "must be greater than 0",
            ));
        }
        match (&server.tls.cert, &server.tls.key) {
            (Some(_), None) => {
                return Err(ConfigError::at(
                    "server.tls.key",
                    "is missing; server.tls.cert needs a private key",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    "server.tls.cert",
                    "is missing; server.tls.key needs a certificate",
                ));
            }
            (Some(cert), Some(key)) => {
                crate::tls::load_server_config(cert, key)?;
            }
            (None, None) => {
                if server.tls.redirect_http_listen.is_some() {
                    return Err(ConfigError::at(
                        "server.tls.redirect_http_listen",
                        "needs server.tls.cert and server.tls.key",
                    ));
                }
            }
        }
        if let (Some(redirect), true) = (server.tls.redirect_http_listen, server.tls.enabled())
            && redirect == server.listen
        {
            return Err(ConfigError::at(
                "server.tls.redirect_http_listen",
                "must differ from server.listen",
            ));
        }

        let db = &self.database;
        if db.path.as_os_str().is_empty() {
            return Err(ConfigError::at("database.path", "must not be empty"));
        }
        if db.pool_size == 0 {
            return Err(ConfigError::at("database.pool_size", "must be at least 1"));
        }

        if self.site.name.trim().is_empty() {
            return Err(ConfigError::at("site.name", "must not be empty"));
        }
        if let Some(email) = &self.site.contact_email
            && !looks_like_email(email)
        {
            return Err(ConfigError::at(
                "site.contact_email",
                format!("{email:?} is not an email address"),
            ));
        }

        time::Date::parse(
            &self.policy.effective_date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| {
            ConfigError::at(
                "policy.effective_date",
                format!(
                    "{:?} is not a date in the form YYYY-MM-DD",
                    self.policy.effective_date
                ),
            )
        })?;
        for (key, path) in [
            ("policy.privacy_path", &self.policy.privacy_path),
            ("policy.terms_path", &self.policy.terms_path),
        ] {
            if let Some(path) = path {
                std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::at(key, format!("cannot read {}: {e}", path.display()))
                })?;
            }
        }

        if self.privacy.ip_retention_days == 0 {
            return Err(ConfigError::at(
                "privacy.ip_retention_days",
                "must be at least 1",
            ));
        }
        if self.privacy.ip_retention_days > self.privacy.metadata_retention_days {
            return Err(ConfigError::at(
                "privacy.ip_retention_days",
                "must not exceed privacy.metadata_retention_days",
            ));
        }

        let accounts = &self.accounts;
        if accounts.password_min_length < 8 {
            return Err(ConfigError::at(
                "accounts.password_min_length",
                "must be at least 8",
            ));
        }
        if accounts.session_idle_hours == 0 {
            return Err(ConfigError::at(
                "accounts.session_idle_hours",
                "must be at least 1",
            ));
        }
        if accounts.session_max_days == 0 {
            return Err(ConfigError::at(
                "accounts.session_max_days",
                "must be at least 1",
            ));
        }

        let smtp = &self.smtp;
        if let Some(host) = &smtp.host {
            if host.trim().is_empty() {
                return Err(ConfigError::at("smtp.host", "must not be empty"));
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::at(
                    "smtp.from",
                    format!(
                        "{:?} is not a sender like \"Name <noreply@example.com>\"",
                        smtp.from
                    ),
                ));
            }
            match (&smtp.username, &smtp.password) {
                (Some(_), None) => {
                    return Err(ConfigError::at(
                        "smtp.password",
                        "is missing; smtp.username needs one",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::at(
                        "smtp.username",
                        "is missing; smtp.password needs one",
                    ));
                }
                _ => {}
            }
            let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
            if smtp.security == SmtpSecurity::None && smtp.password.is_some() && !local {
                return Err(ConfigError::at(
                    "smtp.security",
                    "\"none\" would send the SMTP password unencrypted; use starttls or tls",
                ));
            }
        }

        crate::logging::parse_filter(&self.log.level)
            .map_err(|e| ConfigError::at("log.level", e))?;

        let currency = &self.billing.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::at(
                "billing.currency",
                format!("{currency:?} is not a three-letter ISO 4217 code like \"USD\""),
            ));
        }

        self.validate_billing()?;

        let gateway = &self.gateway;
        if gateway.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "gateway.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if let Some(path) = &gateway.codex_instructions_file {
            match std::fs::read_to_string(path) {
                Ok(text) if text.trim().is_empty() => {
                    return Err(ConfigError::at(
                        "gateway.codex_instructions_file",
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(ConfigError::at(
                        "gateway.codex_instructions_file",
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
        }
        if gateway.max_attempts == 0 {
            return Err(ConfigError::at(
                "gateway.max_attempts",
                "must be at least 1",
            ));
        }
        within_a_day(
            "gateway.breaker_cooldown_secs",
            gateway.breaker_cooldown_secs,
        )?;
        let mut names = HashSet::new();
        for (i, provider) in self.providers.iter().enumerate() {
            let key = |field: &str| format!("providers[{i}].{field}");
            for (field, secs) in [
                ("connect_timeout_secs", provider.connect_timeout_secs),
                ("first_byte_timeout_secs", provider.first_byte_timeout_secs),
                ("idle_timeout_secs", provider.idle_timeout_secs),
                ("total_timeout_secs", provider.total_timeout_secs),
            ] {
                within_a_day(&key(field), secs)?;
            }
            if provider.name.trim().is_empty() || !names.insert(provider.name.as_str()) {
                return Err(ConfigError::at(
                    key("name"),
                    "must be a unique, non-empty name",
                ));
            }
            if !matches!(provider.base_url.scheme(), "http" | "https") {
                return Err(ConfigError::at(
                    key("base_url"),
                    "must start with http:// or https://",
                ));
            }
            if let Some(var) = &provider.api_key_env
                && provider.api_key.is_none()
                && std::env::var(var).map_or(true, |v| v.trim().is_empty())
            {
                return Err(ConfigError::at(
                    key("api_key_env"),
                    format!("names {var}, which is not set"),
                ));
            }
            for (name, value) in &provider.headers {
                if actix_web::http::header::HeaderName::try_from(name.as_str()).is_err()
                    || actix_web::http::header::HeaderValue::try_from(value.as_str()).is_err()
                {
                    return Err(ConfigError::at(
                        key("headers"),
                        format!("{name:?} is not a valid header"),
                    ));
                }
            }
            if provider.weight == 0 {
                return Err(ConfigError::at(key("weight"), "must be at least 1"));
            }
            for (field, secs) in [
                ("connect_timeout_secs", provider.connect_timeout_secs),
                ("first_byte_timeout_secs", provider.first_byte_timeout_secs),
                ("idle_timeout_secs", provider.idle_timeout_secs),
                ("total_timeout_secs", provider.total_timeout_secs),
            ] {
                if secs == 0 {
                    return Err(ConfigError::at(key(field), "must be at least 1"));
                }
            }
        }

        let mut ids = HashSet::new();
        for (i, model) in self.models.iter().enumerate() {
            let key = |field: &str| format!("models[{i}].{field}");
            if model.id.trim().is_empty() || model.id.chars().any(char::is_whitespace) {
                return Err(ConfigError::at(
                    key("id"),
                    "must be a non-empty id without spaces",
                ));
            }
            if !ids.insert(model.id.as_str()) {
                return Err(ConfigError::at(
                    key("id"),
                    format!("{:?} is listed twice", model.id),
                ));
            }
            for alias in &model.aliases {
                if !ids.insert(alias.as_str()) {
                    return Err(ConfigError::at(
                        key("aliases"),
                        format!("{alias:?} is already a model id or alias"),
                    ));
                }
            }
            for (j, route) in model.routes.iter().enumerate() {
                if !self.providers.iter().any(|p| p.name == route.provider) {
                    return Err(ConfigError::at(
                        key(&format!("routes[{j}].provider")),
                        format!("no provider is named {:?}", route.provider),
                    ));
                }
            }
            let price = &model.price;
            for (field, amount) in [
                ("price.input", Some(price.input)),
                ("price.cached_input", price.cached_input),
                ("price.cache_creation", price.cache_creation),
                ("price.output", Some(price.output)),
                ("price.reasoning", price.reasoning),
                ("price.request_fee", price.request_fee),
            ] {
                if amount.is_some_and(|a| a < Money::ZERO) {
                    return Err(ConfigError::at(key(field), "must not be negative"));
                }
            }
        }
        Ok(())
    }

    fn validate_billing(&self) -> Result<(), ConfigError> {
        let billing = &self.billing;
        if billing.signup_credit < Money::ZERO {
            return Err(ConfigError::at(
                "billing.signup_credit",
                "must not be negative",
            ));
        }
        if billing.topup_min <= Money::ZERO {
            return Err(ConfigError::at(
                "billing.topup_min",
                "must be greater than 0",
            ));
        }
        if billing.topup_max < billing.topup_min {
            return Err(ConfigError::at(
                "billing.topup_max",
                "must not be less than billing.topup_min",
            ));
        }
        if let Some(bad) = billing
            .topup_presets
            .iter()
            .find(|a| **a < billing.topup_min || **a > billing.topup_max)
        {
            return Err(ConfigError::at(
                "billing.topup_presets",
                format!(
                    "{bad} is outside billing.topup_min..billing.topup_max ({}..{})",
                    billing.topup_min, billing.topup_max
                ),
            ));
        }
        let mut names = HashSet::new();
        for (i, tier) in self.tiers.iter().enumerate() {
            let key = |field: &str| format!("tiers[{i}].{field}");
            if tier.name.trim().is_empty() || !names.insert(tier.name.as_str()) {
                return Err(ConfigError::at(
                    key("name"),
                    "must be a unique, non-empty name",
                ));
            }
            for (field, value) in [
                ("requests_per_minute", tier.requests_per_minute),
                ("tokens_per_minute", tier.tokens_per_minute),
                ("concurrent_requests", tier.concurrent_requests),
            ] {
                if value == Some(0) {
                    return Err(ConfigError::at(
                        key(field),
                        "must be at least 1 (leave it out for no limit)",
                    ));
                }
            }
            if tier.monthly_spend_cap.is_some_and(|c| c < Money::ZERO) {
                return Err(ConfigError::at(
                    key("monthly_spend_cap"),
                    "must not be negative",
                ));
            }
            if tier.price_multiplier < Money::ZERO {
                return Err(ConfigError::at(
                    key("price_multiplier"),
                    "must not be negative",
                ));
            }
        }
        if !self.tiers.is_empty() && !names.contains(billing.default_tier.as_str()) {
            return Err(ConfigError::at(
                "billing.default_tier",
                format!("no tier is named {:?}", billing.default_tier),
            ));
        }
        let stripe = &self.stripe;
        if stripe.enabled() {
            if stripe.webhook_secret.is_none() {
                return Err(ConfigError::at(
                    "stripe.webhook_secret",
                    "is missing; stripe.secret_key needs the webhook signing secret",
                ));
            }
            if !matches!(stripe.api_base.scheme(), "http" | "https") {
                return Err(ConfigError::at(
                    "stripe.api_base",
                    "must start with http:// or https://",
                ));
            }
            if self.billing.mode != BillingMode::Prepaid {
                return Err(ConfigError::at(
                    "stripe.secret_key",
                    "top-ups need billing.mode = \"prepaid\"",
                ));
            }
        }
        Ok(())
    }

    /// The configured tier of an account whose tier is `name`: that one when it exists, else
    /// the default; None when no tiers are configured.
    pub fn find_tier(&self, name: Option<&str>) -> Option<&TierConfig> {
        name.and_then(|n| self.tiers.iter().find(|t| t.name == n))
            .or_else(|| {
                self.tiers
                    .iter()
                    .find(|t| t.name == self.billing.default_tier)
            })
    }

    /// [`Config::find_tier`], or a tier without limits when none is configured.
    pub fn tier(&self, name: Option<&str>) -> TierConfig {
        self.find_tier(name)
            .cloned()
            .unwrap_or_else(|| TierConfig::unlimited(&self.billing.default_tier))
    }

    /// The public URL without a trailing slash, derived from the listen address when unset.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.server.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.server.tls.enabled() {
                    "https"
                } else {
                    "http"
                };
                let host = match bound.ip() {
                    ip if ip.is_unspecified() => "localhost".to_owned(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("{scheme}://{host}:{}", bound.port())
            }
        }
    }
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// toml's message spans several lines (location, source excerpt, caret, reason); keep the
/// location and the reason.
fn one_line_toml_error(message: &str) -> String {
    let mut parts = message.lines().map(str::trim).filter(|line| {
        !line.is_empty()
            && !line.starts_with('|')
            && !line
                .split_once(" |")
                .is_some_and(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
    });
    let head = parts.next().unwrap_or("invalid TOML").to_owned();
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        head
    } else {
        format!("{head}: {}", rest.join("; "))
    }
}

/// `SERVER__TLS__CERT` → `server.tls.cert`.
fn env_name_to_key(name: &str) -> String {
    name.to_ascii_lowercase().replace("__", ".")
}

/// One line naming the key; `from_env` maps keys set from the environment to their variable.
fn describe_figment_error(error: figment::Error, from_env: &[(String, String)]) -> ConfigError {
    use figment::error::Kind;

    let mut path = error.path.clone();
    let message = match &error.kind {
        Kind::UnknownField(field, _) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            "unknown key".to_owned()
        }
        Kind::MissingField(field) => {
            path.push(field.to_string());
            "is required".to_owned()
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::UnknownVariant(variant, expected) => {
            format!(
                "unknown value {variant:?}, expected one of {}",
                expected.join(", ")
            )
        }
        Kind::InvalidLength(len, expected) => format!("expected {expected}, found length {len}"),
        Kind::DuplicateField(field) => format!("{field} is given twice"),
        _ => error.kind.to_string(),
    };
    let key = path.iter().fold(String::new(), |mut key, part| {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
        key
    });
    let related = |env_key: &str| {
        let within = |outer: &str, inner: &str| {
            inner == outer
                || inner.starts_with(&format!("{outer}."))
                || inner.starts_with(&format!("{outer}["))
        };
        within(env_key, &key) || within(&key, env_key)
    };
    let message = match from_env.iter().find(|(k, _)| related(k)) {
        Some((_, var)) => format!("{message} (from {var})"),
        None => message,
    };
    if path.is_empty() {
        ConfigError::general(message)
    } else {
        ConfigError::at(key, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_from(Some(&path), env)
    }

    #[test]
    fn defaults_need_no_file() {
        let config = Config::load_from(None, Vec::new()).unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.path, PathBuf::from("data/codexapi.db"));
    }

    #[test]
    fn env_overrides_file() {
        let config = load(
            "[server]\nlisten = \"127.0.0.1:9000\"\n",
            &[
                ("CODEXAPI_SERVER__LISTEN", "127.0.0.1:9100"),
                ("CODEXAPI_DATABASE__POOL_SIZE", "3"),
            ],
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 9100);
        assert_eq!(config.database.pool_size, 3);
    }

    #[test]
    fn numeric_looking_env_values_fill_string_keys() {
        let config = load("", &[("CODEXAPI_SITE__NAME", "1234")]).unwrap();
        assert_eq!(config.site.name, "1234");
    }

    #[test]
    fn file_variables_read_the_value_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("name");
        std::fs::write(&secret, "Acme Gateway\n").unwrap();
        let config = load(
            "",
            &[("CODEXAPI_SITE__NAME_FILE", secret.to_str().unwrap())],
        )
        .unwrap();
        assert_eq!(config.site.name, "Acme Gateway");
    }

    #[test]
    fn errors_name_the_key_on_one_line() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("[server]\nlisen = \"x\"\n", &[], "server.lisen"),
            ("[server]\nlisten = 5\n", &[], "server.listen"),
            (
                "[server]\npublic_url = \"ftp://x\"\n",
                &[],
                "server.public_url",
            ),
            (
                "[server]\npublic_url = \"not a url\"\n",
                &[],
                "server.public_url",
            ),
            (
                "[server.tls]\ncert = \"/tmp/c.pem\"\n",
                &[],
                "server.tls.key",
            ),
            (
                "[database]\nsynchronous = \"sometimes\"\n",
                &[],
                "database.synchronous",
            ),
            (
                "[policy]\neffective_date = \"yesterday\"\n",
                &[],
                "policy.effective_date",
            ),
            (
                "[billing]\ncurrency = \"dollars\"\n",
                &[],
                "billing.currency",
            ),
            (
                "[[models]]\nid = \"m\"\nprice = { input = \"x\", output = 1 }\n",
                &[],
                "models",
            ),
            (
                "",
                &[("CODEXAPI_SERVER__WORKERS", "many")],
                "server.workers",
            ),
            ("", &[("CODEXAPI_NOPE", "1")], "nope"),
        ];
        for (toml, env, key) in cases {
            let err = load(toml, env).expect_err(toml).to_string();
            assert!(err.starts_with("config error: "), "{err}");
            assert!(err.contains(key), "{toml:?} {env:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let config = load(
            "[smtp]\nhost = \"mail.test\"\nusername = \"u\"\npassword = \"hunter2-secret\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            config.smtp.password.as_ref().unwrap().expose(),
            "hunter2-secret"
        );
        let debug = format!("{config:?} {config:#?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(debug.contains("***"));
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let err = load("[server\nlisten = 1", &[]).unwrap_err().to_string();
        assert!(err.starts_with("config error: "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
