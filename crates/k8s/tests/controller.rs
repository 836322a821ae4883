//! `openperouter controller` against an in-process fake API server (lists, watches with
//! streamed events, get/create/patch-status, events) and a real reloader stub on a unix socket.
//! The kernel step is disabled (no root needed): what is covered is watch → plan → FRR config
//! file + reloader POST → status object → Events.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use k8s::controller::{ControllerConfig, run_controller};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

const NS: &str = "openperouter-system";
const NODE: &str = "node-1";

// ---------------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    body: Value,
}

struct Watch {
    resource: String,
    namespace: Option<String>,
    query: String,
    tx: UnboundedSender<Bytes>,
}

#[derive(Default)]
struct State {
    /// resource plural → "ns/name" → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    rv: u64,
    watches: Vec<Watch>,
    log: Vec<Recorded>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

struct Target {
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_path(path: &str) -> Target {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = if segs[0] == "api" { &segs[2..] } else { &segs[3..] };
    let (namespace, rest) =
        if rest.len() >= 3 && rest[0] == "namespaces" { (Some(rest[1].to_string()), &rest[2..]) } else { (None, rest) };
    Target {
        namespace,
        resource: rest[0].to_string(),
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
    }
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"))
    })
}

/// Field selectors `metadata.name=` / `spec.nodeName=` and equality label selectors.
fn selected(object: &Value, namespace: &Option<String>, query: &str) -> bool {
    if let Some(ns) = namespace
        && object["metadata"]["namespace"].as_str() != Some(ns.as_str())
    {
        return false;
    }
    if let Some(fields) = query_param(query, "fieldSelector") {
        for f in fields.split(',') {
            let Some((k, v)) = f.split_once('=') else { continue };
            let actual = match k {
                "metadata.name" => object["metadata"]["name"].as_str(),
                "spec.nodeName" => object["spec"]["nodeName"].as_str(),
                _ => None,
            };
            if actual != Some(v) {
                return false;
            }
        }
    }
    if let Some(labels) = query_param(query, "labelSelector") {
        for l in labels.split(',') {
            let Some((k, v)) = l.split_once('=') else { continue };
            if object["metadata"]["labels"][k].as_str() != Some(v) {
                return false;
            }
        }
    }
    true
}

type Body = BoxBody<Bytes, Infallible>;

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("response")
}

fn not_found(name: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("{name} not found"),
                "reason": "NotFound", "code": 404}),
    )
}

impl Fake {
    fn key(object: &Value) -> String {
        format!(
            "{}/{}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        )
    }

    /// Creates or replaces an object (as a user would) and notifies the watches.
    fn put(&self, resource: &str, mut object: Value) {
        let mut st = self.0.lock().expect("lock");
        st.rv += 1;
        let rv = st.rv;
        let key = Fake::key(&object);
        let old = st.objects.get(resource).and_then(|m| m.get(&key)).cloned();
        let generation = match &old {
            Some(o) if o["spec"] != object["spec"] => o["metadata"]["generation"].as_i64().unwrap_or(1) + 1,
            Some(o) => o["metadata"]["generation"].as_i64().unwrap_or(1),
            None => 1,
        };
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        object["metadata"]["generation"] = json!(generation);
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("uid-{}", Fake::key(&object).replace('/', "-")));
        }
        st.objects.entry(resource.to_string()).or_default().insert(key, object.clone());
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        let line = Bytes::from(format!("{}\n", json!({"type": kind, "object": object})));
        st.watches.retain(|w| {
            if w.resource != resource || !selected(&object, &w.namespace, &w.query) {
                return true;
            }
            w.tx.unbounded_send(line.clone()).is_ok()
        });
    }

    fn log(&self) -> Vec<Recorded> {
        self.0.lock().expect("lock").log.clone()
    }

    fn status_patches(&self) -> Vec<Value> {
        self.log().into_iter().filter(|r| r.method == "PATCH" && r.path.ends_with("/status")).map(|r| r.body).collect()
    }

    fn events(&self) -> Vec<Value> {
        self.log().into_iter().filter(|r| r.method == "POST" && r.path.contains("/events")).map(|r| r.body).collect()
    }

    async fn handle(self, req: Request<kube::client::Body>) -> Result<Response<Body>, Infallible> {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let t = parse_path(&path);
        let mut st = self.0.lock().expect("lock");
        if method != "GET" {
            st.log.push(Recorded { method: method.clone(), path: path.clone(), body: body.clone() });
        }
        st.rv += 1;
        let rv = st.rv;
        let response = match (method.as_str(), &t.name) {
            ("GET", None) if query_param(&query, "watch").as_deref() == Some("true") => {
                let (tx, rx) = unbounded::<Bytes>();
                st.watches.push(Watch { resource: t.resource.clone(), namespace: t.namespace.clone(), query, tx });
                let stream = rx.map(|b| Ok::<_, Infallible>(Frame::data(b)));
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(BodyExt::boxed(StreamBody::new(stream)))
                    .expect("response")
            }
            ("GET", None) => {
                let items: Vec<Value> = st
                    .objects
                    .get(&t.resource)
                    .map(|m| m.values().filter(|o| selected(o, &t.namespace, &query)).cloned().collect())
                    .unwrap_or_default();
                json_response(StatusCode::OK, &json!({"metadata": {"resourceVersion": rv.to_string()}, "items": items}))
            }
            ("GET", Some(name)) => {
                let key = format!("{}/{name}", t.namespace.clone().unwrap_or_default());
                match st.objects.get(&t.resource).and_then(|m| m.get(&key)) {
                    Some(o) => json_response(StatusCode::OK, o),
                    None => not_found(name),
                }
            }
            ("POST", None) => {
                let mut object = body.clone();
                object["metadata"]["namespace"] = json!(t.namespace.clone().unwrap_or_default());
                object["metadata"]["resourceVersion"] = json!(rv.to_string());
                if object["metadata"]["name"].is_null() {
                    object["metadata"]["name"] = json!(format!("generated-{rv}"));
                }
                st.objects.entry(t.resource.clone()).or_default().insert(Fake::key(&object), object.clone());
                json_response(StatusCode::CREATED, &object)
            }
            ("PATCH", Some(name)) if t.sub.as_deref() == Some("status") => {
                let key = format!("{}/{name}", t.namespace.clone().unwrap_or_default());
                match st.objects.get_mut(&t.resource).and_then(|m| m.get_mut(&key)) {
                    Some(o) => {
                        // A JSON merge patch of the status: nulls delete.
                        let mut status = o["status"].as_object().cloned().unwrap_or_default();
                        for (k, v) in body["status"].as_object().cloned().unwrap_or_default() {
                            if v.is_null() {
                                status.remove(&k);
                            } else {
                                status.insert(k, v);
                            }
                        }
                        o["status"] = Value::Object(status);
                        o["metadata"]["resourceVersion"] = json!(rv.to_string());
                        json_response(StatusCode::OK, o)
                    }
                    None => not_found(name),
                }
            }
            _ => json_response(StatusCode::OK, &body),
        };
        Ok(response)
    }

    fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req| fake.clone().handle(req));
        kube::Client::new(service, "default")
    }
}

// ---------------------------------------------------------------------------------------------
// The reloader stub: a real HTTP server on a unix socket
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Reloads(Arc<Mutex<Vec<(String, String)>>>);

impl Reloads {
    fn count(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
    fn last(&self) -> (String, String) {
        self.0.lock().expect("lock").last().cloned().expect("a reload")
    }
}

/// Serves `POST /` on `socket`: records the method+path and the config file's content at that
/// moment, answers like the reloader (its JSON report); `GET /version` answers 8.4.4.
fn reloader_stub(socket: &Path, config: PathBuf) -> Reloads {
    let reloads = Reloads::default();
    let listener = tokio::net::UnixListener::bind(socket).expect("bind the reloader socket");
    let recorded = reloads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (recorded, config) = (recorded.clone(), config.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (recorded, config) = (recorded.clone(), config.clone());
                    async move {
                        // The controller asks once which FRR release runs; that is no apply.
                        if req.method() == hyper::Method::GET && req.uri().path() == "/version" {
                            return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("8.4.4\n"))));
                        }
                        let text = std::fs::read_to_string(&config).unwrap_or_default();
                        recorded.0.lock().expect("lock").push((format!("{} {}", req.method(), req.uri().path()), text));
                        let body = json!({"added": ["router bgp 64514"], "removed": [], "reloaded": true});
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    reloads
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn fixed_now() -> Timestamp {
    "2026-01-02T03:04:05Z".parse().expect("timestamp")
}

fn node(labels: Value, index: Option<&str>) -> Value {
    let mut annotations = json!({"node.alpha.kubernetes.io/ttl": "0"});
    if let Some(i) = index {
        annotations["openpe.io/nodeindex"] = json!(i);
    }
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": NODE, "uid": "node-uid-1", "labels": labels, "annotations": annotations}})
}

fn underlay() -> Value {
    json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "Underlay",
        "metadata": {"name": "underlay", "namespace": NS},
        "spec": {"asn": 64514, "tunnelEndpoint": {"cidrs": ["100.65.0.0/24"]},
                 "interfaces": [{"type": "NetworkDevice", "networkDevice": {"interfaceName": "eth1"}}],
                 "neighbors": [{"asn": 64512, "address": "192.168.11.2", "password": "s3cret-pw"}]}})
}

fn l3vni(name: &str, vrf: &str, vni: u32, cidr: &str, selector: Option<Value>) -> Value {
    let mut spec = json!({"vrf": vrf, "vni": vni, "underlayAddressFamily": "IPv4",
        "hostSession": {"asn": 64514, "hostASN": 64515, "localCIDR": {"ipv4": cidr}}});
    if let Some(s) = selector {
        spec["nodeSelector"] = s;
    }
    json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "L3VNI",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

fn router_pod(ready: bool) -> Value {
    let s = if ready { "True" } else { "False" };
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "router-abcde", "namespace": NS, "labels": {"app": "router"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "frr", "image": "frr"}]},
        "status": {"conditions": [{"type": "Ready", "status": s}, {"type": "ContainersReady", "status": s}]}})
}

struct Harness {
    fake: Fake,
    reloads: Reloads,
    config: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start(fake: Fake) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("reload.sock");
    let config = dir.path().join("frr.conf");
    let reloads = reloader_stub(&socket, config.clone());
    let mut agent = agent::AgentConfig::new(Vec::new(), "perouter-test");
    agent.frr = agent::FrrMode::Reloader { socket, config_path: config.clone(), hostname: Some("test-host".into()) };
    agent.kernel = agent::KernelMode::Skip;
    let cfg = ControllerConfig {
        node_name: NODE.into(),
        namespace: NS.into(),
        agent,
        debounce: Duration::from_millis(50),
        resync: Duration::from_secs(3600),
        now: fixed_now,
    };
    let client = fake.client();
    let task = tokio::spawn(async move {
        let ready = Arc::new(AtomicBool::new(false));
        run_controller(client, cfg, futures::future::pending(), ready).await.expect("controller");
    });
    Harness { fake, reloads, config, _dir: dir, task }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Lets the controller see (and debounce) whatever was just changed.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn status_of(fake: &Fake) -> Value {
    let st = fake.0.lock().expect("lock");
    st.objects["routernodeconfigurationstatuses"][&format!("{NS}/{NODE}")].clone()
}

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
            {"kind": "L3VNI", "namespace": NS, "name": "red", "generation": 1}]
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
