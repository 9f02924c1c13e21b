//! What a request asks for, read from its headers and its JSON body, and the JSON
//! error a bad one gets back.
//!
//! Input tokens (what the provider's token limits count): the `x-paceline-tokens`
//! header if given; otherwise the larger of the body's `max_completion_tokens` /
//! `max_tokens` and an estimate of the prompt, the body's length in bytes / 4 rounded
//! up (OpenAI documents its own rate limiter the same way: the larger of `max_tokens` and
//! a character-count estimate). Output tokens (they lengthen a successful answer, and
//! fill `usage.completion_tokens`): `max_completion_tokens` / `max_tokens` if given,
//! otherwise drawn from the scenario's model (see `provider.rs`).

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// The header a client may set to say the request's input tokens.
pub const TOKENS_HEADER: &str = "x-paceline-tokens";
/// The header a client may set to say which attempt of its row this is (from 1).
pub const ATTEMPT_HEADER: &str = "x-paceline-attempt";
/// The header a client may set to name its row (the trace's `id`).
pub const ROW_HEADER: &str = "x-paceline-row";

/// The header the official OpenAI clients send on a retry: how many retries came before.
pub const STAINLESS_RETRY_HEADER: &str = "x-stainless-retry-count";

/// The longest row id kept: a trace column, not a place for payloads.
const MAX_ID_LEN: usize = 256;

/// One valid chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    /// Input tokens, for the token limits and the trace's `tokens` detail.
    pub tokens: u64,
    /// Output tokens asked for, if the body says.
    pub output_tokens: Option<u64>,
    /// The client's attempt number (1 unless `x-paceline-attempt` says).
    pub attempt: u32,
    /// The client's row id (`x-paceline-row`), empty if not given.
    pub id: String,
    /// The model named in the body, echoed in the answer.
    pub model: String,
}

/// An error answer in the OpenAI shape: `{"error": {message, type, param, code}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: &'static str,
}

impl ApiError {
    /// A 400 for a request the server cannot read.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            code: "invalid_request",
        }
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": null,
                "code": self.code,
            }
        })
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| ApiError::invalid(format!("header {name} is not text")))
        })
        .transpose()
}

fn number<T: std::str::FromStr>(
    headers: &HeaderMap,
    name: &str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    header(headers, name)?
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| ApiError::invalid(format!("header {name} must be {what}, not {v:?}")))
        })
        .transpose()
}

/// Read a chat completion request.
pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Call, ApiError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the body is not JSON: {e}")))?;
    let Value::Object(fields) = &json else {
        return Err(ApiError::invalid("the body must be a JSON object"));
    };
    match fields.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => {}
        _ => {
            return Err(ApiError::invalid(
                "messages: a non-empty array of messages is required",
            ));
        }
    }
    if fields.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::invalid(
            "stream: paceline serve answers whole completions only",
        ));
    }
    let mut output_tokens = None;
    for key in ["max_completion_tokens", "max_tokens"] {
        match fields.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => {
                let n = v.as_u64().ok_or_else(|| {
                    ApiError::invalid(format!("{key} must be a non-negative integer"))
                })?;
                output_tokens.get_or_insert(n);
            }
        }
    }
    let estimate = u64::try_from(body.len().div_ceil(4)).unwrap_or(u64::MAX);
    let tokens = match number::<u64>(headers, TOKENS_HEADER, "a whole number")? {
        Some(n) => n,
        None => estimate.max(output_tokens.unwrap_or(0)),
    };
    // The client's own count if it gives one; the official OpenAI clients say how many
    // retries came before; otherwise a first attempt.
    let attempt = match number::<u32>(headers, ATTEMPT_HEADER, "a whole number from 1")? {
        Some(n) => n,
        None => number::<u32>(headers, STAINLESS_RETRY_HEADER, "a whole number")?
            .map_or(1, |retries| retries.saturating_add(1)),
    };
    if attempt == 0 {
        return Err(ApiError::invalid(format!(
            "header {ATTEMPT_HEADER} counts from 1"
        )));
    }
    let id: String = header(headers, ROW_HEADER)?
        .unwrap_or("")
        .chars()
        .take(MAX_ID_LEN)
        .collect();
    let model = fields
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("paceline")
        .to_string();
    Ok(Call {
        tokens,
        output_tokens,
        attempt,
        id,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const BODY: &[u8] = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_header_says_the_tokens_else_the_larger_of_max_tokens_and_the_estimate() {
        let call = parse(&headers(&[(TOKENS_HEADER, "700")]), BODY).expect("valid");
        assert_eq!(
            (call.tokens, call.output_tokens, call.attempt),
            (700, None, 1)
        );
        // 58 bytes: an estimate of 15 tokens.
        let call = parse(&HeaderMap::new(), BODY).expect("valid");
        assert_eq!(call.tokens, 15);
        let big = br#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":300}"#;
        let call = parse(&HeaderMap::new(), big).expect("valid");
        assert_eq!((call.tokens, call.output_tokens), (300, Some(300)));
        let both = br#"{"messages":[1],"max_completion_tokens":7,"max_tokens":9}"#;
        let call = parse(&HeaderMap::new(), both).expect("valid");
        assert_eq!(call.output_tokens, Some(7), "the newer field first");
    }

    #[test]
    fn an_openai_client_retry_is_its_next_attempt() {
        let call = parse(&headers(&[(STAINLESS_RETRY_HEADER, "2")]), BODY).expect("valid");
        assert_eq!(call.attempt, 3);
        let both = headers(&[(STAINLESS_RETRY_HEADER, "2"), (ATTEMPT_HEADER, "7")]);
        assert_eq!(parse(&both, BODY).expect("valid").attempt, 7);
    }

    #[test]
    fn the_client_may_name_its_row_and_attempt() {
        let h = headers(&[(ATTEMPT_HEADER, "3"), (ROW_HEADER, "row-17")]);
        let call = parse(&h, BODY).expect("valid");
        assert_eq!(
            (call.attempt, call.id.as_str(), call.model.as_str()),
            (3, "row-17", "m")
        );
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let cases: [(&[u8], HeaderMap, &str); 6] = [
            (b"not json", HeaderMap::new(), "not JSON"),
            (b"[1]", HeaderMap::new(), "JSON object"),
            (b"{}", HeaderMap::new(), "messages"),
            (
                br#"{"messages":[1],"max_tokens":-1}"#,
                HeaderMap::new(),
                "max_tokens",
            ),
            (
                BODY,
                headers(&[(TOKENS_HEADER, "many")]),
                "x-paceline-tokens",
            ),
            (BODY, headers(&[(ATTEMPT_HEADER, "0")]), "counts from 1"),
        ];
        for (body, h, says) in cases {
            let e = parse(&h, body).expect_err("refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains(says), "{} lacks {says}", e.message);
            assert_eq!(e.body()["error"]["type"], "invalid_request_error");
        }
    }
}
