//! HTTP GETs for service health (Lemonade, the GPU endpoint): real requests on a live root
//! (ureq, short timeouts), replayed answers on a fixture root, nothing on an offline root.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::root::{Root, RootMode};

/// Largest body kept (health and system-info answers are a few KiB).
const MAX_BODY: u64 = 256 * 1024;

/// What one GET returned.
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

/// GETs `url` with an optional bearer token.
pub fn get(root: &Root, url: &str, timeout: Duration, api_key: Option<&str>) -> HttpResult {
    let started = Instant::now();
    let mut r = HttpResult { url: url.to_string(), ..Default::default() };
    match root.mode() {
        RootMode::Offline => r.error = Some("offline root: services are not running".into()),
        RootMode::Fixture => match root.fixture().and_then(|f| f.http.get(url)) {
            Some(rep) => {
                r.status = rep.status;
                r.body = rep.body.clone();
                r.error = rep.error.clone();
                if r.status.is_none() && r.error.is_none() {
                    r.error = Some("no response".into());
                }
            }
            None => r.error = Some("connection refused".into()),
        },
        RootMode::Live => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .timeout_connect(Some(timeout.min(Duration::from_secs(2))))
                .http_status_as_error(false)
                .build()
                .into();
            let mut req = agent.get(url);
            if let Some(k) = api_key {
                req = req.header("Authorization", &format!("Bearer {k}"));
            }
            match req.call() {
                Ok(mut resp) => {
                    r.status = Some(resp.status().as_u16());
                    match resp.body_mut().with_config().limit(MAX_BODY).read_to_vec() {
                        Ok(b) => r.body = Some(String::from_utf8_lossy(&b).into_owned()),
                        Err(e) => r.error = Some(format!("reading body: {e}")),
                    }
                }
                Err(e) => r.error = Some(e.to_string()),
            }
        }
    }
    // Replayed answers take no time; a fixed 0 keeps fixture reports reproducible.
    r.millis = if root.mode() == RootMode::Live { started.elapsed().as_millis() as u64 } else { 0 };
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A real HTTP server on loopback answering one request.
    fn serve_once(response: &'static str) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response.as_bytes());
            }
        });
        format!("http://{addr}/live")
    }

    #[test]
    fn live_get_reads_status_and_body() {
        let url = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}");
        let root = Root::open(std::path::Path::new("/")).unwrap();
        let r = get(&root, &url, Duration::from_secs(2), None);
        assert_eq!(r.status, Some(200), "{r:?}");
        assert_eq!(r.json().unwrap()["status"], "ok");
    }

    #[test]
    fn live_get_reports_http_errors_with_body() {
        let url =
            serve_once("HTTP/1.1 401 Unauthorized\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad api key!");
        let root = Root::open(std::path::Path::new("/")).unwrap();
        let r = get(&root, &url, Duration::from_secs(2), None);
        assert_eq!(r.status, Some(401));
        assert!(!r.ok());
        assert_eq!(r.body.as_deref(), Some("bad api key!"));
    }

    #[test]
    fn a_silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/live", l.local_addr().unwrap());
        let root = Root::open(std::path::Path::new("/")).unwrap();
        let started = Instant::now();
        let r = get(&root, &url, Duration::from_millis(300), None);
        assert!(r.error.is_some(), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(l);
    }
}
