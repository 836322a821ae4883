//! `k8s::cluster_status::fetch` against the fake API server: one row per node, from its Node and
//! its RouterNodeConfigurationStatus, nodes without a status and statuses without a node
//! included.

use harness::*;
use serde_json::{Value, json};

mod harness;

fn node_named(name: &str, index: Option<&str>) -> Value {
    let mut n = node(json!({}), index);
    n["metadata"]["name"] = json!(name);
    n
}

fn status(name: &str, status: Value) -> Value {
    json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "RouterNodeConfigurationStatus",
           "metadata": {"name": name, "namespace": NS}, "spec": {}, "status": status})
}

fn ready(status: &str, reason: &str, message: &str) -> Value {
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-01-02T03:04:05Z"})
}

#[tokio::test]
async fn every_node_gets_a_row_with_what_its_status_says() {
    let fake = Fake::default();
    fake.put("nodes", node_named("node-a", Some("0")));
    fake.put("nodes", node_named("node-b", Some("1")));
    fake.put("nodes", node_named("node-c", None));
    fake.put(
        "routernodeconfigurationstatuses",
        status(
            "node-a",
            json!({
        "conditions": [ready("True", "ConfigurationSuccessful", "All configuration applied successfully")],
        "appliedRevision": "0123456789abcdef",
        "appliedResources": [{"kind": "Underlay", "namespace": NS, "name": "underlay", "generation": 1}],
        "sessions": [{"vrf": "default", "peer": "192.168.11.2", "state": "Established"}]}),
        ),
    );
    fake.put("routernodeconfigurationstatuses", status("node-b", json!({
        "conditions": [ready("False", "ConfigurationFailed", "Some resources failed, see failedResources for details")],
        "failedResources": [{"kind": "L3VNI", "name": "zz-dup", "reason": "ValidationFailed", "message": "VNI 100 is used by red"}],
        "sessions": [{"vrf": "default", "peer": "192.168.11.2", "state": "Active"}]})));
    // A node deleted while its status object lingers.
    fake.put("routernodeconfigurationstatuses", status("node-gone", json!({})));
    // Another namespace's objects are not ours.
    let mut elsewhere = status("node-c", json!({"conditions": [ready("True", "X", "y")]}));
    elsewhere["metadata"]["namespace"] = json!("other");
    fake.put("routernodeconfigurationstatuses", elsewhere);

    let rows = k8s::cluster_status::fetch(&fake.client(), NS).await.expect("fetch");
    let names: Vec<&str> = rows.iter().map(|r| r.node.as_str()).collect();
    assert_eq!(names, ["node-a", "node-b", "node-c", "node-gone"]);

    let a = &rows[0];
    assert!(a.is_ready() && a.reported && !a.node_missing);
    assert_eq!(a.index.as_deref(), Some("0"));
    assert_eq!(a.revision.as_deref(), Some("0123456789abcdef"));
    assert_eq!(a.applied, 1);
    assert_eq!(a.sessions[0].state, "Established");
    assert_eq!(a.since.map(|t| t.to_string()).as_deref(), Some("2026-01-02T03:04:05Z"));

    let b = &rows[1];
    assert!(!b.is_ready());
    assert_eq!(b.reason, "ConfigurationFailed");
    assert_eq!(b.failed[0].name, "zz-dup");
    assert_eq!(b.failed[0].message, "VNI 100 is used by red");

    let c = &rows[2];
    assert!(!c.reported && c.index.is_none());
    assert_eq!(c.ready, "Unknown");

    let gone = &rows[3];
    assert!(gone.reported && gone.node_missing);
}
