//! The endpoint: `POST /v1/chat/completions` in the OpenAI shape, JSON errors for
//! everything else.
//!
//! Each request is decided and recorded under the provider's lock at arrival, then
//! answered after its latency in a task of its own: if the client hangs up meanwhile,
//! the handler is dropped but the task still records the answer at its time, so the trace
//! never holds a request without its answer. The server waits for those tasks before it
//! stops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paceline_core::Outcome;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::provider::{Decided, Provider};
use crate::request::{ApiError, Call, parse};

/// The path of the one endpoint.
pub const CHAT_PATH: &str = "/v1/chat/completions";

/// What every handler shares.
pub(crate) struct Shared {
    pub provider: Mutex<Provider>,
    /// Answer tasks not yet done.
    in_flight: AtomicUsize,
    done: Notify,
}

impl Shared {
    pub(crate) fn new(provider: Provider) -> Self {
        Shared {
            provider: Mutex::new(provider),
            in_flight: AtomicUsize::new(0),
            done: Notify::new(),
        }
    }

    /// The provider. Nothing panics while holding it (the service answers every input
    /// without a panic), so a poisoned lock still guards consistent state.
    pub(crate) fn provider(&self) -> MutexGuard<'_, Provider> {
        self.provider
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wait until every answer task has recorded its answer.
    pub(crate) async fn answers_recorded(&self) {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            done.await;
        }
    }
}

/// Counts an answer task in flight until dropped.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}

/// The router: the endpoint, and JSON errors for other paths and methods.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(CHAT_PATH, post(chat))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

/// A JSON body with its content type.
fn json_response(status: StatusCode, mut headers: HeaderMap, body: &Value) -> Response {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (status, headers, body.to_string()).into_response()
}

fn error_response(shared: &Shared, error: ApiError) -> Response {
    shared.provider().bad_request();
    json_response(error.status, HeaderMap::new(), &error.body())
}

async fn not_found(State(shared): State<Arc<Shared>>) -> Response {
    let error = ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no such endpoint: paceline serve answers POST {CHAT_PATH}"),
        kind: "invalid_request_error",
        code: "unknown_url",
    };
    error_response(&shared, error)
}

async fn method_not_allowed(State(shared): State<Arc<Shared>>) -> Response {
    let error = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{CHAT_PATH} takes POST"),
        kind: "invalid_request_error",
        code: "method_not_allowed",
    };
    error_response(&shared, error)
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let error = ApiError {
                status: rejection.status(),
                ..ApiError::invalid(rejection.body_text())
            };
            return error_response(&shared, error);
        }
    };
    let call = match parse(&headers, &body) {
        Ok(call) => call,
        Err(error) => return error_response(&shared, error),
    };
    let decided = shared.provider().arrive(&call);
    let guard = InFlight::new(&shared);
    let task = tokio::spawn(async move {
        tokio::time::sleep(decided.latency).await;
        guard.0.provider().answered(&call, &decided);
        response(&call, &decided)
    });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            let error = ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("the answer task failed: {e}"),
                kind: "server_error",
                code: "internal_error",
            };
            json_response(error.status, HeaderMap::new(), &error.body())
        }
    }
}

/// The HTTP answer to a decided request.
fn response(call: &Call, d: &Decided) -> Response {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: u64| {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    };
    if let Some((limit, left)) = d.remaining.requests {
        put("x-ratelimit-limit-requests", limit);
        put("x-ratelimit-remaining-requests", left);
    }
    if let Some((limit, left)) = d.remaining.tokens {
        put("x-ratelimit-limit-tokens", limit);
        put("x-ratelimit-remaining-tokens", left);
    }
    if let Some(ms) = d.retry_after_ms {
        put("retry-after-ms", ms);
        put("retry-after", ms.div_ceil(1000));
    }
    put("x-paceline-request", d.number as u64);
    let status = StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if d.outcome == Outcome::Ok {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let body = json!({
            "id": format!("chatcmpl-paceline-{}", d.number),
            "object": "chat.completion",
            "created": created,
            "model": call.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": d.tokens,
                "completion_tokens": d.output_tokens,
                "total_tokens": d.tokens.saturating_add(d.output_tokens),
            },
        });
        return json_response(status, headers, &body);
    }
    json_response(status, headers, &refusal(d).body())
}

/// The provider's words for a refusal, in the OpenAI shape.
fn refusal(d: &Decided) -> ApiError {
    let by = d.refused_by.unwrap_or("capacity");
    let wait = d
        .retry_after_ms
        .map_or(String::new(), |ms| format!("; retry after {ms} ms"));
    let (kind, code, message) = match (d.outcome, d.status) {
        (Outcome::Permanent, 429) => (
            "rate_limit_error",
            "request_too_large",
            format!(
                "request too large: its {} tokens can never fit the {by} limit",
                d.tokens
            ),
        ),
        (_, 429) => (
            "rate_limit_error",
            "rate_limit_exceeded",
            format!("rate limit reached ({by}){wait}"),
        ),
        (_, 529) => (
            "overloaded_error",
            "overloaded",
            format!("overloaded ({by}){wait}"),
        ),
        (_, s) if s >= 500 => (
            "server_error",
            "service_unavailable",
            format!("service unavailable ({by}){wait}"),
        ),
        _ => (
            "invalid_request_error",
            "refused",
            format!("refused ({by})"),
        ),
    };
    ApiError {
        status: StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message,
        kind,
        code,
    }
}
