//! The PE routers of the lab: one node agent (`openperouter host`) per node.
//!
//! For node `i` of a lab with run directory `DIR`:
//!
//! * `DIR/agent<i>/config/`: the PE configuration (a copy of `examples/lab/openpe.yaml` or of
//!   `--pe-config`) and `node-config.yaml` (`nodeIndex.index: i`, `nodeName: node<i>`): the
//!   agent's `--config-dir`, watched by it (`lab check` drops an invalid resource there);
//! * `DIR/agent<i>/state/`: the agent's `--state-dir`; `agent.log` its output (level
//!   `OPR_LAB_AGENT_LOG`, default info); `agent.pid`;
//! * `DIR/node<i>-ovs/`: the node's Open vSwitch (see [`crate::ovs`]), the agent's
//!   `--ovs-socket` (a socket that does not exist when Open vSwitch is not installed);
//! * `DIR/node<i>-pe/run` and `DIR/node<i>-pe/etc`: the FRR instance the agent runs in the router
//!   namespace `<prefix>-node<i>-pe` (hostname `node<i>-pe`), laid out like the lab's own FRR
//!   instances so that `down` stops it like them.
//!
//! The agent runs as a background process whose network namespace is the node's host namespace
//! `<prefix>-node<i>` (its mount namespace is the caller's, so the router namespace it creates
//! under `/run/netns` is visible to everyone); it serves `/healthz`, `/readyz`, `/status` and
//! `/metrics` on `127.0.0.1:9081` **inside that namespace** ([`AGENT_PORT`]): every node uses the
//! same address, each in its own namespace. [`http_get`] reaches it from anywhere.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use frr::instance::{Instance, InstanceSpec, NetnsRef};

use crate::fabric::{node_host_ns, node_router_ns};
use kernel::{NetNs, NetnsError};

/// The agents' HTTP port on 127.0.0.1 inside each node's host namespace.
pub const AGENT_PORT: u16 = 9081;
/// Seconds between the agents' drift repairs (short, so that `lab check` sees a rebuild soon).
pub const AGENT_RESYNC_SECS: u32 = 5;

/// `examples/lab/openpe.yaml`, built in: the PE configuration of the lab's nodes by default.
pub const DEFAULT_PE_CONFIG: &str = include_str!("../../../examples/lab/openpe.yaml");
/// `examples/lab-srv6/openpe.yaml`, built in: the PE configuration with the SRv6 fabric.
pub const SRV6_PE_CONFIG: &str = include_str!("../../../examples/lab-srv6/openpe.yaml");

/// The built-in PE configuration of a lab on the IPv4 underlay (every node the same).
pub fn default_config(spec: &crate::fabric::LabSpec) -> &'static str {
    if spec.srv6 { SRV6_PE_CONFIG } else { DEFAULT_PE_CONFIG }
}

/// The built-in PE configuration of node `index`: [`default_config`], or on the IPv6 underlay
/// the node's own Underlay ([`crate::fabric::ipv6::underlay`]) with the default overlays.
pub fn node_config(spec: &crate::fabric::LabSpec, index: u32) -> String {
    if !spec.ipv6 {
        return default_config(spec).to_string();
    }
    let overlays: Vec<&str> =
        DEFAULT_PE_CONFIG.split("\n---\n").filter(|doc| !doc.contains("\nkind: Underlay\n")).collect();
    format!("{}---\n{}", crate::fabric::ipv6::underlay(index), overlays.join("\n---\n"))
}

/// How the lab runs its PEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeOptions {
    /// The PE configuration every node gets (None: the lab's [`default_config`]).
    pub config: Option<PathBuf>,
    /// The `openperouter` program (runs `openperouter host`).
    pub program: PathBuf,
}

/// The agent directory of node `index`.
pub fn agent_dir(lab_dir: &Path, index: u32) -> PathBuf {
    lab_dir.join(format!("agent{index}"))
}

/// The agent's config directory of node `index`.
pub fn config_dir(lab_dir: &Path, index: u32) -> PathBuf {
    agent_dir(lab_dir, index).join("config")
}

/// The PE's FRR instance of node `index` (run by the agent).
pub fn pe_instance(prefix: &str, lab_dir: &Path, index: u32) -> Instance {
    let ns = node_router_ns(prefix, index);
    let dir = lab_dir.join(format!("node{index}-pe"));
    let mut spec = InstanceSpec::private(ns.clone(), NetnsRef::Name(ns), dir.join("run"), dir.join("etc"));
    spec.hostname = Some(format!("node{index}-pe"));
    Instance::new(spec)
}

/// Why a PE could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PeError {
    #[error("node {index}: {what} {}: {source}", path.display())]
    Io {
        index: u32,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

/// The agents' log level: `OPR_LAB_AGENT_LOG` (error, warn, info, debug, trace), default info
/// (one line per reconcile in `agent.log`).
fn agent_log_level() -> String {
    match std::env::var("OPR_LAB_AGENT_LOG") {
        Ok(l) if ["error", "warn", "info", "debug", "trace"].contains(&l.as_str()) => l,
        _ => "info".to_string(),
    }
}

/// An I/O error of node `index`'s agent files, as a `map_err` argument.
fn io_error(index: u32, what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PeError + use<> {
    let path = path.to_path_buf();
    move |source| PeError::Io { index, what, path, source }
}

/// Writes node `index`'s config directory and starts its agent in the node's host namespace;
/// returns its pid (also written to `agent.pid`).
pub fn start_agent(
    prefix: &str,
    lab_dir: &Path,
    index: u32,
    pe: &PeOptions,
    default_config: &str,
) -> Result<u32, PeError> {
    let io = |what: &'static str, path: &Path| io_error(index, what, path);
    let dir = agent_dir(lab_dir, index);
    let conf = config_dir(lab_dir, index);
    let state = dir.join("state");
    for d in [&conf, &state] {
        std::fs::create_dir_all(d).map_err(io("cannot create", d))?;
    }
    let target = conf.join("openpe.yaml");
    match &pe.config {
        Some(path) => {
            std::fs::copy(path, &target).map(|_| ()).map_err(io("cannot copy the PE configuration to", &target))?
        }
        None => std::fs::write(&target, default_config).map_err(io("cannot write", &target))?,
    }
    let node_config = conf.join("node-config.yaml");
    std::fs::write(&node_config, format!("nodeIndex:\n  index: {index}\nnodeName: node{index}\n"))
        .map_err(io("cannot write", &node_config))?;
    spawn_agent(prefix, lab_dir, index, &pe.program)
}

/// The last `lines` lines of node `index`'s agent log (its DEBUG lines left out) and of its PE's
/// FRR logs ([`Instance::log_tail`]: watchfrr, its control script, the daemons), each under a
/// header: what a failed scenario needs for a diagnosis after the lab is gone.
pub fn log_tails(prefix: &str, lab_dir: &Path, index: u32, lines: usize) -> String {
    let path = agent_dir(lab_dir, index).join("agent.log");
    let mut out = format!("--- {} (last {lines} lines, DEBUG left out)\n", path.display());
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let kept: Vec<&str> = text.lines().filter(|l| !l.contains(" DEBUG ")).collect();
            for l in &kept[kept.len().saturating_sub(lines)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        Err(e) => out.push_str(&format!("(cannot read: {e})\n")),
    }
    out.push_str(&pe_instance(prefix, lab_dir, index).log_tail(lines));
    out
}

/// Starts node `index`'s agent (`program host …`) on the config directory it already has, as
/// [`start_agent`] does after writing it (an agent started again after a stop); returns its pid
/// (also written to `agent.pid`). Its output goes to a new `agent.log`.
pub fn spawn_agent(prefix: &str, lab_dir: &Path, index: u32, program: &Path) -> Result<u32, PeError> {
    let io = |what: &'static str, path: &Path| io_error(index, what, path);
    let dir = agent_dir(lab_dir, index);
    let conf = config_dir(lab_dir, index);
    let state = dir.join("state");
    let frr_dir = lab_dir.join(format!("node{index}-pe"));
    let log_path = dir.join("agent.log");
    let log = std::fs::File::create(&log_path).map_err(io("cannot create", &log_path))?;
    let err_log = log.try_clone().map_err(io("cannot duplicate", &log_path))?;
    let host_ns = NetNs::open(&node_host_ns(prefix, index))?;
    let mut cmd = Command::new(program);
    cmd.arg("host")
        .arg("--config-dir")
        .arg(&conf)
        .arg("--router-netns")
        .arg(node_router_ns(prefix, index))
        .arg("--frr-run-dir")
        .arg(frr_dir.join("run"))
        .arg("--frr-config-dir")
        .arg(frr_dir.join("etc"))
        .arg("--frr-hostname")
        .arg(format!("node{index}-pe"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{AGENT_PORT}"))
        .arg("--state-dir")
        .arg(&state)
        .arg("--cni-cache-dir")
        .arg(dir.join("cni-cache"))
        // The node's own Open vSwitch (`crate::ovs`), or no database at all when it runs none:
        // never the machine's.
        .arg("--ovs-socket")
        .arg(crate::ovs::socket(lab_dir, index))
        .arg("--ovs-datapath-type")
        .arg(crate::ovs::datapath_type(lab_dir, index).unwrap_or_default())
        .arg("--resync")
        .arg(AGENT_RESYNC_SECS.to_string())
        .arg("--log-level")
        .arg(agent_log_level())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .process_group(0);
    host_ns.enter_on_exec(&mut cmd)?;
    let child = cmd.spawn().map_err(io("cannot start", program))?;
    let pid = child.id();
    // The child is not waited for: it outlives this process (`down` stops it by pid).
    drop(child);
    let pid_path = dir.join("agent.pid");
    std::fs::write(&pid_path, format!("{pid}\n")).map_err(io("cannot write", &pid_path))?;
    Ok(pid)
}

/// The pid of node `index`'s agent when it runs.
pub fn agent_pid(lab_dir: &Path, index: u32) -> Option<u32> {
    kernel::procs::running_pid(&agent_dir(lab_dir, index).join("agent.pid"))
}

/// Stops node `index`'s agent (SIGTERM, then SIGKILL after 5 s); returns its pid when it ran.
pub fn stop_agent(lab_dir: &Path, index: u32) -> Option<u32> {
    let pid = agent_pid(lab_dir, index)?;
    kernel::procs::stop(&[pid], Duration::from_secs(5));
    Some(pid)
}

/// `GET path` on node `index`'s agent: `(HTTP status, body)`. Blocking (up to `timeout`).
pub fn http_get(prefix: &str, index: u32, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let ns = node_host_ns(prefix, index);
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let addr = SocketAddr::from(([127, 0, 0, 1], AGENT_PORT));
    let stream = NetNs::open(&ns)
        .and_then(|n| n.run(|| TcpStream::connect_timeout(&addr, timeout)))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot connect to node {index}'s agent: {e}"))?;
    let mut stream = stream;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("node {index}'s agent did not answer GET {path} within {timeout:?}")
        }
        _ => format!("reading node {index}'s answer to GET {path}: {e}"),
    })?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP answer")?;
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("malformed HTTP status line")?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() };
    Ok((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        let (Some(chunk), Some(tail)) = (rest.get(..n), rest.get(n..)) else { break };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        body = tail.trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_the_ipv6_underlay_each_node_gets_its_own_underlay_and_the_default_overlays() {
        let spec = crate::fabric::LabSpec { ipv6: true, ..crate::fabric::LabSpec::default() };
        let kinds = |text: &str| -> Vec<String> {
            text.lines().filter_map(|l| l.strip_prefix("kind: ")).map(str::to_string).collect()
        };
        let default_kinds = kinds(DEFAULT_PE_CONFIG);
        for i in 0..2 {
            let text = node_config(&spec, i);
            assert_eq!(kinds(&text), default_kinds, "{text}");
            if let Ok(dir) = std::env::var("OPR_LAB_DUMP_IPV6_CONFIGS") {
                std::fs::write(format!("{dir}/node{i}.yaml"), &text).unwrap();
            }
        }
        assert!(node_config(&spec, 0).contains("address: \"2001:db8:11::2\""));
        assert!(node_config(&spec, 1).contains("interface: toswitch"));
        assert_eq!(node_config(&crate::fabric::LabSpec::default(), 1), DEFAULT_PE_CONFIG);
    }

    #[test]
    fn log_tails_keep_the_last_lines_of_the_agent_and_of_watchfrr() {
        let dir = tempfile::tempdir().unwrap();
        let agent = agent_dir(dir.path(), 0);
        std::fs::create_dir_all(&agent).unwrap();
        std::fs::write(agent.join("agent.log"), "t  INFO one\nt DEBUG noise\nt  WARN two\nt  INFO three\n").unwrap();
        let run = dir.path().join("node0-pe").join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("watchfrr.log"), "w1\nw2\nw3\n").unwrap();
        let text = log_tails("p", dir.path(), 0, 2);
        assert!(
            text.contains("t  WARN two\nt  INFO three\n") && !text.contains("one") && !text.contains("noise"),
            "{text}"
        );
        assert!(text.contains("watchfrr.log\nw2\nw3\n") && !text.contains("w1"), "{text}");
    }
}
