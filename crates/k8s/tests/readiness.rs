//! Node readiness gating against the fake API server: the controller removes the startup taint
//! once the router is Ready, keeps the node condition current, puts the taint back after the
//! grace period of a not-ready router, and leaves every other taint and condition alone.

use std::time::{Duration, Instant};

use harness::*;
use k8s::readiness::{CONDITION_TYPE, GateConfig, TAINT_EFFECT, TAINT_KEY};
use serde_json::{Value, json};

mod harness;

const GRACE: Duration = Duration::from_millis(1500);

fn gated() -> GateConfig {
    GateConfig { taint: true, condition: true, grace: GRACE }
}

fn node_key() -> String {
    format!("/{NODE}")
}

/// A node registered with the startup taint (and another one), the kubelet's condition set.
fn tainted_node() -> Value {
    let mut n = node(json!({"kubernetes.io/hostname": NODE}), Some("1"));
    n["spec"] = json!({"taints": [
        {"key": "node.example.com/maintenance", "effect": "NoSchedule"},
        {"key": TAINT_KEY, "effect": TAINT_EFFECT}]});
    n["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]});
    n
}

fn taint_keys(fake: &Fake) -> Vec<String> {
    fake.object("nodes", &node_key())["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["key"].as_str().map(str::to_string))
        .collect()
}

fn condition(fake: &Fake, kind: &str) -> Value {
    fake.object("nodes", &node_key())["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or(Value::Null)
}

fn node_writes(fake: &Fake) -> usize {
    fake.log().iter().filter(|r| r.method == "PATCH" && r.path.contains("/nodes/")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_taint_follows_the_router_and_the_condition_says_why() {
    let fake = Fake::default();
    fake.put("nodes", tainted_node());
    fake.put("underlays", underlay());
    fake.put("l3vnis", l3vni("red", "red", 100, "192.169.10.0/24", None));
    fake.put("pods", router_pod(true));
    let h = start_with(fake.clone(), gated());

    // Ready: the startup taint goes, the other taint and the kubelet's condition stay.
    eventually("the startup taint removed", || !taint_keys(&h.fake).contains(&TAINT_KEY.to_string())).await;
    assert_eq!(taint_keys(&h.fake), ["node.example.com/maintenance"]);
    eventually("the condition True", || condition(&h.fake, CONDITION_TYPE)["status"] == "True").await;
    let c = condition(&h.fake, CONDITION_TYPE);
    assert_eq!(c["reason"], "RouterReady", "{c}");
    assert_eq!(c["lastTransitionTime"], "2026-01-02T03:04:05Z");
    assert_eq!(condition(&h.fake, "Ready")["reason"], "KubeletReady", "the kubelet's condition is untouched");
    // Nothing more is written while nothing changes.
    settle().await;
    let writes = node_writes(&h.fake);
    settle().await;
    assert_eq!(node_writes(&h.fake), writes, "a steady router writes nothing to its Node");

    // The router pod stops being ready: the condition says so at once, the taint waits for the
    // grace period, then comes back without touching the other taint.
    let down = Instant::now();
    fake.put("pods", router_pod(false));
    eventually("the condition False", || condition(&h.fake, CONDITION_TYPE)["status"] == "False").await;
    assert_eq!(condition(&h.fake, CONDITION_TYPE)["reason"], "RouterPodNotReady");
    assert!(!taint_keys(&h.fake).contains(&TAINT_KEY.to_string()), "no taint within the grace period");
    eventually("the taint back", || taint_keys(&h.fake).contains(&TAINT_KEY.to_string())).await;
    let waited = down.elapsed();
    assert!(waited >= GRACE, "tainted after {waited:?}, before the {GRACE:?} grace period ended");
    assert_eq!(taint_keys(&h.fake), ["node.example.com/maintenance", TAINT_KEY]);
    let ours = &h.fake.object("nodes", &node_key())["spec"]["taints"][1];
    assert_eq!(ours["effect"], TAINT_EFFECT);

    // Ready again: the taint goes again.
    fake.put("pods", router_pod(true));
    eventually("the taint removed again", || !taint_keys(&h.fake).contains(&TAINT_KEY.to_string())).await;
    eventually("the condition True again", || condition(&h.fake, CONDITION_TYPE)["status"] == "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_configuration_keeps_the_node_tainted_with_the_reason() {
    let fake = Fake::default();
    fake.put("nodes", tainted_node());
    fake.put("underlays", underlay());
    fake.put("l3vnis", l3vni("red", "red", 100, "192.169.10.0/24", None));
    // The same VNI twice: the node's configuration is not Ready.
    fake.put("l3vnis", l3vni("zz-dup", "green", 100, "192.169.30.0/24", None));
    fake.put("pods", router_pod(true));
    let h = start_with(fake.clone(), gated());

    eventually("the condition False", || condition(&h.fake, CONDITION_TYPE)["status"] == "False").await;
    let c = condition(&h.fake, CONDITION_TYPE);
    assert_eq!(c["reason"], "ConfigurationFailed", "{c}");
    tokio::time::sleep(GRACE + Duration::from_millis(500)).await;
    assert!(taint_keys(&h.fake).contains(&TAINT_KEY.to_string()), "the startup taint stays");

    // Another writer changes the taints meanwhile: their change stays when ours is made.
    fake.edit("nodes", &node_key(), |n| {
        n["spec"]["taints"]
            .as_array_mut()
            .expect("taints")
            .push(json!({"key": "late.example.com/x", "effect": "NoExecute"}))
    });
    // The conflict is fixed: the node becomes Ready and loses only our taint.
    fake.put(
        "l3vnis",
        json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "L3VNI",
        "metadata": {"name": "zz-dup", "namespace": NS},
        "spec": {"vrf": "green", "vni": 300, "underlayAddressFamily": "IPv4",
                 "hostSession": {"asn": 64514, "hostASN": 64515, "localCIDR": {"ipv4": "192.169.30.0/24"}}}}),
    );
    eventually("the taint removed", || !taint_keys(&h.fake).contains(&TAINT_KEY.to_string())).await;
    assert_eq!(taint_keys(&h.fake), ["node.example.com/maintenance", "late.example.com/x"]);
    assert_eq!(condition(&h.fake, CONDITION_TYPE)["status"], "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_gating_the_node_is_never_written() {
    let fake = Fake::default();
    fake.put("nodes", tainted_node());
    fake.put("underlays", underlay());
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());
    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;
    fake.put("pods", router_pod(false));
    settle().await;
    assert_eq!(node_writes(&h.fake), 0);
    assert!(taint_keys(&h.fake).contains(&TAINT_KEY.to_string()));
}
