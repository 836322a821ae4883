//! Node readiness gating (opt-in): a node is not offered to workloads that need the fabric until
//! its router is Ready.
//!
//! Two signals, each enabled on its own:
//! * **a taint** (`network.openperouter.io/router-not-ready:NoSchedule`): the controller removes it
//!   once the router is Ready (a node can be registered with it, so that nothing is scheduled
//!   there before the first Ready), and puts it back when the router stays not ready for longer
//!   than the grace period. Pods that must run anyway tolerate it (ours tolerate every taint);
//! * **a node condition** (`NetworkOpenPERouterReady`) with the router's reason and message, for
//!   schedulers, dashboards and `kubectl describe node`.
//!
//! The router is Ready when the last reconcile left the node Ready and the router pod of the
//! node is ready. [`Gate`] decides what the Node should carry from that history (pure);
//! [`changes`] compares it with the live Node and returns the patches (data); [`apply`] sends
//! them.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use crate::Error;

/// The taint's key.
pub const TAINT_KEY: &str = "network.openperouter.io/router-not-ready";
/// The taint's effect: new pods stay away, running ones stay.
pub const TAINT_EFFECT: &str = "NoSchedule";
/// The node condition's type.
pub const CONDITION_TYPE: &str = "NetworkOpenPERouterReady";

/// What gating does (both off: nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateConfig {
    /// Remove the taint when Ready, put it back after `grace` not ready.
    pub taint: bool,
    /// Keep the node condition up to date.
    pub condition: bool,
    /// How long the router may be not ready before the taint comes back.
    pub grace: Duration,
}

impl GateConfig {
    /// Whether gating does anything.
    pub fn enabled(&self) -> bool {
        self.taint || self.condition
    }
}

/// The router's readiness as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Ready or not.
    pub ready: bool,
    /// Why (a CamelCase reason).
    pub reason: String,
    /// A sentence for humans.
    pub message: String,
}

/// What the Node should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `Some(true)`: tainted; `Some(false)`: not tainted; `None`: leave the taint as it is (not
    /// ready, still within the grace period, or taint gating off).
    pub tainted: Option<bool>,
    /// The condition, when condition gating is on.
    pub condition: Option<Readiness>,
}

/// The readiness history of this node's router.
#[derive(Debug, Clone)]
pub struct Gate {
    cfg: GateConfig,
    not_ready_since: Option<Instant>,
}

impl Gate {
    /// A gate that has seen nothing yet (the controller's start counts as "not ready since").
    pub fn new(cfg: GateConfig, now: Instant) -> Gate {
        Gate { cfg, not_ready_since: Some(now) }
    }

    /// The settings.
    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    /// Records `readiness` at `now` and says what the Node should carry.
    pub fn observe(&mut self, readiness: &Readiness, now: Instant) -> Desired {
        if readiness.ready {
            self.not_ready_since = None;
        } else if self.not_ready_since.is_none() {
            self.not_ready_since = Some(now);
        }
        let tainted = match (self.cfg.taint, self.not_ready_since) {
            (false, _) => None,
            (true, None) => Some(false),
            (true, Some(since)) if now.duration_since(since) >= self.cfg.grace => Some(true),
            (true, Some(_)) => None,
        };
        Desired { tainted, condition: self.cfg.condition.then(|| readiness.clone()) }
    }

    /// When the grace period of a not-ready router ends (the taint is due then), if it has not.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        let due = self.not_ready_since? + self.cfg.grace;
        (self.cfg.taint && due > now).then_some(due)
    }
}

/// The patches that make `node` carry `desired`.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The node's whole new taint list, with the resourceVersion it was computed from (the patch
    /// fails rather than overwrite a concurrent change).
    pub taints: Option<(Vec<Taint>, String)>,
    /// The condition to set.
    pub condition: Option<NodeCondition>,
}

impl Changes {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.taints.is_none() && self.condition.is_none()
    }
}

/// Compares `desired` with the live `node`. Nothing is changed that already matches: a
/// condition is rewritten only when its status, reason or message differ, and keeps its
/// transition time unless its status changes.
pub fn changes(node: &Node, desired: &Desired, now: Timestamp) -> Changes {
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let has = taints.iter().any(|t| t.key == TAINT_KEY && t.effect == TAINT_EFFECT);
    let rv = node.metadata.resource_version.clone().unwrap_or_default();
    let taints = match desired.tainted {
        Some(true) if !has => {
            let mut t = taints;
            t.push(Taint { key: TAINT_KEY.into(), effect: TAINT_EFFECT.into(), ..Taint::default() });
            Some((t, rv))
        }
        Some(false) if has => Some((taints.into_iter().filter(|t| t.key != TAINT_KEY).collect(), rv)),
        _ => None,
    };
    let condition = desired.condition.as_ref().and_then(|r| {
        let status = if r.ready { "True" } else { "False" };
        let current = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == CONDITION_TYPE));
        let same = |c: &&NodeCondition| {
            c.status == status
                && c.reason.as_deref() == Some(r.reason.as_str())
                && c.message.as_deref() == Some(r.message.as_str())
        };
        if current.filter(same).is_some() {
            return None;
        }
        let transition = current.filter(|c| c.status == status).and_then(|c| c.last_transition_time.clone());
        Some(NodeCondition {
            type_: CONDITION_TYPE.into(),
            status: status.into(),
            reason: Some(r.reason.clone()),
            message: Some(r.message.clone()),
            last_transition_time: Some(transition.unwrap_or(Time(now))),
            last_heartbeat_time: Some(Time(now)),
        })
    });
    Changes { taints, condition }
}

/// Reads the Node, computes the changes and sends them. Returns what was sent (empty when the
/// Node already carries `desired`).
pub async fn apply(client: &Client, node_name: &str, desired: &Desired, now: Timestamp) -> Result<Changes, Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get(node_name).await.map_err(|e| Error::Kube("reading the Node for readiness gating", e))?;
    let todo = changes(&node, desired, now);
    let params = PatchParams { field_manager: Some(crate::controller::FIELD_MANAGER.into()), ..PatchParams::default() };
    if let Some((taints, rv)) = &todo.taints {
        // A JSON patch that first tests the resourceVersion: a taint someone else added or removed
        // meanwhile is never lost; the next evaluation starts again from the new Node.
        let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/spec/taints", "value": taints},
        ]))
        .map_err(|e| Error::Settings(format!("taint patch: {e}")))?;
        nodes
            .patch(node_name, &params, &Patch::<()>::Json(patch))
            .await
            .map_err(|e| Error::Kube("patching the Node's taints", e))?;
    }
    if let Some(condition) = &todo.condition {
        // Strategic merge: the conditions list merges by type, the kubelet's stay untouched.
        let body = serde_json::json!({"status": {"conditions": [condition]}});
        nodes
            .patch_status(node_name, &params, &Patch::Strategic(body))
            .await
            .map_err(|e| Error::Kube("patching the Node's condition", e))?;
    }
    Ok(todo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(taint: bool, condition: bool) -> GateConfig {
        GateConfig { taint, condition, grace: Duration::from_secs(30) }
    }

    fn readiness(ready: bool) -> Readiness {
        if ready {
            Readiness { ready, reason: "ConfigurationSuccessful".into(), message: "all applied".into() }
        } else {
            Readiness { ready, reason: "FrrConfigurationFailed".into(), message: "bgpd refused it".into() }
        }
    }

    #[test]
    fn the_taint_goes_when_ready_and_comes_back_only_after_the_grace_period() {
        let t0 = Instant::now();
        let mut gate = Gate::new(cfg(true, false), t0);
        // At start, not ready: a startup taint stays as it is.
        assert_eq!(gate.observe(&readiness(false), t0).tainted, None);
        assert_eq!(gate.deadline(t0), Some(t0 + Duration::from_secs(30)));
        // Ready: the taint goes.
        assert_eq!(gate.observe(&readiness(true), t0 + Duration::from_secs(5)).tainted, Some(false));
        assert_eq!(gate.deadline(t0 + Duration::from_secs(5)), None);
        // Not ready again: left alone within the grace period, tainted after it.
        let down = t0 + Duration::from_secs(100);
        assert_eq!(gate.observe(&readiness(false), down).tainted, None);
        assert_eq!(gate.observe(&readiness(false), down + Duration::from_secs(29)).tainted, None);
        assert_eq!(gate.deadline(down + Duration::from_secs(29)), Some(down + Duration::from_secs(30)));
        assert_eq!(gate.observe(&readiness(false), down + Duration::from_secs(30)).tainted, Some(true));
        assert_eq!(gate.deadline(down + Duration::from_secs(30)), None);
        // A blip of readiness resets the clock.
        assert_eq!(gate.observe(&readiness(true), down + Duration::from_secs(31)).tainted, Some(false));
        assert_eq!(gate.observe(&readiness(false), down + Duration::from_secs(32)).tainted, None);
    }

    #[test]
    fn each_signal_is_off_unless_asked_for() {
        let t0 = Instant::now();
        let mut gate = Gate::new(cfg(false, true), t0);
        let d = gate.observe(&readiness(false), t0 + Duration::from_secs(3600));
        assert_eq!(d.tainted, None);
        assert_eq!(d.condition, Some(readiness(false)));
        assert_eq!(gate.deadline(t0), None, "no taint, no deadline");
        let mut gate = Gate::new(cfg(true, false), t0);
        assert_eq!(gate.observe(&readiness(true), t0).condition, None);
        assert!(!cfg(false, false).enabled());
    }

    fn node(taints: serde_json::Value, conditions: serde_json::Value) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "resourceVersion": "42"},
            "spec": {"taints": taints},
            "status": {"conditions": conditions},
        }))
        .expect("node")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn changes_touch_only_our_taint_and_our_condition() {
        let other = serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
        let ours = serde_json::json!({"key": TAINT_KEY, "effect": TAINT_EFFECT});
        let kubelet = serde_json::json!({"type": "Ready", "status": "True", "reason": "KubeletReady"});
        let now = at("2026-01-02T03:04:05Z");

        // Remove: only ours goes, tested against the resourceVersion read.
        let n = node(serde_json::json!([other, ours]), serde_json::json!([kubelet]));
        let c = changes(&n, &Desired { tainted: Some(false), condition: None }, now);
        let (taints, rv) = c.taints.expect("a taint change");
        assert_eq!(rv, "42");
        assert_eq!(taints.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["node.kubernetes.io/unschedulable"]);
        // Add: appended once; already there: nothing.
        let n = node(serde_json::json!([other]), serde_json::json!([kubelet]));
        let c = changes(&n, &Desired { tainted: Some(true), condition: None }, now);
        assert_eq!(c.taints.expect("added").0.len(), 2);
        let n = node(serde_json::json!([other, ours]), serde_json::json!([kubelet]));
        assert!(changes(&n, &Desired { tainted: Some(true), condition: None }, now).is_empty());
        assert!(changes(&n, &Desired { tainted: None, condition: None }, now).is_empty());

        // Condition: written when missing, not again when equal, transition time kept while
        // the status holds, moved when it flips.
        let d = Desired { tainted: None, condition: Some(readiness(false)) };
        let c = changes(&n, &d, now).condition.expect("condition");
        assert_eq!((c.type_.as_str(), c.status.as_str()), (CONDITION_TYPE, "False"));
        assert_eq!(c.last_transition_time, Some(Time(now)));
        let mut written = serde_json::to_value(&c).expect("json");
        let n2 = node(serde_json::json!([]), serde_json::json!([kubelet, written.clone()]));
        assert!(changes(&n2, &d, at("2026-01-02T04:00:00Z")).is_empty());
        written["message"] = serde_json::json!("another failure");
        let n3 = node(serde_json::json!([]), serde_json::json!([kubelet, written]));
        let c = changes(&n3, &d, at("2026-01-02T04:00:00Z")).condition.expect("message changed");
        assert_eq!(c.last_transition_time, Some(Time(now)), "same status: transition time kept");
        let up = Desired { tainted: None, condition: Some(readiness(true)) };
        let c = changes(&n3, &up, at("2026-01-02T05:00:00Z")).condition.expect("flipped");
        assert_eq!(c.last_transition_time, Some(Time(at("2026-01-02T05:00:00Z"))));
    }
}
