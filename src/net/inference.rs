//! One OpenAI-compatible chat-completion client for smoke tests and benchmarks: streaming
//! (SSE) for time-to-first-token and per-token timing, a non-streaming fallback, usage and
//! llama.cpp `timings` accounting, and specific errors for bad endpoints.
//!
//! Measurement: TTFT runs from sending the request to the first content token; decode rate
//! counts the tokens after the first over the time after the first; prefill rate is prompt
//! tokens / TTFT. When the server reports its own timings (llama.cpp's `timings` object),
//! both are kept so the difference can be shown.

use std::io::{BufRead, BufReader};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::http::{Client, HttpError, Timeouts};

/// Where to send completions.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Endpoint {
    /// OpenAI-style base URL, e.g. `http://127.0.0.1:13305/api/v1` or `http://127.0.0.1:8080/v1`.
    pub base: String,
    /// Model name to ask for.
    pub model: String,
    /// Bearer token, when the server wants one.
    #[serde(skip)]
    pub api_key: Option<String>,
}

/// What the server itself measured (llama.cpp `timings`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServerTimings {
    /// Prompt tokens processed.
    pub prompt_n: Option<u64>,
    /// Prompt processing time.
    pub prompt_ms: Option<f64>,
    /// Prompt tokens per second.
    pub prompt_per_second: Option<f64>,
    /// Tokens generated.
    pub predicted_n: Option<u64>,
    /// Generation time.
    pub predicted_ms: Option<f64>,
    /// Generated tokens per second.
    pub predicted_per_second: Option<f64>,
}

/// One completed request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Completion {
    /// The reply text.
    pub text: String,
    /// Time to the first content token, ms.
    pub ttft_ms: f64,
    /// Whole request, ms.
    pub total_ms: f64,
    /// Prompt tokens (usage, or the server's timings).
    pub prompt_tokens: Option<u64>,
    /// Completion tokens (usage, else the content chunks counted).
    pub completion_tokens: u64,
    /// Tokens per second after the first token (client-side).
    pub decode_tps: Option<f64>,
    /// Prompt tokens / TTFT (client-side).
    pub prefill_tps: Option<f64>,
    /// The server's own measurement, when it reports one.
    pub server: Option<ServerTimings>,
    /// The reply was streamed.
    pub streamed: bool,
}

/// Why a completion failed — each case names what to check.
#[derive(Debug, Clone, thiserror::Error, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InferError {
    /// Nothing listens there.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// URL.
        url: String,
        /// Transport error.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        /// URL.
        url: String,
        /// Status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
    /// The model is not known to the server.
    #[error("model {model:?} not found at {url} (HTTP {status}): {body}")]
    ModelNotFound {
        /// URL.
        url: String,
        /// Model.
        model: String,
        /// Status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
    /// The server accepted the request but sent nothing in time.
    #[error("{url} stalled: {what} within {secs:.1} s")]
    Stalled {
        /// URL.
        url: String,
        /// What did not arrive.
        what: String,
        /// Seconds waited.
        secs: f64,
    },
    /// The answer could not be understood.
    #[error("{url} sent a malformed answer: {reason}")]
    Malformed {
        /// URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 300 { format!("{}…", s.chars().take(300).collect::<String>()) } else { s.to_string() }
}

/// Maps a failed request (no answer, or none in time).
pub(crate) fn request_error(url: &str, e: HttpError, started: Instant) -> InferError {
    match e {
        HttpError::Timeout(_) => InferError::Stalled {
            url: url.into(),
            what: "no response headers".into(),
            secs: started.elapsed().as_secs_f64(),
        },
        HttpError::Request(reason) => InferError::Malformed { url: url.into(), reason },
        other => InferError::Connect { url: url.into(), reason: other.to_string() },
    }
}

/// Maps a body that could not be read: `what` names what did not arrive in time.
pub(crate) fn body_error(url: &str, what: &str, e: HttpError, started: Instant) -> InferError {
    match e {
        HttpError::Timeout(_) => {
            InferError::Stalled { url: url.into(), what: what.into(), secs: started.elapsed().as_secs_f64() }
        }
        other => InferError::Malformed { url: url.into(), reason: other.to_string() },
    }
}

pub(crate) fn status_error(url: &str, model: &str, status: u16, body: String) -> InferError {
    let lower = body.to_lowercase();
    let model_missing = status == 404
        || ((status == 400 || status == 422)
            && lower.contains("model")
            && (lower.contains("not found") || lower.contains("unknown") || lower.contains("does not exist")));
    if model_missing {
        InferError::ModelNotFound { url: url.into(), model: model.into(), status, body: truncate(&body) }
    } else {
        InferError::Http { url: url.into(), status, body: truncate(&body) }
    }
}

/// Sends one chat completion. `stream` asks for SSE (TTFT and per-token timing); without it
/// TTFT equals the total time.
pub fn chat(
    ep: &Endpoint,
    prompt: &str,
    max_tokens: u32,
    stream: bool,
    t: &Timeouts,
) -> Result<Completion, InferError> {
    let url = format!("{}/chat/completions", ep.base.trim_end_matches('/'));
    let body = serde_json::json!({
        "model": ep.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
        "stream_options": {"include_usage": true},
    });
    let client = Client::live(*t).bearer(ep.api_key.as_deref());
    let started = Instant::now();
    let mut resp = client.post_json(&url, &body).map_err(|e| request_error(&url, e, started))?;
    let status = resp.status();
    if !resp.ok() {
        let text = resp.text(64 * 1024).unwrap_or_default();
        return Err(status_error(&url, &ep.model, status, text));
    }
    if stream {
        read_sse(&url, resp.reader(), started)
    } else {
        let text = resp.text(16 * 1024 * 1024).map_err(|e| body_error(&url, "the complete body", e, started))?;
        let total = started.elapsed().as_secs_f64() * 1e3;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| InferError::Malformed {
            url: url.clone(),
            reason: format!("not JSON ({e}): {}", truncate(&text)),
        })?;
        let content = v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
        let completion_tokens = v["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        let prompt_tokens = v["usage"]["prompt_tokens"].as_u64();
        let server: Option<ServerTimings> =
            serde_json::from_value(v["timings"].clone()).ok().filter(|s: &ServerTimings| s.predicted_n.is_some());
        Ok(Completion {
            text: content,
            ttft_ms: total,
            total_ms: total,
            prompt_tokens: prompt_tokens.or(server.as_ref().and_then(|s| s.prompt_n)),
            completion_tokens,
            decode_tps: None,
            prefill_tps: None,
            server,
            streamed: false,
        })
    }
}

/// The first model an OpenAI-compatible endpoint lists (`GET {base}/models`), asked for
/// real (the endpoint was given or configured; 3 s).
pub fn first_model(base: &str) -> Result<String, InferError> {
    let r = Client::live(Timeouts::probe(std::time::Duration::from_secs(3))).probe(&format!("{base}/models"));
    r.json().and_then(|j| j["data"][0]["id"].as_str().map(str::to_string)).ok_or_else(|| InferError::Connect {
        url: r.url.clone(),
        reason: r.error.clone().unwrap_or_else(|| "no model listed; pass --gpu-model".into()),
    })
}

/// Reads an SSE stream of chat-completion chunks.
fn read_sse(url: &str, body: impl std::io::Read, started: Instant) -> Result<Completion, InferError> {
    let mut reader = BufReader::new(body);
    let mut text = String::new();
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut chunks = 0u64;
    let mut usage: Option<(Option<u64>, Option<u64>)> = None;
    let mut server: Option<ServerTimings> = None;
    let mut done = false;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let what = if first.is_some() { "the rest of the stream" } else { "a first token" };
                return Err(
                    if e.kind() == std::io::ErrorKind::TimedOut || e.to_string().to_lowercase().contains("timeout") {
                        InferError::Stalled {
                            url: url.into(),
                            what: what.into(),
                            secs: started.elapsed().as_secs_f64(),
                        }
                    } else {
                        InferError::Malformed {
                            url: url.into(),
                            reason: format!("stream broke after {chunks} chunks: {e}"),
                        }
                    },
                );
            }
        }
        let l = line.trim_end();
        let Some(data) = l.strip_prefix("data:") else { continue };
        let data = data.trim();
        if data == "[DONE]" {
            done = true;
            break;
        }
        let v: serde_json::Value = serde_json::from_str(data).map_err(|e| InferError::Malformed {
            url: url.into(),
            reason: format!("event is not JSON ({e}): {}", truncate(data)),
        })?;
        if let Some(err) = v.get("error") {
            return Err(InferError::Http { url: url.into(), status: 200, body: truncate(&err.to_string()) });
        }
        if let Some(piece) = v["choices"][0]["delta"]["content"].as_str()
            && !piece.is_empty()
        {
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
            chunks += 1;
            text.push_str(piece);
        }
        if v["usage"].is_object() {
            usage = Some((v["usage"]["prompt_tokens"].as_u64(), v["usage"]["completion_tokens"].as_u64()));
        }
        if let Ok(s) = serde_json::from_value::<ServerTimings>(v["timings"].clone())
            && s.predicted_n.is_some()
        {
            server = Some(s);
        }
    }
    if !done {
        return Err(InferError::Malformed {
            url: url.into(),
            reason: format!("stream ended without [DONE] after {chunks} chunks (truncated)"),
        });
    }
    let Some(first) = first else {
        return Err(InferError::Malformed { url: url.into(), reason: "the stream carried no content".into() });
    };
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let ttft_ms = (first - started).as_secs_f64() * 1e3;
    let completion_tokens = usage.and_then(|u| u.1).or(server.as_ref().and_then(|s| s.predicted_n)).unwrap_or(chunks);
    let prompt_tokens = usage.and_then(|u| u.0).or(server.as_ref().and_then(|s| s.prompt_n));
    let decode_window = last.map(|l| (l - first).as_secs_f64()).unwrap_or(0.0);
    let decode_tps =
        (completion_tokens > 1 && decode_window > 0.0).then(|| (completion_tokens - 1) as f64 / decode_window);
    let prefill_tps = prompt_tokens.filter(|_| ttft_ms > 0.0).map(|p| p as f64 / (ttft_ms / 1e3));
    Ok(Completion {
        text,
        ttft_ms,
        total_ms,
        prompt_tokens,
        completion_tokens,
        decode_tps,
        prefill_tps,
        server,
        streamed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    /// A loopback server that answers one request with `reply` (written in pieces).
    fn serve(pieces: Vec<(&'static str, u64)>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                // Drain the whole request: closing with unread bytes resets the connection.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req);
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len = text[..h]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if req.len() >= h + 4 + len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                for (p, delay) in pieces {
                    std::thread::sleep(Duration::from_millis(delay));
                    if s.write_all(p.as_bytes()).is_err() {
                        return;
                    }
                    let _ = s.flush();
                }
            }
        });
        format!("http://{addr}/v1")
    }

    fn ep(base: String) -> Endpoint {
        Endpoint { base, model: "m".into(), api_key: None }
    }

    const HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

    #[test]
    fn streams_and_measures() {
        let base = serve(vec![
            (HEAD, 0),
            ("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n", 0),
            ("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", 50),
            ("data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n", 20),
            ("data: {\"choices\":[{\"delta\":{\"content\":\"!\"}}]}\n\n", 20),
            (
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3},\"timings\":{\"prompt_n\":5,\"predicted_n\":3,\"predicted_per_second\":50.0}}\n\n",
                0,
            ),
            ("data: [DONE]\n\n", 0),
        ]);
        let c = chat(&ep(base), "hi", 8, true, &Timeouts::default()).unwrap();
        assert_eq!(c.text, "Hello!");
        assert_eq!(c.completion_tokens, 3);
        assert_eq!(c.prompt_tokens, Some(5));
        assert!(c.ttft_ms >= 40.0, "{c:?}");
        assert!(c.decode_tps.unwrap() > 0.0);
        assert_eq!(c.server.unwrap().predicted_per_second, Some(50.0));
    }

    #[test]
    fn refused_truncated_malformed_and_http_errors_are_specific() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = chat(&ep(format!("http://{closed}/v1")), "hi", 8, true, &Timeouts::default()).unwrap_err();
        assert!(matches!(e, InferError::Connect { .. }), "{e}");
        let truncated = serve(vec![(HEAD, 0), ("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n", 0)]);
        let e = chat(&ep(truncated), "hi", 8, true, &Timeouts::default()).unwrap_err();
        assert!(e.to_string().contains("without [DONE]"), "{e}");
        let garbage = serve(vec![(HEAD, 0), ("data: {not json\n\n", 0)]);
        let e = chat(&ep(garbage), "hi", 8, true, &Timeouts::default()).unwrap_err();
        assert!(e.to_string().contains("event is not JSON"), "{e}");
        let five = serve(vec![(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 9\r\nConnection: close\r\n\r\nboom boom",
            0,
        )]);
        let e = chat(&ep(five), "hi", 8, true, &Timeouts::default()).unwrap_err();
        assert_eq!(e, InferError::Http { url: e_url(&e), status: 500, body: "boom boom".into() });
        let nf = serve(vec![(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 26\r\nConnection: close\r\n\r\n{\"error\":\"model not found\"}",
            0,
        )]);
        let e = chat(&ep(nf), "hi", 8, true, &Timeouts::default()).unwrap_err();
        assert!(matches!(e, InferError::ModelNotFound { .. }), "{e}");
    }

    fn e_url(e: &InferError) -> String {
        match e {
            InferError::Http { url, .. } => url.clone(),
            _ => String::new(),
        }
    }

    #[test]
    fn a_server_that_stalls_after_headers_times_out() {
        let base = serve(vec![(HEAD, 0), ("", 10_000)]);
        let t = Timeouts::request(Duration::from_secs(1), Duration::from_secs(1), Duration::from_millis(700));
        let started = Instant::now();
        let e = chat(&ep(base), "hi", 8, true, &t).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(e, InferError::Stalled { .. } | InferError::Malformed { .. }), "{e}");
    }
}
