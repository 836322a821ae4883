//! `openperouter webhook`, `openperouter nodemarker` and `openperouter controller`: arguments
//! and wiring only; the logic lives in the `k8s` crate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use k8s::admission::{DEFAULT_NAMESPACE, WebhookConfig};
use k8s::lease::LeaseSettings;
use k8s::runtime::{NodemarkerConfig, Reflectors};
use k8s::server::{StateSource, TlsFiles};

/// Arguments of `openperouter webhook`.
#[derive(Args, Debug)]
pub struct WebhookArgs {
    /// TLS certificate chain (PEM). Re-read when its content changes.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// TLS private key (PEM). Re-read when its content changes.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Address and port to serve HTTPS on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    /// The operator namespace: RawFRRConfigs are accepted there only.
    #[arg(long, env = "NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// How often the certificate files are checked for changes (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub cert_reload_interval: Duration,
}

/// Arguments of `openperouter nodemarker`.
#[derive(Args, Debug)]
pub struct NodemarkerArgs {
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "openperouter-nodemarker")]
    pub lease_name: String,
    /// Identity in the Lease (default: $POD_NAME, else host name and process id).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long the Lease stays valid without renewal.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps acting without a successful renewal (< lease duration).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// How often the Lease is renewed or contended for (< renew deadline).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
    /// A full allocation pass runs at least this often while leading.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub resync: Duration,
    /// Plain-HTTP probes (/healthz, /readyz).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8081")]
    pub health_listen: SocketAddr,
}

/// Arguments of `openperouter controller` (the per-node agent, a DaemonSet).
#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// This node's name.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// The operator namespace (RawFRRConfigs, router pods, RouterNodeConfigurationStatus).
    #[arg(long, env = "NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The FRR configuration file shared with the reloader sidecar (written 0600).
    #[arg(long, value_name = "PATH", default_value = "/etc/perouter/frr/frr.conf")]
    pub frr_config: PathBuf,
    /// The reloader sidecar's unix socket.
    #[arg(long, value_name = "PATH", default_value = "/etc/perouter/frr/reload.sock")]
    pub reloader_socket: PathBuf,
    /// Name of the router network namespace (/run/netns/<name>).
    #[arg(long, default_value = "perouter")]
    pub router_netns: String,
    /// Plain-HTTP probes (/healthz, /readyz) and /metrics.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:9081")]
    pub health_listen: SocketAddr,
    /// Quiet time after a change before reconciling.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// A full re-apply (drift repair) runs at least this often.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub resync: Duration,
    /// `bgp listen limit`: how many dynamic neighbors a listen range accepts.
    #[arg(long, value_name = "N", default_value_t = 65535, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub bgp_listen_limit: u32,
    /// Where the CNI plugins of `CNIDevice` underlays are looked for, in order (comma-separated).
    #[arg(long, value_name = "DIR,…", value_delimiter = ',', default_values_t = cni::DEFAULT_PLUGIN_DIRS.map(String::from))]
    pub cni_plugin_dirs: Vec<String>,
    /// Where CNI results are kept; must survive restarts (an attachment is deleted with the
    /// configuration that made it).
    #[arg(long, value_name = "DIR", default_value = agent::DEFAULT_CNI_CACHE_DIR)]
    pub cni_cache_dir: std::path::PathBuf,
    /// The Open vSwitch database socket, for L2VNIs with an OVSBridge host master.
    #[arg(long, value_name = "SOCKET", default_value = dataplane::ovs::DEFAULT_SOCKET)]
    pub ovs_socket: String,
    /// `datapath_type` of the Open vSwitch bridges created for L2VNIs (empty: Open vSwitch's
    /// default, the kernel datapath; `netdev` for the userspace datapath, e.g. with DPDK).
    #[arg(long, value_name = "TYPE", default_value = "")]
    pub ovs_datapath_type: String,
    /// How often the router's BGP session states are sampled into the node status (written only
    /// when one changes).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub sessions_interval: Duration,
    /// Readiness gating: remove the taint network.openperouter.io/router-not-ready:NoSchedule from
    /// this Node once the router is Ready, put it back when it stays not ready beyond the grace
    /// period (needs `patch` on nodes).
    #[arg(long)]
    pub readiness_taint: bool,
    /// Readiness gating: keep the Node condition NetworkOpenPERouterReady up to date (needs
    /// `patch` on nodes/status).
    #[arg(long)]
    pub readiness_condition: bool,
    /// Readiness gating: how long the router may be not ready before the taint comes back.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub readiness_grace: Duration,
}

/// Parses `250ms`, `10s`, `5m`, `1h` or a plain number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration (examples: 500ms, 10s, 5m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("unknown unit {other:?} in {text:?} (use ms, s, m or h)")),
    };
    if d.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(d)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

async fn client() -> Result<kube::Client> {
    kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster service account, or KUBECONFIG / ~/.kube/config)")
}

/// `openperouter webhook`: serves the admission webhooks until SIGTERM/SIGINT.
pub fn run_webhook(args: WebhookArgs) -> Result<ExitCode> {
    k8s::install_crypto_provider();
    let files = TlsFiles { cert: args.cert.clone(), key: args.key.clone() };
    // Fail before touching the network when the certificate is unusable.
    files.load().context("loading the webhook certificate")?;
    let listener = std::net::TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    runtime()?.block_on(async move {
        let client = client().await?;
        let reflectors = Reflectors::start(client, &args.namespace);
        let source: Arc<dyn StateSource> = Arc::new(reflectors);
        let app = k8s::server::router(WebhookConfig { namespace: args.namespace.clone() }, source);
        tracing::info!(listen = %args.listen, namespace = %args.namespace, "serving admission webhooks");
        k8s::server::serve(listener, files, args.cert_reload_interval, app, k8s::runtime::shutdown_signal()).await?;
        tracing::info!("webhook server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn default_identity() -> String {
    let host = kernel::sysctl::read("kernel/hostname").ok().flatten().unwrap_or_default();
    format!("{}-{}", if host.is_empty() { "nodemarker" } else { &host }, std::process::id())
}

/// `openperouter nodemarker`: assigns node indexes while holding the Lease, until
/// SIGTERM/SIGINT (then releases the Lease).
pub fn run_nodemarker(args: NodemarkerArgs) -> Result<ExitCode> {
    k8s::install_crypto_provider();
    let lease = LeaseSettings {
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    };
    if let Err(e) = lease.validate() {
        bail!("--lease-duration, --renew-deadline, --retry-period: {e}");
    }
    let identity = args.identity.clone().filter(|i| !i.is_empty()).unwrap_or_else(default_identity);
    let config = NodemarkerConfig {
        namespace: args.namespace.clone(),
        lease_name: args.lease_name.clone(),
        identity: identity.clone(),
        lease,
        resync: args.resync,
    };
    runtime()?.block_on(async move {
        let ready = start_probes(args.health_listen, None).await?;
        let client = client().await?;
        tracing::info!(%identity, lease = %format!("{}/{}", args.namespace, args.lease_name), "nodemarker starting");
        k8s::runtime::run_nodemarker(client, config, k8s::runtime::shutdown_signal(), ready).await?;
        tracing::info!("nodemarker stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `openperouter controller`: keeps this node's router configured from the API until
/// SIGTERM/SIGINT.
pub fn run_controller(args: ControllerArgs) -> Result<ExitCode> {
    k8s::install_crypto_provider();
    let mut agent = agent::AgentConfig::new(Vec::new(), &args.router_netns);
    agent.frr = agent::FrrMode::Reloader {
        socket: args.reloader_socket.clone(),
        config_path: args.frr_config.clone(),
        hostname: None,
    };
    agent.debounce = args.debounce;
    agent.resync = args.resync;
    agent.plan.bgp_listen_limit = args.bgp_listen_limit;
    agent.cni_plugin_dirs = args.cni_plugin_dirs.iter().map(std::path::PathBuf::from).collect();
    agent.cni_cache_dir = args.cni_cache_dir.clone();
    agent.ovs_socket = args.ovs_socket.clone();
    agent.ovs_datapath_type = Some(args.ovs_datapath_type.clone()).filter(|t| !t.is_empty());
    let config = k8s::controller::ControllerConfig {
        node_name: args.node_name.clone(),
        namespace: args.namespace.clone(),
        agent,
        debounce: args.debounce,
        resync: args.resync,
        sessions_every: args.sessions_interval,
        now: k8s_openapi::jiff::Timestamp::now,
        metrics: Arc::new(agent::Metrics::default()),
        gate: k8s::readiness::GateConfig {
            taint: args.readiness_taint,
            condition: args.readiness_condition,
            grace: args.readiness_grace,
        },
    };
    runtime()?.block_on(async move {
        let ready = start_probes(args.health_listen, Some(config.metrics.clone())).await?;
        let client = client().await?;
        tracing::info!(node = %args.node_name, namespace = %args.namespace, "controller starting");
        k8s::controller::run_controller(client, config, k8s::runtime::shutdown_signal(), ready).await?;
        tracing::info!("controller stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Serves the liveness/readiness probes on `addr` in the background; readiness follows the
/// returned flag.
async fn start_probes(addr: std::net::SocketAddr, metrics: Option<Arc<agent::Metrics>>) -> Result<Arc<AtomicBool>> {
    let probes =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr} for probes"))?;
    let ready = Arc::new(AtomicBool::new(false));
    let probe_ready = ready.clone();
    tokio::spawn(async move {
        if let Err(e) = k8s::runtime::serve_probes(probes, probe_ready, metrics).await {
            tracing::error!(error = %e, "probe server failed");
        }
    });
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
