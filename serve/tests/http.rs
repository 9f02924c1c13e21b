//! The server on the wire: the OpenAI shapes, the waits in headers, bad requests, the
//! speed of the timeline, a thousand connections at once, clients that hang up, and the
//! trace it keeps of all of it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::scratch;
use paceline_serve::{ATTEMPT_HEADER, Options, ROW_HEADER, ServeError, ServerHandle, spawn};
use paceline_sim::Scenario;
use paceline_trace::{EventName, TraceReader, TraceRow, key};
use serde_json::Value;

fn scenario(service: &str) -> Scenario {
    let text = format!("name = \"http\"\n[[batches]]\nrows = [{{ id = \"A\" }}]\n{service}");
    Scenario::parse(Path::new("http.toml"), &text).expect("a valid scenario")
}

fn serve(service: &str, trace: &str, speed: f64) -> ServerHandle {
    let options = Options {
        trace: Some(scratch(trace)),
        speed,
        ..Options::default()
    };
    spawn(
        &scenario(service),
        "127.0.0.1:0".parse().expect("an address"),
        options,
    )
    .expect("the server starts")
}

fn trace(name: &str) -> Vec<TraceRow> {
    let file = std::fs::File::open(scratch(name)).expect("written");
    let mut reader = TraceReader::new(std::io::BufReader::new(file)).expect("a trace");
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row() {
        rows.push(row.expect("readable"));
    }
    rows
}

/// An answer as a client sees it: status, a header lookup, and the body as JSON.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request over a fresh connection, read to the end (HTTP/1.1, `Connection: close`).
fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connects");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("sends");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("reads");
    parse_reply(&raw)
}

fn parse_reply(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let json = serde_json::from_str(body).expect("a JSON body");
    Reply {
        status,
        headers,
        json,
    }
}

const CHAT: &str = "/v1/chat/completions";
const BODY: &str = r#"{"model":"m1","messages":[{"role":"user","content":"hi"}],"max_tokens":12}"#;

#[test]
fn a_completion_comes_back_in_the_openai_shape() {
    let server = serve("", "http-ok.csv", 1.0);
    let reply = send(
        server.local_addr(),
        "POST",
        CHAT,
        &[(ROW_HEADER, "A"), (ATTEMPT_HEADER, "2")],
        BODY,
    );
    server.shutdown().expect("stops");
    assert_eq!(reply.status, 200);
    let j = &reply.json;
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["model"], "m1");
    assert_eq!(j["id"], "chatcmpl-paceline-0");
    assert_eq!(j["choices"][0]["message"]["role"], "assistant");
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
    // No token header: the larger of max_tokens (12) and the body's 73 bytes / 4 (19).
    assert_eq!(j["usage"]["prompt_tokens"], 19);
    assert_eq!(j["usage"]["completion_tokens"], 12);
    assert_eq!(j["usage"]["total_tokens"], 31);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let rows = trace("http-ok.csv");
    let events: Vec<EventName> = rows.iter().map(|r| r.event).collect();
    assert_eq!(
        events,
        [EventName::BatchStart, EventName::Dispatch, EventName::Ok]
    );
    assert_eq!(rows[0].detail_value(key::VANTAGE), Some("server"));
    let dispatch = &rows[1];
    assert_eq!(
        (dispatch.row, dispatch.id.as_str(), dispatch.attempt),
        (Some(0), "A", Some(2))
    );
    assert_eq!(dispatch.detail_value(key::TOKENS), Some("19"));
}

#[test]
fn a_refusal_says_its_wait_in_headers_body_and_trace() {
    // One request per 10 s: the second, right after, waits until the first leaves.
    let server = serve(
        "[[service.limits]]\nrequests = 1\nper_ms = 10000\nstatus = 429\n",
        "http-429.csv",
        1.0,
    );
    let addr = server.local_addr();
    let first = send(addr, "POST", CHAT, &[], BODY);
    let second = send(addr, "POST", CHAT, &[], BODY);
    server.shutdown().expect("stops");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), Some("1"));
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(second.status, 429);
    let wait_ms: u64 = second
        .header("retry-after-ms")
        .and_then(|v| v.parse().ok())
        .expect("retry-after-ms");
    assert!((9_000..=10_000).contains(&wait_ms), "{wait_ms}");
    assert_eq!(
        second.header("retry-after"),
        Some("10"),
        "whole seconds, rounded up"
    );
    let error = &second.json["error"];
    assert_eq!(error["type"], "rate_limit_error");
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("requests"))
    );
    let rows = trace("http-429.csv");
    let refusal = rows
        .iter()
        .find(|r| r.event == EventName::Capacity)
        .expect("a capacity answer");
    assert_eq!(refusal.detail_value(key::STATUS), Some("429"));
    assert_eq!(
        refusal.detail_value(key::RETRY_AFTER_MS),
        Some(wait_ms.to_string().as_str())
    );
    assert_eq!(refusal.detail_value(key::LIMIT), Some("requests"));
}

#[test]
fn bad_requests_get_json_errors_and_stay_out_of_the_trace() {
    let server = serve("", "http-bad.csv", 1.0);
    let addr = server.local_addr();
    let cases = [
        ("POST", CHAT, "not json", 400, "invalid_request_error"),
        ("POST", CHAT, "{}", 400, "invalid_request_error"),
        (
            "POST",
            CHAT,
            r#"{"messages":[1],"stream":true}"#,
            400,
            "invalid_request_error",
        ),
        ("GET", CHAT, "", 405, "invalid_request_error"),
        (
            "POST",
            "/v1/completions",
            BODY,
            404,
            "invalid_request_error",
        ),
    ];
    for (method, path, body, status, kind) in cases {
        let reply = send(addr, method, path, &[], body);
        assert_eq!(reply.status, status, "{method} {path} {body}");
        assert_eq!(reply.json["error"]["type"], kind);
        assert!(reply.json["error"]["message"].is_string());
    }
    // The server is still there.
    assert_eq!(send(addr, "POST", CHAT, &[], BODY).status, 200);
    let summary = server.shutdown().expect("stops");
    assert_eq!((summary.bad_requests, summary.requests), (5, 1));
    assert_eq!(
        trace("http-bad.csv").len(),
        3,
        "batch_start, one dispatch, one answer"
    );
}

#[test]
fn speed_runs_the_timeline_faster_and_shortens_latencies_and_waits() {
    // At speed 10: an outage from 1 s of the scenario's time is in force 100 ms into
    // wall time; a 1 s latency takes 100 ms; a 5 s wait is sent as 500 ms.
    let service = "[service]\nlatency_ms = 1000\n[[service.phases]]\nfrom_ms = 1000\nuntil_ms = 600000\noutage = { status = 503, retry_after_ms = 5000 }\n";
    let server = serve(service, "http-speed.csv", 10.0);
    let addr = server.local_addr();
    let started = Instant::now();
    let before = send(addr, "POST", CHAT, &[], BODY);
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(150).saturating_sub(started.elapsed()));
    let during = send(addr, "POST", CHAT, &[], BODY);
    server.shutdown().expect("stops");
    assert_eq!(before.status, 200);
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_millis(1000),
        "{took:?}"
    );
    assert_eq!(during.status, 503);
    assert_eq!(during.header("retry-after-ms"), Some("500"));
    assert_eq!(during.header("retry-after"), Some("1"));
    assert_eq!(during.json["error"]["type"], "server_error");
    let rows = trace("http-speed.csv");
    let outage = rows
        .iter()
        .find(|r| r.event == EventName::Capacity)
        .expect("refused");
    assert_eq!(
        outage.detail_value(key::RETRY_AFTER_MS),
        Some("500"),
        "wall time, as sent"
    );
    assert_eq!(outage.detail_value(key::LIMIT), Some("outage"));
}

#[test]
fn a_thousand_connections_at_once_lose_no_trace_row() {
    // Every answer takes 300 ms, so the thousand requests are in flight together.
    let server = serve("[service]\nlatency_ms = 300\n", "http-1000.csv", 1.0);
    let addr = server.local_addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let statuses: Vec<u16> = runtime.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
                    let request = format!(
                        "POST {CHAT} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ROW_HEADER}: c{i}\r\ncontent-length: {}\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    stream.write_all(request.as_bytes()).await.expect("sends");
                    let mut raw = String::new();
                    stream.read_to_string(&mut raw).await.expect("reads");
                    parse_reply(&raw).status
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.expect("joined"));
        }
        statuses
    });
    let summary = server.shutdown().expect("stops");
    assert!(statuses.iter().all(|s| *s == 200), "every request answered");
    assert_eq!(summary.requests, 1000);
    let rows = trace("http-1000.csv");
    assert_eq!(
        rows.len(),
        2001,
        "batch_start, 1000 dispatches, 1000 answers"
    );
    let mut numbers: Vec<usize> = rows
        .iter()
        .filter(|r| r.event == EventName::Ok)
        .filter_map(|r| r.row)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..1000).collect::<Vec<_>>());
    assert!(
        rows.windows(2).all(|w| w[0].t_us <= w[1].t_us),
        "in time order"
    );
    let most_in_flight = rows
        .iter()
        .scan(0i64, |n, r| {
            *n += match r.event {
                EventName::Dispatch => 1,
                EventName::Ok => -1,
                _ => 0,
            };
            Some(*n)
        })
        .max();
    assert!(most_in_flight > Some(100), "concurrent: {most_in_flight:?}");
}

#[test]
fn a_client_that_hangs_up_still_has_its_answer_recorded() {
    let server = serve("[service]\nlatency_ms = 1000\n", "http-hangup.csv", 1.0);
    let mut stream = TcpStream::connect(server.local_addr()).expect("connects");
    let request = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    stream.write_all(request.as_bytes()).expect("sends");
    // Long enough for the request to arrive, well short of its answer.
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
    // Shutdown waits for the answer, which is recorded at its time.
    server.shutdown().expect("stops");
    let rows = trace("http-hangup.csv");
    let events: Vec<EventName> = rows.iter().map(|r| r.event).collect();
    assert_eq!(
        events,
        [EventName::BatchStart, EventName::Dispatch, EventName::Ok]
    );
    assert!(rows[2].t_us - rows[1].t_us >= 1_000_000);
}

#[test]
fn only_loopback_unless_allowed_and_a_sane_speed() {
    let s = scenario("");
    let refused = spawn(
        &s,
        "0.0.0.0:0".parse().expect("an address"),
        Options::default(),
    );
    assert!(
        matches!(refused, Err(ServeError::NotLoopback(_))),
        "{refused:?}"
    );
    for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let options = Options {
            speed,
            ..Options::default()
        };
        let refused = spawn(&s, "127.0.0.1:0".parse().expect("an address"), options);
        assert!(matches!(refused, Err(ServeError::Speed(_))), "{speed}");
    }
    let v6 = spawn(
        &s,
        "[::1]:0".parse().expect("an address"),
        Options::default(),
    );
    // ::1 is loopback; a machine without IPv6 cannot bind it, which is not a refusal.
    assert!(!matches!(v6, Err(ServeError::NotLoopback(_))));
}
