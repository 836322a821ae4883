//! The allocation round of the nodemarker against a mocked API server (tower-test): what it
//! lists, what it patches (with the resourceVersion precondition), how it handles conflicts,
//! deleted Nodes and lost leadership.

use http::{Method, Request, Response, StatusCode};
use k8s::runtime::{FIELD_MANAGER, RoundReport, allocation_round};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::client::Body;
use tower_test::mock;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn json(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).expect("json")))
        .expect("response")
}

fn status(code: u16, reason: &str) -> Response<Body> {
    json(
        StatusCode::from_u16(code).expect("code"),
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason, "reason": reason, "code": code}),
    )
}

fn node_meta(name: &str, created: &str, rv: &str, index: Option<&str>) -> serde_json::Value {
    let mut meta = serde_json::json!({
        "name": name, "uid": format!("uid-{name}"), "resourceVersion": rv, "creationTimestamp": created,
        "labels": {"kubernetes.io/hostname": name}
    });
    if let Some(i) = index {
        meta["annotations"] = serde_json::json!({"openpe.io/nodeindex": i, "other": "kept"});
    }
    serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
}

fn node_list() -> serde_json::Value {
    serde_json::json!({
        "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "100"},
        "items": [
            node_meta("n1", "2026-01-01T00:00:00Z", "11", Some("0")),
            node_meta("n3", "2026-01-03T00:00:00Z", "13", Some("0")),
            node_meta("n2", "2026-01-02T00:00:00Z", "12", None),
            node_meta("n4", "2026-01-04T00:00:00Z", "14", Some("banana")),
        ]
    })
}

async fn expect_list(handle: &mut Handle) {
    let (request, send) = handle.next_request().await.expect("list request");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().path(), "/api/v1/nodes");
    let accept = request.headers().get("accept").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(accept.contains("PartialObjectMetadataList"), "metadata-only list, got accept {accept:?}");
    send.send_response(json(StatusCode::OK, node_list()));
}

async fn expect_patch(handle: &mut Handle, node: &str, rv: &str, index: &str, reply: Response<Body>) {
    let (request, send) = handle.next_request().await.expect("patch request");
    assert_eq!(request.method(), Method::PATCH);
    assert_eq!(request.uri().path(), format!("/api/v1/nodes/{node}"));
    let query = request.uri().query().unwrap_or_default().to_string();
    assert!(query.contains(&format!("fieldManager={FIELD_MANAGER}")), "{query}");
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(content_type, "application/merge-patch+json");
    let body: serde_json::Value =
        serde_json::from_slice(&request.into_body().collect_bytes().await.expect("body")).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"metadata": {"resourceVersion": rv, "annotations": {"openpe.io/nodeindex": index}}}),
        "only the annotation, with the resourceVersion precondition"
    );
    send.send_response(reply);
}

fn api() -> (Api<Node>, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Api::all(kube::Client::new(service, "default")), handle)
}

#[tokio::test]
async fn a_round_patches_missing_duplicate_and_invalid_indexes_in_order() {
    let (api, mut handle) = api();
    let server = tokio::spawn(async move {
        expect_list(&mut handle).await;
        // Order: n1 (keeps 0), n2 (missing → 1), n3 (duplicate of n1's 0 → 2), n4 (invalid → 3).
        expect_patch(
            &mut handle,
            "n2",
            "12",
            "1",
            json(StatusCode::OK, node_meta("n2", "2026-01-02T00:00:00Z", "15", Some("1"))),
        )
        .await;
        expect_patch(&mut handle, "n3", "13", "2", status(409, "Conflict")).await;
        expect_patch(&mut handle, "n4", "14", "3", status(404, "NotFound")).await;
    });
    let report = allocation_round(&api, || true).await.expect("round");
    assert_eq!(report, RoundReport { nodes: 4, patched: 1, conflicts: 1, interrupted: false });
    server.await.expect("server script");
}

#[tokio::test]
async fn a_round_stops_writing_when_leadership_is_lost() {
    let (api, mut handle) = api();
    let server = tokio::spawn(async move {
        expect_list(&mut handle).await;
        expect_patch(
            &mut handle,
            "n2",
            "12",
            "1",
            json(StatusCode::OK, node_meta("n2", "2026-01-02T00:00:00Z", "15", Some("1"))),
        )
        .await;
        // No further request may arrive.
        assert!(handle.next_request().await.is_none(), "no write after losing leadership");
    });
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let report =
        allocation_round(&api, || calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0).await.expect("round");
    assert_eq!(report, RoundReport { nodes: 4, patched: 1, conflicts: 0, interrupted: true });
    drop(api);
    server.await.expect("server script");
}

#[tokio::test]
async fn api_errors_are_reported() {
    let (api, mut handle) = api();
    let server = tokio::spawn(async move {
        expect_list(&mut handle).await;
        expect_patch(&mut handle, "n2", "12", "1", status(403, "Forbidden")).await;
    });
    let err = allocation_round(&api, || true).await.expect_err("forbidden");
    assert!(err.to_string().contains("annotating a Node"), "{err}");
    server.await.expect("server script");
}
