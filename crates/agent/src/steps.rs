//! The steps of a reconcile that touch FRR and the kernel: applying the FRR configuration
//! through the target (and nudging the sessions of an FRR it just started), applying the
//! kernel state through the datapath, and restarting a managed FRR into a router namespace that
//! was made again.

use std::time::{Duration, Instant};

use api::{FailedResource, FailureReason, ResourceKind};
use dataplane::Datapath;
use kernel::NetNs;

use crate::{Agent, FrrStart, NodeStatus, ReconcileError, refuse_snippets, settle, status};

impl Agent {
    /// Applies the FRR configuration (starting or restarting FRR when needed); the error of a
    /// step that failed as a whole.
    pub(crate) async fn frr_step(
        &mut self,
        st: &mut NodeStatus,
        plan: &plan::NodePlan,
        frr_config: &frr::Config,
        node: &str,
    ) -> Option<ReconcileError> {
        let Some(target) = self.frr.as_mut() else {
            st.frr.skipped = true;
            return None;
        };
        let frr_started = Instant::now();
        let restart = self.frr_restart_pending;
        let fresh = self.frr_fresh || restart;
        if restart && target.managed_instance().is_some() {
            tracing::warn!(netns = %self.cfg.router_netns, "router namespace was recreated: restarting FRR into it");
        }
        let applied = match target.ensure_running(restart, frr_config).await {
            Ok(()) => {
                self.frr_restart_pending = false;
                target.apply(frr_config).await
            }
            Err(e) => Err(e),
        };
        match applied {
            Ok(a) => {
                refuse_snippets(st, &plan.raw_names, &a.rejected_snippets);
                st.frr = status::FrrOutcome {
                    lines_added: a.lines_added,
                    lines_removed: a.lines_removed,
                    reloaded: a.reloaded,
                    duration_ms: a.duration.as_millis() as u64,
                    error: None,
                    skipped: false,
                };
                self.metrics.frr_apply(true, frr_started.elapsed().as_secs_f64(), a.lines_added, a.lines_removed);
                if fresh {
                    self.frr_fresh = false;
                    match target.restart_idle_sessions().await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(sessions = n, "FRR started: its Idle sessions try again now")
                        }
                        Err(e) => tracing::debug!("cannot nudge the sessions: {e}"),
                    }
                }
                None
            }
            Err(msg) => Some(ReconcileError::Frr(self.frr_failed(st, node, msg, frr_started))),
        }
    }

    /// Applies the kernel state; the error of a step that failed as a whole (per-object failures
    /// are outcomes in `st`).
    pub(crate) async fn kernel_step(
        &mut self,
        st: &mut NodeStatus,
        plan: &plan::NodePlan,
        kernel: dataplane::HostNetwork,
    ) -> Option<ReconcileError> {
        let kernel_started = Instant::now();
        // Unplanned CNI interfaces go first, while their parent NICs are where the plugins find
        // them (the kernel step may take a NIC back into the router namespace).
        self.cni_step(st, plan).await;
        match self.kernel(kernel).await {
            Ok(report) => {
                st.kernel = status::KernelOutcome {
                    operations: report.ops.len(),
                    writes: report.writes,
                    failures: report.failures.len(),
                    duration_ms: kernel_started.elapsed().as_millis() as u64,
                    skipped: false,
                };
                self.metrics.kernel_apply(report.writes, report.failures.len());
                for f in &report.failures {
                    tracing::warn!(object = %f.object, side = %f.side, "kernel: {}", f.message);
                }
                st.failed_resources.extend(status::kernel_failures(&report));
                if let (Some(desired), Some(datapath)) = (&plan.kernel, self.datapath.as_mut()) {
                    let settled = settle::settle_addresses(
                        datapath,
                        self.frr.as_ref(),
                        desired,
                        &report,
                        self.router_addresses_unsettled,
                    )
                    .await;
                    self.router_addresses_unsettled = settled.unsettled;
                    if settled.announced > 0 {
                        self.metrics.addresses_announced(settled.announced);
                    }
                }
                None
            }
            Err(e) => Some(ReconcileError::Kernel(e)),
        }
    }

    /// Restarts the FRR that still runs in a deleted router namespace into the new one (in the
    /// background: returned; `None`, and nothing done, when this agent may not restart it), and
    /// waits (up to 3 s) for the NICs that were moved to the old namespace to be back where the
    /// kernel state takes them from: the namespace is destroyed once nothing holds it, and its
    /// NICs return to the host then.
    pub(crate) async fn restart_frr_for_new_namespace(&mut self, desired: &dataplane::HostNetwork) -> Option<FrrStart> {
        let starting = self.frr.as_ref().and_then(frr::target::Target::restart_into_new_namespace)?;
        tracing::warn!(netns = %self.cfg.router_netns, "router namespace was recreated: restarting FRR in it while the namespace is rebuilt");
        self.frr_restart_pending = false;
        self.frr_fresh = true;
        let nics: Vec<String> =
            desired.links.iter().filter(|l| l.kind == dataplane::LinkKind::Underlay).map(|l| l.name.clone()).collect();
        let deadline = Instant::now() + Duration::from_secs(3);
        while !nics.is_empty() {
            let missing = self.missing_links(&nics).await;
            if missing.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(nics = ?missing, "underlay NICs not back 3 s after the old router namespace: going on without them");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(starting)
    }

    /// The links of `names` found in neither namespace.
    async fn missing_links(&mut self, names: &[String]) -> Vec<String> {
        let Ok(datapath) = self.datapath_mut() else { return names.to_vec() };
        names
            .iter()
            .filter(|n| {
                ![dataplane::Side::Host, dataplane::Side::Router]
                    .iter()
                    .any(|side| datapath.has_link(*side, n).unwrap_or(false))
            })
            .cloned()
            .collect()
    }

    /// The datapath, opened on first use.
    fn datapath_mut(&mut self) -> Result<&mut Datapath, String> {
        if self.datapath.is_none() {
            let router = NetNs::open(&self.cfg.router_netns).map_err(|e| e.to_string())?;
            let host = match &self.cfg.host_netns {
                Some(p) => NetNs::open_path(p),
                None => NetNs::current(),
            }
            .map_err(|e| e.to_string())?;
            self.datapath = Some(Datapath::new(router, host).map_err(|e| e.to_string())?);
        }
        self.datapath.as_mut().ok_or_else(|| "no datapath".to_string())
    }

    /// Records a failed FRR apply (status, outcome, metrics) and returns the message.
    fn frr_failed(&self, st: &mut NodeStatus, node: &str, msg: String, started: Instant) -> String {
        st.frr.error = Some(msg.clone());
        st.failed_resources.push(FailedResource::new(
            ResourceKind::FrrConfiguration,
            node,
            FailureReason::FrrConfigurationFailed,
            &msg,
        ));
        self.metrics.frr_apply(false, started.elapsed().as_secs_f64(), 0, 0);
        msg
    }

    async fn kernel(&mut self, desired: dataplane::HostNetwork) -> Result<dataplane::Report, String> {
        self.datapath_mut()?;
        let mut datapath = self.datapath.take().ok_or_else(|| "no datapath".to_string())?;
        let mut ovs = dataplane::ovs::Ovsdb::new(&self.cfg.ovs_socket, self.cfg.ovs_datapath_type.clone());
        let (datapath, result) = tokio::task::spawn_blocking(move || {
            let r = crate::ovs_step::kernel_and_ovs(&mut datapath, &mut ovs, &desired);
            (datapath, r)
        })
        .await
        .map_err(|e| format!("kernel task: {e}"))?;
        self.datapath = Some(datapath);
        result.map_err(|e| e.to_string())
    }
}
