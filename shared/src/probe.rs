//! The HTTP endpoints of long-running modes (`/healthz`, `/readyz`,
//! `/metrics`): a deliberately tiny HTTP/1.1 responder, GET only, one
//! response per connection, for kubelet probes and Prometheus scrapes on
//! loopback or the Pod network. Each mode supplies its own routes.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer: status code, content type, body.
pub struct Response {
    /// 200, 503...
    pub status: u16,
    /// `text/plain; version=0.0.4` for Prometheus.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    /// 200 with a plain-text body.
    pub fn ok(body: impl Into<String>) -> Response {
        Response {
            status: 200,
            content_type: "text/plain",
            body: body.into(),
        }
    }

    /// 503 with a plain-text reason (a probe that is not ready yet).
    pub fn unavailable(body: impl Into<String>) -> Response {
        Response {
            status: 503,
            content_type: "text/plain",
            body: body.into(),
        }
    }

    /// 200 with Prometheus' text exposition format.
    pub fn metrics(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body,
        }
    }
}

/// Maps a path to an answer; `None` is 404.
pub type Routes = Arc<dyn Fn(&str) -> Option<Response> + Send + Sync>;

/// Binds `addr`, or says which flag named an address it cannot use.
pub async fn bind(
    flag: &str,
    addr: std::net::SocketAddr,
) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{flag} {addr}: cannot listen there: {e}"))
}

/// Serves `routes` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, routes: Routes) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let routes = routes.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            while len < buf.len() {
                match conn.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let r = routes(path).unwrap_or(Response {
                status: 404,
                content_type: "text/plain",
                body: "not found\n".into(),
            });
            let reason = match r.status {
                200 => "OK",
                404 => "Not Found",
                503 => "Service Unavailable",
                _ => "",
            };
            let resp = format!(
                "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                r.status,
                r.content_type,
                r.body.len(),
                r.body
            );
            // A probe that hung up early has nothing left to tell.
            if conn.write_all(resp.as_bytes()).await.is_ok() {
                conn.shutdown().await.ok();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn routes_answer_and_unknown_paths_are_404() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let routes: Routes = Arc::new(|p| match p {
            "/healthz" => Some(Response::ok("ok\n")),
            "/readyz" => Some(Response::unavailable("standby\n")),
            _ => None,
        });
        tokio::spawn(serve(l, routes));
        for (path, want) in [
            ("/healthz", "HTTP/1.1 200 OK"),
            ("/readyz?verbose", "HTTP/1.1 503 Service Unavailable"),
            ("/nope", "HTTP/1.1 404 Not Found"),
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            assert!(out.starts_with(want), "{path}: {out}");
        }
    }
}
