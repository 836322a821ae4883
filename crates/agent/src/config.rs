//! What an agent is told: how it reaches FRR and the kernel, where its inputs come from, and
//! its timings.

use std::path::PathBuf;
use std::time::Duration;

use crate::identity::NodeIdentity;

/// How the agent talks to FRR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrrMode {
    /// The agent runs FRR (zebra, bgpd, staticd, bfdd under watchfrr) in the router namespace,
    /// with its files in `run_dir` and `config_dir`.
    Managed {
        /// Sockets and pid files.
        run_dir: PathBuf,
        /// `frr.conf` and friends.
        config_dir: PathBuf,
        /// Hostname of FRR's own UTS namespace (None: the host's hostname).
        hostname: Option<String>,
    },
    /// FRR runs elsewhere as Debian's pathspace instance `frr@NAME` (`/etc/frr/NAME`,
    /// `/var/run/frr/NAME`); the agent only applies configurations to it.
    Pathspace {
        /// The instance name.
        name: String,
        /// The systemd unit running it, which the agent restarts when FRR 10's mgmtd keeps its
        /// configuration datastores locked (None: the agent reports the lock and waits).
        restart_unit: Option<String>,
    },
    /// FRR runs in another container (the router pod in Kubernetes): the agent renders the
    /// configuration, writes it to `config_path` (mode 0600) and asks the reloader sidecar on
    /// its unix `socket` to apply it.
    Reloader {
        /// The reloader's unix socket.
        socket: PathBuf,
        /// The configuration file shared with the reloader.
        config_path: PathBuf,
        /// The hostname FRR prints (None: this host's UTS hostname, which FRR shares when it
        /// runs with the host's UTS namespace, as the router pod does).
        hostname: Option<String>,
    },
    /// FRR is not touched: only the kernel state is applied.
    None,
}

/// How the agent applies the kernel state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelMode {
    /// Create the router namespace and apply the kernel objects with netlink (needs root).
    #[default]
    Netlink,
    /// Skip the router namespace and the kernel objects (tests of the other steps without
    /// root; the status reports the kernel step as skipped).
    Skip,
}

/// The inputs of one reconcile when they come from elsewhere than files (the Kubernetes
/// controller's reflectors): the resources, the node, and the revision they represent.
#[derive(Debug, Clone)]
pub struct Input {
    /// The resources (all of them: planning selects the node's own).
    pub resources: plan::Resources,
    /// The node.
    pub node: plan::Node,
    /// An identifier of these inputs, shown as `appliedRevision`.
    pub revision: String,
}

/// Settings of an agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Files or directories with static files and/or manifests.
    pub inputs: Vec<PathBuf>,
    /// Node identity overrides.
    pub node: NodeIdentity,
    /// Name of the router namespace (`/run/netns/<name>`).
    pub router_netns: String,
    /// Path of the host namespace (None: the agent's own).
    pub host_netns: Option<PathBuf>,
    /// FRR handling.
    pub frr: FrrMode,
    /// Kernel handling.
    pub kernel: KernelMode,
    /// Periodic drift repair.
    pub resync: Duration,
    /// Quiet time after an input change before reconciling.
    pub debounce: Duration,
    /// Planner options.
    pub plan: plan::Options,
    /// File remembering which resources were applied, so that after a restart the resources
    /// already serving keep winning conflicts against newcomers.
    pub state_file: Option<PathBuf>,
    /// Where the neighbors' `passwordSecret`s are read from when the inputs are files
    /// (`<dir>/<name>/<key>`, see [`crate::secrets`]).
    pub secrets_dir: PathBuf,
    /// Where the CNI plugins of `CNIDevice` underlays are looked for, in order.
    pub cni_plugin_dirs: Vec<PathBuf>,
    /// Where the CNI results are kept (must survive restarts: a CNI attachment is deleted with
    /// the configuration it was made with).
    pub cni_cache_dir: PathBuf,
    /// The Open vSwitch database socket, for L2VNIs with an `OVSBridge` host master (as
    /// `ovs-vsctl --db` spells it). Not used on a host without one when no L2VNI wants it.
    pub ovs_socket: String,
    /// `datapath_type` of the Open vSwitch bridges we create (`None`: Open vSwitch's default,
    /// the kernel datapath; `netdev` for the userspace datapath, as DPDK hosts use).
    pub ovs_datapath_type: Option<String>,
}

/// The default [`AgentConfig::cni_cache_dir`].
pub const DEFAULT_CNI_CACHE_DIR: &str = "/var/lib/openperouter/cni/cache";

impl AgentConfig {
    /// Defaults for a router namespace and inputs.
    pub fn new(inputs: Vec<PathBuf>, router_netns: impl Into<String>) -> AgentConfig {
        AgentConfig {
            inputs,
            node: NodeIdentity::default(),
            router_netns: router_netns.into(),
            host_netns: None,
            frr: FrrMode::None,
            kernel: KernelMode::Netlink,
            resync: Duration::from_secs(30),
            debounce: Duration::from_millis(500),
            plan: plan::Options::default(),
            state_file: None,
            secrets_dir: PathBuf::from(crate::secrets::DEFAULT_DIR),
            cni_plugin_dirs: cni::DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect(),
            cni_cache_dir: PathBuf::from(DEFAULT_CNI_CACHE_DIR),
            ovs_socket: dataplane::ovs::DEFAULT_SOCKET.to_string(),
            ovs_datapath_type: None,
        }
    }
}
