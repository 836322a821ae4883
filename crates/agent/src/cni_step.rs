//! The CNI step of a reconcile, before the kernel state is applied: the interfaces no longer
//! planned deleted (while their parent NICs are still in the host namespace: a plugin's DEL
//! looks its parent up), then the underlay interfaces of `CNIDevice` Underlays made (or
//! checked) in the router namespace. The plugins run in the host namespace.

use std::path::PathBuf;

use api::{FailedResource, FailureReason, ResourceKind};

use crate::Agent;
use crate::status::NodeStatus;

impl Agent {
    fn cni_runtime(&self) -> cni::Runtime {
        let mut rt = cni::Runtime::new(self.cfg.cni_plugin_dirs.clone(), self.cfg.cni_cache_dir.clone());
        rt.host_netns = self.cfg.host_netns.clone();
        rt
    }

    /// The CNI step: the daemon DHCP addressing needs, then the unplanned interfaces deleted,
    /// then the planned ones made or checked; the daemon stopped once nothing uses DHCP.
    pub(crate) async fn cni_step(&mut self, st: &mut NodeStatus, plan: &plan::NodePlan) {
        // Deleting an interface addressed by DHCP needs the daemon as much as making one does
        // (the plugin releases its lease through it; without it the DEL fails and the interface
        // stays), so entries in the cache count too.
        if self.dhcp_in_use(plan)
            && let Err(e) = self.ensure_dhcp_daemon().await
        {
            tracing::warn!("CNI DHCP daemon: {e}");
            if let Some(underlay) = plan.applied.iter().find(|a| a.kind == ResourceKind::Underlay) {
                st.failed_resources.push(FailedResource::new(
                    ResourceKind::Underlay,
                    &underlay.name,
                    FailureReason::OverlayAttachmentFailed,
                    format!("CNI DHCP daemon: {e}"),
                ));
            }
            return;
        }
        self.cni_prune(plan).await;
        self.cni_ensure(st, plan).await;
        if !self.dhcp_in_use(plan)
            && let Some(mut daemon) = self.dhcp_daemon.take()
        {
            let _ = daemon.kill();
            let _ = daemon.wait();
            tracing::info!(pid = daemon.id(), "CNI DHCP daemon stopped: no interface uses DHCP any more");
        }
    }

    /// Whether an interface planned, or one the cache says was made, is addressed by DHCP.
    fn dhcp_in_use(&self, plan: &plan::NodePlan) -> bool {
        let rt = self.cni_runtime();
        let id = container_id(&plan.node.name);
        let netns = kernel::NetNs::path_of(&self.cfg.router_netns);
        plan.cni.iter().any(|c| uses_dhcp(&c.config))
            || rt.attached(&id).into_iter().any(|ifname| {
                let att = cni::Attachment { container_id: id.clone(), netns: netns.clone(), ifname };
                rt.cached_config(&att).is_some_and(|c| uses_dhcp(&c))
            })
    }

    /// Makes sure the CNI DHCP daemon runs: started (in the host namespace) when its socket does
    /// not answer, started again when it exited. One an earlier agent left running is used as it
    /// is.
    async fn ensure_dhcp_daemon(&mut self) -> Result<(), String> {
        if let Some(child) = self.dhcp_daemon.as_mut()
            && matches!(child.try_wait(), Ok(None))
            && dhcp_socket_answers()
        {
            return Ok(());
        }
        if let Some(mut old) = self.dhcp_daemon.take() {
            let _ = old.kill();
            let _ = old.wait();
            tracing::warn!("the CNI DHCP daemon had stopped: starting it again");
        } else if dhcp_socket_answers() {
            return Ok(());
        }
        let binary = cni::exec::find("dhcp", &self.cfg.cni_plugin_dirs).map_err(|e| e.to_string())?;
        let _ = std::fs::create_dir_all(DHCP_SOCKET_DIR);
        let _ = std::fs::remove_file(format!("{DHCP_SOCKET_DIR}/dhcp.sock"));
        let mut cmd = std::process::Command::new(&binary);
        cmd.arg("daemon").stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
        if let Some(ns) = &self.cfg.host_netns {
            kernel::NetNs::open_path(ns).and_then(|h| h.enter_on_exec(&mut cmd)).map_err(|e| e.to_string())?;
        }
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        tracing::info!(pid = child.id(), "CNI DHCP daemon started");
        self.dhcp_daemon = Some(child);
        // Ready once its socket answers (it binds it first thing).
        for _ in 0..40 {
            if dhcp_socket_answers() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err("the CNI DHCP daemon did not open its socket within 2 s".into())
    }

    /// The pid of the CNI DHCP daemon this agent runs.
    pub fn dhcp_daemon_pid(&self) -> Option<u32> {
        self.dhcp_daemon.as_ref().map(std::process::Child::id)
    }

    /// Makes sure the planned CNI interfaces exist (`ensure`: CHECK, or ADD, or DEL and ADD);
    /// a failure is an outcome of the Underlay.
    async fn cni_ensure(&mut self, st: &mut NodeStatus, plan: &plan::NodePlan) {
        let underlay = plan.applied.iter().find(|a| a.kind == ResourceKind::Underlay).map(|a| a.name.clone());
        let (Some(underlay), false) = (underlay, plan.cni.is_empty()) else { return };
        let rt = self.cni_runtime();
        let id = container_id(&plan.node.name);
        let netns = kernel::NetNs::path_of(&self.cfg.router_netns);
        let wanted = plan.cni.clone();
        let router = self.cfg.router_netns.clone();
        let results = tokio::task::spawn_blocking(move || {
            let pending = pending(&rt, &id, &router, &wanted);
            wanted
                .iter()
                .map(|c| {
                    let att =
                        cni::Attachment { container_id: id.clone(), netns: netns.clone(), ifname: c.ifname.clone() };
                    // Made with this configuration and still there: no plugin runs (a no-op
                    // reconcile starts no process).
                    if !pending.iter().any(|p| p.ifname == c.ifname) {
                        return (c.ifname.clone(), Ok(cni::Ensured::Unchanged));
                    }
                    (c.ifname.clone(), rt.ensure(&att, &c.config, &c.runtime_config))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (ifname, result) in results {
            match result {
                Ok(cni::Ensured::Unchanged) => {}
                Ok(done) => tracing::info!(ifname, "CNI underlay interface: {}", what(&done)),
                Err(e) => {
                    tracing::warn!(ifname, "CNI underlay interface: {e}");
                    st.failed_resources.push(FailedResource::new(
                        ResourceKind::Underlay,
                        &underlay,
                        FailureReason::OverlayAttachmentFailed,
                        format!("CNI interface {ifname}: {e}"),
                    ));
                }
            }
        }
    }

    /// Deletes the CNI interfaces made for this node that the plan no longer has.
    async fn cni_prune(&self, plan: &plan::NodePlan) {
        let rt = self.cni_runtime();
        let id = container_id(&plan.node.name);
        let netns: PathBuf = kernel::NetNs::path_of(&self.cfg.router_netns);
        let wanted: Vec<String> = plan.cni.iter().map(|c| c.ifname.clone()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for ifname in rt.attached(&id).into_iter().filter(|n| !wanted.contains(n)) {
                let att = cni::Attachment { container_id: id.clone(), netns: netns.clone(), ifname: ifname.clone() };
                match rt.remove(&att) {
                    Ok(_) => tracing::info!(ifname, "CNI underlay interface deleted"),
                    Err(e) => tracing::warn!(ifname, "CNI underlay interface not deleted (tried again next time): {e}"),
                }
            }
        })
        .await;
    }
}

/// `CNI_CONTAINERID` of the underlay attachments of node `node`.
pub fn container_id(node: &str) -> String {
    let id: String =
        node.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    format!("perouter-underlay-{id}")
}

/// What the CNI step would do on node `node` to make the CNI interfaces of the router namespace
/// `router_netns` exactly `wanted`, from the cache in `cache_dir` and the namespace's links; no
/// plugin runs. `plan --diff` prints it; the agent runs plugins only for what it lists.
pub fn pending_for(
    cache_dir: &std::path::Path,
    node: &str,
    router_netns: &str,
    wanted: &[plan::CniInterface],
) -> Vec<cni::Pending> {
    let rt = cni::Runtime::new(Vec::new(), cache_dir);
    pending(&rt, &container_id(node), router_netns, wanted)
}

fn pending(rt: &cni::Runtime, id: &str, router_netns: &str, wanted: &[plan::CniInterface]) -> Vec<cni::Pending> {
    let wanted: Vec<cni::Wanted<'_>> = wanted
        .iter()
        .map(|c| cni::Wanted { ifname: &c.ifname, config: &c.config, runtime_config: &c.runtime_config })
        .collect();
    rt.pending(id, &kernel::NetNs::path_of(router_netns), &wanted, |ifname| link_exists(router_netns, ifname))
}

/// Where the CNI DHCP daemon listens (its default, which the `dhcp` IPAM plugin uses).
const DHCP_SOCKET_DIR: &str = "/run/cni";

fn dhcp_socket_answers() -> bool {
    std::os::unix::net::UnixStream::connect(format!("{DHCP_SOCKET_DIR}/dhcp.sock")).is_ok()
}

/// Whether a configuration list gets addresses from DHCP (`"ipam": {"type": "dhcp"}`).
fn uses_dhcp(config: &serde_json::Value) -> bool {
    let dhcp = |p: &serde_json::Value| p.pointer("/ipam/type").and_then(serde_json::Value::as_str) == Some("dhcp");
    dhcp(config) || config.get("plugins").and_then(serde_json::Value::as_array).is_some_and(|l| l.iter().any(dhcp))
}

/// Whether the router namespace has a link named `ifname`.
fn link_exists(router_netns: &str, ifname: &str) -> bool {
    let Ok(ns) = kernel::NetNs::open(router_netns) else { return false };
    ns.run(|| kernel::Socket::open().ok().and_then(|mut s| s.index_of(ifname).ok().flatten()).is_some())
        .unwrap_or(false)
}

fn what(done: &cni::Ensured) -> String {
    match done {
        cni::Ensured::Unchanged => "unchanged".into(),
        cni::Ensured::Added { .. } => "added".into(),
        cni::Ensured::Repaired { why, .. } => format!("made again ({why})"),
        cni::Ensured::Replaced { .. } => "made again with the new configuration".into(),
    }
}
