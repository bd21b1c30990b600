//! The gateway's own answers: the model catalog (`GET /v1/models`, `GET /v1/models/{id}`) in the
//! caller's shape, with prices, and the key's account figures (`GET /v1/account`). The handlers
//! build these types and `openapi` describes them, so the document and the answers cannot differ.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Dialect, ErrorKind};
use super::openapi::{AnyError, OpenAiError};
use super::{Gateway, Routing, caller_dialect, keys};
use crate::billing::RateCard;
use crate::config::ModelConfig;
use crate::money::Money;

/// The `object` of an OpenAI model.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelObject {
    Model,
}

/// The `object` of an OpenAI list.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListObject {
    List,
}

/// The `object` of the account figures.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountObject {
    Account,
}

/// What a model costs here. Amounts are decimal strings in the currency (never floats).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pricing {
    /// The currency of every amount, e.g. `USD`.
    #[schema(example = "USD")]
    pub currency: String,
    /// What the token prices are per.
    #[schema(example = "per 1M tokens")]
    pub unit: &'static str,
    #[schema(example = "1.25")]
    pub input: String,
    pub cached_input: String,
    pub cache_creation: String,
    #[schema(example = "10")]
    pub output: String,
    pub reasoning: String,
    /// Charged once per request, on top of the tokens.
    pub request_fee: String,
}

impl Pricing {
    pub fn of(card: &RateCard, currency: &str) -> Pricing {
        Pricing {
            currency: currency.to_owned(),
            unit: "per 1M tokens",
            input: card.input.to_decimal_string(),
            cached_input: card.cached_input.to_decimal_string(),
            cache_creation: card.cache_creation.to_decimal_string(),
            output: card.output.to_decimal_string(),
            reasoning: card.reasoning.to_decimal_string(),
            request_fee: card.request_fee.to_decimal_string(),
        }
    }
}

/// A model as OpenAI clients read it, with its price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenAiModel {
    #[schema(example = "gpt-5")]
    pub id: String,
    pub object: ModelObject,
    /// Unix seconds.
    pub created: i64,
    #[schema(example = "codexapi")]
    pub owned_by: &'static str,
    pub pricing: Pricing,
}

/// The `type` of an Anthropic model.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnthropicModelType {
    Model,
}

/// A model as Anthropic clients read it (callers that send `anthropic-version`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnthropicModel {
    #[serde(rename = "type")]
    pub kind: AnthropicModelType,
    #[schema(example = "claude-sonnet-4-5")]
    pub id: String,
    pub display_name: String,
    /// RFC 3339.
    pub created_at: Option<String>,
}

/// One model, in the caller's shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Model {
    OpenAi(OpenAiModel),
    Anthropic(AnthropicModel),
}

/// A reasoning effort Codex CLI offers for a model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReasoningLevel {
    #[schema(example = "medium")]
    pub effort: String,
    pub description: &'static str,
}

/// How Codex CLI shortens tool output for the model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TruncationPolicy {
    #[schema(example = "bytes")]
    pub mode: &'static str,
    pub limit: u64,
}

/// A model as Codex CLI's model catalog describes it. Codex requires its instructions; they
/// replace Codex's built-in ones for this model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CodexModel {
    pub slug: String,
    pub display_name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_reasoning_level: Option<String>,
    pub supported_reasoning_levels: Vec<ReasoningLevel>,
    #[schema(example = "shell_command")]
    pub shell_type: &'static str,
    #[schema(example = "list")]
    pub visibility: &'static str,
    pub supported_in_api: bool,
    /// The model's place in Codex's picker, from 1.
    pub priority: usize,
    pub base_instructions: String,
    pub support_verbosity: bool,
    pub truncation_policy: TruncationPolicy,
    pub experimental_supported_tools: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
}

/// The models a key may use, as OpenAI clients read them; `models` (Codex CLI's catalog) only
/// when the query names a `client_version`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenAiModelList {
    pub object: ListObject,
    pub data: Vec<OpenAiModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<CodexModel>>,
}

/// The models a key may use, as Anthropic clients read them: one page, always the last.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnthropicModelList {
    pub first_id: Option<String>,
    pub last_id: Option<String>,
    pub has_more: bool,
    pub data: Vec<AnthropicModel>,
}

/// The models a key may use, in the caller's shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ModelList {
    OpenAi(OpenAiModelList),
    Anthropic(AnthropicModelList),
}

/// The key's account in figures. Amounts are decimal strings in `currency`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub object: AccountObject,
    #[schema(example = "USD")]
    pub currency: String,
    /// `prepaid`, `budget` or `off`.
    #[schema(example = "prepaid")]
    pub billing_mode: &'static str,
    #[schema(example = "12.5")]
    pub balance: String,
    /// Held by requests that are running now.
    pub reserved: String,
    /// Spent this month (UTC).
    pub month_spent: String,
    /// The account's monthly cap, its own or its tier's; null for none.
    pub monthly_cap: Option<String>,
    pub tier: String,
    pub key: AccountKey,
    pub usage: AccountUsage,
}

/// The key that asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountKey {
    pub id: String,
    /// What this key may spend in all; null for no limit.
    pub spend_limit: Option<String>,
}

/// Usage over the last day, week and month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountUsage {
    pub last_24_hours: UsageTotals,
    pub last_7_days: UsageTotals,
    pub last_30_days: UsageTotals,
}

/// Requests, tokens and cost over a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageTotals {
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// A decimal string in the account's currency.
    pub cost: String,
}

impl From<crate::db::usage::Totals> for UsageTotals {
    fn from(totals: crate::db::usage::Totals) -> UsageTotals {
        UsageTotals {
            requests: totals.requests,
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cost: money(totals.cost),
        }
    }
}

fn money(micros: i64) -> String {
    Money::from_micros(micros).to_decimal_string()
}

/// The key of a request that needs no more than a usable key (models, account figures).
async fn models_key(req: &HttpRequest, gateway: &Gateway) -> Result<Arc<keys::KeyInfo>, ApiError> {
    let key = gateway.identify(req).await?;
    if let Some(reason) = key.refusal(crate::db::now_ms()) {
        return Err(ApiError::new(ErrorKind::Permission, reason));
    }
    Ok(key)
}

fn openai_model(gateway: &Gateway, routing: &Routing, model: &ModelConfig) -> OpenAiModel {
    OpenAiModel {
        id: model.id.clone(),
        object: ModelObject::Model,
        created: gateway.created,
        owned_by: "codexapi",
        pricing: Pricing::of(
            &RateCard::of(&model.price),
            &routing.config.billing.currency,
        ),
    }
}

fn anthropic_model(gateway: &Gateway, model: &ModelConfig) -> AnthropicModel {
    AnthropicModel {
        kind: AnthropicModelType::Model,
        id: model.id.clone(),
        display_name: model.name().to_owned(),
        created_at: time::OffsetDateTime::from_unix_timestamp(gateway.created)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
    }
}

fn codex_model(routing: &Routing, model: &ModelConfig, priority: usize) -> CodexModel {
    let levels = model
        .reasoning_efforts
        .iter()
        .map(|effort| ReasoningLevel {
            effort: effort.clone(),
            description: match effort.as_str() {
                "minimal" => "Fastest, with the least reasoning",
                "low" => "Quick, light reasoning",
                "medium" => "Balanced speed and depth",
                "high" => "Deepest reasoning, slowest",
                _ => "Reasoning effort as the provider defines it",
            },
        })
        .collect();
    CodexModel {
        slug: model.id.clone(),
        display_name: model.name().to_owned(),
        description: model.description.clone().unwrap_or_default(),
        default_reasoning_level: model.reasoning_efforts.first().cloned(),
        supported_reasoning_levels: levels,
        shell_type: "shell_command",
        visibility: "list",
        supported_in_api: true,
        priority: priority + 1,
        base_instructions: routing.codex_instructions.clone(),
        support_verbosity: false,
        truncation_policy: TruncationPolicy {
            mode: "bytes",
            limit: 10_000,
        },
        experimental_supported_tools: Vec::new(),
        context_window: model.context_window,
    }
}

/// The key's account in figures.
///
/// For scripts: the balance, what running requests hold, this month's spend and caps, and usage
/// over the last day, week and month.
#[utoipa::path(
    get,
    path = "/v1/account",
    tag = "account",
    operation_id = "getAccount",
    responses(
        (status = 200, description = "The key's account in figures", body = Account),
        (status = 401, description = "No API key, or an unknown one", body = OpenAiError),
        (status = 403, description = "The key is revoked or expired, or the account suspended, or the network blocked", body = OpenAiError),
        (status = 429, description = "Too many unknown keys came from this address", body = OpenAiError),
        (status = 500, description = "The figures could not be read", body = OpenAiError),
        (status = 503, description = "The database is unavailable", body = OpenAiError),
    ),
)]
pub async fn account(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let gateway = gateway.get_ref();
    let key = match models_key(&req, gateway).await {
        Ok(key) => key,
        Err(e) => return e.response(Dialect::OpenAi),
    };
    let now = crate::db::now_ms();
    let user = key.user_id.clone();
    let usage = gateway
        .db
        .run(move |conn| {
            let since = |from: i64| crate::db::usage::totals_since(conn, &user, from);
            Ok::<_, crate::db::DbError>(AccountUsage {
                last_24_hours: since(now - 86_400_000)?.into(),
                last_7_days: since(now - 7 * 86_400_000)?.into(),
                last_30_days: since(now - 30 * 86_400_000)?.into(),
            })
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
    let snapshot = gateway.wallets.snapshot(&key.user_id, now);
    let routing = gateway.routing();
    let tier = routing.tier(key.tier.as_deref());
    HttpResponse::Ok().json(Account {
        object: AccountObject::Account,
        currency: routing.config.billing.currency.clone(),
        billing_mode: gateway.wallets.mode().name(),
        balance: money(snapshot.balance),
        reserved: money(snapshot.reserved),
        month_spent: money(snapshot.month_spent),
        monthly_cap: tier.monthly_cap(key.monthly_cap).map(money),
        tier: tier.name.clone(),
        key: AccountKey {
            id: key.key_id.clone(),
            spend_limit: key.spend_limit.map(money),
        },
        usage,
    })
}

/// The models this key may use.
///
/// In the caller's shape: Anthropic's for callers that send `anthropic-version`, OpenAI's (with
/// prices) for the rest, and Codex CLI's catalog beside it when the query names a
/// `client_version`.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    operation_id = "listModels",
    params(
        ("client_version" = Option<String>, Query, description = "Sent by Codex CLI: adds its model catalog as `models`"),
        ("anthropic-version" = Option<String>, Header, nullable = false, description = "Asks for Anthropic's shapes"),
    ),
    responses(
        (status = 200, description = "The models this key may use", body = ModelList),
        (status = 401, description = "No API key, or an unknown one", body = AnyError),
        (status = 403, description = "The key is revoked or expired, or the account suspended, or the network blocked", body = AnyError),
        (status = 429, description = "Too many unknown keys came from this address", body = AnyError),
        (status = 500, description = "The key could not be checked", body = AnyError),
        (status = 503, description = "The database is unavailable", body = AnyError),
    ),
)]
pub async fn list_models(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let gateway = gateway.get_ref();
    let dialect = caller_dialect(&req);
    let key = match models_key(&req, gateway).await {
        Ok(key) => key,
        Err(e) => return e.response(dialect),
    };
    let routing = gateway.routing();
    let allowed = || routing.config.models.iter().filter(|m| key.allows(&m.id));
    let codex = req
        .query_string()
        .split('&')
        .any(|p| p.split('=').next() == Some("client_version"));
    let body = match dialect {
        // Codex CLI reads `models`; other OpenAI clients read `data` and ignore the rest.
        Dialect::OpenAi => ModelList::OpenAi(OpenAiModelList {
            object: ListObject::List,
            data: allowed()
                .map(|m| openai_model(gateway, &routing, m))
                .collect(),
            models: codex.then(|| {
                allowed()
                    .enumerate()
                    .map(|(i, m)| codex_model(&routing, m, i))
                    .collect()
            }),
        }),
        Dialect::Anthropic => {
            let data: Vec<AnthropicModel> =
                allowed().map(|m| anthropic_model(gateway, m)).collect();
            ModelList::Anthropic(AnthropicModelList {
                first_id: data.first().map(|m| m.id.clone()),
                last_id: data.last().map(|m| m.id.clone()),
                has_more: false,
                data,
            })
        }
    };
    HttpResponse::Ok().json(body)
}

/// One model this key may use.
///
/// By id or alias, in the caller's shape.
#[utoipa::path(
    get,
    path = "/v1/models/{id}",
    tag = "models",
    operation_id = "getModel",
    params(
        ("id" = String, Path, description = "A model id or alias"),
        ("anthropic-version" = Option<String>, Header, nullable = false, description = "Asks for Anthropic's shapes"),
    ),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 401, description = "No API key, or an unknown one", body = AnyError),
        (status = 403, description = "The key is revoked or expired, or the account suspended, or the network blocked", body = AnyError),
        (status = 404, description = "No such model, or not one this key may use", body = AnyError),
        (status = 429, description = "Too many unknown keys came from this address", body = AnyError),
        (status = 500, description = "The key could not be checked", body = AnyError),
        (status = 503, description = "The database is unavailable", body = AnyError),
    ),
)]
pub async fn get_model(
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
    let routing = gateway.routing();
    match routing.model(&path).filter(|m| key.allows(&m.id)) {
        Some(model) => HttpResponse::Ok().json(match dialect {
            Dialect::OpenAi => Model::OpenAi(openai_model(gateway, &routing, model)),
            Dialect::Anthropic => Model::Anthropic(anthropic_model(gateway, model)),
        }),
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
