//! The HTTPS server of the admission webhooks.
//!
//! * TLS with rustls and the ring provider, built explicitly (no dependence on a process-wide
//!   default provider), HTTP/1.1.
//! * The certificate and key files are re-read every `reload_every`; when their content
//!   changed and the new pair is usable, new connections get the new certificate. A pair that
//!   does not load (for example the certificate is already replaced but the key not yet) keeps
//!   the previous one in service and is retried at the next poll. Polling the content rather
//!   than the mtime also works with the symlink swaps of Secret volumes.
//! * Endpoints: `POST /validate-openperouter-io-v1alpha1-<kind>` (one per kind),
//!   `GET /healthz` (the process serves), `GET /readyz` (the cluster state is synchronised).
//! * A body that is not an AdmissionReview gets HTTP 400 with the reason; while the cluster
//!   state is not synchronised every review gets HTTP 503 (the API server then applies the
//!   webhook's failure policy) rather than an answer computed on an empty state.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api::ResourceKind;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;
use crate::admission::{self, MalformedRequest, WebhookConfig};
use crate::state::ClusterState;

/// Where the cluster state comes from (reflector stores in production, a fixed state in tests).
pub trait StateSource: Send + Sync + 'static {
    /// Whether the state is synchronised with the API server.
    fn ready(&self) -> bool;
    /// The current state; `None` while not synchronised.
    fn snapshot(&self) -> Option<ClusterState>;
}

/// A fixed state (tests, dry runs).
#[derive(Debug, Clone, Default)]
pub struct FixedState(pub ClusterState);

impl StateSource for FixedState {
    fn ready(&self) -> bool {
        true
    }

    fn snapshot(&self) -> Option<ClusterState> {
        Some(self.0.clone())
    }
}

/// The certificate and key files (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let read = |p: &Path| std::fs::read(p).map_err(|cause| Error::Read { path: p.to_path_buf(), cause });
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    fn tls_error(&self, message: impl Into<String>) -> Error {
        Error::Tls { cert: self.cert.clone(), key: self.key.clone(), message: message.into() }
    }

    /// Builds a server configuration from PEM contents.
    fn build(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, Error> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.tls_error(format!("certificate: {e}")))?;
        if certs.is_empty() {
            return Err(self.tls_error("the certificate file holds no certificate"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| self.tls_error(format!("key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.tls_error(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| self.tls_error(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Loads the files into a server configuration.
    pub fn load(&self) -> Result<ServerConfig, Error> {
        let (cert, key) = self.read()?;
        self.build(&cert, &key)
    }
}

#[derive(Clone)]
struct AppState {
    config: Arc<WebhookConfig>,
    source: Arc<dyn StateSource>,
}

/// The webhook endpoints.
pub fn router(config: WebhookConfig, source: Arc<dyn StateSource>) -> Router {
    let state = AppState { config: Arc::new(config), source };
    let mut app = Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(readyz));
    for kind in admission::KINDS {
        app = app.route(&admission::path_for(kind), post(move |s: State<AppState>, body: Bytes| handle(s, kind, body)));
    }
    // An AdmissionReview carries the object and its old version (etcd allows 1.5 MiB each).
    app.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)).with_state(state)
}

/// Largest accepted request body.
const MAX_BODY: usize = 8 * 1024 * 1024;

async fn readyz(State(app): State<AppState>) -> Response {
    if app.source.ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "cluster state not synchronised yet").into_response()
    }
}

fn text(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response()
}

async fn handle(State(app): State<AppState>, kind: ResourceKind, body: Bytes) -> Response {
    let work = move || -> Result<Option<Vec<u8>>, MalformedRequest> {
        let request: AdmissionReview<DynamicObject> = serde_json::from_slice(&body)?;
        let Some(state) = app.source.snapshot() else { return Ok(None) };
        let (op, ns, name) = match &request.request {
            Some(r) => (format!("{:?}", r.operation), r.namespace.clone().unwrap_or_default(), r.name.clone()),
            None => (String::new(), String::new(), String::new()),
        };
        let response = admission::review(request, Some(kind), &state, &app.config)?;
        if let Some(r) = &response.response {
            if r.allowed {
                tracing::info!(%kind, operation = %op, namespace = %ns, name = %name, "admitted");
            } else {
                tracing::info!(%kind, operation = %op, namespace = %ns, name = %name, reason = %r.result.message, "denied");
            }
        }
        Ok(Some(serde_json::to_vec(&response)?))
    };
    // Planning every node is CPU work: keep it off the I/O threads.
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(Some(bytes))) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Ok(Ok(None)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the webhook has not synchronised the cluster state yet; retry in a few seconds".into(),
        ),
        Ok(Err(e)) => {
            tracing::warn!(%kind, error = %e, "malformed admission request");
            text(StatusCode::BAD_REQUEST, format!("malformed admission request: {e}"))
        }
        Err(e) => {
            tracing::error!(%kind, error = %e, "admission review task failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error while reviewing the request".into())
        }
    }
}

/// Watches the certificate files and swaps the served certificate when they change.
async fn reload_loop(files: TlsFiles, tls: RustlsConfig, mut current: (Vec<u8>, Vec<u8>), every: Duration) {
    let mut last_failed: Option<(Vec<u8>, Vec<u8>)> = None;
    loop {
        tokio::time::sleep(every).await;
        let contents = match files.read() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook certificate files; keeping the current certificate");
                continue;
            }
        };
        if contents == current || last_failed.as_ref() == Some(&contents) {
            continue;
        }
        match files.build(&contents.0, &contents.1) {
            Ok(config) => {
                tls.reload_from_config(Arc::new(config));
                tracing::info!(cert = %files.cert.display(), "webhook certificate reloaded");
                current = contents;
                last_failed = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "new webhook certificate files are not usable yet; keeping the current certificate");
                last_failed = Some(contents);
            }
        }
    }
}

/// Serves `app` over HTTPS on `listener` until `shutdown` completes (then drains connections
/// for up to 10 s). Fails at once when the certificate files are unusable.
pub async fn serve(
    listener: std::net::TcpListener,
    files: TlsFiles,
    reload_every: Duration,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let contents = files.read()?;
    let config = files.build(&contents.0, &contents.1)?;
    let tls = RustlsConfig::from_config(Arc::new(config));
    let reloader = tokio::spawn(reload_loop(files, tls.clone(), contents, reload_every));
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let server =
        axum_server::from_tcp_rustls(listener, tls).map_err(|cause| Error::Serve { addr: addr.clone(), cause })?;
    let result = server.handle(handle).serve(app.into_make_service()).await;
    reloader.abort();
    result.map_err(|cause| Error::Serve { addr, cause })
}
