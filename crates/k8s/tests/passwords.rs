//! BGP passwords from Secrets (`passwordSecret {name, key}`) through `openperouter controller`,
//! against the fake API server: read at each reconcile, in the configuration FRR gets, never in
//! the status; a Secret that cannot be read fails the Underlay and leaves FRR alone.

use harness::*;

use serde_json::{Value, json};

mod harness;

fn underlay_with_secret(secret: Value) -> Value {
    let mut u = underlay();
    u["spec"]["neighbors"] = json!([{"asn": 64512, "address": "192.168.11.2", "passwordSecret": secret}]);
    u
}

/// `s3cret-from-secret` under `password` and `0ther-key-pw` under `alt`, base64 as the API holds them.
fn secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tor-bgp", "namespace": NS},
           "data": {"password": "czNjcmV0LWZyb20tc2VjcmV0", "alt": "MHRoZXIta2V5LXB3"}})
}

fn no_value_in(fake: &Fake) {
    let written =
        serde_json::to_string(&fake.log().iter().map(|r| r.body.clone()).collect::<Vec<_>>()).unwrap_or_default();
    assert!(!written.contains("s3cret") && !written.contains("0ther-key"), "a password reached the API: {written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_read_from_secrets_and_never_written_back() {
    let fake = Fake::default();
    fake.put("nodes", node(json!({"kubernetes.io/hostname": NODE}), Some("0")));
    fake.put("secrets", secret());
    fake.put("underlays", underlay_with_secret(json!({"name": "tor-bgp"})));
    fake.put("pods", router_pod(true));
    let h = start(fake.clone());

    // The default key, `password`.
    eventually("a first apply", || h.reloads.count() == 1).await;
    let (_, text) = h.reloads.last();
    assert!(text.contains(" neighbor 192.168.11.2 password s3cret-from-secret\n"), "{text}");
    eventually("a status patch", || !h.fake.status_patches().is_empty()).await;
    let status = h.fake.status_patches().last().cloned().unwrap_or_default();
    assert_eq!(status["status"]["failedResources"], json!(null), "{status:#}");

    // Another key of the same Secret.
    fake.put("underlays", underlay_with_secret(json!({"name": "tor-bgp", "key": "alt"})));
    eventually("the second apply", || h.reloads.count() == 2).await;
    let (_, text) = h.reloads.last();
    assert!(text.contains(" neighbor 192.168.11.2 password 0ther-key-pw\n") && !text.contains("s3cret"), "{text}");

    // A Secret that does not exist: the Underlay fails, FRR keeps what it runs.
    let patches_before = h.fake.status_patches().len();
    fake.put("underlays", underlay_with_secret(json!({"name": "missing"})));
    eventually("a status patch for the missing Secret", || h.fake.status_patches().len() > patches_before).await;
    settle().await;
    let status = h.fake.status_patches().last().cloned().unwrap_or_default();
    let failed = &status["status"]["failedResources"][0];
    assert_eq!((failed["kind"].as_str(), failed["reason"].as_str()), (Some("Underlay"), Some("DependencyFailed")));
    let message = failed["message"].as_str().unwrap_or_default();
    assert_eq!(
        message,
        format!(
            "neighbor 192.168.11.2: passwordSecret: Secret {NS}/missing key \"password\": the Secret does not exist"
        )
    );
    assert_eq!(h.reloads.count(), 2, "nothing applied while the Underlay cannot be planned");

    // A key the Secret lacks.
    let patches_before = h.fake.status_patches().len();
    fake.put("underlays", underlay_with_secret(json!({"name": "tor-bgp", "key": "nokey"})));
    eventually("a status patch for the missing key", || h.fake.status_patches().len() > patches_before).await;
    let status = h.fake.status_patches().last().cloned().unwrap_or_default();
    let message = status["status"]["failedResources"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.ends_with("the Secret has no key \"nokey\""), "{message}");
    no_value_in(&h.fake);
}
