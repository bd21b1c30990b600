//! The API's OpenAPI 3.1 description: the gateway's own answers from the types `catalog` builds
//! them with, and one operation for each forwarded endpoint in `FORWARDED`, whose bodies are
//! described by the fields the gateway itself reads (the rest passes through). The web face adds
//! the Stripe webhook; `app` serves the whole at `/openapi.json`.

use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use super::FORWARDED;
use super::catalog;
use super::error::Dialect;
use super::proxy::dialect;
use crate::db::usage::Endpoint;
use crate::translate::Wire;

/// The OpenAI error object, on every route but `/v1/messages…`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAiError {
    pub error: OpenAiErrorDetail,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAiErrorDetail {
    pub message: String,
    /// E.g. `invalid_request_error`, `authentication_error`, `insufficient_quota`.
    #[serde(rename = "type")]
    #[schema(example = "invalid_request_error")]
    pub kind: String,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// A machine-readable code, e.g. `model_not_found`.
    pub code: Option<String>,
}

/// The `type` of an Anthropic error object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnthropicErrorType {
    Error,
}

/// The Anthropic error object, on `/v1/messages…` and for callers that send
/// `anthropic-version`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnthropicError {
    #[serde(rename = "type")]
    pub kind: AnthropicErrorType,
    pub error: AnthropicErrorDetail,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnthropicErrorDetail {
    /// E.g. `invalid_request_error`, `not_found_error`, `billing_error`, `overloaded_error`.
    #[serde(rename = "type")]
    #[schema(example = "not_found_error")]
    pub kind: String,
    pub message: String,
}

/// An error in either shape, as the caller asked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AnyError {
    OpenAi(OpenAiError),
    Anthropic(AnthropicError),
}

// The request bodies below name what the gateway reads; every other field is carried, mapped
// or dropped as `translate::policy` says, so each allows additional properties.

/// A Chat Completions request.
#[derive(Debug, ToSchema)]
pub struct ChatCompletionRequest {
    /// A model id or alias of this server.
    #[schema(example = "gpt-5")]
    pub model: String,
    /// The conversation; required, and read whenever the provider speaks another format.
    pub messages: Vec<Value>,
    /// Answer as server-sent events.
    #[schema(required = false)]
    pub stream: bool,
    /// Read, with `max_tokens`, to reserve the request's worst-case cost.
    #[schema(required = false)]
    pub max_completion_tokens: u64,
    #[schema(required = false)]
    pub max_tokens: u64,
    #[schema(required = false)]
    pub tools: Vec<Value>,
}

fn one_prompt() -> Schema {
    OneOfBuilder::new()
        .description(Some(
            "One prompt: a string, or a list holding one string. Several prompts or token arrays are refused.",
        ))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .min_items(Some(1))
                .max_items(Some(1)),
        )
        .build()
        .into()
}

/// A legacy Completions request.
#[derive(Debug, ToSchema)]
pub struct CompletionRequest {
    #[schema(example = "gpt-5")]
    pub model: String,
    #[schema(schema_with = one_prompt)]
    pub prompt: Value,
    #[schema(required = false)]
    pub stream: bool,
    #[schema(required = false)]
    pub max_tokens: u64,
}

/// A Responses request (also `/v1/responses/compact` and `/v1/responses/input_tokens`).
#[derive(Debug, ToSchema)]
pub struct ResponsesRequest {
    #[schema(example = "gpt-5")]
    pub model: String,
    /// A string or a list of input items.
    #[schema(required = false)]
    pub input: Value,
    #[schema(required = false)]
    pub instructions: String,
    #[schema(required = false)]
    pub stream: bool,
    #[schema(required = false)]
    pub max_output_tokens: u64,
    #[schema(required = false)]
    pub tools: Vec<Value>,
    /// Sent upstream as `false` when the operator keeps nothing at the provider.
    #[schema(required = false)]
    pub store: bool,
}

/// An Anthropic Messages request (also `/v1/messages/count_tokens`).
#[derive(Debug, ToSchema)]
pub struct MessagesRequest {
    #[schema(example = "claude-sonnet-4-5")]
    pub model: String,
    /// The conversation; required, and read whenever the provider speaks another format.
    pub messages: Vec<Value>,
    /// A string or a list of text blocks.
    #[schema(required = false)]
    pub system: Value,
    #[schema(required = false)]
    pub max_tokens: u64,
    #[schema(required = false)]
    pub stream: bool,
    #[schema(required = false)]
    pub tools: Vec<Value>,
}

/// A whole answer in the endpoint's own format, from the provider or translated from its
/// format; streamed answers are `text/event-stream` in the same format.
#[derive(Debug, ToSchema)]
pub struct ModelAnswer {
    #[schema(required = false)]
    pub id: String,
    /// What the answer used, as the format reports it.
    #[schema(required = false)]
    pub usage: Value,
}

/// One server-sent event of a streamed answer, in the endpoint's own streaming format.
#[derive(Debug, ToSchema)]
pub struct ServerSentEvent {
    /// The event's name, where the format names its events (Responses, Messages).
    #[schema(required = false, example = "response.created")]
    pub event: String,
    /// A JSON object of the format's stream, or `[DONE]` at the end of a Chat or Completions
    /// stream.
    pub data: String,
    #[schema(required = false)]
    pub id: String,
    #[schema(required = false)]
    pub retry: u64,
}

/// A count of the request's input tokens.
#[derive(Debug, ToSchema)]
pub struct TokenCount {
    /// `response.input_tokens` on `/v1/responses/input_tokens`.
    #[schema(required = false)]
    pub object: String,
    pub input_tokens: u64,
}

/// The schemas whose objects carry more fields than they name.
const OPEN_SCHEMAS: &[&str] = &[
    "ChatCompletionRequest",
    "CompletionRequest",
    "ResponsesRequest",
    "MessagesRequest",
    "ModelAnswer",
    "TokenCount",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "CodexAPI",
        description = "OpenAI- and Anthropic-compatible endpoints that forward to the operator's model providers, meter each request and bill the wallet, and the server's own figures: models with their prices, and the key's account. Request and response bodies are never stored.",
    ),
    paths(catalog::account, catalog::list_models, catalog::get_model),
    components(schemas(
        OpenAiError,
        AnthropicError,
        AnyError,
        ChatCompletionRequest,
        CompletionRequest,
        ResponsesRequest,
        MessagesRequest,
        ModelAnswer,
        ServerSentEvent,
        TokenCount,
    )),
    modifiers(&Security, &OpenSchemas),
    security(("bearer" = []), ("api_key" = [])),
    tags(
        (name = "models", description = "The models a key may use, with their prices"),
        (name = "account", description = "The key's account in figures"),
        (name = "openai", description = "OpenAI-compatible model endpoints"),
        (name = "anthropic", description = "Anthropic-compatible model endpoints"),
    ),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key of this server: `Authorization: Bearer sk-cx-…`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An API key of this server, as Anthropic clients send it",
            ))),
        );
    }
}

struct OpenSchemas;

impl Modify for OpenSchemas {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for name in OPEN_SCHEMAS {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
            }
        }
    }
}

/// The description of the gateway's endpoints.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for &(endpoint, wire) in FORWARDED {
        doc.paths.add_path_operation(
            endpoint.as_str(),
            vec![HttpMethod::Post],
            forwarded(endpoint, wire),
        );
    }
    doc
}

/// What a forwarded endpoint is, for its operation.
struct Forwarded {
    id: &'static str,
    summary: &'static str,
    request: &'static str,
    answer: &'static str,
    streams: bool,
}

fn describe(endpoint: Endpoint) -> Option<Forwarded> {
    let (id, summary, request, answer, streams) = match endpoint {
        Endpoint::ChatCompletions => (
            "createChatCompletion",
            "A chat completion (OpenAI Chat Completions)",
            "ChatCompletionRequest",
            "ModelAnswer",
            true,
        ),
        Endpoint::Completions => (
            "createCompletion",
            "A text completion (OpenAI's legacy Completions)",
            "CompletionRequest",
            "ModelAnswer",
            true,
        ),
        Endpoint::Responses => (
            "createResponse",
            "A response (OpenAI Responses, as Codex CLI calls it)",
            "ResponsesRequest",
            "ModelAnswer",
            true,
        ),
        Endpoint::ResponsesCompact => (
            "compactResponse",
            "A compacted conversation (Responses), from providers that speak Responses",
            "ResponsesRequest",
            "ModelAnswer",
            false,
        ),
        Endpoint::ResponsesInputTokens => (
            "countResponseInputTokens",
            "The input tokens of a Responses request; free of charge",
            "ResponsesRequest",
            "TokenCount",
            false,
        ),
        Endpoint::Messages => (
            "createMessage",
            "A message (Anthropic Messages, as Claude Code calls it)",
            "MessagesRequest",
            "ModelAnswer",
            true,
        ),
        Endpoint::CountTokens => (
            "countMessageTokens",
            "The input tokens of a Messages request; free of charge",
            "MessagesRequest",
            "TokenCount",
            false,
        ),
        Endpoint::Models | Endpoint::Other => return None,
    };
    Some(Forwarded {
        id,
        summary,
        request,
        answer,
        streams,
    })
}

/// The failures a forwarded request can meet, each in the endpoint's error shape.
const FAILURES: &[(&str, &str)] = &[
    (
        "400",
        "Malformed JSON, a missing or wrong field, or a model its providers cannot serve here",
    ),
    ("401", "No API key, or an unknown one"),
    (
        "402",
        "The wallet, the monthly cap or the key's spend limit does not cover the request",
    ),
    (
        "403",
        "The key is revoked or expired, the account suspended, the model not allowed, the network blocked, or a secret found in the request",
    ),
    ("404", "No such model on this server"),
    ("408", "The body arrived too slowly"),
    ("413", "The body is over the server's limit"),
    (
        "429",
        "A rate limit, the concurrency limit, or the provider's own limit",
    ),
    (
        "4XX",
        "The provider refused the request; its reason is passed on in this endpoint's shape",
    ),
    ("500", "A failure of this server"),
    (
        "502",
        "The provider failed or answered with something unusable",
    ),
    (
        "503",
        "No provider can serve the model now, or the database is unavailable",
    ),
    ("504", "The provider did not answer in time"),
];

fn forwarded(endpoint: Endpoint, wire: Wire) -> Operation {
    let Some(what) = describe(endpoint) else {
        return Operation::new();
    };
    let (tag, error) = match dialect(wire) {
        Dialect::OpenAi => ("openai", "OpenAiError"),
        Dialect::Anthropic => ("anthropic", "AnthropicError"),
    };
    let mut ok = ResponseBuilder::new()
        .description(if what.streams {
            "The answer: JSON, or server-sent events when the request sets `stream`"
        } else {
            "The answer"
        })
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(what.answer)))
                .build(),
        );
    if what.streams {
        ok = ok.content(
            "text/event-stream",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ServerSentEvent")))
                .build(),
        );
    }
    let mut operation = OperationBuilder::new()
        .operation_id(Some(what.id))
        .summary(Some(what.summary))
        .description(Some(
            "The body goes to a provider that serves the model, translated field by field when the provider speaks another format; fields not named here are carried, mapped or dropped as the docs page's tables say, and the dropped ones are named in the `x-codexapi-dropped` header.",
        ))
        .tag(tag)
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(what.request)))
                        .build(),
                )
                .build(),
        ))
        .response("200", ok.build());
    for (status, description) in FAILURES {
        operation = operation.response(
            *status,
            ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(error)))
                        .build(),
                )
                .build(),
        );
    }
    operation.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::error::{ApiError, ErrorKind};

    #[test]
    fn the_error_schemas_are_the_errors_the_gateway_sends() {
        let error = ApiError::new(ErrorKind::NotFound, "no such model")
            .code("model_not_found")
            .param("model");
        let openai: OpenAiError = serde_json::from_value(error.body(Dialect::OpenAi)).unwrap();
        assert_eq!(openai.error.code.as_deref(), Some("model_not_found"));
        let bare = ApiError::new(ErrorKind::Internal, "x").body(Dialect::OpenAi);
        let _: OpenAiError = serde_json::from_value(bare).unwrap();
        let anthropic: AnthropicError =
            serde_json::from_value(error.body(Dialect::Anthropic)).unwrap();
        assert_eq!(anthropic.error.kind, "not_found_error");
    }

    #[test]
    fn every_forwarded_endpoint_is_described() {
        let doc = serde_json::to_value(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for &(endpoint, _) in FORWARDED {
            let op = &doc["paths"][endpoint.as_str()]["post"];
            assert!(op["operationId"].is_string(), "{endpoint}");
            assert!(op["responses"]["401"].is_object(), "{endpoint}");
        }
        for path in ["/v1/models", "/v1/models/{id}", "/v1/account"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["ChatCompletionRequest"]["additionalProperties"],
            true
        );
        assert_eq!(
            schemas["CompletionRequest"]["required"],
            serde_json::json!(["model", "prompt"])
        );
        assert_eq!(
            schemas["MessagesRequest"]["required"],
            serde_json::json!(["model", "messages"])
        );
    }
}
