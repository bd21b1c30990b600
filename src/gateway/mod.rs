//! The API: OpenAI- and Anthropic-compatible endpoints that authenticate a key, forward to an
//! upstream model provider, stream the answer back and meter the request — keeping only metadata.

pub mod error;
pub mod guard;
pub mod keys;
pub mod metering;
mod probe;
pub mod providers;
pub mod proxy;
pub mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::abuse::Blocklist;
use crate::auth::throttle::{Throttle, address_key};
use crate::billing::RateCard;
use crate::billing::alert::BalanceAlert;
use crate::billing::limits::RateLimits;
use crate::billing::wallet::Wallets;
use crate::client::ClientInfo;
use crate::config::{Config, ModelConfig, TierConfig};
use crate::db::Db;
use crate::db::usage::Endpoint;
use crate::metrics::Metrics;
use crate::translate::Wire;
use error::{ApiError, Dialect, ErrorKind};
use keys::KeyCache;
use metering::UsageWriter;
use providers::Providers;

/// What the API needs at run time; shared by every worker.
pub struct Gateway {
    pub db: Db,
    pub keys: KeyCache,
    pub providers: Providers,
    pub http: reqwest::Client,
    pub usage: UsageWriter,
    pub wallets: Arc<Wallets>,
    pub limits: Arc<RateLimits>,
    pub config: Arc<Config>,
    /// The tier of accounts when no tiers are configured.
    unlimited: TierConfig,
    /// Unknown API keys per client address.
    bad_keys: Throttle,
    /// What Codex CLI is told to use as its instructions for these models.
    codex_instructions: String,
    /// Model id or alias → index into `config.models`.
    index: HashMap<String, usize>,
    created: i64,
    /// The secret guard, unless `privacy.secret_guard` is off.
    pub guard: Option<Arc<guard::Guard>>,
    /// Networks refused before their key is looked at.
    pub blocklist: Blocklist,
    /// What `/metrics` shows of the requests and the usage writer.
    pub metrics: Arc<Metrics>,
}

/// Unknown API keys an address may send within the throttle's window before it is refused for a
/// while: enough for a person fixing a typo, not for a scan.
const UNKNOWN_KEYS_PER_ADDRESS: u32 = 30;

/// Background parts of the gateway, stopped at shutdown.
pub struct GatewayTasks {
    usage_thread: std::thread::JoinHandle<()>,
    stop_watch: Arc<AtomicBool>,
    usage: UsageWriter,
}

impl GatewayTasks {
    /// Writes what is queued and stops the background threads.
    pub fn stop(self) {
        self.stop_watch
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.usage.stop();
        if self.usage_thread.join().is_err() {
            tracing::error!("the usage writer ended abnormally");
        }
    }
}

impl Gateway {
    pub fn start(
        config: Arc<Config>,
        db: Db,
        alert: Option<Box<dyn BalanceAlert>>,
        blocklist: Blocklist,
    ) -> Result<(Arc<Gateway>, GatewayTasks), String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(
                config
                    .providers
                    .iter()
                    .map(|p| p.connect_timeout_secs)
                    .max()
                    .unwrap_or(10),
            ))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let wallets = Wallets::new(config.billing.mode);
        let metrics = Arc::new(Metrics::new());
        let (usage, usage_thread) =
            UsageWriter::start(db.clone(), wallets.clone(), alert, metrics.clone())
                .map_err(|e| format!("cannot start the usage writer: {e}"))?;
        // Build the tokenizer's tables now, off the request path, rather than at first use.
        std::thread::spawn(|| tokens::count(""));
        let keys = KeyCache::new(db.clone());
        let stop_watch = Arc::new(AtomicBool::new(false));
        let watcher = keys.clone();
        let stop = stop_watch.clone();
        std::thread::Builder::new()
            .name("key-watch".to_owned())
            .spawn(move || watcher.watch_blocking(stop))
            .map_err(|e| format!("cannot start the key watcher: {e}"))?;
        let mut index = HashMap::new();
        for (i, model) in config.models.iter().enumerate() {
            index.insert(model.id.clone(), i);
            for alias in &model.aliases {
                index.insert(alias.clone(), i);
            }
        }
        let codex_instructions = match &config.gateway.codex_instructions_file {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "gateway.codex_instructions_file: cannot read {}: {e}",
                    path.display()
                )
            })?,
            None => include_str!("../../assets/codex/instructions.md").to_owned(),
        };
        let gateway = Gateway {
            db: db.clone(),
            codex_instructions,
            keys,
            providers: Providers::new(&config),
            http,
            usage: usage.clone(),
            wallets,
            limits: Arc::new(RateLimits::default()),
            unlimited: TierConfig::unlimited(&config.billing.default_tier),
            bad_keys: Throttle::new(UNKNOWN_KEYS_PER_ADDRESS),
            guard: guard::Guard::new(config.privacy.secret_guard)?.map(Arc::new),
            blocklist,
            metrics,
            config,
            index,
            created: crate::db::now_ms() / 1000,
        };
        Ok((
            Arc::new(gateway),
            GatewayTasks {
                usage_thread,
                stop_watch,
                usage,
            },
        ))
    }

    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.index.get(id).and_then(|&i| self.config.models.get(i))
    }

    /// The key a request presents, as the cache knows it: 401 when there is none or it is
    /// unknown. Whether it may be used now is the caller's question (`KeyInfo::refusal`).
    ///
    /// An address that sent many unknown keys is refused for a while (429) without a lookup,
    /// unless the key it sends now is one the cache already knows: a misconfigured client
    /// behind an office's address does not lock out the office.
    pub async fn identify(&self, req: &HttpRequest) -> Result<Arc<keys::KeyInfo>, ApiError> {
        if self
            .blocklist
            .blocks(client_of(req).ip, crate::db::now_ms())
        {
            return Err(ApiError::new(
                ErrorKind::Permission,
                "Requests from your network are not accepted by this server.",
            )
            .code("network_blocked"));
        }
        let Some(secret) = keys::presented_key(req.headers()) else {
            return Err(ApiError::new(
                ErrorKind::Authentication,
                "No API key: send it as `Authorization: Bearer sk-cx-…` or `x-api-key: sk-cx-…`.",
            ));
        };
        // A key in memory is the common case and costs no more than before.
        if let Some(known) = self.keys.cached(&secret) {
            return Ok(known);
        }
        let address = address_key("api_key", client_of(req).ip);
        if let Some(wait) = self.bad_keys.locked(&address) {
            return Err(too_many_bad_keys(wait));
        }
        let found = self.keys.lookup(&secret).await.map_err(|e| {
            let kind = if e.is_unavailable() {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            };
            tracing::error!("key lookup failed: {e}");
            ApiError::new(kind, "The server could not check the API key.")
        })?;
        found.ok_or_else(|| match self.bad_keys.attempt(&address) {
            Err(wait) => too_many_bad_keys(wait),
            Ok(_counted) => ApiError::new(ErrorKind::Authentication, "Incorrect API key provided.")
                .code("invalid_api_key"),
        })
    }

    /// The tier of an account: the configured one it names, else the default.
    pub fn tier(&self, name: Option<&str>) -> &TierConfig {
        self.config.find_tier(name).unwrap_or(&self.unlimited)
    }
}

impl crate::health::ProviderHealth for Gateway {
    fn set_in_rotation(&self, name: &str, on: bool) -> bool {
        match self.providers.all().iter().find(|u| u.config.name == name) {
            Some(upstream) => {
                upstream.set_in_rotation(on);
                tracing::info!(
                    "provider {name} is {} rotation",
                    if on { "back in" } else { "out of" }
                );
                true
            }
            None => false,
        }
    }

    fn probe<'a>(
        &'a self,
        name: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<crate::health::Probe>> + 'a>>
    {
        Box::pin(probe::probe(self, name))
    }

    fn secrets_found(&self) -> Vec<(String, u64)> {
        self.guard.as_ref().map(|g| g.counts()).unwrap_or_default()
    }

    fn providers(&self) -> Vec<crate::health::ProviderStatus> {
        let now = std::time::Instant::now();
        self.providers
            .all()
            .iter()
            .map(|upstream| {
                let health = upstream.health();
                crate::health::ProviderStatus {
                    name: upstream.config.name.clone(),
                    kind: upstream.config.kind,
                    host: upstream
                        .config
                        .base_url
                        .host_str()
                        .unwrap_or_default()
                        .to_owned(),
                    resting_for: health
                        .open_until
                        .filter(|until| *until > now)
                        .map(|until| until.duration_since(now)),
                    consecutive_failures: health.consecutive_failures,
                    successes: health.successes,
                    failures: health.failures,
                    last_failure: health.last_failure,
                    last_success_at: health.last_success_at,
                    last_failure_at: health.last_failure_at,
                    in_rotation: upstream.in_rotation(),
                }
            })
            .collect()
    }
}

/// The forwarding endpoints and the wire format clients speak there.
const FORWARDED: &[(Endpoint, Wire)] = &[
    (Endpoint::ChatCompletions, Wire::Chat),
    (Endpoint::Completions, Wire::Completions),
    (Endpoint::Responses, Wire::Responses),
    (Endpoint::ResponsesCompact, Wire::Responses),
    (Endpoint::ResponsesInputTokens, Wire::Responses),
    (Endpoint::Messages, Wire::Messages),
    (Endpoint::CountTokens, Wire::Messages),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/v1");
    for &(endpoint, wire) in FORWARDED {
        let path = endpoint.as_str().trim_start_matches("/v1");
        scope = scope.route(
            path,
            web::post().to(
                move |req: HttpRequest, payload: web::Payload, gateway: web::Data<Gateway>| {
                    proxy::handle(wire, endpoint, req, payload, gateway)
                },
            ),
        );
    }
    cfg.service(
        scope
            .route("/models", web::get().to(list_models))
            .route("/account", web::get().to(account))
            .route("/models/{id:.+}", web::get().to(get_model))
            .default_service(web::to(unknown_route)),
    );
}

/// Callers that send `anthropic-version` get Anthropic's shapes.
fn caller_dialect(req: &HttpRequest) -> Dialect {
    if req.headers().contains_key("anthropic-version") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAi
    }
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let dialect = if req.path().starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        caller_dialect(&req)
    };
    ApiError::new(
        ErrorKind::NotFound,
        format!(
            "There is no {} {} endpoint on this server.",
            req.method(),
            req.path()
        ),
    )
    .response(dialect)
}

fn too_many_bad_keys(wait: Duration) -> ApiError {
    let mut error = ApiError::new(
        ErrorKind::RateLimited,
        "Too many requests with unknown API keys came from your address. Check the key and try again later.",
    );
    error.retry_after_secs = Some(wait.as_secs().max(1));
    error
}

/// The client of a request, as the middleware found it (an unspecified address without it).
pub(crate) fn client_of(req: &HttpRequest) -> ClientInfo {
    actix_web::HttpMessage::extensions(req)
        .get::<ClientInfo>()
        .cloned()
        .unwrap_or_else(|| ClientInfo {
            ip: std::net::Ipv6Addr::UNSPECIFIED.into(),
            https: false,
            request_id: String::new(),
        })
}

/// The key of a request that needs no more than a usable key (models, account figures).
async fn models_key(req: &HttpRequest, gateway: &Gateway) -> Result<Arc<keys::KeyInfo>, ApiError> {
    let key = gateway.identify(req).await?;
    if let Some(reason) = key.refusal(crate::db::now_ms()) {
        return Err(ApiError::new(ErrorKind::Permission, reason));
    }
    Ok(key)
}

fn model_json(gateway: &Gateway, model: &ModelConfig, dialect: Dialect) -> serde_json::Value {
    match dialect {
        Dialect::OpenAi => json!({
            "id": model.id,
            "object": "model",
            "created": gateway.created,
            "owned_by": "codexapi",
            "pricing": RateCard::of(&model.price).json(&gateway.config.billing.currency),
        }),
        Dialect::Anthropic => json!({
            "type": "model",
            "id": model.id,
            "display_name": model.name(),
            "created_at": time::OffsetDateTime::from_unix_timestamp(gateway.created)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        }),
    }
}

/// `GET /v1/account`: the key's account in figures, for scripts: balance, what running requests
/// hold, this month's spend and caps, and usage over the last day, week and month.
async fn account(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let gateway = gateway.get_ref();
    let key = match models_key(&req, gateway).await {
        Ok(key) => key,
        Err(e) => return e.response(Dialect::OpenAi),
    };
    let now = crate::db::now_ms();
    let user = key.user_id.clone();
    let since: Vec<(&'static str, i64)> = vec![
        ("last_24_hours", now - 86_400_000),
        ("last_7_days", now - 7 * 86_400_000),
        ("last_30_days", now - 30 * 86_400_000),
    ];
    let usage = gateway
        .db
        .run(move |conn| {
            let mut out = serde_json::Map::new();
            for (name, from) in since {
                let totals = crate::db::usage::totals_since(conn, &user, from)?;
                out.insert(
                    name.to_owned(),
                    json!({
                        "requests": totals.requests,
                        "input_tokens": totals.input_tokens,
                        "output_tokens": totals.output_tokens,
                        "cost": crate::money::Money::from_micros(totals.cost).to_decimal_string(),
                    }),
                );
            }
            Ok::<_, crate::db::DbError>(out)
        })
        .await;
    let usage = match usage {
        Ok(usage) => usage,
        Err(e) => {
            tracing::error!("account figures failed: {e}");
            return ApiError::new(
                ErrorKind::Internal,
                "The server could not read the figures.",
            )
            .response(Dialect::OpenAi);
        }
    };
    let money = |micros: i64| crate::money::Money::from_micros(micros).to_decimal_string();
    let snapshot = gateway.wallets.snapshot(&key.user_id, now);
    let tier = gateway.tier(key.tier.as_deref());
    let monthly_cap = tier.monthly_cap(key.monthly_cap);
    HttpResponse::Ok().json(json!({
        "object": "account",
        "currency": gateway.config.billing.currency,
        "billing_mode": gateway.wallets.mode().name(),
        "balance": money(snapshot.balance),
        "reserved": money(snapshot.reserved),
        "month_spent": money(snapshot.month_spent),
        "monthly_cap": monthly_cap.map(money),
        "tier": tier.name,
        "key": {
            "id": key.key_id,
            "spend_limit": key.spend_limit.map(money),
        },
        "usage": usage,
    }))
}

/// A model as Codex CLI's model catalog describes it. Codex requires its instructions; they
/// replace Codex's built-in ones for this model.
fn codex_model_json(gateway: &Gateway, model: &ModelConfig, priority: usize) -> serde_json::Value {
    let levels: Vec<serde_json::Value> = model
        .reasoning_efforts
        .iter()
        .map(|effort| {
            let description = match effort.as_str() {
                "minimal" => "Fastest, with the least reasoning",
                "low" => "Quick, light reasoning",
                "medium" => "Balanced speed and depth",
                "high" => "Deepest reasoning, slowest",
                _ => "Reasoning effort as the provider defines it",
            };
            json!({ "effort": effort, "description": description })
        })
        .collect();
    let mut entry = json!({
        "slug": model.id,
        "display_name": model.name(),
        "description": model.description.clone().unwrap_or_default(),
        "supported_reasoning_levels": levels,
        "shell_type": "shell_command",
        "visibility": "list",
        "supported_in_api": true,
        "priority": priority + 1,
        "base_instructions": gateway.codex_instructions,
        "support_verbosity": false,
        "truncation_policy": { "mode": "bytes", "limit": 10_000 },
        "experimental_supported_tools": [],
    });
    if let Some(effort) = model.reasoning_efforts.first() {
        entry["default_reasoning_level"] = json!(effort);
    }
    if let Some(window) = model.context_window {
        entry["context_window"] = json!(window);
    }
    entry
}

/// `GET /v1/models`: the models this key may use, in the caller's shape.
async fn list_models(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let gateway = gateway.get_ref();
    let dialect = caller_dialect(&req);
    let key = match models_key(&req, gateway).await {
        Ok(key) => key,
        Err(e) => return e.response(dialect),
    };
    let data: Vec<serde_json::Value> = gateway
        .config
        .models
        .iter()
        .filter(|m| key.allows(&m.id))
        .map(|m| model_json(gateway, m, dialect))
        .collect();
    let codex = req
        .query_string()
        .split('&')
        .any(|p| p.split('=').next() == Some("client_version"));
    let body = match dialect {
        // Codex CLI reads `models`; other OpenAI clients read `data` and ignore the rest.
        Dialect::OpenAi if codex => {
            let models: Vec<serde_json::Value> = gateway
                .config
                .models
                .iter()
                .filter(|m| key.allows(&m.id))
                .enumerate()
                .map(|(i, m)| codex_model_json(gateway, m, i))
                .collect();
            json!({ "object": "list", "data": data, "models": models })
        }
        Dialect::OpenAi => json!({ "object": "list", "data": data }),
        Dialect::Anthropic => json!({
            "first_id": data.first().and_then(|m| m.get("id")).cloned(),
            "last_id": data.last().and_then(|m| m.get("id")).cloned(),
            "has_more": false,
            "data": data,
        }),
    };
    HttpResponse::Ok().json(body)
}

async fn get_model(
    req: HttpRequest,
    path: web::Path<String>,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    let gateway = gateway.get_ref();
    let dialect = caller_dialect(&req);
    let key = match models_key(&req, gateway).await {
        Ok(key) => key,
        Err(e) => return e.response(dialect),
    };
    match gateway.model(&path).filter(|m| key.allows(&m.id)) {
        Some(model) => HttpResponse::Ok().json(model_json(gateway, model, dialect)),
        None => ApiError::new(
            ErrorKind::NotFound,
            format!(
                "The model {:?} does not exist on this server.",
                path.as_str()
            ),
        )
        .code("model_not_found")
        .response(dialect),
    }
}
