//! Kubernetes glue for OpenPERouter.
//!
//! * [`admission`]: the validating webhooks, a pure function from an `AdmissionReview` request
//!   and the [`state::ClusterState`] to a response, running the node's own planning code
//!   ([`plan::plan_node`]) per node;
//! * [`nodeindex`]: the node-index allocator (pure), annotation `openpe.io/nodeindex`;
//! * [`lease`]: leader election with a `coordination.k8s.io/v1` Lease (pure state machine and
//!   its driver);
//! * [`server`]: the HTTPS server of the webhooks (rustls with the ring provider, certificate
//!   files reloaded when they change);
//! * [`runtime`]: the long-running parts (reflectors feeding the webhooks, the nodemarker loop);
//! * [`controller`]: `openperouter controller`, the per-node agent fed by reflectors (the shared
//!   agent loop of the `agent` crate), writing `RouterNodeConfigurationStatus` and Events;
//! * [`rbac`]: the API permissions each component uses (checked against the shipped RBAC).
//!
//! Validation itself is not here: single-object rules are `api::check`, cross-resource rules
//! are `plan`. This crate only decides which objects and nodes to run them on.

pub mod admission;
pub mod cluster_status;
pub mod controller;
mod controller_watch;
pub mod lease;
mod node;
mod node_status;
pub mod nodeindex;
pub mod rbac;
pub mod readiness;
pub mod runtime;
pub mod secrets;
pub mod server;
pub mod state;
pub mod watch;

use std::path::PathBuf;

/// Errors of the Kubernetes glue. Each message includes its cause (so a log line is complete);
/// the cause is therefore not exposed again as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{0}: {1}")]
    Kube(&'static str, kube::Error),
    /// A file could not be read.
    #[error("reading {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The certificate or key is unusable.
    #[error("TLS certificate {cert} / key {key}: {message}")]
    Tls {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Serving failed.
    #[error("serving on {addr}: {cause}")]
    Serve {
        /// The listen address.
        addr: String,
        /// Why.
        cause: std::io::Error,
    },
    /// Invalid settings.
    #[error("invalid settings: {0}")]
    Settings(String),
}

/// Installs rustls' ring provider as the process-wide default (a no-op when one is already
/// installed). Binaries call it first thing: when more than one rustls provider is compiled
/// into a process, rustls cannot pick one and panics at the first TLS connection. The webhook
/// server passes the provider explicitly anyway; this covers the kube client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
