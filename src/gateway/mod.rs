//! The API: OpenAI- and Anthropic-compatible endpoints that authenticate a key, forward to an
//! upstream model provider, stream the answer back and meter the request — keeping only metadata.

pub mod error;
pub mod keys;
pub mod metering;
pub mod providers;
pub mod proxy;
pub mod sse;
pub mod tokens;
pub mod translate;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::config::{Config, ModelConfig};
use crate::db::Db;
use crate::web::AppState;
use error::{ApiError, Dialect, ErrorKind};
use keys::KeyCache;
use metering::UsageWriter;
use providers::Providers;
use translate::Wire;

/// What the API needs at run time; shared by every worker.
pub struct Gateway {
    pub keys: KeyCache,
    pub providers: Providers,
    pub http: reqwest::Client,
    pub usage: UsageWriter,
    models: Vec<ModelConfig>,
    /// Model id or alias → index into `models`.
    index: HashMap<String, usize>,
    created: i64,
}

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
    pub fn start(config: &Config, db: Db) -> Result<(Arc<Gateway>, GatewayTasks), String> {
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
        let (usage, usage_thread) = UsageWriter::start(db.clone());
        // Build the tokenizer's tables now, off the request path, rather than at first use.
        std::thread::spawn(|| tokens::count(""));
        let keys = KeyCache::new(db);
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
        let gateway = Gateway {
            keys,
            providers: Providers::new(config),
            http,
            usage: usage.clone(),
            models: config.models.clone(),
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
        self.index.get(id).and_then(|&i| self.models.get(i))
    }
}

/// The forwarding endpoints: path under `/v1` and the wire format clients speak there.
const FORWARDED: &[(&str, Wire)] = &[
    ("/chat/completions", Wire::Chat),
    ("/completions", Wire::Completions),
    ("/responses", Wire::Responses),
    ("/responses/compact", Wire::Responses),
    ("/messages", Wire::Messages),
    ("/messages/count_tokens", Wire::Messages),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/v1");
    for &(path, wire) in FORWARDED {
        let endpoint = endpoint_name(&format!("/v1{path}"));
        scope = scope.route(
            path,
            web::post().to(
                move |req: HttpRequest, payload: web::Payload, state: web::Data<AppState>| {
                    proxy::handle(wire, endpoint, req, payload, state)
                },
            ),
        );
    }
    cfg.service(
        scope
            .route("/models", web::get().to(list_models))
            .route("/models/{id:.+}", web::get().to(get_model))
            .default_service(web::to(unknown_route)),
    );
}

/// Stored endpoint names, as `&'static str` for usage rows.
pub const ENDPOINTS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/responses/compact",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/models",
];

pub fn endpoint_name(stored: &str) -> &'static str {
    ENDPOINTS
        .iter()
        .find(|e| **e == stored)
        .copied()
        .unwrap_or("other")
}

pub const OUTCOMES: &[&str] = &[
    "completed",
    "incomplete",
    "failed",
    "upstream_dropped",
    "client_cancelled",
    "rejected",
];

pub fn outcome_name(stored: &str) -> &'static str {
    OUTCOMES
        .iter()
        .find(|o| **o == stored)
        .copied()
        .unwrap_or("other")
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

/// The key of a models request, or the error to answer with.
async fn models_key(req: &HttpRequest, gateway: &Gateway) -> Result<Arc<keys::KeyInfo>, ApiError> {
    let secret = keys::presented_key(req.headers()).ok_or_else(|| {
        ApiError::new(
            ErrorKind::Authentication,
            "No API key: send it as `Authorization: Bearer sk-cx-…` or `x-api-key`.",
        )
    })?;
    let key = gateway
        .keys
        .lookup(&secret)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorKind::Internal,
                "The server could not check the API key.",
            )
        })?
        .ok_or_else(|| {
            ApiError::new(ErrorKind::Authentication, "Incorrect API key provided.")
                .code("invalid_api_key")
        })?;
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

/// `GET /v1/models`: the models this key may use, in the caller's shape.
async fn list_models(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let gateway = &state.gateway;
    let dialect = caller_dialect(&req);
    let key = match models_key(&req, gateway).await {
        Ok(key) => key,
        Err(e) => return e.response(dialect),
    };
    let data: Vec<serde_json::Value> = gateway
        .models
        .iter()
        .filter(|m| key.allows(&m.id))
        .map(|m| model_json(gateway, m, dialect))
        .collect();
    let body = match dialect {
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
    state: web::Data<AppState>,
) -> HttpResponse {
    let gateway = &state.gateway;
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
