//! Open vSwitch on the lab's nodes, for the L2VNIs whose host master is an OVS bridge: each
//! node's host namespace `<prefix>-node<i>` runs its own `ovsdb-server` and `ovs-vswitchd`,
//! as a host with Open vSwitch installed runs them, and its agent is given their database
//! (`--ovs-socket`).
//!
//! For node `i` of a lab with run directory `DIR`, everything is in `DIR/node<i>-ovs/`: the
//! database (`conf.db`) and its socket (`db.sock`), the daemons' pid files
//! (`ovsdb-server.pid`, `ovs-vswitchd.pid`: `down` stops exactly those processes), control
//! sockets and logs, and `datapath_type` (empty: the kernel datapath; `netdev`: the userspace
//! one, when the kernel has no openvswitch module). Both daemons are started inside the node's
//! namespace (the switch sees that namespace's interfaces, and the kernel datapath it creates
//! lives there), and detach once they serve.
//!
//! Nothing runs when Open vSwitch is not installed ([`missing`]): the lab works without it and
//! its Open vSwitch scenario is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fabric::node_host_ns;

/// The database schema Debian's `openvswitch-common` installs.
pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
/// The daemons, in the order they start (stopped in reverse).
const DAEMONS: [&str; 2] = ["ovsdb-server", "ovs-vswitchd"];

/// Why a node's Open vSwitch did not start.
#[derive(Debug, thiserror::Error)]
#[error("node{index}: Open vSwitch: {message}")]
pub struct OvsError {
    pub index: u32,
    pub message: String,
}

/// Node `index`'s Open vSwitch directory.
pub fn dir(lab_dir: &Path, index: u32) -> PathBuf {
    lab_dir.join(format!("node{index}-ovs"))
}

/// Node `index`'s database socket, as `ovs-vsctl --db` and the agent's `--ovs-socket` spell it.
pub fn socket(lab_dir: &Path, index: u32) -> String {
    format!("unix:{}", dir(lab_dir, index).join("db.sock").display())
}

/// Finds a program in PATH or the sbin directories (absent from a user's PATH).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Why Open vSwitch cannot run here (`None`: it can).
pub fn missing() -> Option<&'static str> {
    if which("ovs-vswitchd").is_none() || which("ovsdb-server").is_none() || which("ovs-vsctl").is_none() {
        return Some("Open vSwitch is not installed (no ovs-vswitchd): apt-get install openvswitch-switch");
    }
    if !Path::new(SCHEMA).is_file() {
        return Some("Open vSwitch's database schema is missing (/usr/share/openvswitch/vswitch.ovsschema)");
    }
    None
}

/// The `datapath_type` of bridges on this kernel: `None` (the kernel datapath) when the
/// openvswitch module is loaded or loads, `netdev` (userspace) otherwise.
pub fn choose_datapath() -> Option<&'static str> {
    let loaded = || Path::new("/sys/module/openvswitch").exists();
    if !loaded() {
        let _ = Command::new("modprobe").args(["-q", "openvswitch"]).stdin(Stdio::null()).output();
    }
    if loaded() { None } else { Some("netdev") }
}

/// The `datapath_type` node `index`'s Open vSwitch was started with (`None`: the kernel's).
pub fn datapath_type(lab_dir: &Path, index: u32) -> Option<String> {
    let text = std::fs::read_to_string(dir(lab_dir, index).join("datapath_type")).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// The pids of node `index`'s daemons that run.
pub fn pids(lab_dir: &Path, index: u32) -> Vec<u32> {
    let d = dir(lab_dir, index);
    DAEMONS.iter().filter_map(|n| kernel::procs::running_pid(&d.join(format!("{n}.pid")))).collect()
}

/// Whether both of node `index`'s daemons run.
pub fn running(lab_dir: &Path, index: u32) -> bool {
    pids(lab_dir, index).len() == DAEMONS.len()
}

/// Runs `program args…` (inside node `index`'s namespace when `in_node`), with the daemons'
/// directories set to `dir`; its stdout, or an error with its stderr.
fn run(
    prefix: &str,
    lab_dir: &Path,
    index: u32,
    in_node: bool,
    program: &str,
    args: &[String],
) -> Result<String, OvsError> {
    let d = dir(lab_dir, index);
    let err = |message: String| OvsError { index, message };
    let mut cmd = Command::new(which(program).ok_or_else(|| err(format!("{program} not found")))?);
    cmd.args(args).stdin(Stdio::null());
    for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
        cmd.env(var, &d);
    }
    if in_node {
        kernel::NetNs::open(&node_host_ns(prefix, index))
            .and_then(|ns| ns.enter_on_exec(&mut cmd))
            .map_err(|e| err(e.to_string()))?;
    }
    let out = cmd.output().map_err(|e| err(format!("cannot run {program}: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(err(format!("{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// `ovs-vsctl --db=<node index's socket> --timeout=10 ARGS…`: its stdout (trimmed). Blocking.
pub fn vsctl(lab_dir: &Path, index: u32, args: &[&str]) -> Result<String, String> {
    let out = Command::new(which("ovs-vsctl").ok_or("ovs-vsctl not found")?)
        .arg(format!("--db={}", socket(lab_dir, index)))
        .arg("--timeout=10")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ovs-vsctl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("node{index}: ovs-vsctl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Starts node `index`'s database (a fresh one) and switch in its host namespace, bridges on
/// `datapath` (`None`: the kernel's); returns their pids. Blocking: each daemon detaches once
/// it serves.
pub fn start(prefix: &str, lab_dir: &Path, index: u32, datapath: Option<&str>) -> Result<Vec<u32>, OvsError> {
    let d = dir(lab_dir, index);
    let err = |message: String| OvsError { index, message };
    std::fs::create_dir_all(&d).map_err(|e| err(format!("cannot create {}: {e}", d.display())))?;
    let p = |name: &str| d.join(name).display().to_string();
    let db = p("conf.db");
    let _ = std::fs::remove_file(&db);
    std::fs::write(d.join("datapath_type"), datapath.unwrap_or(""))
        .map_err(|e| err(format!("cannot write {}: {e}", p("datapath_type"))))?;
    run(prefix, lab_dir, index, false, "ovsdb-tool", &["create".into(), db.clone(), SCHEMA.into()])?;
    let daemon = |name: &str, first: Vec<String>| {
        let mut args = first;
        args.extend([
            format!("--pidfile={}", p(&format!("{name}.pid"))),
            format!("--unixctl={}", p(&format!("{name}.ctl"))),
            format!("--log-file={}", p(&format!("{name}.log"))),
            "--detach".into(),
            "--no-chdir".into(),
        ]);
        run(prefix, lab_dir, index, true, name, &args)
    };
    daemon("ovsdb-server", vec![db, format!("--remote=p{}", socket(lab_dir, index))])?;
    vsctl(lab_dir, index, &["--no-wait", "init"]).map_err(err)?;
    daemon("ovs-vswitchd", vec![socket(lab_dir, index)])?;
    let pids = pids(lab_dir, index);
    if pids.len() != DAEMONS.len() {
        return Err(err(format!("its daemons did not stay up (logs in {})", d.display())));
    }
    Ok(pids)
}

/// Stops node `index`'s daemons by their pid files (SIGTERM, SIGKILL after 5 s), the switch
/// first; returns the pids that ran. Blocking.
pub fn stop(lab_dir: &Path, index: u32) -> Vec<u32> {
    let d = dir(lab_dir, index);
    let mut stopped = Vec::new();
    for name in DAEMONS.iter().rev() {
        if let Some(pid) = kernel::procs::running_pid(&d.join(format!("{name}.pid"))) {
            kernel::procs::stop(&[pid], Duration::from_secs(5));
            stopped.push(pid);
        }
    }
    stopped
}

/// The nodes of a lab run directory that have an Open vSwitch directory (`node<i>-ovs`).
pub fn nodes_in(lab_dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(lab_dir) else { return Vec::new() };
    let mut nodes: Vec<u32> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("node")?.strip_suffix("-ovs")?.parse().ok()
        })
        .collect();
    nodes.sort_unstable();
    nodes
}
