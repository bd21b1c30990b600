//! The config's sections: every key with its type and default. One module because it is one
//! table, read top to bottom beside `config.example.toml`; it holds no logic beyond defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::money::Money;

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

/// Where `/metrics` is served. With neither key set there is no metrics endpoint at all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// A listener of its own that serves `/metrics` only, to anyone who reaches it.
    pub listen: Option<SocketAddr>,
    /// With it, the public listener serves `/metrics` too, to `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

impl MetricsConfig {
    /// The shortest token accepted: long enough that it cannot be guessed.
    pub const MIN_TOKEN_CHARS: usize = 16;
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
    /// `synchronous` for the usage writer's commits (usage rows and their debits) alone.
    /// `normal`: durable against a crash of the process at once, against a power loss once the
    /// system writes the file out (within seconds, or at any later `full` commit).
    pub usage_synchronous: Synchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: PathBuf::from("data/codexapi.db"),
            pool_size: 8,
            busy_timeout_ms: 5000,
            synchronous: Synchronous::Full,
            usage_synchronous: Synchronous::Normal,
        }
    }
}

/// Scheduled copies of the database, each checked after it is written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// The folder the server writes `codexapi-YYYYMMDDTHHMMSSZ.db` copies into; unset means no
    /// scheduled backups (`codexapi backup FILE` works either way).
    pub dir: Option<PathBuf>,
    /// Hours between copies; the first is made shortly after start when the newest is older.
    pub every_hours: u32,
    /// Copies kept; older ones (by their name) are deleted after each good copy.
    pub keep: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: None,
            every_hours: 24,
            keep: 7,
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
    /// Days a delivered mail's recipient and subject stay in the outbox.
    pub outbox_retention_days: u32,
    /// What becomes of an erased account's request metadata.
    pub erased_usage: ErasedUsage,
    /// What the gateway does with credentials it recognises in a request.
    pub secret_guard: SecretGuard,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            metadata_retention_days: 365,
            ip_retention_days: 30,
            outbox_retention_days: 7,
            erased_usage: ErasedUsage::Delete,
            secret_guard: SecretGuard::Off,
        }
    }
}

/// `privacy.secret_guard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretGuard {
    /// Requests are forwarded as they are.
    Off,
    /// Recognised secrets are replaced by `[redacted:<rule>]` before forwarding.
    Redact,
    /// A request with a recognised secret is refused with a 400 naming the rule.
    Block,
}

/// `privacy.erased_usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasedUsage {
    /// The rows are deleted with the account.
    Delete,
    /// The rows stay for the service's totals, with no account, key or address.
    Anonymise,
}

/// `[abuse]`: the rules that raise flags on `/admin/flags`, each with its threshold and window.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AbuseConfig {
    /// Seconds between two runs of the detector.
    pub scan_every_secs: u64,
    /// Whether every active admin is mailed when a flag is raised.
    pub mail_admins: bool,
    /// Failed sign-ins from one network (IPv4 /24, IPv6 /48), whatever the accounts.
    pub signin_failures_network: CountRule,
    /// Failed sign-ins on one account, from anywhere.
    pub signin_failures_account: CountRule,
    /// One API key used from more than `threshold` networks within the window (key sharing).
    pub key_networks: CountRule,
    /// An account spending far above its own baseline.
    pub spend_spike: SpendRule,
    /// Requests of one account refused by the rate and concurrency limits.
    pub rate_limited: CountRule,
    /// Sign-ups from one network; `auto_suspend` suspends the accounts made from it.
    pub signups_network: CountRule,
    /// Card payments disputed at Stripe (flagged as they arrive).
    pub disputes: DisputeRule,
}

impl Default for AbuseConfig {
    fn default() -> Self {
        let rule = |threshold, window_mins| CountRule {
            enabled: true,
            threshold,
            window_mins,
            auto_suspend: false,
        };
        AbuseConfig {
            scan_every_secs: 60,
            mail_admins: true,
            signin_failures_network: rule(50, 15),
            signin_failures_account: rule(10, 15),
            key_networks: rule(5, 1440),
            spend_spike: SpendRule::default(),
            rate_limited: rule(200, 10),
            signups_network: rule(5, 60),
            disputes: DisputeRule::default(),
        }
    }
}

/// A rule that counts events in a sliding window: `threshold` or more raise a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRule {
    #[serde(default = "CountRule::yes")]
    pub enabled: bool,
    pub threshold: u32,
    pub window_mins: u32,
    /// Suspend the account the flag is about, as soon as it is raised.
    #[serde(default)]
    pub auto_suspend: bool,
}

impl CountRule {
    fn yes() -> bool {
        true
    }
}

/// Spend in the last 24 hours against the account's average day over the `baseline_days`
/// before: `factor` times that average, and at least `min_spend`, raise a flag.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpendRule {
    pub enabled: bool,
    pub factor: u32,
    pub baseline_days: u32,
    /// Accounts that spent less than this in the last 24 hours are never flagged.
    pub min_spend: Money,
    pub auto_suspend: bool,
}

impl Default for SpendRule {
    fn default() -> Self {
        SpendRule {
            enabled: true,
            factor: 10,
            baseline_days: 14,
            min_spend: Money::from_micros(20 * crate::money::MICROS_PER_UNIT),
            auto_suspend: false,
        }
    }
}

/// `[abuse.disputes]`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisputeRule {
    /// Suspend the account whose payment was disputed.
    pub auto_suspend: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Log filter: a level (`info`) or per-target levels (`info,codexapi=debug`).
    pub level: String,
    /// `text` (one readable line per event) or `json` (one JSON object per line).
    pub format: crate::logging::Format,
    /// Lines below a warning are written within this many milliseconds, gathered into few
    /// writes; warnings and errors at once. 0 writes each line at once.
    pub flush_ms: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: crate::logging::Format::Text,
            flush_ms: 50,
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
    /// Changes a stolen session must not make alone (new API keys, two-factor sign-in) need the
    /// password again once the sign-in is older than this.
    pub reauthenticate_after_secs: u64,
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
            reauthenticate_after_secs: 600,
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
    /// Longest wait for a stream to start; a whole answer may take `total_timeout_secs`.
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
    pub(super) fn implicit(
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
    /// Longest pause while a request body arrives (eight times it for the whole body); a client
    /// slower than that gets a 408.
    pub body_idle_secs: u64,
    /// Let providers store requests (`store: true` from the client is honoured). Off: every
    /// Responses request goes upstream with `store: false`, and Chat requests without `store`.
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
            body_idle_secs: 15,
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
