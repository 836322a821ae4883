//! `openperouter host`: the node agent on a plain Linux host (static files and/or manifests).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

/// How FRR is handled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FrrModeArg {
    /// Run FRR (watchfrr, zebra, bgpd, staticd, bfdd) in the router namespace.
    Managed,
    /// Apply to Debian's pathspace instance `frr@NAME` started by systemd (see --frr-pathspace).
    Pathspace,
    /// Do not touch FRR: apply only the kernel state.
    None,
}

/// Arguments of `openperouter host`.
#[derive(Args, Debug)]
pub struct HostArgs {
    /// Directory (or file) with `openpe_*.yaml` static files, manifests and `node-config.yaml`;
    /// watched for changes. May be repeated.
    #[arg(long = "config-dir", required = true, num_args = 1..)]
    config: Vec<PathBuf>,
    /// A node-config.yaml outside the config directory.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// Node index (default: from node-config.yaml).
    #[arg(long)]
    node_index: Option<u32>,
    /// Node name (default: from node-config.yaml, else the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// Node labels for nodeSelectors, as k=v,k=v.
    #[arg(long, value_delimiter = ',')]
    node_labels: Vec<String>,
    /// Name of the router network namespace (/run/netns/NAME).
    #[arg(long, default_value = "perouter")]
    router_netns: String,
    /// Path of the host network namespace (default: the agent's own).
    #[arg(long)]
    host_netns: Option<PathBuf>,
    /// How FRR is handled.
    #[arg(long, value_enum, default_value_t = FrrModeArg::Managed)]
    frr_mode: FrrModeArg,
    /// Managed FRR: sockets and pid files (default /var/run/openperouter/frr/<router-netns>).
    #[arg(long)]
    frr_run_dir: Option<PathBuf>,
    /// Managed FRR: configuration files (default /etc/openperouter/frr/<router-netns>).
    #[arg(long)]
    frr_config_dir: Option<PathBuf>,
    /// Managed FRR: run it in its own UTS namespace with this hostname.
    #[arg(long)]
    frr_hostname: Option<String>,
    /// Pathspace FRR: the instance name (default: the router namespace name).
    #[arg(long)]
    frr_pathspace: Option<String>,
    /// Pathspace FRR: the systemd unit that runs it (for example frr@perouter), restarted when
    /// FRR 10's mgmtd keeps its configuration datastores locked (it can for up to ten minutes
    /// after a failed commit), and when the router namespace was deleted and made again (FRR
    /// still runs in the old one). Restarting FRR interrupts its sessions; without this flag the
    /// agent reports the lock and applies once it clears, forwarding meanwhile on the
    /// configuration FRR has, and a replaced namespace needs `systemctl restart UNIT`.
    #[arg(long, value_name = "UNIT", value_parser = unit_name)]
    frr_restart_unit: Option<String>,
    /// Address of /healthz, /readyz, /status and /metrics.
    #[arg(long, default_value = "127.0.0.1:9081")]
    listen: SocketAddr,
    /// Seconds between drift repairs.
    #[arg(long, default_value_t = 30)]
    resync: u64,
    /// Apply once and exit: 0 when everything converged, 1 listing the failed resources.
    #[arg(long)]
    once: bool,
    /// Where the agent remembers what it applied (default /run/openperouter/<router-netns>).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// `bgp listen limit`: how many dynamic neighbors a listen range accepts.
    #[arg(long, value_name = "N", default_value_t = 65535, value_parser = clap::value_parser!(u32).range(1..=65535))]
    bgp_listen_limit: u32,
    /// Where neighbors' `passwordSecret {name, key}` are read from: the file `DIR/<name>/<key>`.
    #[arg(long, value_name = "DIR", default_value = agent::secrets::DEFAULT_DIR)]
    secrets_dir: PathBuf,
    /// Where the CNI plugins of `CNIDevice` underlays are looked for, in order (comma-separated).
    #[arg(long, value_name = "DIR,…", value_delimiter = ',', default_values_t = cni::DEFAULT_PLUGIN_DIRS.map(String::from))]
    cni_plugin_dirs: Vec<String>,
    /// Where CNI results are kept; must survive restarts (an attachment is deleted with the
    /// configuration that made it).
    #[arg(long, value_name = "DIR", default_value = agent::DEFAULT_CNI_CACHE_DIR)]
    cni_cache_dir: PathBuf,
    /// The Open vSwitch database socket, for L2VNIs with an OVSBridge host master.
    #[arg(long, value_name = "SOCKET", default_value = dataplane::ovs::DEFAULT_SOCKET)]
    ovs_socket: String,
    /// `datapath_type` of the Open vSwitch bridges created for L2VNIs (empty: Open vSwitch's
    /// default, the kernel datapath; `netdev` for the userspace datapath, e.g. with DPDK).
    #[arg(long, value_name = "TYPE", default_value = "")]
    ovs_datapath_type: String,
}

/// A systemd unit name as `systemctl` takes it: no option, path or whitespace.
fn unit_name(s: &str) -> Result<String, String> {
    let ok =
        !s.is_empty() && !s.starts_with('-') && s.chars().all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c));
    if ok { Ok(s.to_string()) } else { Err(format!("{s:?} is not a systemd unit name (such as frr@perouter)")) }
}

fn agent_config(args: &HostArgs) -> Result<agent::AgentConfig> {
    if args.frr_restart_unit.is_some() && args.frr_mode != FrrModeArg::Pathspace {
        bail!("--frr-restart-unit goes with --frr-mode pathspace (a managed FRR is the agent's own to restart)");
    }
    let mut inputs = args.config.clone();
    if let Some(nc) = &args.node_config {
        inputs.push(nc.clone());
    }
    let mut cfg = agent::AgentConfig::new(inputs, &args.router_netns);
    cfg.node = agent::NodeIdentity::from_flags(args.node_name.clone(), args.node_index, &args.node_labels)
        .map_err(anyhow::Error::msg)?;
    cfg.host_netns = args.host_netns.clone();
    cfg.resync = Duration::from_secs(args.resync.max(1));
    cfg.plan.bgp_listen_limit = args.bgp_listen_limit;
    cfg.secrets_dir = args.secrets_dir.clone();
    cfg.cni_plugin_dirs = args.cni_plugin_dirs.iter().map(PathBuf::from).collect();
    cfg.cni_cache_dir = args.cni_cache_dir.clone();
    cfg.ovs_socket = args.ovs_socket.clone();
    cfg.ovs_datapath_type = Some(args.ovs_datapath_type.clone()).filter(|t| !t.is_empty());
    let state_dir =
        args.state_dir.clone().unwrap_or_else(|| PathBuf::from("/run/openperouter").join(&args.router_netns));
    cfg.state_file = Some(state_dir.join("applied.json"));
    cfg.frr = match args.frr_mode {
        FrrModeArg::Managed => agent::FrrMode::Managed {
            run_dir: args
                .frr_run_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/var/run/openperouter/frr").join(&args.router_netns)),
            config_dir: args
                .frr_config_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/etc/openperouter/frr").join(&args.router_netns)),
            hostname: args.frr_hostname.clone(),
        },
        FrrModeArg::Pathspace => agent::FrrMode::Pathspace {
            name: args.frr_pathspace.clone().unwrap_or_else(|| args.router_netns.clone()),
            restart_unit: args.frr_restart_unit.clone(),
        },
        FrrModeArg::None => agent::FrrMode::None,
    };
    Ok(cfg)
}

/// Runs the agent.
pub fn run(args: HostArgs) -> Result<ExitCode> {
    if args.router_netns.is_empty() || args.router_netns.contains('/') {
        bail!("--router-netns must be a plain name (it lives at /run/netns/NAME)");
    }
    let cfg = agent_config(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let mut agent = agent::Agent::new(cfg);
        if args.once {
            let st = agent.reconcile().await;
            agent::log_summary(&st);
            if let Some(e) = &st.input_error {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
            for f in &st.failed_resources {
                println!("{f}");
            }
            if let Some(c) = st.conditions.iter().find(|c| c.kind == "Ready" && c.status != "True") {
                if st.failed_resources.is_empty() {
                    println!("{}: {}", c.reason, c.message);
                }
                return Ok(ExitCode::from(1));
            }
            println!(
                "OK: node {:?} (index {}) converged: {} resource(s) applied, FRR +{}/-{} lines, {} kernel write(s)",
                st.node,
                st.node_index,
                st.applied.len(),
                st.frr.lines_added,
                st.frr.lines_removed,
                st.kernel.writes
            );
            return Ok(ExitCode::SUCCESS);
        }
        let shared = agent::server::Shared { status: agent.status(), metrics: agent.metrics(), vtysh: agent.vtysh() };
        let (addr, serve) =
            agent::server::bind(args.listen, shared).await.with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(%addr, "serving /healthz /readyz /status /metrics");
        tokio::spawn(serve);
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            tracing::info!("shutting down; FRR and the kernel state stay in place");
        };
        agent.run(shutdown).await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        host: HostArgs,
    }

    fn parse(extra: &[&str]) -> Result<HostArgs, clap::Error> {
        let mut argv = vec!["host", "--config-dir", "/etc/openperouter/config", "--node-index", "0"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).map(|c| c.host)
    }

    #[test]
    fn a_pathspace_agent_is_told_which_unit_to_restart() {
        let args = parse(&["--frr-mode", "pathspace", "--frr-restart-unit", "frr@perouter"]).unwrap();
        let cfg = agent_config(&args).unwrap();
        assert_eq!(
            cfg.frr,
            agent::FrrMode::Pathspace { name: "perouter".into(), restart_unit: Some("frr@perouter".into()) }
        );
        let cfg = agent_config(&parse(&["--frr-mode", "pathspace"]).unwrap()).unwrap();
        assert_eq!(cfg.frr, agent::FrrMode::Pathspace { name: "perouter".into(), restart_unit: None });
    }

    #[test]
    fn a_restart_unit_needs_pathspace_and_a_unit_name() {
        let managed = parse(&["--frr-restart-unit", "frr@perouter"]).unwrap();
        let err = agent_config(&managed).unwrap_err().to_string();
        assert!(err.contains("--frr-mode pathspace"), "{err}");
        for bad in ["", "--now", "frr@perouter; reboot", "../frr.service", "frr perouter"] {
            assert!(parse(&["--frr-mode", "pathspace", "--frr-restart-unit", bad]).is_err(), "{bad:?} accepted");
        }
    }
}
