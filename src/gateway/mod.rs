//! The API: OpenAI- and Anthropic-compatible endpoints that authenticate a key, forward to an
//! upstream model provider, stream the answer back and meter the request — keeping only metadata.

pub mod catalog;
pub mod error;
pub mod guard;
pub mod keys;
pub mod metering;
pub mod openapi;
mod probe;
pub mod providers;
pub mod proxy;
mod routing;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use arc_swap::ArcSwap;

use crate::abuse::Blocklist;
use crate::auth::throttle::{Throttle, address_key};
use crate::billing::alert::BalanceAlert;
use crate::billing::limits::RateLimits;
use crate::billing::wallet::Wallets;
use crate::client::ClientInfo;
use crate::config::{Config, Live};
use crate::db::Db;
use crate::db::usage::Endpoint;
use crate::metrics::Metrics;
use crate::translate::Wire;
use error::{ApiError, Dialect, ErrorKind};
use keys::KeyCache;
use metering::UsageWriter;
pub use routing::Routing;

/// What the API needs at run time; shared by every worker.
pub struct Gateway {
    pub db: Db,
    pub keys: KeyCache,
    pub http: reqwest::Client,
    pub usage: UsageWriter,
    pub wallets: Arc<Wallets>,
    pub limits: Arc<RateLimits>,
    /// The configuration and what is built from it, replaced whole by a reload.
    routing: ArcSwap<Routing>,
    /// Unknown API keys per client address.
    bad_keys: Throttle,
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
    /// Starts the gateway on the configuration `live` holds now, and has every reload of `live`
    /// rebuild its routing.
    pub fn start(
        live: &Live,
        db: Db,
        alert: Option<Box<dyn BalanceAlert>>,
        blocklist: Blocklist,
    ) -> Result<(Arc<Gateway>, GatewayTasks), String> {
        let config = live.get();
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
        let gateway = Arc::new(Gateway {
            db: db.clone(),
            keys,
            http,
            usage: usage.clone(),
            wallets,
            limits: Arc::new(RateLimits::default()),
            bad_keys: Throttle::new(UNKNOWN_KEYS_PER_ADDRESS),
            guard: guard::Guard::new(config.privacy.secret_guard)?.map(Arc::new),
            blocklist,
            metrics,
            routing: ArcSwap::from_pointee(Routing::build(config, None)?),
            created: crate::db::now_ms() / 1000,
        });
        let weak = Arc::downgrade(&gateway);
        live.on_reload(Box::new(move |config| match weak.upgrade() {
            Some(gateway) => gateway.reload(config.clone()),
            None => Ok(()),
        }));
        Ok((
            gateway,
            GatewayTasks {
                usage_thread,
                stop_watch,
                usage,
            },
        ))
    }

    /// The routing now; hold it for the length of one request.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing.load_full()
    }

    /// Builds the routing of a new configuration and puts it in place, or fails changing nothing.
    fn reload(&self, config: Arc<Config>) -> Result<(), String> {
        let routing = Routing::build(config, Some(&self.routing()))?;
        self.routing.store(Arc::new(routing));
        Ok(())
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
}

impl crate::health::ProviderHealth for Gateway {
    fn set_in_rotation(&self, name: &str, on: bool) -> bool {
        match self
            .routing()
            .providers
            .all()
            .iter()
            .find(|u| u.config.name == name)
        {
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
        self.routing()
            .providers
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
            .route("/models", web::get().to(catalog::list_models))
            .route("/account", web::get().to(catalog::account))
            .route("/models/{id:.+}", web::get().to(catalog::get_model))
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

/// The method an endpoint of the API takes, for the 405 of a request with another.
fn allowed_method(path: &str) -> Option<&'static str> {
    if FORWARDED
        .iter()
        .any(|(endpoint, _)| endpoint.as_str() == path)
    {
        return Some("POST");
    }
    let model = path
        .strip_prefix("/v1/models/")
        .is_some_and(|id| !id.is_empty());
    (model || path == "/v1/models" || path == "/v1/account").then_some("GET")
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let dialect = if req.path().starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        caller_dialect(&req)
    };
    if let Some(allow) = allowed_method(req.path()) {
        let mut res = ApiError::new(
            ErrorKind::InvalidRequest,
            format!("{} takes {allow}, not {}.", req.path(), req.method()),
        )
        .response(dialect);
        *res.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
        res.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        return res;
    }
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
