//! The one HTTP client: every request `npu-setup` makes goes through [`Client`], the only
//! place that builds a `ureq` agent.
//!
//! Which network a request reaches is the root's business: on a live root it goes out (ureq,
//! with the timeouts the caller chose), on a fixture root it is answered from the fixture's
//! `.fixture.yaml` `http:` map (by URL, whatever the method; a URL not recorded there is
//! refused), and on an offline root nothing is running, so nothing answers. Requests that
//! must reach a real server whatever the root (a URL the user gave, a download) use
//! [`Client::live`].
//!
//! Besides plain requests it has what the callers need: a bearer token, JSON and multipart
//! bodies, a streaming body reader (SSE), a probe GET that never fails ([`Client::probe`],
//! for health facts) and downloads into a writer with their size and SHA-256.

use std::io::{Cursor, Read, Write};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::root::{Root, RootMode};

/// Largest body a probe keeps (health and system-info answers are a few KiB).
const MAX_PROBE_BODY: u64 = 256 * 1024;

/// The live root, for requests that always go to the real network.
static LIVE: LazyLock<Root> = LazyLock::new(Root::live);

/// Timeouts of one request; `None` waits as long as it takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Option<Duration>,
    /// Until the response headers arrive (prompt processing happens here for most servers).
    pub first_byte: Option<Duration>,
    /// Reading the whole body, from the headers on.
    pub body: Option<Duration>,
    /// The whole request.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    /// An inference request's: 2 s to connect, 60 s to the first byte, 120 s in all.
    fn default() -> Self {
        Timeouts::request(Duration::from_secs(2), Duration::from_secs(60), Duration::from_secs(120))
    }
}

impl Timeouts {
    /// Connect, first byte and total limits (inference requests).
    pub fn request(connect: Duration, first_byte: Duration, total: Duration) -> Self {
        Timeouts { connect: Some(connect), first_byte: Some(first_byte), body: None, total: Some(total) }
    }

    /// A health probe: `total` for everything, at most 2 s of it to connect (a local
    /// service that is up accepts at once).
    pub fn probe(total: Duration) -> Self {
        Timeouts { connect: Some(total.min(Duration::from_secs(2))), total: Some(total), ..Timeouts::none() }
    }

    /// Only a limit on the whole request.
    pub fn total(total: Duration) -> Self {
        Timeouts { total: Some(total), ..Timeouts::none() }
    }

    /// A download: 15 s to connect, 120 s for the body, however long the server takes to
    /// start answering.
    pub fn download() -> Self {
        Timeouts { connect: Some(Duration::from_secs(15)), body: Some(Duration::from_secs(120)), ..Timeouts::none() }
    }

    fn none() -> Self {
        Timeouts { connect: None, first_byte: None, body: None, total: None }
    }
}

/// Why a request got no usable answer. The text is the transport's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// No answer: nothing listens, DNS, TLS, an offline root, a URL the fixture does not
    /// record.
    #[error("{0}")]
    Connect(String),
    /// A timeout elapsed before the answer (or its body) was complete.
    #[error("{0}")]
    Timeout(String),
    /// The body could not be read (broken stream, larger than allowed, not UTF-8).
    #[error("{0}")]
    Body(String),
    /// The request could not be built (e.g. a bad MIME type in a form).
    #[error("{0}")]
    Request(String),
    /// An answer with a status the caller cannot use (downloads want 2xx).
    #[error("HTTP {}", status_line(*.0))]
    Status(u16),
}

impl HttpError {
    /// Maps a ureq error of the request phase (connect, send, wait for headers).
    fn request(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Timeout(_) => HttpError::Timeout(e.to_string()),
            other => HttpError::Connect(other.to_string()),
        }
    }

    /// Maps a ureq error of reading the body.
    fn body(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Timeout(_) => HttpError::Timeout(e.to_string()),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => HttpError::Timeout(io.to_string()),
            other => HttpError::Body(other.to_string()),
        }
    }
}

/// `404 Not Found`: a status code with its canonical reason, as HTTP writes it.
pub fn status_line(status: u16) -> String {
    ureq::http::StatusCode::from_u16(status).map(|s| s.to_string()).unwrap_or_else(|_| status.to_string())
}

/// One field of a `multipart/form-data` body.
#[derive(Debug, Clone, Copy)]
pub enum FormField<'a> {
    /// `name=value`.
    Text {
        /// Field name.
        name: &'a str,
        /// Value.
        value: &'a str,
    },
    /// An uploaded file.
    File {
        /// Field name.
        name: &'a str,
        /// The file name sent.
        file_name: &'a str,
        /// Its MIME type.
        mime: &'a str,
        /// Its contents.
        bytes: &'a [u8],
    },
}

/// An answer: its status, and its body still to be read.
pub struct Response {
    status: u16,
    body: Body,
}

enum Body {
    Live(Box<ureq::Body>),
    Replay(Cursor<Vec<u8>>),
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).finish_non_exhaustive()
    }
}

impl Response {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A 2xx status.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8, at most `limit` bytes (more is an error). A replayed body is
    /// whole, as the fixture recorded it.
    pub fn text(&mut self, limit: u64) -> Result<String, HttpError> {
        match &mut self.body {
            Body::Live(b) => b.with_config().limit(limit).read_to_string().map_err(HttpError::body),
            Body::Replay(c) => String::from_utf8(c.get_ref().clone()).map_err(|e| HttpError::Body(e.to_string())),
        }
    }

    /// The body, at most `limit` bytes, with invalid UTF-8 replaced.
    pub fn text_lossy(&mut self, limit: u64) -> Result<String, HttpError> {
        let bytes = match &mut self.body {
            Body::Live(b) => b.with_config().limit(limit).read_to_vec().map_err(HttpError::body)?,
            Body::Replay(c) => c.get_ref().clone(),
        };
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The body's size as the server announced it (`Content-Length`), when it did.
    pub fn content_length(&self) -> Option<u64> {
        match &self.body {
            Body::Live(b) => b.content_length(),
            Body::Replay(c) => Some(c.get_ref().len() as u64),
        }
    }

    /// The body as a stream, unlimited (SSE, downloads). Its read errors are I/O errors; a
    /// timeout reads as one whose text says so.
    pub fn reader(&mut self) -> Box<dyn Read + '_> {
        match &mut self.body {
            Body::Live(b) => Box::new(b.as_reader()),
            Body::Replay(c) => Box::new(c),
        }
    }
}

/// What a download delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes written.
    pub bytes: u64,
    /// Their SHA-256, lower-case hex.
    pub sha256: String,
}

/// Copies `from` into `to`, counting and hashing what was written (downloads, and local
/// files installed the same way).
pub fn copy_hashed(from: &mut dyn Read, to: &mut dyn Write) -> std::io::Result<Downloaded> {
    copy_hashed_progress(from, to, &mut |_| {})
}

/// [`copy_hashed`], telling `progress` how many bytes were written so far after each chunk
/// (progress bars: bytes and rate).
pub fn copy_hashed_progress(
    from: &mut dyn Read,
    to: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<Downloaded> {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        hasher.update(&buf[..n]);
        bytes += n as u64;
        progress(bytes);
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Downloaded { bytes, sha256 })
}

/// What one probe GET returned (kept in facts, replayed from fixtures).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HttpResult {
    /// The URL asked.
    pub url: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Response body (truncated).
    pub body: Option<String>,
    /// Transport error (refused, timeout, DNS…).
    pub error: Option<String>,
    /// Milliseconds.
    pub millis: u64,
}

impl HttpResult {
    /// A 2xx answer arrived.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The body parsed as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        self.body.as_deref().and_then(|b| serde_json::from_str(b).ok())
    }
}

/// An HTTP client bound to a root (which decides where requests go), with its timeouts
/// and, optionally, a bearer token.
#[derive(Clone)]
pub struct Client<'r> {
    root: &'r Root,
    timeouts: Timeouts,
    bearer: Option<String>,
}

impl std::fmt::Debug for Client<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Client")
            .field("root", &self.root.path())
            .field("mode", &self.root.mode())
            .field("timeouts", &self.timeouts)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client<'static> {
    /// A client for the real network, whatever root the command runs on.
    pub fn live(timeouts: Timeouts) -> Self {
        Client { root: &LIVE, timeouts, bearer: None }
    }
}

impl<'r> Client<'r> {
    /// A client whose requests the root answers (see the module documentation).
    pub fn new(root: &'r Root, timeouts: Timeouts) -> Self {
        Client { root, timeouts, bearer: None }
    }

    /// Sends `Authorization: Bearer KEY` with every request (none for `None` or "").
    pub fn bearer(mut self, key: Option<&str>) -> Self {
        self.bearer = key.filter(|k| !k.is_empty()).map(str::to_string);
        self
    }

    /// GET `url`.
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.send(url, |agent| self.authorize(agent.get(url)).call())
    }

    /// POST `body` as `application/json` to `url`.
    pub fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<Response, HttpError> {
        let text = body.to_string();
        self.send(url, |agent| {
            self.authorize(agent.post(url).header("Content-Type", "application/json")).send(text.as_bytes())
        })
    }

    /// POST a `multipart/form-data` body to `url`.
    pub fn post_multipart(&self, url: &str, fields: &[FormField]) -> Result<Response, HttpError> {
        use ureq::unversioned::multipart::{Form, Part};
        let mut form = Form::new();
        for f in fields {
            form = match *f {
                FormField::Text { name, value } => form.text(name, value),
                FormField::File { name, file_name, mime, bytes } => form.part(
                    name,
                    Part::bytes(bytes)
                        .file_name(file_name)
                        .mime_str(mime)
                        .map_err(|e| HttpError::Request(e.to_string()))?,
                ),
            };
        }
        self.send(url, |agent| self.authorize(agent.post(url)).send(form))
    }

    /// A GET that never fails: what came back, or why nothing did, and how long it took
    /// (0 when replayed, so fixture reports are reproducible). The body is kept up to
    /// 256 KiB.
    pub fn probe(&self, url: &str) -> HttpResult {
        let started = Instant::now();
        let mut r = HttpResult { url: url.to_string(), ..Default::default() };
        match self.get(url) {
            Ok(mut resp) => {
                r.status = Some(resp.status());
                match resp.text_lossy(MAX_PROBE_BODY) {
                    Ok(b) => r.body = Some(b),
                    Err(e) => r.error = Some(format!("reading body: {e}")),
                }
            }
            Err(e) => r.error = Some(e.to_string()),
        }
        r.millis = if self.root.mode() == RootMode::Live { started.elapsed().as_millis() as u64 } else { 0 };
        r
    }

    /// GETs `url` into `out`; any status but 2xx is an error, and so is a body that breaks
    /// off. Returns the size and SHA-256 of what was written.
    pub fn download(&self, url: &str, out: &mut dyn Write) -> Result<Downloaded, HttpError> {
        self.download_progress(url, out, &mut |_, _| {})
    }

    /// [`Client::download`], telling `progress` the bytes received so far and the size the
    /// server announced (when it did) as they arrive.
    pub fn download_progress(
        &self,
        url: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<Downloaded, HttpError> {
        let mut resp = self.get(url)?;
        if !resp.ok() {
            return Err(HttpError::Status(resp.status()));
        }
        let total = resp.content_length();
        progress(0, total);
        copy_hashed_progress(&mut resp.reader(), out, &mut |n| progress(n, total))
            .map_err(|e| HttpError::Body(format!("reading the response: {e}")))
    }

    fn authorize<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.bearer {
            Some(k) => req.header("Authorization", &format!("Bearer {k}")),
            None => req,
        }
    }

    /// Sends a request on a live root; answers it from the fixture on a fixture root.
    fn send(
        &self,
        url: &str,
        live: impl FnOnce(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response, HttpError> {
        match self.root.mode() {
            RootMode::Offline => Err(HttpError::Connect("offline root: services are not running".into())),
            RootMode::Fixture => replay(self.root, url),
            RootMode::Live => {
                let resp = live(&agent(&self.timeouts)).map_err(HttpError::request)?;
                let status = resp.status().as_u16();
                Ok(Response { status, body: Body::Live(Box::new(resp.into_body())) })
            }
        }
    }
}

/// The one ureq agent builder. Statuses are answers, not errors: callers judge them.
fn agent(t: &Timeouts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(t.connect)
        .timeout_recv_response(t.first_byte)
        .timeout_recv_body(t.body)
        .timeout_global(t.total)
        .http_status_as_error(false)
        .build()
        .into()
}

/// The fixture's answer for `url`.
fn replay(root: &Root, url: &str) -> Result<Response, HttpError> {
    let Some(rep) = root.fixture().and_then(|f| f.http.get(url)) else {
        return Err(HttpError::Connect("connection refused".into()));
    };
    match (rep.status, &rep.error) {
        (_, Some(e)) => Err(HttpError::Connect(e.clone())),
        (None, None) => Err(HttpError::Connect("no response".into())),
        (Some(status), None) => {
            Ok(Response { status, body: Body::Replay(Cursor::new(rep.body.clone().unwrap_or_default().into_bytes())) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A real HTTP server on loopback answering one request (after reading it whole).
    fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return String::new() };
            s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let t = String::from_utf8_lossy(&req);
                if let Some(h) = t.find("\r\n\r\n") {
                    let len = t[..h]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if req.len() >= h + 4 + len {
                        break;
                    }
                }
            }
            let _ = s.write_all(response.as_bytes());
            String::from_utf8_lossy(&req).into_owned()
        });
        (format!("http://{addr}/live"), h)
    }

    fn sha256(b: &[u8]) -> String {
        sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
    }

    /// A fixture root whose `.fixture.yaml` is `yaml`.
    fn fixture(yaml: &str) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".fixture.yaml"), yaml).unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(root.mode(), RootMode::Fixture);
        (dir, root)
    }

    #[test]
    fn live_probe_reads_status_and_body() {
        let (url, _) =
            serve_once("HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}");
        let r = Client::live(Timeouts::probe(Duration::from_secs(2))).probe(&url);
        assert_eq!(r.status, Some(200), "{r:?}");
        assert_eq!(r.json().unwrap()["status"], "ok");
    }

    #[test]
    fn live_probe_reports_http_errors_with_body() {
        let (url, _) =
            serve_once("HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad api key!");
        let r = Client::live(Timeouts::probe(Duration::from_secs(2))).probe(&url);
        assert_eq!(r.status, Some(401));
        assert!(!r.ok());
        assert_eq!(r.body.as_deref(), Some("bad api key!"));
    }

    #[test]
    fn a_silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/live", l.local_addr().unwrap());
        let started = Instant::now();
        let r = Client::live(Timeouts::probe(Duration::from_millis(300))).probe(&url);
        assert!(r.error.is_some(), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        let e = Client::live(Timeouts::probe(Duration::from_millis(300))).get(&url).unwrap_err();
        assert!(matches!(e, HttpError::Timeout(_)), "{e:?}");
        drop(l);
    }

    #[test]
    fn transport_errors_map_to_connect_and_timeout() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = Client::live(Timeouts::default()).get(&format!("http://{closed}/x")).unwrap_err();
        assert!(matches!(e, HttpError::Connect(_)), "{e:?}");
        assert_eq!(
            HttpError::request(ureq::Error::Timeout(ureq::Timeout::RecvResponse)),
            HttpError::Timeout(ureq::Error::Timeout(ureq::Timeout::RecvResponse).to_string())
        );
        assert!(matches!(HttpError::request(ureq::Error::ConnectionFailed), HttpError::Connect(_)));
        assert!(matches!(HttpError::body(ureq::Error::Timeout(ureq::Timeout::RecvBody)), HttpError::Timeout(_)));
        let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        assert_eq!(HttpError::body(ureq::Error::Io(timed_out)), HttpError::Timeout("slow".into()));
        assert!(matches!(HttpError::body(ureq::Error::BodyExceedsLimit(10)), HttpError::Body(_)));
        assert_eq!(HttpError::Status(404).to_string(), "HTTP 404 Not Found");
        assert_eq!(status_line(42), "42", "not an HTTP status");
    }

    #[test]
    fn bearer_json_and_body_limits_on_a_live_server() {
        let (url, req) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
        let mut resp = Client::live(Timeouts::default())
            .bearer(Some("s3cret"))
            .post_json(&url, &serde_json::json!({"model_name": "m"}))
            .unwrap();
        assert!(resp.ok());
        let e = resp.text(4).unwrap_err();
        assert!(matches!(e, HttpError::Body(_)), "{e:?}");
        let req = req.join().unwrap();
        assert!(req.starts_with("POST /live"), "{req}");
        assert!(req.to_ascii_lowercase().contains("authorization: bearer s3cret"), "{req}");
        assert!(req.to_ascii_lowercase().contains("content-type: application/json"), "{req}");
        assert!(req.ends_with(r#"{"model_name":"m"}"#), "{req}");
        // No key, or an empty one: no header.
        let (url, req) = serve_once("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        Client::live(Timeouts::default()).bearer(Some("")).get(&url).unwrap();
        assert!(!req.join().unwrap().to_ascii_lowercase().contains("authorization"));
    }

    #[test]
    fn multipart_uploads_files_and_fields() {
        let (url, req) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let fields = [
            FormField::File { name: "file", file_name: "a.wav", mime: "audio/wav", bytes: b"RIFFdata" },
            FormField::Text { name: "model", value: "whisper" },
        ];
        let mut resp = Client::live(Timeouts::default()).post_multipart(&url, &fields).unwrap();
        assert_eq!(resp.text(1024).unwrap(), "ok");
        let req = req.join().unwrap();
        assert!(req.contains("multipart/form-data; boundary="), "{req}");
        assert!(req.contains("filename=\"a.wav\"") && req.contains("RIFFdata") && req.contains("whisper"), "{req}");
        let bad = [FormField::File { name: "f", file_name: "x", mime: "not a mime", bytes: b"" }];
        let e = Client::live(Timeouts::default()).post_multipart("http://127.0.0.1:9/", &bad).unwrap_err();
        assert!(matches!(e, HttpError::Request(_)), "{e:?}");
    }

    #[test]
    fn a_fixture_root_replays_its_recorded_answers() {
        let (_d, root) = fixture(concat!(
            "http:\n",
            "  \"http://127.0.0.1:13305/live\": { status: 200, body: '{\"status\":\"ok\"}' }\n",
            "  \"http://127.0.0.1:13305/api/v1/load\": { status: 404, body: 'no such model' }\n",
            "  \"http://127.0.0.1:13305/api/v1/health\": { error: 'Connection reset by peer' }\n",
            "  \"http://127.0.0.1:13305/api/v1/system-info\": {}\n",
        ));
        let c = Client::new(&root, Timeouts::default()).bearer(Some("k"));
        let r = c.probe("http://127.0.0.1:13305/live");
        assert_eq!((r.status, r.body.as_deref(), r.millis), (Some(200), Some("{\"status\":\"ok\"}"), 0));
        // Any method is answered by URL.
        let mut resp = c.post_json("http://127.0.0.1:13305/api/v1/load", &serde_json::json!({})).unwrap();
        assert_eq!((resp.status(), resp.ok()), (404, false));
        assert_eq!(resp.text(1).unwrap(), "no such model", "a replayed body is whole");
        let mut s = String::new();
        c.get("http://127.0.0.1:13305/live").unwrap().reader().read_to_string(&mut s).unwrap();
        assert_eq!(s, "{\"status\":\"ok\"}");
        // Recorded errors, answers without a status, and URLs not recorded.
        assert_eq!(
            c.get("http://127.0.0.1:13305/api/v1/health").unwrap_err(),
            HttpError::Connect("Connection reset by peer".into())
        );
        assert_eq!(c.probe("http://127.0.0.1:13305/api/v1/system-info").error.as_deref(), Some("no response"));
        assert_eq!(c.get("http://127.0.0.1:8080/health").unwrap_err(), HttpError::Connect("connection refused".into()));
        let mut sink = Vec::new();
        assert_eq!(c.download("http://127.0.0.1:13305/api/v1/load", &mut sink).unwrap_err(), HttpError::Status(404));
        let d = c.download("http://127.0.0.1:13305/live", &mut sink).unwrap();
        assert_eq!((d.bytes, d.sha256), (15, sha256(b"{\"status\":\"ok\"}")));
        assert_eq!(sink, b"{\"status\":\"ok\"}");
    }

    #[test]
    fn an_offline_root_answers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(root.mode(), RootMode::Offline);
        let r = Client::new(&root, Timeouts::default()).probe("http://127.0.0.1:13305/live");
        assert_eq!((r.status, r.error.as_deref()), (None, Some("offline root: services are not running")));
    }

    #[test]
    fn downloads_hash_what_they_write() {
        let (url, _) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbytes");
        let mut out = Vec::new();
        let d = Client::live(Timeouts::download()).download(&url, &mut out).unwrap();
        assert_eq!(out, b"bytes");
        assert_eq!(d, Downloaded { bytes: 5, sha256: sha256(b"bytes") });
        let (url, _) = serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let e = Client::live(Timeouts::download()).download(&url, &mut out).unwrap_err();
        assert_eq!(e.to_string(), "HTTP 503 Service Unavailable");
    }
}
