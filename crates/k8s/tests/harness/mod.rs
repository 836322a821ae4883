//! What the controller tests share: an in-process fake API server (lists, watches with
//! streamed events, get/create/patch of objects and their status, events), a real reloader stub
//! on a unix socket, fixtures, and a harness that runs the controller against them.
#![allow(dead_code)]

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
use k8s::readiness::GateConfig;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

pub const NS: &str = "openperouter-system";
pub const NODE: &str = "node-1";

// ---------------------------------------------------------------------------------------------
// The fake API server
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Value,
}

pub struct Watch {
    pub resource: String,
    pub namespace: Option<String>,
    pub query: String,
    pub tx: UnboundedSender<Bytes>,
}

#[derive(Default)]
pub struct State {
    /// resource plural → "ns/name" → object.
    pub objects: BTreeMap<String, BTreeMap<String, Value>>,
    pub rv: u64,
    pub watches: Vec<Watch>,
    pub log: Vec<Recorded>,
}

#[derive(Clone, Default)]
pub struct Fake(pub Arc<Mutex<State>>);

pub struct Target {
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub fn parse_path(path: &str) -> Target {
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

pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/"))
    })
}

/// Field selectors `metadata.name=` / `spec.nodeName=` and equality label selectors.
pub fn selected(object: &Value, namespace: &Option<String>, query: &str) -> bool {
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

pub type Body = BoxBody<Bytes, Infallible>;

pub fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .expect("response")
}

pub fn not_found(name: &str) -> Response<Body> {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("{name} not found"),
                "reason": "NotFound", "code": 404}),
    )
}

impl Fake {
    pub fn key(object: &Value) -> String {
        format!(
            "{}/{}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        )
    }

    /// Creates or replaces an object (as a user would) and notifies the watches.
    pub fn put(&self, resource: &str, mut object: Value) {
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

    pub fn log(&self) -> Vec<Recorded> {
        self.0.lock().expect("lock").log.clone()
    }

    pub fn status_patches(&self) -> Vec<Value> {
        self.log().into_iter().filter(|r| r.method == "PATCH" && r.path.ends_with("/status")).map(|r| r.body).collect()
    }

    /// The object stored under `resource` and `ns/name` (`/name` for cluster objects).
    pub fn object(&self, resource: &str, key: &str) -> Value {
        self.0.lock().expect("lock").objects.get(resource).and_then(|m| m.get(key)).cloned().unwrap_or(Value::Null)
    }

    /// Changes a stored object in place, without a watch event (as another writer's patch).
    pub fn edit(&self, resource: &str, key: &str, change: impl FnOnce(&mut Value)) {
        let mut st = self.0.lock().expect("lock");
        st.rv += 1;
        let rv = st.rv;
        let o = st.objects.get_mut(resource).and_then(|m| m.get_mut(key)).expect("stored object");
        change(o);
        o["metadata"]["resourceVersion"] = json!(rv.to_string());
    }

    pub fn events(&self) -> Vec<Value> {
        self.log().into_iter().filter(|r| r.method == "POST" && r.path.contains("/events")).map(|r| r.body).collect()
    }

    pub async fn handle(self, req: Request<kube::client::Body>) -> Result<Response<Body>, Infallible> {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let content_type =
            req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
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
                        // A JSON merge patch of the status: nulls delete. A strategic merge patch
                        // merges `conditions` by type, as the API server does for them.
                        let strategic = content_type.contains("strategic-merge-patch");
                        let mut status = o["status"].as_object().cloned().unwrap_or_default();
                        for (k, v) in body["status"].as_object().cloned().unwrap_or_default() {
                            if v.is_null() {
                                status.remove(&k);
                            } else if strategic && k == "conditions" {
                                let mut merged = status.get(&k).and_then(Value::as_array).cloned().unwrap_or_default();
                                for c in v.as_array().cloned().unwrap_or_default() {
                                    merged.retain(|old| old["type"] != c["type"]);
                                    merged.push(c);
                                }
                                status.insert(k, Value::Array(merged));
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
            ("PATCH", Some(name)) if t.sub.is_none() && content_type.contains("json-patch") => {
                // A JSON patch (RFC 6902) of the object; a failed `test` is refused as the API
                // server refuses it.
                let key = format!("{}/{name}", t.namespace.clone().unwrap_or_default());
                match st.objects.get_mut(&t.resource).and_then(|m| m.get_mut(&key)) {
                    Some(o) => {
                        let ops: json_patch::Patch = serde_json::from_value(body.clone()).expect("a JSON patch");
                        let mut patched = o.clone();
                        match json_patch::patch(&mut patched, &ops) {
                            Ok(()) => {
                                patched["metadata"]["resourceVersion"] = json!(rv.to_string());
                                *o = patched;
                                json_response(StatusCode::OK, o)
                            }
                            Err(e) => json_response(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": format!("the patch failed: {e}"), "reason": "Invalid", "code": 422}),
                            ),
                        }
                    }
                    None => not_found(name),
                }
            }
            _ => json_response(StatusCode::OK, &body),
        };
        Ok(response)
    }

    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req| fake.clone().handle(req));
        kube::Client::new(service, "default")
    }
}

// ---------------------------------------------------------------------------------------------
// The reloader stub: a real HTTP server on a unix socket
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Reloads(pub Arc<Mutex<Vec<(String, String)>>>, pub Arc<Mutex<Value>>);

impl Reloads {
    pub fn count(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
    /// Sets what `GET /sessions` answers.
    pub fn set_sessions(&self, sessions: Value) {
        *self.1.lock().expect("lock") = sessions;
    }

    pub fn last(&self) -> (String, String) {
        self.0.lock().expect("lock").last().cloned().expect("a reload")
    }
}

/// Serves `POST /` on `socket`: records the method+path and the config file's content at that
/// moment, answers like the reloader (its JSON report); `GET /version` answers 8.4.4.
pub fn reloader_stub(socket: &Path, config: PathBuf) -> Reloads {
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
                        // Session states are no apply either: the list the test set (none at first).
                        if req.method() == hyper::Method::GET && req.uri().path() == "/sessions" {
                            let list = recorded.1.lock().expect("lock").clone();
                            let list = if list.is_null() { json!([]) } else { list };
                            return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(list.to_string()))));
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

pub fn fixed_now() -> Timestamp {
    "2026-01-02T03:04:05Z".parse().expect("timestamp")
}

pub fn node(labels: Value, index: Option<&str>) -> Value {
    let mut annotations = json!({"node.alpha.kubernetes.io/ttl": "0"});
    if let Some(i) = index {
        annotations["openpe.io/nodeindex"] = json!(i);
    }
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": NODE, "uid": "node-uid-1", "labels": labels, "annotations": annotations}})
}

pub fn underlay() -> Value {
    json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "Underlay",
        "metadata": {"name": "underlay", "namespace": NS},
        "spec": {"asn": 64514, "tunnelEndpoint": {"cidrs": ["100.65.0.0/24"]},
                 "interfaces": [{"type": "NetworkDevice", "networkDevice": {"interfaceName": "eth1"}}],
                 "neighbors": [{"asn": 64512, "address": "192.168.11.2", "password": "s3cret-pw"}]}})
}

pub fn l3vni(name: &str, vrf: &str, vni: u32, cidr: &str, selector: Option<Value>) -> Value {
    let mut spec = json!({"vrf": vrf, "vni": vni, "underlayAddressFamily": "IPv4",
        "hostSession": {"asn": 64514, "hostASN": 64515, "localCIDR": {"ipv4": cidr}}});
    if let Some(s) = selector {
        spec["nodeSelector"] = s;
    }
    json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "L3VNI",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

pub fn router_pod(ready: bool) -> Value {
    let s = if ready { "True" } else { "False" };
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "router-abcde", "namespace": NS, "labels": {"app": "router"}},
        "spec": {"nodeName": NODE, "containers": [{"name": "frr", "image": "frr"}]},
        "status": {"conditions": [{"type": "Ready", "status": s}, {"type": "ContainersReady", "status": s}]}})
}

pub struct Harness {
    pub fake: Fake,
    pub reloads: Reloads,
    pub config: PathBuf,
    pub _dir: tempfile::TempDir,
    pub task: tokio::task::JoinHandle<()>,
    /// The controller's counters (what its /metrics serves).
    pub metrics: Arc<agent::Metrics>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the controller against `fake` without readiness gating.
pub fn start(fake: Fake) -> Harness {
    start_with(fake, GateConfig { taint: false, condition: false, grace: Duration::from_secs(30) })
}

/// Runs the controller against `fake` with readiness gating `gate`.
pub fn start_with(fake: Fake, gate: GateConfig) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("reload.sock");
    let config = dir.path().join("frr.conf");
    let reloads = reloader_stub(&socket, config.clone());
    let mut agent = agent::AgentConfig::new(Vec::new(), "perouter-test");
    agent.frr = agent::FrrMode::Reloader { socket, config_path: config.clone(), hostname: Some("test-host".into()) };
    agent.kernel = agent::KernelMode::Skip;
    let metrics = Arc::new(agent::Metrics::default());
    let cfg = ControllerConfig {
        node_name: NODE.into(),
        namespace: NS.into(),
        agent,
        debounce: Duration::from_millis(50),
        resync: Duration::from_secs(3600),
        sessions_every: Duration::from_millis(200),
        now: fixed_now,
        gate,
        metrics: metrics.clone(),
    };
    let client = fake.client();
    let task = tokio::spawn(async move {
        let ready = Arc::new(AtomicBool::new(false));
        run_controller(client, cfg, futures::future::pending(), ready).await.expect("controller");
    });
    Harness { fake, reloads, config, _dir: dir, task, metrics }
}

pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Lets the controller see (and debounce) whatever was just changed.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

pub fn status_of(fake: &Fake) -> Value {
    let st = fake.0.lock().expect("lock");
    st.objects["routernodeconfigurationstatuses"][&format!("{NS}/{NODE}")].clone()
}
