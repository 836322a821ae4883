//! The Helm chart (`charts/openperouter`), checked offline with real tools: `helm lint` and
//! `helm template` with the default values and every value set in `ci/`, each rendering
//! validated by `kubernetes-validate` against the schemas of our minimum and of the newest
//! Kubernetes, the rendering that installs what `config/default` installs compared with
//! kustomize's, and each value set traced into the objects it must change.
//!
//! Needs `helm` (or `$HELM`) and `kubernetes-validate` on the PATH: `scripts/deps test`
//! installs both.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

mod support;

/// The oldest Kubernetes we support (`kubeVersion` in Chart.yaml says the same).
const MIN_KUBERNETES: &str = "1.30.0";
const NAMESPACE: &str = "openperouter-system";
const DNS_NAME: &str = "openperouter-webhook-service.openperouter-system.svc";

fn chart() -> PathBuf {
    repo().join("charts/openperouter")
}

/// The value sets CI renders: the defaults, then each file of `ci/`.
fn value_sets() -> Vec<Option<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .expect("charts/openperouter/ci")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "at least three value sets besides the defaults: {files:?}");
    std::iter::once(None).chain(files.into_iter().map(Some)).collect()
}

fn label(values: &Option<PathBuf>) -> String {
    values.as_ref().map_or("default values".to_string(), |p| p.display().to_string())
}

/// Real helm with private cache, config and data folders.
struct Helm {
    bin: String,
    home: tempfile::TempDir,
}

impl Helm {
    fn new() -> Helm {
        let bin = std::env::var("HELM").unwrap_or_else(|_| "helm".to_string());
        let helm = Helm { bin, home: tempfile::tempdir().expect("temporary folder") };
        let (ok, out) = helm.run(&["version", "--short"]);
        assert!(ok, "`{} version` failed: {out}. Install helm (scripts/deps test does).", helm.bin);
        helm
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let h = self.home.path();
        let out = Command::new(&self.bin)
            .args(args)
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}. Install helm (scripts/deps test does).", self.bin));
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn lint(&self, values: &Option<PathBuf>, sets: &[&str]) -> (bool, String) {
        let chart = chart();
        let mut args = vec!["lint", "--strict", chart.to_str().expect("utf-8 path")];
        if let Some(v) = values {
            args.extend(["-f", v.to_str().expect("utf-8 path")]);
        }
        for s in sets {
            args.extend(["--set", s]);
        }
        self.run(&args)
    }

    /// `helm template` (release `opr` in openperouter-system, CRDs included) as YAML text.
    fn template_text(&self, values: &Option<PathBuf>) -> String {
        let chart = chart();
        let mut args = vec![
            "template",
            "opr",
            chart.to_str().expect("utf-8 path"),
            "--namespace",
            NAMESPACE,
            "--include-crds",
            "--kube-version",
            MIN_KUBERNETES,
        ];
        if let Some(v) = values {
            args.extend(["-f", v.to_str().expect("utf-8 path")]);
        }
        let (ok, out) = self.run(&args);
        assert!(ok, "helm template with {} failed:\n{out}", label(values));
        out
    }

    fn template(&self, values: &Option<PathBuf>) -> Vec<Value> {
        parse_documents(&self.template_text(values))
    }
}

fn ci(name: &str) -> Option<PathBuf> {
    let p = chart().join("ci").join(name);
    assert!(p.exists(), "{} is missing", p.display());
    Some(p)
}

#[test]
fn lint_passes_for_every_value_set_and_the_schema_rejects_mistakes() {
    let helm = Helm::new();
    for values in value_sets() {
        let (ok, out) = helm.lint(&values, &[]);
        assert!(ok, "helm lint with {} failed:\n{out}", label(&values));
    }
    // values.schema.json: a typo or a wrong value fails before anything renders.
    for (set, named) in [
        ("logLevl=debug", "logLevl"),
        ("bgpListenLimit=0", "bgpListenLimit"),
        ("controller.healthPort=70000", "healthPort"),
        ("webhook.certificate.source=vault", "source"),
        ("routerNetns=a/b", "routerNetns"),
        ("nodes.tolerations[0].operater=Exists", "operater"),
    ] {
        let (ok, out) = helm.lint(&None, &[set]);
        assert!(!ok, "helm lint accepted --set {set}:\n{out}");
        assert!(out.contains(named), "the error for --set {set} names {named}:\n{out}");
    }
    // A rule the schema cannot state: a certificate you provide needs its CA (helm lint only
    // reports a template's `fail` as information; installing and rendering stop on it).
    let chart = chart();
    let (ok, out) =
        helm.run(&["template", "opr", chart.to_str().expect("utf-8"), "--set", "webhook.certificate.source=secret"]);
    assert!(!ok && out.contains("needs webhook.certificate.caBundle"), "{out}");
}

/// `kubernetes-validate --strict` of one rendering against one Kubernetes version (`None`: the
/// newest it knows).
fn validate(file: &Path, version: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("kubernetes-validate");
    cmd.arg("--strict");
    if let Some(v) = version {
        cmd.args(["-k", v]);
    }
    let out = cmd.arg(file).output().unwrap_or_else(|e| {
        panic!(
            "running kubernetes-validate: {e}. Install it (scripts/deps test does: pip install kubernetes-validate)."
        )
    });
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn every_rendering_is_valid_for_the_oldest_and_the_newest_kubernetes() {
    let helm = Helm::new();
    let dir = tempfile::tempdir().expect("temporary folder");
    for (i, values) in value_sets().into_iter().enumerate() {
        let file = dir.path().join(format!("rendering-{i}.yaml"));
        std::fs::write(&file, helm.template_text(&values)).expect("write the rendering");
        for version in [Some(MIN_KUBERNETES), None] {
            let (ok, out) = validate(&file, version);
            assert!(ok, "{} against Kubernetes {}:\n{out}", label(&values), version.unwrap_or("newest"));
            let passed = out.lines().filter(|l| l.contains(" passed for resource ")).count();
            // Kinds of other projects (cert-manager, prometheus-operator) have no schema there.
            let foreign = ["cert-manager.io/", "monitoring.coreos.com/"];
            let objects = helm
                .template(&values)
                .iter()
                .filter(|o| !foreign.iter().any(|f| s(o, "/apiVersion").starts_with(f)))
                .count();
            assert_eq!(passed, objects, "every object validated, with {}:\n{out}", label(&values));
        }
    }
    // The validator is not a rubber stamp: a port given as a string is refused.
    let file = dir.path().join("broken.yaml");
    let text = helm.template_text(&None).replacen("containerPort: 9081", "containerPort: \"9081\"", 1);
    std::fs::write(&file, text).expect("write");
    assert!(!validate(&file, Some(MIN_KUBERNETES)).0, "a string port must not validate");
}

/// What the comparison with kustomize looks at: everything but the labels and annotations Helm
/// adds (cert-manager's annotation is kept), and the pull policy kustomize leaves to the default.
fn comparable(o: &Value) -> Value {
    let mut o = normalize(o);
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("labels");
        let kept: serde_json::Map<String, Value> = meta
            .remove("annotations")
            .and_then(|a| a.as_object().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k.starts_with("cert-manager.io/"))
            .collect();
        if !kept.is_empty() {
            meta.insert("annotations".into(), Value::Object(kept));
        }
    }
    if let Some(template) = o.pointer_mut("/spec/template") {
        let app = template.pointer("/metadata/labels/app").cloned().unwrap_or(Value::Null);
        template["metadata"] = serde_json::json!({ "labels": { "app": app } });
        for key in ["initContainers", "containers"] {
            for c in template.pointer_mut(&format!("/spec/{key}")).and_then(Value::as_array_mut).into_iter().flatten() {
                c.as_object_mut().expect("container").remove("imagePullPolicy");
            }
        }
    }
    o
}

#[test]
fn the_chart_installs_what_config_default_installs() {
    let helm = Helm::new();
    let chart_objects = helm.template(&ci("cert-manager-values.yaml"));
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo().join("config/default"))
        .output()
        .unwrap_or_else(|e| panic!("running `kubectl kustomize`: {e}. Install kubectl (it embeds kustomize)."));
    assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
    let kustomized = parse_documents(&String::from_utf8(out.stdout).expect("utf-8"));

    // The same objects, but the Namespace: Helm installs into a namespace it is given.
    let ids = |objects: &[Value]| -> BTreeSet<String> { objects.iter().map(id).collect() };
    let mut expected = ids(&kustomized);
    assert!(expected.remove(&format!("Namespace/{NAMESPACE}")));
    assert_eq!(ids(&chart_objects), expected, "the chart and config/default install different objects");

    for k in kustomized.iter().filter(|o| s(o, "/kind") != "Namespace") {
        let c = find(&chart_objects, s(k, "/kind"), s(k, "/metadata/name"));
        let (want, got) = (comparable(k), comparable(c));
        assert!(
            want == got,
            "{} differs between config/default and the chart:\nkustomize: {}\nchart:     {}",
            id(k),
            serde_json::to_string_pretty(&want).unwrap_or_default(),
            serde_json::to_string_pretty(&got).unwrap_or_default()
        );
    }
}

/// The Secret's `key`, decoded.
fn secret_data(secret: &Value, key: &str) -> Vec<u8> {
    let b64 = secret["data"].get(key).cloned().unwrap_or_else(|| panic!("Secret has no {key}"));
    let bytes: k8s_openapi::ByteString = serde_json::from_value(b64).expect("base64");
    bytes.0
}

fn ca_bundles(objects: &[Value]) -> BTreeSet<Vec<u8>> {
    let vwc = find(objects, "ValidatingWebhookConfiguration", "openperouter-validating-webhook-configuration");
    vwc["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|h| {
            let b64 = h.pointer("/clientConfig/caBundle").cloned().expect("caBundle");
            serde_json::from_value::<k8s_openapi::ByteString>(b64).expect("base64").0
        })
        .collect()
}

#[test]
fn by_default_the_chart_makes_a_webhook_certificate_the_api_server_trusts() {
    let helm = Helm::new();
    let objects = helm.template(&None);
    assert!(of_kind(&objects, "Certificate").next().is_none(), "no cert-manager objects by default");
    let secret = find(&objects, "Secret", "openperouter-webhook-cert");
    assert_eq!(s(secret, "/type"), "kubernetes.io/tls");
    let ca = secret_data(secret, "ca.crt");
    assert_eq!(ca_bundles(&objects), BTreeSet::from([ca.clone()]), "every webhook trusts the Secret's CA");
    let vwc = find(&objects, "ValidatingWebhookConfiguration", "openperouter-validating-webhook-configuration");
    assert!(vwc.pointer("/metadata/annotations").is_none(), "no CA injection without cert-manager");

    // openssl agrees: the serving certificate chains to that CA and names the Service.
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join("ca.crt"), &ca).expect("write");
    std::fs::write(dir.path().join("tls.crt"), secret_data(secret, "tls.crt")).expect("write");
    for host in [DNS_NAME.to_string(), format!("{DNS_NAME}.cluster.local")] {
        let out = Command::new("openssl")
            .args(["verify", "-CAfile", "ca.crt", "-verify_hostname", &host, "-purpose", "sslserver", "tls.crt"])
            .current_dir(dir.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "{host}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new("openssl")
        .args(["verify", "-CAfile", "ca.crt", "-verify_hostname", "elsewhere.example.com", "tls.crt"])
        .current_dir(dir.path())
        .output()
        .expect("run openssl");
    assert!(!out.status.success(), "the certificate must not be valid for another name");
    let key = String::from_utf8(secret_data(secret, "tls.key")).expect("PEM");
    assert!(key.contains("PRIVATE KEY"), "tls.key is a private key");
}

#[test]
fn a_provided_certificate_and_other_ports_reach_every_object_that_uses_them() {
    let helm = Helm::new();
    let values = ci("secret-values.yaml");
    let objects = helm.template(&values);
    let text = std::fs::read_to_string(values.as_ref().expect("file")).expect("read values");
    let parsed: Value = serde_saphyr::from_str(&text).expect("values parse");
    let ca = s(&parsed, "/webhook/certificate/caBundle").as_bytes().to_vec();
    assert!(of_kind(&objects, "Secret").next().is_none(), "the Secret is the user's");
    assert_eq!(ca_bundles(&objects), BTreeSet::from([ca]));
    let vwc = find(&objects, "ValidatingWebhookConfiguration", "openperouter-validating-webhook-configuration");
    for h in vwc["webhooks"].as_array().expect("webhooks") {
        assert_eq!(s(h, "/failurePolicy"), "Ignore");
        assert_eq!(h["timeoutSeconds"].as_u64(), Some(5));
    }

    let nm = find(&objects, "Deployment", "nodemarker");
    assert_eq!(nm.pointer("/spec/replicas").and_then(Value::as_u64), Some(2));
    assert_eq!(
        nm.pointer("/spec/template/spec/volumes/0/secret/secretName").and_then(Value::as_str),
        Some("my-webhook-tls")
    );
    let webhook = container(nm, "webhook");
    assert_eq!(port_of(&flag(webhook, "listen")), 10443);
    assert_eq!(probe_ports(webhook), vec![10443, 10443]);
    assert_eq!(webhook.pointer("/ports/0/containerPort").and_then(Value::as_u64), Some(10443));
    let marker = container(nm, "nodemarker");
    assert_eq!(port_of(&flag(marker, "health-listen")), 18081);
    assert_eq!(probe_ports(marker), vec![18081, 18081]);

    let controller = container(find(&objects, "DaemonSet", "controller"), "controller");
    assert_eq!(port_of(&flag(controller, "health-listen")), 19081);
    assert_eq!(probe_ports(controller), vec![19081, 19081]);
    assert_eq!(s(controller, "/resources/limits/memory"), "256Mi");
    let router = find(&objects, "DaemonSet", "router");
    let reloader = container(router, "reloader");
    assert_eq!(port_of(&flag(reloader, "health-address")), 19080);
    for c in [reloader, container(router, "frr")] {
        assert!(probe_ports(c).iter().all(|p| *p == 19080), "{}: probes on the reloader's port", s(c, "/name"));
    }
    assert_eq!(s(container(router, "frr"), "/resources/limits/memory"), "512Mi");
}

#[test]
fn placement_images_paths_and_accounts_reach_both_node_workloads_and_the_webhooks_can_be_off() {
    let helm = Helm::new();
    let objects = helm.template(&ci("placement-values.yaml"));
    for kind in ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Secret", "Service"] {
        assert!(of_kind(&objects, kind).next().is_none(), "{kind} must not be rendered");
    }
    assert!(of_kind(&objects, "ValidatingWebhookConfiguration").next().is_none());

    let controller_ds = find(&objects, "DaemonSet", "controller");
    let router_ds = find(&objects, "DaemonSet", "router");
    let nm = find(&objects, "Deployment", "nodemarker");
    // The per-node pair shares one placement.
    for key in ["nodeSelector", "tolerations", "affinity"] {
        let a = controller_ds.pointer(&format!("/spec/template/spec/{key}"));
        assert!(a.is_some(), "controller has no {key}");
        assert_eq!(a, router_ds.pointer(&format!("/spec/template/spec/{key}")), "{key} differs");
    }
    assert_eq!(
        s(controller_ds, "/spec/template/spec/nodeSelector/node-role.example.com~1edge"),
        "true",
        "the nodeSelector of the values"
    );
    assert!(controller_ds.pointer("/spec/template/spec/priorityClassName").is_none());
    assert_eq!(s(controller_ds, "/spec/updateStrategy/rollingUpdate/maxUnavailable"), "25%");
    assert!(s(nm, "/spec/template/spec/nodeSelector/node-role.kubernetes.io~1control-plane").is_empty());
    assert!(nm.pointer("/spec/template/spec/nodeSelector/node-role.kubernetes.io~1control-plane").is_some());

    // Accounts, pull secrets, annotations and labels on every pod.
    for (w, account) in [(controller_ds, "edge-controller"), (router_ds, "edge-router"), (nm, "edge-nodemarker")] {
        let pod = w.pointer("/spec/template").expect("template");
        assert_eq!(s(pod, "/spec/serviceAccountName"), account);
        assert_eq!(s(pod, "/spec/imagePullSecrets/0/name"), "regcred");
        assert_eq!(s(pod, "/metadata/annotations/example.com~1team"), "network");
        assert_eq!(s(pod, "/metadata/labels/example.com~1tier"), "infra");
        for c in containers(w) {
            assert_eq!(s(c, "/imagePullPolicy"), "Always");
            let image = s(c, "/image");
            if matches!(s(c, "/name"), "frr" | "cp-frr-files") {
                assert_eq!(image, "registry.example.com/net/frr-debian:10.3");
            } else {
                assert_eq!(image, "registry.example.com/net/openperouter:v0.1.0");
                assert_eq!(flag(c, "log-level"), "debug");
            }
        }
    }
    // No webhook container without the webhooks, and no certificate volume.
    assert!(containers(nm).iter().all(|c| s(c, "/name") != "webhook"));
    assert!(nm.pointer("/spec/template/spec/volumes").is_none());

    // The router namespace and the host paths: FRR enters the namespace the controller makes,
    // and both sides share one frr.conf on the host.
    let controller = container(controller_ds, "controller");
    assert_eq!(flag(controller, "router-netns"), "edge");
    assert_eq!(flag(controller, "bgp-listen-limit"), "1000");
    let frr = container(router_ds, "frr");
    assert!(args(frr)[0].contains("exec nsenter --net=/run/netns/edge "), "{}", args(frr)[0]);
    assert_eq!(host_path(router_ds, frr, "/run/netns/edge"), "/var/run/netns/edge");
    assert_eq!(host_path(controller_ds, controller, "/run/netns/edge"), "/var/run/netns/edge");
    // Open vSwitch's database socket, where --ovs-socket looks for it by default.
    assert_eq!(host_path(controller_ds, controller, "/var/run/openvswitch/db.sock"), "/run/openvswitch/db.sock");
    let reloader = container(router_ds, "reloader");
    assert_eq!(
        host_path(router_ds, reloader, &flag(reloader, "frr-config")),
        host_path(controller_ds, controller, &flag(controller, "frr-config"))
    );
    assert_eq!(
        host_path(controller_ds, controller, &flag(controller, "frr-config")),
        "/var/lib/openperouter/frr/frr.conf"
    );
}

#[test]
fn the_chart_follows_the_product_version_and_ships_the_generated_crds() {
    let text = std::fs::read_to_string(chart().join("Chart.yaml")).expect("Chart.yaml");
    let meta: Value = serde_saphyr::from_str(&text).expect("Chart.yaml parses");
    assert_eq!(s(&meta, "/version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(s(&meta, "/appVersion"), env!("CARGO_PKG_VERSION"));
    assert_eq!(s(&meta, "/kubeVersion"), format!(">={MIN_KUBERNETES}-0"));
    let shipped = std::fs::read_to_string(chart().join("crds/openperouter.yaml")).expect("chart CRDs");
    let generated = std::fs::read_to_string(repo().join("config/crd/openperouter.yaml")).expect("config CRDs");
    assert!(
        shipped == generated,
        "charts/openperouter/crds/openperouter.yaml differs from config/crd/openperouter.yaml: copy it again after `openperouter crds`"
    );
}

/// Whether a ClusterRole's rules grant `verb` on `group`/`resource`.
fn grants(role: &Value, group: &str, resource: &str, verb: &str) -> bool {
    let has = |rule: &Value, key: &str, want: &str| {
        rule[key].as_array().is_some_and(|a| a.iter().any(|v| v.as_str() == Some(want) || v.as_str() == Some("*")))
    };
    role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| has(r, "apiGroups", group) && has(r, "resources", resource) && has(r, "verbs", verb))
}

#[test]
fn readiness_gating_and_metrics_add_their_flags_objects_and_exactly_their_permissions() {
    let helm = Helm::new();
    let gated = helm.template(&ci("readiness-values.yaml"));
    let plain = helm.template(&None);
    let controller = container(find(&gated, "DaemonSet", "controller"), "controller");
    let a = args(controller);
    assert!(a.contains(&"--readiness-taint".to_string()) && a.contains(&"--readiness-condition".to_string()), "{a:?}");
    assert_eq!(flag(controller, "readiness-grace"), "2m");
    let plain_args = args(container(find(&plain, "DaemonSet", "controller"), "controller"));
    assert!(plain_args.iter().all(|a| !a.starts_with("--readiness")), "gating is off by default: {plain_args:?}");

    let role = find(&gated, "ClusterRole", "openperouter-controller");
    let plain_role = find(&plain, "ClusterRole", "openperouter-controller");
    for p in k8s::rbac::CONTROLLER_READINESS_GATING {
        for verb in p.verbs {
            assert!(grants(role, p.group, p.resource, verb), "gating needs {verb} on {}", p.resource);
            assert!(!grants(plain_role, p.group, p.resource, verb), "without gating, no {verb} on {}", p.resource);
        }
    }
    // Metrics: scrape annotations next to the user's, and a ServiceMonitor over a headless Service
    // that selects the controller pods on their health port.
    let controller_ds = find(&gated, "DaemonSet", "controller");
    let annotations = controller_ds.pointer("/spec/template/metadata/annotations").expect("annotations");
    assert_eq!(s(annotations, "/prometheus.io~1scrape"), "true");
    assert_eq!(
        s(annotations, "/prometheus.io~1port"),
        flag(controller, "health-listen").rsplit(':').next().unwrap_or("")
    );
    assert_eq!(s(annotations, "/example.com~1team"), "network");
    assert!(find(&plain, "DaemonSet", "controller").pointer("/spec/template/metadata/annotations").is_none());
    let svc = find(&gated, "Service", "openperouter-controller-metrics");
    assert_eq!(s(svc, "/spec/clusterIP"), "None");
    for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(controller_ds["spec"]["template"]["metadata"]["labels"].get(k), Some(v));
    }
    assert_eq!(s(svc, "/spec/ports/0/targetPort"), s(controller, "/ports/0/name"));
    let monitor = find(&gated, "ServiceMonitor", "openperouter-controller");
    for (k, v) in monitor.pointer("/spec/selector/matchLabels").and_then(Value::as_object).expect("selector") {
        assert_eq!(svc["metadata"]["labels"].get(k), Some(v), "the monitor selects the Service");
    }
    assert_eq!(s(monitor, "/spec/endpoints/0/port"), s(svc, "/spec/ports/0/name"));
    assert_eq!(s(monitor, "/spec/endpoints/0/interval"), "15s");
    assert_eq!(s(monitor, "/metadata/labels/release"), "prometheus");
    assert!(of_kind(&plain, "ServiceMonitor").next().is_none());

    // Beyond those rules the role is the same.
    let mut rules = role["rules"].as_array().expect("rules").clone();
    rules.retain(|r| !r["resources"].as_array().is_some_and(|a| a.iter().any(|v| v == "nodes/status")));
    assert_eq!(Value::Array(rules), plain_role["rules"]);
}
