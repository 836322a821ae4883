//! Admission webhook request bodies, reviewed against a small cluster, as the webhook server
//! reviews what the API server posts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use k8s::admission::{WebhookConfig, review_body};
use k8s::state::{ClusterState, NodeInfo};

/// The cluster of the webhook tests: their resources and three nodes.
fn cluster() -> &'static ClusterState {
    static CLUSTER: OnceLock<ClusterState> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let text = include_str!("../../k8s/tests/fixtures/cluster.yaml");
        let mut loaded = api::load::Loaded::default();
        // The fixture loads in the webhook tests, which say so when it does not.
        let _ = api::load::load_str(text, Path::new("cluster.yaml"), &mut loaded);
        let node = |name: &str, rack: &str, index: Option<&str>| NodeInfo {
            name: name.to_string(),
            labels: BTreeMap::from([("rack".to_string(), rack.to_string())]),
            index_annotation: index.map(str::to_string),
            created: None,
            resource_version: Some("1".to_string()),
        };
        ClusterState {
            objects: loaded.objects(),
            nodes: vec![
                node("worker-a", "a", Some("0")),
                node("worker-b", "b", Some("1")),
                node("worker-c", "b", None),
            ],
        }
    })
}

/// Reviews `data` as a request body posted to the webhook of any kind; an answer must be an
/// `AdmissionReview` again.
pub fn run(data: &[u8]) {
    let Ok(answer) = review_body(data, None, cluster(), &WebhookConfig::default()) else { return };
    let value: Result<serde_json::Value, _> = serde_json::from_slice(&answer);
    assert!(value.is_ok_and(|v| v["kind"] == "AdmissionReview"), "the answer is not an AdmissionReview");
}
