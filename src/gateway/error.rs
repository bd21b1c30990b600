//! API errors in the caller's own format: the OpenAI error object on OpenAI routes, the
//! Anthropic one on `/v1/messages`. Messages never quote the request body.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde_json::json;

/// Which error shape the caller expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: malformed JSON, a missing or wrong field.
    InvalidRequest,
    /// 401: no key or an unknown one.
    Authentication,
    /// 403: revoked or expired key, suspended account, model not allowed.
    Permission,
    /// 404: unknown model or route.
    NotFound,
    /// 402: the wallet, a monthly cap or a key's spend limit does not cover the request.
    InsufficientQuota,
    /// 413: body over the limit.
    TooLarge,
    /// 408: the client sent its body too slowly.
    SlowClient,
    /// 429: a limit was hit.
    RateLimited,
    /// 500: our fault.
    Internal,
    /// 502: the upstream answered with something unusable.
    BadGateway,
    /// 503: no provider can serve the model now.
    Unavailable,
    /// 504: the upstream did not answer in time.
    Timeout,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::Permission => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::SlowClient => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::InsufficientQuota => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `type` of the OpenAI error object.
    fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::NotFound
            | ErrorKind::TooLarge
            | ErrorKind::SlowClient => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::InsufficientQuota => "insufficient_quota",
            ErrorKind::Internal
            | ErrorKind::BadGateway
            | ErrorKind::Unavailable
            | ErrorKind::Timeout => "server_error",
        }
    }

    /// The `error.type` of the Anthropic error object.
    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::SlowClient => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::TooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::InsufficientQuota => "billing_error",
            ErrorKind::Internal | ErrorKind::BadGateway | ErrorKind::Timeout => "api_error",
            ErrorKind::Unavailable => "overloaded_error",
        }
    }

    /// Short name kept in the usage row.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::SlowClient => "slow_client",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::InsufficientQuota => "insufficient_quota",
            ErrorKind::Internal => "internal",
            ErrorKind::BadGateway => "bad_gateway",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// OpenAI's machine-readable `code` (e.g. `model_not_found`).
    pub code: Option<&'static str>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after_secs: None,
        }
    }

    pub fn param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn body(&self, dialect: Dialect) -> serde_json::Value {
        match dialect {
            Dialect::OpenAi => json!({
                "error": {
                    "message": self.message,
                    "type": self.kind.openai_type(),
                    "param": self.param,
                    "code": self.code,
                }
            }),
            Dialect::Anthropic => json!({
                "type": "error",
                "error": { "type": self.kind.anthropic_type(), "message": self.message },
            }),
        }
    }

    pub fn response(&self, dialect: Dialect) -> HttpResponse {
        let mut res = HttpResponse::build(self.kind.status())
            .content_type("application/json")
            .body(self.body(dialect).to_string());
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_dialect() {
        let e = ApiError::new(ErrorKind::NotFound, "no model x")
            .code("model_not_found")
            .param("model");
        let openai = e.body(Dialect::OpenAi);
        assert_eq!(openai["error"]["type"], "invalid_request_error");
        assert_eq!(openai["error"]["code"], "model_not_found");
        assert_eq!(openai["error"]["param"], "model");
        let anthropic = e.body(Dialect::Anthropic);
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "not_found_error");
        assert_eq!(e.response(Dialect::OpenAi).status(), 404);
    }
}
