//! The deployment manifests: `kubectl kustomize` renders `config/default` and
//! `config/no-cert-manager`, and the rendered objects are checked for what a cluster needs and
//! for consistency with the code (CRDs, webhook paths, RBAC, flags, paths and ports).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use k8s::rbac::{self, Permission, Scope};
use serde_json::Value;
use support::*;

mod support;

const NAMESPACE: &str = "openperouter-system";
const IMAGE: &str = "localhost/openperouter:dev";
const SUBCOMMANDS: [&str; 4] = ["controller", "reloader", "webhook", "nodemarker"];

fn render(overlay: &str) -> Vec<Value> {
    let dir = repo().join("config").join(overlay);
    let out = Command::new("kubectl").arg("kustomize").arg(&dir).output().unwrap_or_else(|e| {
        panic!("running `kubectl kustomize {}`: {e}. Install kubectl (it embeds kustomize).", dir.display())
    });
    assert!(out.status.success(), "kubectl kustomize {overlay} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    parse_documents(&String::from_utf8(out.stdout).expect("utf-8 output"))
}

const CLUSTER_SCOPED: [&str; 5] =
    ["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"];

/// Decodes `v` as the typed Kubernetes object and encodes it back: a misspelt or misplaced
/// field is dropped on the way and shows up as a difference.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{}: {e}", id(v)));
    serde_json::to_value(typed).expect("encode")
}

/// Every object of a core kind has only fields the Kubernetes API knows (cert-manager objects
/// have no Rust types here and are checked field by field in the tests below).
fn check_schemas(objects: &[Value]) {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    for o in objects {
        let back = match s(o, "/kind") {
            "Namespace" => round_trip::<Namespace>(o),
            "ServiceAccount" => round_trip::<ServiceAccount>(o),
            "ConfigMap" => round_trip::<ConfigMap>(o),
            "Service" => round_trip::<Service>(o),
            "DaemonSet" => round_trip::<DaemonSet>(o),
            "Deployment" => round_trip::<Deployment>(o),
            "Role" => round_trip::<Role>(o),
            "ClusterRole" => round_trip::<ClusterRole>(o),
            "RoleBinding" => round_trip::<RoleBinding>(o),
            "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(o),
            "ValidatingWebhookConfiguration" => round_trip::<ValidatingWebhookConfiguration>(o),
            "CustomResourceDefinition" => round_trip::<CustomResourceDefinition>(o),
            "Certificate" | "Issuer" => continue,
            other => panic!("{}: unexpected kind {other}", id(o)),
        };
        assert_eq!(normalize(&back), normalize(o), "{} has fields the API does not know", id(o));
    }
}

fn check_common(objects: &[Value]) {
    check_schemas(objects);
    let mut seen = BTreeSet::new();
    for o in objects {
        assert!(!s(o, "/apiVersion").is_empty(), "object without apiVersion: {o}");
        assert!(!s(o, "/kind").is_empty(), "object without kind: {o}");
        assert!(!s(o, "/metadata/name").is_empty(), "object without name: {o}");
        assert!(seen.insert((id(o), s(o, "/metadata/namespace").to_string())), "{} rendered twice", id(o));
        if CLUSTER_SCOPED.contains(&s(o, "/kind")) {
            assert!(o.pointer("/metadata/namespace").is_none(), "{} is cluster-scoped but has a namespace", id(o));
        } else {
            assert_eq!(s(o, "/metadata/namespace"), NAMESPACE, "{}", id(o));
        }
    }
    assert_eq!(
        s(find(objects, "Namespace", NAMESPACE), "/metadata/labels/pod-security.kubernetes.io~1enforce"),
        "privileged"
    );

    // CRDs: exactly what `openperouter crds` prints.
    let rendered: BTreeMap<String, Value> = of_kind(objects, "CustomResourceDefinition")
        .map(|c| (s(c, "/metadata/name").to_string(), normalize(c)))
        .collect();
    let generated: BTreeMap<String, Value> = api::crds::all()
        .into_iter()
        .map(|c| {
            let v = serde_json::to_value(&c).expect("CRD to JSON");
            (s(&v, "/metadata/name").to_string(), normalize(&v))
        })
        .collect();
    assert_eq!(rendered.keys().collect::<Vec<_>>(), generated.keys().collect::<Vec<_>>());
    for (name, crd) in &generated {
        assert_eq!(&rendered[name], crd, "CRD {name} differs from `openperouter crds`");
    }

    // Workloads: one image, our binary with a known subcommand, $(VARS) defined, service
    // accounts exist, probe ports declared.
    let accounts: BTreeSet<&str> = of_kind(objects, "ServiceAccount").map(|a| s(a, "/metadata/name")).collect();
    for w in objects.iter().filter(|o| matches!(s(o, "/kind"), "DaemonSet" | "Deployment")) {
        let pod = w.pointer("/spec/template/spec").expect("pod spec");
        assert!(accounts.contains(s(pod, "/serviceAccountName")), "{}: unknown service account", id(w));
        let selector = w.pointer("/spec/selector/matchLabels").and_then(Value::as_object).expect("selector");
        for (k, v) in selector {
            assert_eq!(w.pointer(&format!("/spec/template/metadata/labels/{k}")), Some(v), "{}: selector", id(w));
        }
        for c in containers(w) {
            assert_eq!(s(c, "/image"), IMAGE, "{} {}: image", id(w), s(c, "/name"));
            let command: Vec<&str> =
                c.get("command").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            if command == ["/usr/bin/openperouter"] {
                let a = args(c);
                assert!(SUBCOMMANDS.contains(&a[0].as_str()), "{}: unknown subcommand {}", id(w), a[0]);
                for arg in &a[1..] {
                    assert!(
                        arg.starts_with("--") && arg.contains('='),
                        "{}: write flags as --name=value: {arg}",
                        id(w)
                    );
                }
                assert_eq!(flag(c, "log-level"), "info");
            } else {
                assert_eq!(
                    command.first().copied(),
                    Some("/bin/sh"),
                    "{} {}: unexpected command",
                    id(w),
                    s(c, "/name")
                );
            }
            let env: BTreeSet<&str> =
                c.get("env").and_then(Value::as_array).into_iter().flatten().map(|e| s(e, "/name")).collect();
            for a in args(c) {
                for var in a.split("$(").skip(1).filter_map(|r| r.split(')').next()) {
                    assert!(env.contains(var), "{} {}: $({var}) is not in env", id(w), s(c, "/name"));
                }
            }
        }
    }

    // Controller: host network, privileged, the netns directory shared back to the host.
    let controller_ds = find(objects, "DaemonSet", "controller");
    assert_eq!(controller_ds.pointer("/spec/template/spec/hostNetwork"), Some(&Value::Bool(true)));
    let controller = container(controller_ds, "controller");
    assert_eq!(args(controller)[0], "controller");
    assert_eq!(controller.pointer("/securityContext/privileged"), Some(&Value::Bool(true)));
    let netns =
        controller["volumeMounts"].as_array().expect("mounts").iter().find(|m| s(m, "/mountPath") == "/run/netns");
    assert_eq!(netns.map(|m| s(m, "/mountPropagation")), Some("Bidirectional"));
    assert_eq!(flag(controller, "node-name"), "$(NODE_NAME)");
    assert_eq!(flag(controller, "namespace"), "$(NAMESPACE)");

    // Router: FRR enters the persistent namespace the controller creates; the reloader
    // applies the very file the controller writes, on the socket the controller dials.
    let router_ds = find(objects, "DaemonSet", "router");
    assert_eq!(router_ds.pointer("/spec/template/spec/hostNetwork"), Some(&Value::Bool(true)));
    let frr = container(router_ds, "frr");
    assert!(args(frr)[0].contains("exec nsenter --net=/run/netns/perouter"), "frr must run in the perouter netns");
    assert_eq!(
        host_path(router_ds, frr, "/run/netns/perouter"),
        host_path(controller_ds, controller, "/run/netns/perouter")
    );
    let reloader = container(router_ds, "reloader");
    assert_eq!(args(reloader)[0], "reloader");
    assert_eq!(
        host_path(router_ds, reloader, &flag(reloader, "frr-config")),
        host_path(controller_ds, controller, &flag(controller, "frr-config"))
    );
    assert_eq!(
        host_path(router_ds, reloader, &flag(reloader, "socket")),
        host_path(controller_ds, controller, &flag(controller, "reloader-socket"))
    );
    let health = port_of(&flag(reloader, "health-address"));
    for c in [frr, reloader] {
        let ports = probe_ports(c);
        assert!(
            !ports.is_empty() && ports.iter().all(|p| *p == health),
            "{}: probes must use the reloader's health port",
            s(c, "/name")
        );
    }

    // Nodemarker pod: allocator and webhook.
    let nm = find(objects, "Deployment", "nodemarker");
    let marker = container(nm, "nodemarker");
    assert_eq!(args(marker)[0], "nodemarker");
    assert!(probe_ports(marker).iter().all(|p| *p == port_of(&flag(marker, "health-listen"))));
    let webhook = container(nm, "webhook");
    assert_eq!(args(webhook)[0], "webhook");
    let listen = port_of(&flag(webhook, "listen"));
    assert!(probe_ports(webhook).iter().all(|p| *p == listen));
    let webhook_port = webhook["ports"].as_array().expect("ports").iter().find(|p| s(p, "/name") == "webhook");
    assert_eq!(webhook_port.and_then(|p| p["containerPort"].as_u64()), Some(listen));
    // Certificate files on the mounted Secret.
    let mounts = webhook["volumeMounts"].as_array().expect("mounts");
    let volumes = nm.pointer("/spec/template/spec/volumes").and_then(Value::as_array).expect("volumes");
    let secret_name =
        volumes.iter().find_map(|v| v.pointer("/secret/secretName").and_then(Value::as_str)).expect("secret volume");
    for file in [flag(webhook, "cert"), flag(webhook, "key")] {
        let m = mounts.iter().find(|m| file.starts_with(s(m, "/mountPath"))).expect("certificate on a mount");
        let v = volumes.iter().find(|v| s(v, "/name") == s(m, "/name")).expect("volume");
        assert_eq!(s(v, "/secret/secretName"), secret_name, "{file} must come from the webhook Secret");
    }
    assert_eq!(secret_name, "openperouter-webhook-cert");

    // Service → webhook container.
    let svc = find(objects, "Service", "openperouter-webhook-service");
    for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(
            nm.pointer(&format!("/spec/template/metadata/labels/{k}")),
            Some(v),
            "service selects the nodemarker pod"
        );
    }
    assert_eq!(svc.pointer("/spec/ports/0/targetPort").and_then(Value::as_str), Some("webhook"));
    let svc_port = svc.pointer("/spec/ports/0/port").and_then(Value::as_u64).expect("port");

    // ValidatingWebhookConfiguration: one webhook per kind on the code's paths.
    let vwc = find(objects, "ValidatingWebhookConfiguration", "openperouter-validating-webhook-configuration");
    let hooks = vwc["webhooks"].as_array().expect("webhooks");
    assert_eq!(hooks.len(), k8s::admission::KINDS.len());
    for kind in k8s::admission::KINDS {
        let path = k8s::admission::path_for(kind);
        let hook = hooks
            .iter()
            .find(|h| s(h, "/clientConfig/service/path") == path)
            .unwrap_or_else(|| panic!("no webhook on {path}"));
        assert_eq!(s(hook, "/clientConfig/service/name"), "openperouter-webhook-service");
        assert_eq!(s(hook, "/clientConfig/service/namespace"), NAMESPACE);
        assert_eq!(hook.pointer("/clientConfig/service/port").and_then(Value::as_u64), Some(svc_port));
        assert_eq!(s(hook, "/failurePolicy"), "Fail");
        assert_eq!(s(hook, "/sideEffects"), "None");
        assert_eq!(hook["admissionReviewVersions"], serde_json::json!(["v1"]));
        assert_eq!(hook.pointer("/rules/0/operations"), Some(&serde_json::json!(["CREATE", "UPDATE"])));
        assert_eq!(hook.pointer("/rules/0/apiGroups"), Some(&serde_json::json!([api::GROUP])));
        let plural = format!("{}s", kind.as_str().to_ascii_lowercase());
        assert_eq!(hook.pointer("/rules/0/resources"), Some(&serde_json::json!([plural])), "{kind}");
    }

    check_rbac(objects, marker);
}

/// (group, resource, verb, scope) granted to a service account.
fn grants(objects: &[Value], account: &str) -> BTreeSet<(String, String, String, &'static str)> {
    let mut out = BTreeSet::new();
    for (binding_kind, role_kind, scope) in
        [("ClusterRoleBinding", "ClusterRole", "cluster"), ("RoleBinding", "Role", "namespace")]
    {
        for b in of_kind(objects, binding_kind) {
            let subjects = b["subjects"].as_array().expect("subjects");
            let bound = subjects.iter().any(|sub| {
                s(sub, "/kind") == "ServiceAccount" && s(sub, "/name") == account && s(sub, "/namespace") == NAMESPACE
            });
            if !bound {
                continue;
            }
            assert_eq!(s(b, "/roleRef/kind"), role_kind, "{} binds a {}", id(b), s(b, "/roleRef/kind"));
            let role = find(objects, role_kind, s(b, "/roleRef/name"));
            for rule in role["rules"].as_array().expect("rules") {
                let list = |k: &str| strings(rule, k);
                for g in list("apiGroups") {
                    for r in list("resources") {
                        for v in list("verbs") {
                            assert!(g != "*" && r != "*" && v != "*", "{}: no wildcards", id(role));
                            out.insert((g.clone(), r.clone(), v, scope));
                        }
                    }
                }
            }
        }
    }
    out
}

fn expected(perms: &[&[Permission]]) -> BTreeSet<(String, String, String, &'static str)> {
    perms
        .iter()
        .flat_map(|p| p.iter())
        .flat_map(|p| {
            let scope = if p.scope == Scope::Cluster { "cluster" } else { "namespace" };
            p.verbs.iter().map(move |v| (p.group.to_string(), p.resource.to_string(), v.to_string(), scope))
        })
        .collect()
}

fn check_rbac(objects: &[Value], marker: &Value) {
    // Exactly what the code uses: everything needed is granted, nothing more.
    for (account, perms) in [
        ("openperouter-controller", vec![rbac::CONTROLLER]),
        ("openperouter-nodemarker", vec![rbac::NODEMARKER, rbac::WEBHOOK]),
        ("openperouter-router", vec![]),
    ] {
        let granted = grants(objects, account);
        let wanted = expected(&perms);
        let missing: Vec<_> = wanted.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&wanted).collect();
        assert!(missing.is_empty(), "{account} lacks {missing:?}");
        assert!(extra.is_empty(), "{account} is granted more than it uses: {extra:?}");
    }
    let router_sa = find(objects, "ServiceAccount", "openperouter-router");
    assert_eq!(router_sa.get("automountServiceAccountToken"), Some(&Value::Bool(false)));
    // The Lease get/update rule is limited to the Lease the nodemarker uses.
    let role = find(objects, "Role", "openperouter-nodemarker");
    let lease_rule = role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["verbs"].as_array().is_some_and(|v| v.contains(&Value::from("update"))))
        .expect("lease update rule");
    assert_eq!(lease_rule["resourceNames"], serde_json::json!([flag(marker, "lease-name")]));
}

#[test]
fn default_renders_with_cert_manager() {
    let objects = render("default");
    check_common(&objects);
    let cert = find(&objects, "Certificate", "openperouter-webhook-cert");
    assert_eq!(s(cert, "/spec/secretName"), "openperouter-webhook-cert");
    let names: Vec<&str> =
        cert["spec"]["dnsNames"].as_array().expect("dnsNames").iter().filter_map(Value::as_str).collect();
    assert_eq!(
        names,
        [
            "openperouter-webhook-service.openperouter-system.svc",
            "openperouter-webhook-service.openperouter-system.svc.cluster.local"
        ]
    );
    let issuer = find(&objects, "Issuer", s(cert, "/spec/issuerRef/name"));
    assert!(issuer.pointer("/spec/selfSigned").is_some());
    let vwc = find(&objects, "ValidatingWebhookConfiguration", "openperouter-validating-webhook-configuration");
    assert_eq!(
        s(vwc, "/metadata/annotations/cert-manager.io~1inject-ca-from"),
        format!("{NAMESPACE}/openperouter-webhook-cert")
    );
}

#[test]
fn no_cert_manager_renders_without_it() {
    let objects = render("no-cert-manager");
    check_common(&objects);
    assert!(of_kind(&objects, "Certificate").next().is_none());
    assert!(of_kind(&objects, "Issuer").next().is_none());
    let vwc = find(&objects, "ValidatingWebhookConfiguration", "openperouter-validating-webhook-configuration");
    assert!(vwc.pointer("/metadata/annotations/cert-manager.io~1inject-ca-from").is_none());
}

#[test]
fn the_committed_crd_file_is_what_the_crd_kustomization_ships() {
    let kustomization = std::fs::read_to_string(repo().join("config/crd/kustomization.yaml")).expect("kustomization");
    assert!(kustomization.contains("- openperouter.yaml"));
    let committed = std::fs::read_to_string(repo().join("config/crd/openperouter.yaml")).expect("CRD file");
    assert_eq!(
        committed,
        api::crds::to_yaml().expect("render CRDs"),
        "run `openperouter crds > config/crd/openperouter.yaml`"
    );
}
