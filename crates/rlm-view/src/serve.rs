//! Serving one page on a loopback address, for `rlm-sandbox view` without `-o`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Error;
use crate::page::content_security_policy;

/// Serves `html` at `/` on `addr`, which must be a loopback address (port 0
/// picks a free port), in a task on the current Tokio runtime.
///
/// The page holds the whole log, which may hold private context, so the
/// server listens only on loopback and answers only requests whose `Host`
/// is its own address or `localhost` with its port: a web page elsewhere
/// cannot read it by pointing a DNS name at 127.0.0.1.
///
/// The server runs until [`Server::shutdown`] or until the [`Server`] is
/// dropped; [`Server::wait`] serves for as long as the process runs.
///
/// # Errors
///
/// [`Error::NotLoopback`] for another address, [`Error::Bind`] when the
/// address cannot be listened on.
pub async fn serve(html: String, addr: SocketAddr) -> Result<Server, Error> {
    if !addr.ip().is_loopback() {
        return Err(Error::NotLoopback { addr });
    }
    let listener = TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
    let local_addr = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
    let app = app(html, local_addr);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
    });
    Ok(Server { url: format!("http://{local_addr}/"), local_addr, stop: Some(stop), task: Some(task) })
}

/// A page being served; see [`serve`]. Dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    url: String,
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Server {
    /// The page's address, like `http://127.0.0.1:43817/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on, with the port it got.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops taking connections and waits for open ones to finish.
    ///
    /// # Errors
    ///
    /// [`Error::Serve`] when the server had failed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await
    }

    /// Serves until the server fails, which it normally never does: for a
    /// command that serves until it is interrupted.
    ///
    /// # Errors
    ///
    /// [`Error::Serve`] when the server fails.
    pub async fn wait(mut self) -> Result<(), Error> {
        // Keep the sender alive so the server is not told to stop.
        let _stop = self.stop.take();
        self.join().await
    }

    async fn join(&mut self) -> Result<(), Error> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result.map_err(Error::Serve),
            Err(join) => Err(Error::Serve(io::Error::other(join))),
        }
    }
}

/// What every request handler sees.
#[derive(Clone, Debug)]
struct Page {
    html: Arc<str>,
    /// The `Host` values this server answers to.
    hosts: Arc<[String]>,
}

/// The router: the page at `/`, 404 elsewhere.
fn app(html: String, local_addr: SocketAddr) -> Router {
    let hosts = [local_addr.to_string(), format!("localhost:{}", local_addr.port())];
    let page = Page { html: html.into(), hosts: Arc::new(hosts) };
    Router::new().route("/", get(page_handler)).fallback(not_found).with_state(page)
}

async fn page_handler(State(page): State<Page>, headers: HeaderMap) -> Response {
    if !host_allowed(&page, &headers) {
        return (StatusCode::MISDIRECTED_REQUEST, "unexpected Host header").into_response();
    }
    let mut response = page.html.to_string().into_response();
    let set = response.headers_mut();
    set.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The same policy as the page's own meta element, plus what only a
    // header can say (no framing).
    let csp = format!("{}; frame-ancestors 'none'", content_security_policy());
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        set.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    set.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    set.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found")
}

fn host_allowed(page: &Page, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    page.hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// Sends one HTTP/1.1 request and returns the whole response.
    async fn get(addr: SocketAddr, path: &str, host: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_the_page_on_a_free_port() {
        let server = serve("<p>page</p>".into(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0);
        assert_eq!(server.url(), format!("http://127.0.0.1:{}/", addr.port()));

        let response = get(addr, "/", &addr.to_string()).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(lower.contains("content-type: text/html; charset=utf-8"), "{response}");
        assert!(lower.contains("content-security-policy: default-src 'none'"), "{response}");
        assert!(response.ends_with("<p>page</p>"), "{response}");

        let response = get(addr, "/", &format!("localhost:{}", addr.port())).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let response = get(addr, "/other", &addr.to_string()).await;
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");

        server.shutdown().await.unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
    }

    #[tokio::test]
    async fn refuses_a_foreign_host_header() {
        let server = serve("secret".into(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let response = get(server.local_addr(), "/", &format!("evil.example:{}", server.local_addr().port())).await;
        assert!(response.starts_with("HTTP/1.1 421"), "{response}");
        assert!(!response.contains("secret"));
    }

    #[tokio::test]
    async fn refuses_a_non_loopback_address() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let err = serve(String::new(), addr).await.unwrap_err();
        assert!(matches!(err, Error::NotLoopback { .. }), "{err:?}");
        assert_eq!(err.to_string(), "refusing to serve on `0.0.0.0:0`: not a loopback address");
    }
}
