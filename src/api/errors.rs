//! The API's errors: JSON `{"error":{"code":"...","message":"..."}}` with a machine code the
//! platform's backend can branch on and a message that names the field or the problem.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Problem;

/// An error answer: its HTTP status, machine code and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `malformed_json`, `unknown_field`, `invalid_field`, `body_too_large`,
    /// `not_found`, `conflict`, `store_failed`.
    pub code: String,
    /// What is wrong, naming the field (`api_secret: value is empty`).
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a bearer token from api.tokens is required: Authorization: Bearer TOKEN",
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn internal(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
    }

    /// The config's problems with a connection, each by its field: the key path
    /// `connections.NAME.api_secret` becomes `api_secret`, the body's own name for it.
    pub fn invalid(name: &str, problems: &[Problem]) -> ApiError {
        let prefix = format!("connections.{name}.");
        let message = problems
            .iter()
            .map(|p| {
                let field = p.key.strip_prefix(&prefix).unwrap_or(&p.key);
                format!("{field}: {}", p.message)
            })
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::bad_request("invalid_field", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
