//! A JSON request body: at most [`super::MAX_BODY`] bytes (413 past it), parsed into a type
//! that refuses unknown fields, with serde's words (which name the field, line and column) as
//! the message.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::{ApiError, MAX_BODY};

/// A body parsed as `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_BODY) {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::too_large(MAX_BODY))?;
        parse(&bytes).map(JsonBody)
    }
}

/// `bytes` as `T`, or the 400 that says why not.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // serde's message quotes an unexpected value (`invalid type: string "…"`), which may
        // be a secret sent in the wrong field: only the kind of error and where it is are kept
        // for those; an unknown or missing field is named, and that is all it quotes.
        let text = e.to_string();
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("malformed_json", format!("the body is not JSON: {text}"))
            }
            Category::Data if text.starts_with("unknown field") => {
                ApiError::bad_request("unknown_field", text)
            }
            Category::Data if text.starts_with("missing field") => {
                ApiError::bad_request("invalid_field", text)
            }
            Category::Data => ApiError::bad_request(
                "invalid_field",
                format!(
                    "a field has the wrong type (line {}, column {}): {}",
                    e.line(),
                    e.column(),
                    text.split(':').next().unwrap_or("invalid value")
                ),
            ),
        }
    })
}
