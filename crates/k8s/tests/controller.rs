//! `openperouter controller` against an in-process fake API server (lists, watches with
//! streamed events, get/create/patch-status, events) and a real reloader stub on a unix socket.
//! The kernel step is disabled (no root needed): what is covered is watch → plan → FRR config
//! file + reloader POST → status object → Events.

use harness::*;
use std::time::Duration;

use serde_json::{Value, json};

mod harness;

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_reports_and_reapplies_only_when_needed() {
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("1")));
    fake.put("underlays", underlay());
    fake.put("l3vnis", l3vni("red", "red", 100, "192.169.10.0/24", None));
    // Same VNI as red: fails on this node (red wins, first by name).
    fake.put("l3vnis", l3vni("zz-dup", "green", 100, "192.169.30.0/24", None));
    // Only for nodes labelled role=edge.
    fake.put("l3vnis", l3vni("blue", "blue", 300, "192.169.20.0/24", Some(json!({"matchLabels": {"role": "edge"}}))));
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());

    // resources listed → plan → FRR config posted → status written.
    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;
    settle().await;
    assert_eq!(h.reloads.count(), 1, "one apply at start-up");
    let (request, text) = h.reloads.last();
    assert_eq!(request, "POST /");
    assert!(text.contains("hostname test-host\n"), "{text}");
    assert!(text.contains("router bgp 64514\n"), "{text}");
    assert!(text.contains("vrf red\n") && !text.contains("vrf blue") && !text.contains("vrf green"), "{text}");
    assert!(text.contains("bgp router-id 10.0.0.2"), "node index 1 → router-id .2: {text}");
    let mode = std::fs::metadata(&h.config).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    assert_eq!(mode.expect("config file") & 0o777, 0o600);

    // The object: owned by the Node.
    let object = status_of(&h.fake);
    assert_eq!(
        object["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": "node-uid-1"}])
    );
    let patches = h.fake.status_patches();
    assert_eq!(patches.len(), 1, "{patches:#?}");
    let failed = &patches[0]["status"]["failedResources"];
    assert_eq!(failed[0]["kind"], "L3VNI");
    assert_eq!(failed[0]["name"], "zz-dup");
    assert_eq!(failed[0]["reason"], "ValidationFailed");
    let message = failed[0]["message"].as_str().expect("message").to_string();
    let revision = patches[0]["status"]["appliedRevision"].as_str().expect("a revision").to_string();
    assert!(revision.len() == 16 && revision.chars().all(|c| c.is_ascii_hexdigit()), "{revision}");
    let expected = json!({"status": {
        "failedResources": [{"kind": "L3VNI", "name": "zz-dup", "reason": "ValidationFailed", "message": message}],
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ConfigurationFailed",
             "message": "Some resources failed, see failedResources for details",
             "lastTransitionTime": "2026-01-02T03:04:05Z"},
            {"type": "Degraded", "status": "True", "reason": "ConfigurationFailed",
             "message": "Some resources failed, see failedResources for details",
             "lastTransitionTime": "2026-01-02T03:04:05Z"}],
        "appliedResources": [
            {"kind": "Underlay", "namespace": NS, "name": "underlay", "generation": 1},
            {"kind": "L3VNI", "namespace": NS, "name": "red", "generation": 1}],
        "appliedRevision": revision,
        "sessions": null
    }});
    assert_eq!(patches[0], expected, "{}", serde_json::to_string_pretty(&patches[0]).unwrap_or_default());
    assert!(message.contains("100"), "the reason names the VNI: {message}");
    assert!(!serde_json::to_string(&patches).unwrap_or_default().contains("s3cret-pw"), "no password in the status");

    // A Warning Event regarding the failed L3VNI.
    let events = h.fake.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "ValidationFailed");
    assert_eq!(events[0]["regarding"]["kind"], "L3VNI");
    assert_eq!(events[0]["regarding"]["name"], "zz-dup");
    assert_eq!(events[0]["regarding"]["namespace"], NS);

    // Node noise: a heartbeat-like update (only the resourceVersion changes) and a label no
    // selector looks at → no re-apply, no status write.
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("1")));
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE, "unrelated": "x"}), Some("1")));
    // A resource of another node → the selection is unchanged.
    fake.put("l3vnis", l3vni("other", "other", 400, "192.169.40.0/24", Some(json!({"matchLabels": {"rack": "z"}}))));
    settle().await;
    assert_eq!(h.reloads.count(), 1, "nothing this node selects changed");
    assert_eq!(h.fake.status_patches().len(), 1);

    // A label that changes the selection → re-plan: blue is applied now.
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE, "unrelated": "x", "role": "edge"}), Some("1")));
    eventually("a second apply", || h.reloads.count() == 2).await;
    eventually("a second status patch", || h.fake.status_patches().len() == 2).await;
    assert!(h.reloads.last().1.contains("vrf blue\n"));
    let applied = &h.fake.status_patches()[1]["status"]["appliedResources"];
    assert!(applied.as_array().expect("list").iter().any(|a| a["name"] == "blue"), "{applied}");
    // Same conditions as before: the transition time is kept.
    assert_eq!(h.fake.status_patches()[1]["status"]["conditions"], expected["status"]["conditions"]);
    settle().await;
    assert_eq!(h.fake.events().len(), 1, "a persisting failure is not reported again");

    // Router pod restarts: not ready, then ready → forced re-apply; the status is unchanged,
    // so it is not rewritten.
    fake.put("pods", router_pod(false));
    settle().await;
    let before = h.reloads.count();
    fake.put("pods", router_pod(true));
    eventually("a re-apply after the router restart", || h.reloads.count() == before + 1).await;
    settle().await;
    assert_eq!(h.fake.status_patches().len(), 2, "unchanged status is not rewritten");

    // Fixing the failed resource (new generation) → Ready, failedResources removed (null).
    fake.put("l3vnis", l3vni("zz-dup", "green", 500, "192.169.30.0/24", None));
    eventually("a third status patch", || h.fake.status_patches().len() == 3).await;
    let patch = h.fake.status_patches()[2].clone();
    assert_eq!(patch["status"]["failedResources"], Value::Null, "{patch}");
    assert_eq!(patch["status"]["conditions"][0]["status"], "True");
    assert_eq!(patch["status"]["conditions"][0]["reason"], "ConfigurationSuccessful");
    let applied = patch["status"]["appliedResources"].as_array().expect("list").clone();
    let dup = applied.iter().find(|a| a["name"] == "zz-dup").expect("zz-dup applied");
    assert_eq!(dup["generation"], 2, "the applied generation tells the user the change is live");
    let stored = status_of(&h.fake);
    assert!(stored["status"].get("failedResources").is_none(), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_node_index_applies_nothing_and_says_why() {
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), None));
    fake.put("underlays", underlay());
    let h = start(fake.clone());

    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;
    settle().await;
    assert_eq!(h.reloads.count(), 0, "nothing applied without an index");
    let patches = h.fake.status_patches();
    assert_eq!(patches.len(), 1);
    let message = "node node-1 has no openpe.io/nodeindex annotation yet (the nodemarker assigns it): nothing applied";
    assert_eq!(
        patches[0],
        json!({"status": {
            "failedResources": null,
            "appliedResources": null,
            "appliedRevision": patches[0]["status"]["appliedRevision"].as_str().expect("a revision"),
            "sessions": null,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ConfigurationFailed", "message": message,
                 "lastTransitionTime": "2026-01-02T03:04:05Z"},
                {"type": "Degraded", "status": "True", "reason": "ConfigurationFailed", "message": message,
                 "lastTransitionTime": "2026-01-02T03:04:05Z"}]
        }})
    );

    // The nodemarker assigns the index → applied.
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("0")));
    eventually("an apply", || h.reloads.count() == 1).await;
    eventually("a second status patch", || h.fake.status_patches().len() == 2).await;
    let patch = &h.fake.status_patches()[1];
    assert_eq!(patch["status"]["conditions"][0]["status"], "True", "{patch}");
    assert!(h.reloads.last().1.contains("bgp router-id 10.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_states_reach_the_status_when_they_change() {
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("1")));
    fake.put("underlays", underlay());
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());
    h.reloads.set_sessions(json!([{"vrf": "default", "peer": "192.168.11.2", "state": "Active"}]));
    let sessions = |h: &Harness| {
        h.fake.object("routernodeconfigurationstatuses", &format!("{NS}/{NODE}"))["status"]["sessions"].clone()
    };
    eventually("the session in the status", || sessions(&h)[0]["state"] == "Active").await;
    assert_eq!(sessions(&h), json!([{"vrf": "default", "peer": "192.168.11.2", "state": "Active"}]));

    // Unchanged states are not written again (the sampling runs every 200 ms here).
    let writes = h.fake.status_patches().len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(h.fake.status_patches().len(), writes, "no write while the sessions hold");

    // A state change is written; the rest of the status stays.
    let before = status_of(&h.fake)["status"]["conditions"].clone();
    h.reloads.set_sessions(json!([
        {"vrf": "default", "peer": "192.168.11.2", "state": "Established"},
        {"vrf": "red", "peer": "192.169.10.3", "state": "Established"}]));
    eventually("both sessions Established", || sessions(&h).as_array().is_some_and(|a| a.len() == 2)).await;
    assert_eq!(sessions(&h)[0]["state"], "Established");
    assert_eq!(status_of(&h.fake)["status"]["conditions"], before);
    assert_eq!(h.reloads.count(), 1, "sampling sessions applies nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_applied_before_a_restart_keep_winning_conflicts() {
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("1")));
    fake.put("underlays", underlay());
    // zz-blue ran on this node before the controller restarted; aa-new came meanwhile with the
    // same VNI. By name alone aa-new would win.
    fake.put("l3vnis", l3vni("aa-new", "green", 100, "192.169.30.0/24", None));
    fake.put("l3vnis", l3vni("zz-blue", "blue", 100, "192.169.20.0/24", None));
    fake.put(
        "routernodeconfigurationstatuses",
        json!({
        "apiVersion": "network.openperouter.io/v1alpha1", "kind": "RouterNodeConfigurationStatus",
        "metadata": {"name": NODE, "namespace": NS}, "spec": {},
        "status": {"appliedResources": [
            {"kind": "Underlay", "namespace": NS, "name": "underlay", "generation": 1},
            {"kind": "L3VNI", "namespace": NS, "name": "zz-blue", "generation": 1}]}}),
    );
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());

    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;
    let (_, text) = h.reloads.last();
    assert!(text.contains("vrf blue\n") && !text.contains("vrf green"), "the incumbent runs: {text}");
    let patch = h.fake.status_patches()[0].clone();
    let failed = &patch["status"]["failedResources"];
    assert_eq!(failed[0]["name"], "aa-new", "{patch}");
    let applied: Vec<&str> = patch["status"]["appliedResources"]
        .as_array()
        .expect("applied")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(applied.contains(&"zz-blue"), "{applied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_earlier_status_the_first_by_name_wins() {
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("1")));
    fake.put("underlays", underlay());
    fake.put("l3vnis", l3vni("aa-new", "green", 100, "192.169.30.0/24", None));
    fake.put("l3vnis", l3vni("zz-blue", "blue", 100, "192.169.20.0/24", None));
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());
    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;
    let (_, text) = h.reloads.last();
    assert!(text.contains("vrf green\n") && !text.contains("vrf blue"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_counts_its_reconciles_on_metrics() {
    use tower::ServiceExt;
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("1")));
    fake.put("underlays", underlay());
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());
    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;

    let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let app = k8s::runtime::probe_router(ready, Some(h.metrics.clone()));
    let response = app
        .oneshot(http::Request::get("/metrics").body(axum::body::Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("openperouter_reconciles_total{result=\"success\"} 1"), "{text}");
    assert!(text.contains("openperouter_frr_applies_total"), "{text}");
    // The nodemarker's probes have no /metrics.
    let plain = k8s::runtime::probe_router(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)), None);
    let response = plain
        .oneshot(http::Request::get("/metrics").body(axum::body::Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
}
