//! Removing a lab: exactly what it made, whatever state it is in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use frr::instance::{Instance, InstanceSpec, NetnsRef, stop_all};
use kernel::NetNs;

use super::lab::*;
use crate::fabric::LabSpec;
use crate::speaker::SpeakerKind;

/// What [`down`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Pids of the node agents stopped.
    pub agents: Vec<u32>,
    /// Pids of the BIRD/GoBGP node speakers (and route installers) stopped.
    pub speakers: Vec<u32>,
    /// Pids of the nodes' Open vSwitch daemons stopped.
    pub ovs: Vec<u32>,
    pub namespaces: Vec<String>,
    pub instances: usize,
    pub stray_processes: Vec<u32>,
    pub run_dir: Option<PathBuf>,
}

impl DownReport {
    /// Whether there was anything to remove.
    pub fn removed_anything(&self) -> bool {
        !self.agents.is_empty()
            || !self.speakers.is_empty()
            || !self.ovs.is_empty()
            || !self.namespaces.is_empty()
            || self.instances > 0
            || !self.stray_processes.is_empty()
            || self.run_dir.is_some()
    }
}

/// Removes the lab named `prefix`: its FRR processes, namespaces and run directory (see the
/// module documentation). Node count and VRF mode come from its `lab.conf`; without one (it was
/// never written, or was removed) `nodes` is used and `/run/netns` is scanned for the lab's
/// node namespace names. Idempotent; blocking.
pub fn down(prefix: &str, run_root: &Path, nodes: u32) -> Result<DownReport, LabError> {
    check_name(prefix)?;
    let lab = Lab::open(prefix, run_root).unwrap_or_else(|_| {
        let mut options = LabOptions::new(LabSpec { prefix: prefix.to_string(), nodes, ..LabSpec::default() });
        options.run_root = run_root.to_path_buf();
        Lab::from_options(options)
    });
    down_lab(&lab)
}

/// Whether `name` is a node namespace of the lab `prefix` (`<prefix>-node<i>` or
/// `<prefix>-node<i>-pe`), for labs whose node count is unknown.
fn is_node_namespace(prefix: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix("-node")) else { return false };
    let digits = rest.strip_suffix("-pe").unwrap_or(rest);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

pub(super) fn down_lab(lab: &Lab) -> Result<DownReport, LabError> {
    let prefix = &lab.options.spec.prefix;
    let dir = lab.options.dir();
    let mut report = DownReport::default();
    // 0. The node agents (by pid), before the FRR instances they run.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = name.strip_prefix("agent").and_then(|n| n.parse::<u32>().ok())
                && let Some(pid) = crate::pe::stop_agent(&dir, i)
            {
                report.agents.push(pid);
            }
        }
    }
    // 0b. BIRD and GoBGP node speakers (and GoBGP's route installer), by pid; whatever kind a
    //     node had, its pid files say what ran.
    for i in 0..lab.options.spec.nodes {
        for kind in [SpeakerKind::Bird, SpeakerKind::Gobgp] {
            let mut speaker = lab.speaker(i);
            speaker.kind = kind;
            report.speakers.extend(speaker.stop());
        }
    }
    // 0c. The nodes' Open vSwitch daemons, by pid, before the namespaces their switches hold.
    for i in crate::ovs::nodes_in(&dir) {
        report.ovs.extend(crate::ovs::stop(&dir, i));
    }
    // 1. FRR: every instance the topology defines, plus node instances beyond its node count.
    let mut instances: Vec<Instance> = lab.instances().into_iter().map(|(_, i)| i).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let short = e.file_name().to_string_lossy().into_owned();
            if e.path().join("run").is_dir() && !instances.iter().any(|i| i.spec().run_dir == e.path().join("run")) {
                let ns = format!("{prefix}-{short}");
                instances.push(Instance::new(InstanceSpec::private(
                    ns.clone(),
                    NetnsRef::Name(ns),
                    e.path().join("run"),
                    e.path().join("etc"),
                )));
            }
        }
    }
    report.instances = instances.iter().filter(|i| !i.status().all_stopped()).count();
    let refs: Vec<&Instance> = instances.iter().collect();
    let mut failures: Vec<String> =
        stop_all(&refs).into_iter().filter_map(|r| r.err().map(|e| e.to_string())).collect();
    // 2. Anything else still running from the lab's directory (e.g. a control script).
    report.stray_processes = kill_processes_under(&dir);
    // 3. Namespaces: the topology's, and node namespaces of a bigger lab of the same name.
    let mut names: Vec<String> = lab.topology.namespaces.iter().map(|n| n.name.clone()).collect();
    names.extend(NetNs::list().into_iter().filter(|n| is_node_namespace(prefix, n)));
    // The SRv6 fabric's, should its run directory (which says whether it had one) be gone.
    names.extend(["leafS", "hostS-red"].map(|short| format!("{prefix}-{short}")));
    names.sort();
    names.dedup();
    for name in names.iter().filter(|n| NetNs::exists(n)) {
        match NetNs::delete(name) {
            Ok(()) => report.namespaces.push(name.clone()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    // 4. The run directory.
    if dir.exists() {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => report.run_dir = Some(dir.clone()),
            Err(e) => failures.push(format!("cannot remove {}: {e}", dir.display())),
        }
    }
    let _ = std::fs::remove_dir(&lab.options.run_root); // only when no other lab uses it
    if failures.is_empty() { Ok(report) } else { Err(LabError::Leftovers(failures.join("; "))) }
}

/// Processes whose command line names a path under `dir`.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    kernel::procs::under(dir)
}

fn kill_processes_under(dir: &Path) -> Vec<u32> {
    let pids = processes_under(dir);
    for pid in &pids {
        kernel::procs::signal(*pid, kernel::procs::Signal::SIGKILL);
    }
    kernel::procs::wait_gone(&pids, Duration::from_secs(5));
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_namespaces_of_a_lab() {
        assert!(is_node_namespace("opr", "opr-node0"));
        assert!(is_node_namespace("opr", "opr-node12-pe"));
        assert!(!is_node_namespace("opr", "opr-node"));
        assert!(!is_node_namespace("opr", "opr2-node0"));
        assert!(!is_node_namespace("opr", "opr-nodex-pe"));
        assert!(!is_node_namespace("opr", "opr-spine"));
    }
}
