//! The reloader service: in Kubernetes FRR and the controller run in
//! different containers; the controller writes `frr.conf` into a shared
//! directory and asks the reloader, which runs next to FRR, to apply it.
//!
//! # Contract (compatible with upstream OpenPERouter's reloader)
//!
//! HTTP/1.1 on a unix socket:
//!
//! | request | answer |
//! |---|---|
//! | `POST /` | applies the config file ([`Applier::apply_file`]: the change from the running configuration, verified); `200` with a JSON [`ApplyReport`](crate::ApplyReport) on success, `500` with the error text (it names the failing lines) otherwise |
//! | `GET /version` | `200` with the FRR release the daemons run (`10.3`, `8.4.4`), read once; the controller renders for it; `503` when FRR does not answer |
//! | `GET /sessions` | `200` with the state of every BGP session as JSON ([`SessionState`](crate::state::SessionState)s: VRF, peer, state word); `503` when bgpd does not answer |
//! | any other method on `/` | `405 Method Not Allowed` (`Allow: POST`); upstream answers 400 |
//! | any other path | `404 Not Found` |
//!
//! Applies are serialised: concurrent requests wait for each other (the
//! [`Applier`]'s lock), each gets the outcome of its own run. The socket
//! file is removed before listening (only if it is a socket) and when the
//! server stops.
//!
//! Health on TCP: `GET /healthz` and `GET /readyz` answer `200 ok` only
//! when `vtysh -c 'show daemons'` lists every required daemon (default
//! zebra, bgpd, staticd, bfdd, watchfrr) within the vtysh timeout, `503`
//! with the reason otherwise; other methods `405`, other paths `404`.
//!
//! [`ReloaderClient`] is the controller side.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::applier::Applier;
use crate::vtysh::{Vtysh, VtyshError};

/// The daemons upstream's health check requires.
pub const DEFAULT_REQUIRED_DAEMONS: &[&str] = &["zebra", "bgpd", "staticd", "bfdd", "watchfrr"];

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// FRR liveness: `show daemons` must list every required daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// vtysh, with the deadline of the check as its timeout.
    pub vtysh: Vtysh,
    pub required: Vec<String>,
}

/// Why FRR is not healthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("vtysh show daemons failed: {0}")]
    Vtysh(#[from] VtyshError),
    #[error("daemons not running: {} (running: {})", missing.join(" "), running.join(" "))]
    Missing { missing: Vec<String>, running: Vec<String> },
}

impl HealthCheck {
    /// A check of the default daemon list.
    pub fn new(vtysh: Vtysh) -> Self {
        HealthCheck { vtysh, required: DEFAULT_REQUIRED_DAEMONS.iter().map(|d| d.to_string()).collect() }
    }

    /// Runs the check; returns the running daemons.
    pub async fn check(&self) -> Result<Vec<String>, HealthError> {
        let running = self.vtysh.show_daemons().await?;
        let missing: Vec<String> = self.required.iter().filter(|d| !running.contains(d)).cloned().collect();
        if missing.is_empty() { Ok(running) } else { Err(HealthError::Missing { missing, running }) }
    }
}

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{} exists and is not a socket; refusing to remove it", .0.display())]
    NotASocket(PathBuf),
    #[error("cannot listen on {what}: {source}")]
    Listen {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Removes the socket file when dropped.
#[derive(Debug)]
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bound reloader, ready to [`Reloader::run`].
#[derive(Debug)]
pub struct Reloader {
    unix: UnixListener,
    tcp: Option<TcpListener>,
    socket: SocketFile,
    applier: Arc<Applier>,
    health: Arc<HealthCheck>,
}

impl Reloader {
    /// Binds the unix socket (removing a stale one first) and, when given,
    /// the health address (port 0 picks a free port, see
    /// [`Reloader::health_addr`]).
    pub async fn bind(
        socket: &Path,
        health_address: Option<SocketAddr>,
        applier: Arc<Applier>,
        health: HealthCheck,
    ) -> Result<Self, ServeError> {
        use std::os::unix::fs::FileTypeExt as _;
        if let Ok(meta) = std::fs::symlink_metadata(socket) {
            if !meta.file_type().is_socket() {
                return Err(ServeError::NotASocket(socket.to_path_buf()));
            }
            std::fs::remove_file(socket)
                .map_err(|source| ServeError::Listen { what: socket.display().to_string(), source })?;
        }
        let unix = UnixListener::bind(socket)
            .map_err(|source| ServeError::Listen { what: socket.display().to_string(), source })?;
        let guard = SocketFile(socket.to_path_buf());
        let tcp = match health_address {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Listen { what: addr.to_string(), source })?,
            ),
            None => None,
        };
        Ok(Reloader { unix, tcp, socket: guard, applier, health: Arc::new(health) })
    }

    /// The bound health address.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then waits (up to
    /// [`SHUTDOWN_GRACE`]) for requests in flight and removes the socket.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Reloader { unix, tcp, socket, applier, health } = self;
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        tokio::pin!(shutdown);
        tracing::info!(socket = %socket.0.display(), health = ?tcp.as_ref().and_then(|l| l.local_addr().ok()), "reloader listening");
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = unix.accept() => match accepted {
                    Ok((stream, _)) => {
                        let (applier, vtysh) = (applier.clone(), health.vtysh.clone());
                        let service = hyper::service::service_fn(move |req| reload_service(req, applier.clone(), vtysh.clone()));
                        let conn = http.serve_connection(TokioIo::new(stream), service);
                        let conn = graceful.watch(conn);
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, "reload connection ended with an error");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "accept on the reload socket failed"),
                },
                accepted = accept_tcp(tcp.as_ref()) => match accepted {
                    Ok(stream) => {
                        let health = health.clone();
                        let service = hyper::service::service_fn(move |req| health_service(req, health.clone()));
                        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(error = %e, "health connection ended with an error");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "accept on the health address failed"),
                },
            }
        }
        tracing::info!("reloader shutting down");
        drop(unix);
        drop(socket);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; exiting anyway");
        }
        Ok(())
    }
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.into())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

async fn reload_service(
    req: Request<Incoming>,
    applier: Arc<Applier>,
    vtysh: Vtysh,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // GET /sessions: the state of every BGP session, for the controller's node status.
    if req.uri().path() == "/sessions" && req.method() == Method::GET {
        return Ok(match crate::state::bgp_neighbors(&vtysh).await {
            Ok(neighbors) => {
                let body = serde_json::to_string(&crate::state::session_states(&neighbors)).unwrap_or_default();
                let mut resp = text(StatusCode::OK, format!("{body}\n"));
                resp.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        });
    }
    // GET /version: the FRR release the daemons run, so that the
    // controller renders that release's canonical form.
    if req.uri().path() == "/version" && req.method() == Method::GET {
        return Ok(match applier.frr_version().await {
            Ok(version) => text(StatusCode::OK, format!("{version}\n")),
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        });
    }
    if req.uri().path() != "/" {
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("no such path {}; POST / applies the config, GET /version, GET /sessions\n", req.uri().path()),
        ));
    }
    if req.method() != Method::POST {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "only POST / is supported\n");
        resp.headers_mut().insert(ALLOW, hyper::header::HeaderValue::from_static("POST"));
        return Ok(resp);
    }
    match applier.apply_file().await {
        Ok(report) => {
            tracing::info!(
                added = report.added.len(),
                removed = report.removed.len(),
                reloaded = report.reloaded,
                duration = ?report.duration,
                "configuration applied"
            );
            let mut resp = text(StatusCode::OK, format!("{}\n", report.to_json()));
            resp.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
            Ok(resp)
        }
        Err(e) => {
            tracing::warn!(error = %e, "configuration not applied");
            Ok(text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")))
        }
    }
}

async fn health_service(req: Request<Incoming>, health: Arc<HealthCheck>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path != "/healthz" && path != "/readyz" {
        return Ok(text(StatusCode::NOT_FOUND, "health endpoints: /healthz /readyz\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        resp.headers_mut().insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return Ok(resp);
    }
    Ok(match health.check().await {
        Ok(_) => text(StatusCode::OK, "ok"),
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    })
}

/// Errors of [`ReloaderClient`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the reloader at {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP error talking to the reloader: {0}")]
    Http(#[from] hyper::Error),
    #[error("the reloader did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the reloader answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The controller side: asks the reloader on a unix socket to apply the
/// config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloaderClient {
    pub socket: PathBuf,
    /// Deadline of one request (an apply that deletes a lot is slow).
    pub timeout: Duration,
}

impl ReloaderClient {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        ReloaderClient {
            socket: socket.into(),
            timeout: crate::applier::DEFAULT_APPLY_TIMEOUT * 2 + Duration::from_secs(10),
        }
    }

    /// `POST /`; returns the body of a 200 answer (the JSON report), or an
    /// error with the body of any other answer.
    pub async fn reload(&self) -> Result<String, ClientError> {
        tokio::time::timeout(self.timeout, self.post()).await.map_err(|_| ClientError::Timeout(self.timeout))?
    }

    /// Writes `text` to `config_path` (mode 0600, atomically) and asks the
    /// reloader to apply it.
    pub async fn apply(&self, config_path: &Path, text: &str) -> Result<String, ClientError> {
        write_config(config_path, text)
            .map_err(|source| ClientError::Write { path: config_path.to_path_buf(), source })?;
        self.reload().await
    }

    /// `GET /version`: the FRR release behind the reloader.
    pub async fn version(&self) -> Result<crate::FrrVersion, ClientError> {
        let body = tokio::time::timeout(self.timeout, self.request(Method::GET, "/version"))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))??;
        body.trim().parse().map_err(|e| ClientError::Status { status: 200, body: format!("{e}") })
    }

    /// `GET /sessions`: the state of every BGP session behind the reloader.
    pub async fn sessions(&self) -> Result<Vec<crate::state::SessionState>, ClientError> {
        let body = tokio::time::timeout(self.timeout, self.request(Method::GET, "/sessions"))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))??;
        serde_json::from_str(&body).map_err(|e| ClientError::Status { status: 200, body: format!("{e}") })
    }

    async fn post(&self) -> Result<String, ClientError> {
        self.request(Method::POST, "/").await
    }

    async fn request(&self, method: Method, path: &str) -> Result<String, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "reloader connection ended with an error");
            }
        });
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "reloader")
            .body(Full::new(Bytes::new()))
            .map_err(|e| ClientError::Status { status: 0, body: format!("cannot build the request: {e}") })?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        driver.abort();
        let body = String::from_utf8_lossy(&body).into_owned();
        if status == StatusCode::OK { Ok(body) } else { Err(ClientError::Status { status: status.as_u16(), body }) }
    }
}

fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
