//! The explorer: a web page, served from the binary, on which readers drive the optimizers across the
//! landscapes, and the JSON API behind it.
//!
//! Every computation runs in the server, on the same library code as the command line, inside bounds: the size
//! of a request's body, its steps, optimizers and expression, the time it may compute, and the computations that
//! may run at once (a request beyond them is answered 503 at once, never queued). No request touches a file.

mod api;
mod catalog;
mod race_request;
mod time_limited;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokio::sync::Semaphore;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most steps of one run.
pub const MAX_STEPS: u64 = 100_000;

/// The most optimizers of one request.
pub const MAX_OPTIMIZERS: usize = 16;

/// The most steps of one request, summed over its optimizers (each step is a point in the answer).
pub const MAX_TOTAL_STEPS: u64 = 400_000;

/// The most steps of one request when it asks for each step's optimizer state (three vectors per step).
pub const MAX_STATE_STEPS: u64 = 100_000;

/// The longest optimizer spec or schedule, in characters.
pub const MAX_SPEC_CHARS: usize = 1_000;

/// The longest computation of one request by default; past it, the request fails with a message saying so.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10);

/// The largest contour map, in pixels a side.
pub const MAX_MAP_SIDE: u32 = 1_024;

/// What every handler shares: how many computations may start now, and how long each may take.
#[derive(Clone)]
pub struct Explorer {
    computations: Arc<Semaphore>,
    time_limit: Duration,
}

impl Explorer {
    /// An explorer that runs at most `concurrent` computations at once, each for at most `time_limit`.
    pub fn new(concurrent: usize, time_limit: Duration) -> Explorer {
        Explorer { computations: Arc::new(Semaphore::new(concurrent)), time_limit }
    }

    /// The routes: the page, its assets and the API.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| asset("text/html; charset=utf-8", include_str!("assets/index.html"))))
            .route("/app.js", get(|| asset("text/javascript; charset=utf-8", include_str!("assets/app.js"))))
            .route("/style.css", get(|| asset("text/css; charset=utf-8", include_str!("assets/style.css"))))
            .route("/api/catalog", get(api::catalog))
            .route("/api/surface", get(api::surface))
            .route("/api/map", get(api::map))
            .route("/api/race", post(api::race))
            .route("/api/tune", post(api::tune))
            .route("/api/picture", post(api::picture))
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such page or API endpoint") })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "this endpoint does not take that method (see the README)",
                )
            })
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self)
    }
}

/// An embedded asset, with headers that keep the page to its own scripts and styles.
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data: blob:; connect-src 'self'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A request the API refuses: its status and, in the body, `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error of `status` saying `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// A request that is wrong: 400, with the message the command line would print.
    pub fn bad(message: impl ToString) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
