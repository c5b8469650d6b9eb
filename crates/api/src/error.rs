//! Every error the API answers with: Docker's `{"message": "..."}` body, its status decided in one
//! place ([`status_of`]) from the engine's error kind.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::ErrorKind;

/// An error response: a status and Docker's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// The HTTP status for an engine error of `kind`: the only place that decides it.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Docker's answer to any swarm-mode endpoint on a node that is not in a swarm.
pub const NOT_A_SWARM_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \
\"docker swarm join\" to connect this node to swarm and try again.";

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A request the server cannot act on as written (bad parameters, a malformed body).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A failure of the server itself (a panicked engine call), never the client's fault.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A path no route serves, with dockerd's text.
    pub fn page_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "page not found")
    }

    pub fn not_a_swarm_manager() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_A_SWARM_MANAGER)
    }
}

impl From<berth_engine::Error> for ApiError {
    fn from(e: berth_engine::Error) -> ApiError {
        ApiError::new(status_of(e.kind()), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The server's own failures are worth a log line; refusals (a swarm endpoint's 503) are not.
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(status = %self.status, message = %self.message, "request failed");
        }
        let body = serde_json::json!({ "message": self.message });
        crate::reply::json_with_status(self.status, &body)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_dockers_status() {
        assert_eq!(status_of(ErrorKind::NotFound), 404);
        assert_eq!(status_of(ErrorKind::InvalidArgument), 400);
        assert_eq!(status_of(ErrorKind::Conflict), 409);
        assert_eq!(status_of(ErrorKind::Unauthorized), 401);
        assert_eq!(status_of(ErrorKind::Unavailable), 503);
        assert_eq!(status_of(ErrorKind::Internal), 500);
    }

    #[test]
    fn engine_errors_keep_their_message() {
        let e = ApiError::from(berth_engine::Error::NoSuchContainer("x".into()));
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.message, "No such container: x");
    }
}
