//! Responses as dockerd writes them: JSON bodies with `application/json`, and empty 204s.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `value` as a JSON body with `status`.
pub fn json_with_status(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            // dockerd's encoder ends each body with a newline; some clients' tests compare bodies.
            body.push(b'\n');
            (status, [(header::CONTENT_TYPE, "application/json")], Body::from(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a response did not serialize");
            let body = serde_json::json!({ "message": format!("encoding the response: {e}") }).to_string();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    }
}

/// `value` as a 200 JSON body.
pub fn json(value: &impl Serialize) -> Response {
    json_with_status(StatusCode::OK, value)
}

/// 201 Created with `value`, as create endpoints answer.
pub fn created(value: &impl Serialize) -> Response {
    json_with_status(StatusCode::CREATED, value)
}

/// 204 No Content, as actions without a result answer.
pub fn no_content() -> Response {
    empty(StatusCode::NO_CONTENT)
}

/// `status` with no body (a tag's 201).
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}
