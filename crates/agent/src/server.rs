//! The agent's local HTTP endpoints: `/healthz` (the process answers), `/readyz` (the last
//! reconcile left the node Ready), `/status` (the node status as JSON) and `/metrics`
//! (Prometheus text, with BGP sessions and EVPN routes sampled from FRR).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::{self, Metrics};
use crate::status::NodeStatus;

/// What the endpoints read.
#[derive(Clone)]
pub struct Shared {
    /// The node status.
    pub status: Arc<RwLock<NodeStatus>>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// vtysh for sampling FRR at scrape time.
    pub vtysh: Option<frr::Vtysh>,
}

fn reply(code: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(shared: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET is supported\n".into()));
    }
    let status = || match shared.status.read() {
        Ok(s) => s.clone(),
        Err(e) => e.into_inner().clone(),
    };
    let resp = match req.uri().path() {
        "/healthz" => reply(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            let st = status();
            if st.ready() {
                reply(StatusCode::OK, "text/plain", "ok\n".into())
            } else {
                let why = st
                    .conditions
                    .first()
                    .map(|c| format!("{}: {}\n", c.reason, c.message))
                    .unwrap_or_else(|| "not reconciled yet\n".into());
                reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", why)
            }
        }
        "/status" => match serde_json::to_string_pretty(&{
            let mut st = status();
            if let Some(v) = &shared.vtysh {
                st.live = tokio::time::timeout(Duration::from_secs(5), crate::status::sample_live(v)).await.ok();
            }
            st
        }) {
            Ok(j) => reply(StatusCode::OK, "application/json", j + "\n"),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n")),
        },
        "/metrics" => {
            let sample = match &shared.vtysh {
                Some(v) => tokio::time::timeout(Duration::from_secs(5), metrics::sample_frr(v)).await.ok(),
                None => None,
            };
            reply(StatusCode::OK, "text/plain; version=0.0.4", shared.metrics.render(sample.as_ref()))
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "endpoints: /healthz /readyz /status /metrics\n".into()),
    };
    Ok(resp)
}

/// Binds `addr` (port 0 picks one) and returns the bound address and the serving future.
pub async fn bind(
    addr: SocketAddr,
    shared: Shared,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send + 'static)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let serve = async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    };
    Ok((local, serve))
}
