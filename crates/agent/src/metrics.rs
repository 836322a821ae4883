//! Prometheus text exposition, hand-rolled: a handful of counters and gauges does not need a
//! metrics framework. Reconcile and apply figures are recorded as they happen; BGP sessions and
//! EVPN routes are read from FRR when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Recorded figures.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Figures>,
}

#[derive(Debug, Default, Clone)]
struct Figures {
    reconciles_ok: u64,
    reconciles_failed: u64,
    reconcile_seconds_sum: f64,
    last_reconcile_seconds: f64,
    frr_applies: u64,
    frr_apply_failures: u64,
    frr_apply_seconds_sum: f64,
    frr_lines_added: u64,
    frr_lines_removed: u64,
    kernel_writes: u64,
    kernel_failures: u64,
    addresses_announced: u64,
    router_netns_renamed: u64,
    failed_resources: u64,
    ready: bool,
}

/// FRR state sampled at scrape time.
#[derive(Debug, Default, Clone)]
pub struct FrrSample {
    /// (vrf, state) → number of sessions.
    pub bgp_sessions: BTreeMap<(String, String), u64>,
    /// (route type, vni or "-") → number of routes.
    pub evpn_routes: BTreeMap<(u8, String), u64>,
}

fn lock(m: &Mutex<Figures>) -> std::sync::MutexGuard<'_, Figures> {
    // A poisoned lock only means a panic happened while recording a number: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Records one reconcile.
    pub fn reconcile(&self, ok: bool, seconds: f64, failed_resources: usize, ready: bool) {
        let mut f = lock(&self.inner);
        if ok {
            f.reconciles_ok += 1;
        } else {
            f.reconciles_failed += 1;
        }
        f.reconcile_seconds_sum += seconds;
        f.last_reconcile_seconds = seconds;
        f.failed_resources = failed_resources as u64;
        f.ready = ready;
    }

    /// Records one FRR apply.
    pub fn frr_apply(&self, ok: bool, seconds: f64, added: usize, removed: usize) {
        let mut f = lock(&self.inner);
        f.frr_applies += 1;
        if !ok {
            f.frr_apply_failures += 1;
        }
        f.frr_apply_seconds_sum += seconds;
        f.frr_lines_added += added as u64;
        f.frr_lines_removed += removed as u64;
    }

    /// Records one kernel apply.
    pub fn kernel_apply(&self, writes: u64, failures: usize) {
        let mut f = lock(&self.inner);
        f.kernel_writes += writes;
        f.kernel_failures += failures as u64;
    }

    /// Records addresses announced again because a routing daemon had missed them.
    pub fn addresses_announced(&self, n: usize) {
        lock(&self.inner).addresses_announced += n as u64;
    }

    /// Records the router namespace named again after its name was deleted.
    pub fn router_netns_renamed(&self) {
        lock(&self.inner).router_netns_renamed += 1;
    }

    /// The exposition text.
    pub fn render(&self, sample: Option<&FrrSample>) -> String {
        let f = lock(&self.inner).clone();
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let plain = |v: String| vec![(String::new(), v)];
        metric(
            "openperouter_reconciles_total",
            "counter",
            "Reconciles run, by result.",
            &[
                ("{result=\"success\"}".into(), f.reconciles_ok.to_string()),
                ("{result=\"failure\"}".into(), f.reconciles_failed.to_string()),
            ],
        );
        metric(
            "openperouter_reconcile_duration_seconds_sum",
            "counter",
            "Total time spent reconciling.",
            &plain(format!("{:.6}", f.reconcile_seconds_sum)),
        );
        metric(
            "openperouter_reconcile_last_duration_seconds",
            "gauge",
            "Duration of the last reconcile.",
            &plain(format!("{:.6}", f.last_reconcile_seconds)),
        );
        metric(
            "openperouter_frr_applies_total",
            "counter",
            "FRR configuration applies.",
            &plain(f.frr_applies.to_string()),
        );
        metric(
            "openperouter_frr_apply_failures_total",
            "counter",
            "FRR configuration applies that failed.",
            &plain(f.frr_apply_failures.to_string()),
        );
        metric(
            "openperouter_frr_apply_duration_seconds_sum",
            "counter",
            "Total time spent applying FRR configurations.",
            &plain(format!("{:.6}", f.frr_apply_seconds_sum)),
        );
        metric(
            "openperouter_frr_apply_lines_total",
            "counter",
            "Configuration lines changed by FRR applies (the delta size).",
            &[
                ("{direction=\"added\"}".into(), f.frr_lines_added.to_string()),
                ("{direction=\"removed\"}".into(), f.frr_lines_removed.to_string()),
            ],
        );
        metric(
            "openperouter_kernel_writes_total",
            "counter",
            "Kernel writes (netlink changes and sysctls) and Open vSwitch database write transactions.",
            &plain(f.kernel_writes.to_string()),
        );
        metric(
            "openperouter_kernel_failures_total",
            "counter",
            "Kernel objects that failed to apply.",
            &plain(f.kernel_failures.to_string()),
        );
        metric(
            "openperouter_addresses_announced_total",
            "counter",
            "Interface addresses announced again because FRR had missed their first announcement.",
            &plain(f.addresses_announced.to_string()),
        );
        metric(
            "openperouter_router_netns_renamed_total",
            "counter",
            "Times the router namespace's name was deleted while the namespace lived on, and was given back to it.",
            &plain(f.router_netns_renamed.to_string()),
        );
        metric(
            "openperouter_failed_resources",
            "gauge",
            "Resources not applied on this node.",
            &plain(f.failed_resources.to_string()),
        );
        metric(
            "openperouter_ready",
            "gauge",
            "1 when the node's configuration is fully applied.",
            &plain(u8::from(f.ready).to_string()),
        );
        if let Some(s) = sample {
            let sessions: Vec<(String, String)> = s
                .bgp_sessions
                .iter()
                .map(|((vrf, state), n)| (format!("{{vrf=\"{vrf}\",state=\"{state}\"}}"), n.to_string()))
                .collect();
            metric("openperouter_bgp_sessions", "gauge", "BGP sessions by VRF and state.", &sessions);
            let routes: Vec<(String, String)> = s
                .evpn_routes
                .iter()
                .map(|((t, vni), n)| (format!("{{type=\"{t}\",vni=\"{vni}\"}}"), n.to_string()))
                .collect();
            metric("openperouter_evpn_routes", "gauge", "EVPN routes by route type and VNI.", &routes);
        }
        out
    }
}

/// Samples BGP sessions and EVPN routes from FRR.
pub async fn sample_frr(vtysh: &frr::Vtysh) -> FrrSample {
    let mut s = FrrSample::default();
    if let Ok(neighbors) = frr::state::bgp_neighbors(vtysh).await {
        for n in neighbors {
            *s.bgp_sessions.entry((n.vrf.clone(), n.state.clone())).or_default() += 1;
        }
    }
    if let Ok(routes) = frr::state::evpn_routes(vtysh, None).await {
        for r in routes {
            let Some(t) = r.key.route_type() else { continue };
            let vni = r.best().and_then(|p| p.vnis.first().map(|v| v.to_string())).unwrap_or_else(|| "-".into());
            *s.evpn_routes.entry((t, vni)).or_default() += 1;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_types_and_values() {
        let m = Metrics::default();
        m.reconcile(true, 0.25, 0, true);
        m.reconcile(false, 0.5, 2, false);
        m.frr_apply(true, 0.1, 12, 3);
        m.kernel_apply(7, 1);
        m.addresses_announced(2);
        m.router_netns_renamed();
        let mut sample = FrrSample::default();
        sample.bgp_sessions.insert(("default".into(), "Established".into()), 2);
        sample.evpn_routes.insert((5, "100".into()), 4);
        let text = m.render(Some(&sample));
        for line in [
            "# TYPE openperouter_reconciles_total counter",
            "openperouter_reconciles_total{result=\"success\"} 1",
            "openperouter_reconciles_total{result=\"failure\"} 1",
            "openperouter_frr_apply_lines_total{direction=\"added\"} 12",
            "openperouter_kernel_writes_total 7",
            "openperouter_addresses_announced_total 2",
            "openperouter_router_netns_renamed_total 1",
            "openperouter_failed_resources 2",
            "openperouter_ready 0",
            "openperouter_bgp_sessions{vrf=\"default\",state=\"Established\"} 2",
            "openperouter_evpn_routes{type=\"5\",vni=\"100\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
