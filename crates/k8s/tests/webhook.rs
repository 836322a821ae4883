//! The admission webhooks against real `AdmissionReview` v1 requests (tests/fixtures/reviews)
//! and an existing cluster (tests/fixtures/cluster.yaml plus the nodes below).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use api::ResourceKind;
use k8s::admission::{self, MalformedRequest, RAW_FRR_CONFIG_WARNING, WebhookConfig};
use k8s::state::{ClusterState, NodeInfo};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionResponse, AdmissionReview};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn node(name: &str, rack: &str, index: Option<&str>, created: i64) -> NodeInfo {
    NodeInfo {
        name: name.to_string(),
        labels: BTreeMap::from([
            ("rack".to_string(), rack.to_string()),
            ("kubernetes.io/hostname".to_string(), name.to_string()),
        ]),
        index_annotation: index.map(str::to_string),
        created: Some(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + created).expect("timestamp")),
        resource_version: Some("1".to_string()),
    }
}

fn nodes() -> Vec<NodeInfo> {
    vec![node("worker-a", "a", Some("0"), 1), node("worker-b", "b", Some("1"), 2), node("worker-c", "b", None, 3)]
}

fn cluster() -> ClusterState {
    let path = fixtures().join("cluster.yaml");
    let text = std::fs::read_to_string(&path).expect("cluster fixture");
    let mut loaded = api::load::Loaded::default();
    api::load::load_str(&text, &path, &mut loaded).expect("cluster fixture loads");
    assert!(loaded.rejected.is_empty(), "fixture objects must be valid: {:?}", loaded.rejected);
    ClusterState { objects: loaded.objects(), nodes: nodes() }
}

fn load_review(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("reviews").join(format!("{name}.json"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn kind_of(name: &str) -> ResourceKind {
    let prefix = name.split('-').next().unwrap_or_default();
    admission::KINDS
        .into_iter()
        .find(|k| k.as_str().to_ascii_lowercase() == prefix)
        .expect("fixture name starts with its kind")
}

/// Runs a fixture through the byte-level entry point (what the server does).
fn run(name: &str, state: &ClusterState) -> AdmissionResponse {
    let body = load_review(name);
    let out = admission::review_body(&body, Some(kind_of(name)), state, &WebhookConfig::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(&out).expect("response parses");
    assert_eq!(review.types.api_version, "admission.k8s.io/v1");
    assert_eq!(review.types.kind, "AdmissionReview");
    let response = review.response.expect("response present");
    let request: serde_json::Value = serde_json::from_slice(&body).expect("fixture json");
    assert_eq!(response.uid, request["request"]["uid"].as_str().expect("uid"), "{name}: uid echoed");
    response
}

struct Case {
    fixture: &'static str,
    allowed: bool,
    /// Fragments the denial message (or, when allowed, the joined warnings) must contain.
    contains: &'static [&'static str],
}

const CASES: &[Case] = &[
    // L3VPN (SRv6)
    Case {
        fixture: "l3vpn-create-without-import-rts-denied",
        allowed: false,
        contains: &["L3VPN openperouter-system/vpn-red is rejected", "at least one explicit import Route Target"],
    },
    Case { fixture: "l3vpn-create-for-no-node-allowed", allowed: true, contains: &[] },
    // Underlay
    Case { fixture: "underlay-update-neighbor-asn-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "underlay-create-second-denied",
        allowed: false,
        contains: &[
            "Underlay openperouter-system/underlay-2 is rejected",
            r#"on nodes "worker-a", "worker-b", "worker-c": can't have more than one underlay per node (the node is selected by several)"#,
        ],
    },
    Case { fixture: "underlay-create-second-for-unselected-nodes-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "underlay-update-interface-type-denied",
        allowed: false,
        contains: &[r#"the type of interface "eth1" is immutable (NetworkDevice → CNIDevice)"#],
    },
    Case {
        fixture: "underlay-update-cni-rawconfig-denied",
        allowed: false,
        contains: &[r#"cniDevice.rawConfig of interface "net1" is immutable"#],
    },
    Case {
        fixture: "underlay-update-cni-runtimeconfig-added-denied",
        allowed: false,
        contains: &[r#"cniDevice.runtimeConfig of interface "net1" is immutable"#],
    },
    Case {
        fixture: "underlay-update-ipv6-only-vtep-breaks-l3vni-denied",
        allowed: false,
        contains: &[
            "it would break L3VNI/red",
            "underlayAddressFamily is IPv4 but Underlay/underlay has no IPv4 tunnel endpoint CIDR",
            r#"on nodes "worker-a", "worker-b", "worker-c""#,
        ],
    },
    Case { fixture: "underlay-create-asn-zero-denied", allowed: false, contains: &["spec.asn: must be at least 1"] },
    Case {
        fixture: "underlay-update-password-with-space-denied",
        allowed: false,
        contains: &["spec.neighbors[0].password: invalid value (not shown: it is a password)"],
    },
    Case {
        fixture: "underlay-update-duplicate-neighbor-with-password-denied",
        allowed: false,
        contains: &["duplicate neighbor address 192.168.11.2"],
    },
    Case { fixture: "underlay-delete-allowed", allowed: true, contains: &[] },
    // L3VNI
    Case { fixture: "l3vni-create-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "l3vni-create-duplicate-vni-denied",
        allowed: false,
        // Planning goes by name: "green" would take VNI 100 and "red" would be dropped.
        contains: &[
            "it would break L3VNI/red: duplicate vni 100: already used by L3VNI/green",
            r#"on nodes "worker-a", "worker-b", "worker-c""#,
        ],
    },
    Case {
        fixture: "l3vni-create-same-vrf-breaks-existing-denied",
        allowed: false,
        contains: &["it would break L3VNI/red", r#"more than one L3VNI detected in VRF "red""#],
    },
    Case { fixture: "l3vni-update-localcidr-denied", allowed: false, contains: &["LocalCIDR can't be changed"] },
    Case { fixture: "l3vni-update-host-asn-allowed", allowed: true, contains: &[] },
    // #223: the same CIDR on nodes that never meet.
    Case { fixture: "l3vni-create-cidr-overlap-other-nodes-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "l3vni-create-cidr-overlap-same-node-denied",
        allowed: false,
        contains: &[
            r#"on node "worker-a""#,
            "host session localCIDR 192.169.20.0/24 overlaps with 192.169.20.0/24 of L3VNI/blue-rack-a",
        ],
    },
    Case {
        fixture: "l3vni-create-same-name-other-namespace-denied",
        allowed: false,
        contains: &["L3VNI openperouter-system/red has the same name", "names must be unique per kind"],
    },
    Case { fixture: "l3vni-create-bad-route-target-denied", allowed: false, contains: &["invalid route targets"] },
    Case { fixture: "l3vni-create-without-host-session-allowed", allowed: true, contains: &[] },
    // L2VNI
    // #222: several L2VNIs in one VRF.
    Case { fixture: "l2vni-create-second-in-vrf-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "l2vni-create-missing-l3vni-allowed",
        allowed: true,
        contains: &["not applied on nodes", "DependencyFailed: routing domain L3VNI/purple does not exist"],
    },
    Case {
        fixture: "l2vni-update-gatewayips-changed-denied",
        allowed: false,
        contains: &["GatewayIPs cannot be changed"],
    },
    Case {
        fixture: "l2vni-update-gatewayips-removed-denied",
        allowed: false,
        contains: &[r#"gatewayIPs are immutable (["192.170.1.1/24"] → [])"#],
    },
    Case { fixture: "l2vni-update-host-master-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "l2vni-create-gateway-overlap-in-vrf-denied",
        allowed: false,
        contains: &[r#"subnet overlap in VRF "red""#, "L2VNI/red-l2-1"],
    },
    Case { fixture: "l2vni-create-gateway-overlap-other-vrf-allowed", allowed: true, contains: &[] },
    Case { fixture: "l2vni-create-vni-used-by-l3vni-denied", allowed: false, contains: &["duplicate vni 100"] },
    Case {
        fixture: "l2vni-create-gateway-without-routing-domain-denied",
        allowed: false,
        contains: &["gatewayIPs cannot be set without routingDomain"],
    },
    // L3Passthrough
    Case { fixture: "l3passthrough-create-other-nodes-allowed", allowed: true, contains: &[] },
    Case {
        fixture: "l3passthrough-create-all-nodes-denied",
        allowed: false,
        contains: &[r#"on node "worker-a""#, "can't have more than one l3passthrough per node"],
    },
    Case {
        fixture: "l3passthrough-create-overlaps-l3vni-denied",
        allowed: false,
        contains: &["overlaps with 192.169.10.0/24 of L3VNI/red", r#"on nodes "worker-b", "worker-c""#],
    },
    Case {
        fixture: "l3passthrough-update-localcidr-denied",
        allowed: false,
        contains: &["LocalCIDR can't be changed"],
    },
    // RawFRRConfig
    Case {
        fixture: "rawfrrconfig-create-operator-namespace-allowed",
        allowed: true,
        contains: &[RAW_FRR_CONFIG_WARNING],
    },
    Case {
        fixture: "rawfrrconfig-create-other-namespace-denied",
        allowed: false,
        contains: &[r#"must be created in the operator namespace "openperouter-system", not "default""#],
    },
    Case { fixture: "rawfrrconfig-delete-allowed", allowed: true, contains: &[] },
];

#[test]
fn every_fixture_has_a_case_and_every_kind_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures().join("reviews"))
        .expect("fixture dir")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(str::to_string))
        .collect();
    files.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.fixture.to_string()).collect();
    cases.sort();
    assert_eq!(files, cases);
    for kind in admission::KINDS {
        let prefix = kind.as_str().to_ascii_lowercase();
        for allowed in [true, false] {
            assert!(
                CASES.iter().any(|c| c.allowed == allowed && c.fixture.starts_with(&format!("{prefix}-"))),
                "{kind}: needs an {} case",
                if allowed { "accept" } else { "deny" }
            );
        }
    }
}

#[test]
fn the_fixture_cluster_is_valid_on_every_node() {
    let state = cluster();
    let resources = state.resources(admission::DEFAULT_NAMESPACE);
    let nodes = state.plan_nodes();
    assert_eq!(
        nodes.iter().map(|n| (n.name.as_str(), n.index)).collect::<Vec<_>>(),
        [("worker-a", 0), ("worker-b", 1), ("worker-c", 2)],
        "worker-c is planned with the index the allocator will give it"
    );
    for node in &nodes {
        let plan = plan::plan_node(&resources, node, &plan::Options::default());
        assert!(plan.failed_resources.is_empty(), "{}: {:?}", node.name, plan.failed_resources);
    }
}

#[test]
fn fixtures_get_the_expected_answer() {
    let state = cluster();
    let mut failures = Vec::new();
    for case in CASES {
        let r = run(case.fixture, &state);
        let warnings = r.warnings.clone().unwrap_or_default().join(" | ");
        let text = if case.allowed { warnings.clone() } else { r.result.message.clone() };
        if r.allowed != case.allowed {
            failures.push(format!(
                "{}: allowed={} (message: {}; warnings: {warnings})",
                case.fixture, r.allowed, r.result.message
            ));
            continue;
        }
        if !case.allowed && r.result.code != 403 {
            failures.push(format!("{}: code {} instead of 403", case.fixture, r.result.code));
        }
        for fragment in case.contains {
            if !text.contains(fragment) {
                failures.push(format!("{}: {text:?} lacks {fragment:?}", case.fixture));
            }
        }
        // RawFRRConfig warning on every allowed RawFRRConfig write, and only there.
        let is_raw_write = case.fixture.starts_with("rawfrrconfig-") && !case.fixture.contains("delete");
        if case.allowed && is_raw_write != warnings.contains(RAW_FRR_CONFIG_WARNING) {
            failures.push(format!("{}: RawFRRConfig warning presence wrong: {warnings:?}", case.fixture));
        }
        // Accepted cases without expected warnings have none.
        if case.allowed && case.contains.is_empty() && r.warnings.is_some() {
            failures.push(format!("{}: unexpected warnings {warnings:?}", case.fixture));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn passwords_never_appear_in_responses() {
    let state = cluster();
    for (fixture, secret) in [
        ("underlay-update-password-with-space-denied", "hunter2 secret"),
        ("underlay-update-duplicate-neighbor-with-password-denied", "Sup3rSecretPw"),
    ] {
        let body = admission::review_body(
            &load_review(fixture),
            Some(ResourceKind::Underlay),
            &state,
            &WebhookConfig::default(),
        )
        .expect("reviewed");
        let text = String::from_utf8(body).expect("utf8");
        assert!(!text.contains(secret), "{fixture}: password leaked: {text}");
        assert!(!text.contains("hunter2"), "{fixture}: password leaked: {text}");
    }
}

#[test]
fn wrong_endpoint_for_the_kind_is_a_400_denial() {
    let body = load_review("l3vni-create-allowed");
    let out = admission::review_body(&body, Some(ResourceKind::Underlay), &cluster(), &WebhookConfig::default())
        .expect("well-formed envelope");
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(&out).expect("json");
    let r = review.response.expect("response");
    assert!(!r.allowed);
    assert_eq!(r.result.code, 400);
    assert!(
        r.result.message.contains("this endpoint validates Underlay, but the request is for L3VNI"),
        "{}",
        r.result.message
    );
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    let state = cluster();
    let config = WebhookConfig::default();
    let cases: [(&[u8], &str); 6] = [
        (b"", "not an AdmissionReview"),
        (b"{not json", "not an AdmissionReview"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "has no request"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
            "not an AdmissionReview",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
            "expected apiVersion admission.k8s.io/v1",
        ),
        (br#"[1,2,3]"#, "not an AdmissionReview"),
    ];
    for (body, expected) in cases {
        let err = admission::review_body(body, None, &state, &config).expect_err("malformed");
        assert!(err.to_string().contains(expected), "{:?}: {err}", String::from_utf8_lossy(body));
    }
    // A well-formed envelope whose request has no uid.
    let mut v: serde_json::Value = serde_json::from_slice(&load_review("l3vni-create-allowed")).expect("json");
    v["request"]["uid"] = "".into();
    let err =
        admission::review_body(&serde_json::to_vec(&v).expect("json"), None, &state, &config).expect_err("no uid");
    assert!(matches!(err, MalformedRequest::NoUid), "{err}");
}

#[test]
fn undecodable_objects_and_missing_old_objects_are_400_denials() {
    let state = cluster();
    let config = WebhookConfig::default();
    let deny_400 = |v: serde_json::Value, expected: &str| {
        let out =
            admission::review_body(&serde_json::to_vec(&v).expect("json"), None, &state, &config).expect("envelope ok");
        let review: AdmissionReview<DynamicObject> = serde_json::from_slice(&out).expect("json");
        let r = review.response.expect("response");
        assert!(!r.allowed, "{expected}");
        assert_eq!(r.result.code, 400, "{expected}: {}", r.result.message);
        assert!(r.result.message.contains(expected), "{}", r.result.message);
    };
    let base: serde_json::Value = serde_json::from_slice(&load_review("l3vni-update-host-asn-allowed")).expect("json");
    let mut v = base.clone();
    v["request"]["oldObject"] = serde_json::Value::Null;
    deny_400(v, "UPDATE request for L3VNI without the old object");
    let mut v = base.clone();
    v["request"]["object"] = serde_json::Value::Null;
    deny_400(v, "UPDATE request for L3VNI without an object");
    let mut v = base.clone();
    v["request"]["object"].as_object_mut().expect("object").remove("spec");
    deny_400(v, "L3VNI openperouter-system/red has no spec");
    let mut v = base;
    v["request"]["kind"]["kind"] = "L3VNX".into();
    deny_400(v, "not network.openperouter.io/v1alpha1 L3VNX");
}

#[test]
fn status_subresource_writes_are_allowed() {
    let mut v: serde_json::Value = serde_json::from_slice(&load_review("l3vni-update-localcidr-denied")).expect("json");
    v["request"]["subResource"] = "status".into();
    let out =
        admission::review_body(&serde_json::to_vec(&v).expect("json"), None, &cluster(), &WebhookConfig::default())
            .expect("ok");
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(&out).expect("json");
    assert!(review.response.expect("response").allowed);
}

#[test]
fn without_nodes_rules_run_for_a_hypothetical_unlabelled_node() {
    let mut state = cluster();
    state.nodes.clear();
    // Applies to every node: checked, and the message says no Node exists.
    let r = run("l3vni-create-duplicate-vni-denied", &state);
    assert!(!r.allowed);
    assert!(
        r.result.message.contains("on a hypothetical node without labels (no Node exists yet)"),
        "{}",
        r.result.message
    );
    // Needs labels no hypothetical node has: not checked against anything.
    let r = run("l3vni-create-cidr-overlap-same-node-denied", &state);
    assert!(r.allowed, "{}", r.result.message);
    // Single-object rules still run.
    let r = run("l3vni-update-localcidr-denied", &state);
    assert!(!r.allowed);
}

#[test]
fn an_update_that_leaves_an_existing_failure_as_it_was_is_allowed_with_a_warning() {
    let mut state = cluster();
    // An L3VNI that already conflicts (created while the webhook was down, say): zz-dup sorts
    // after red, so it is the one failing.
    let mut dup = state.objects.l3vnis[0].clone();
    dup.metadata.name = Some("zz-dup".into());
    dup.spec.vrf = "dup".into();
    dup.spec.host_session = None;
    state.objects.l3vnis.push(dup.clone());
    let mut updated = dup.clone();
    updated.metadata.labels = Some(BTreeMap::from([("team".to_string(), "x".to_string())]));
    let review = |new: &api::L3VNI, old: &api::L3VNI| {
        serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1", "kind": {"group": api::GROUP, "version": api::VERSION, "kind": "L3VNI"},
                "resource": {"group": api::GROUP, "version": api::VERSION, "resource": "l3vnis"},
                "name": "zz-dup", "namespace": "openperouter-system", "operation": "UPDATE",
                "userInfo": {}, "object": new, "oldObject": old, "dryRun": false
            }
        })
    };
    let out = admission::review_body(
        &serde_json::to_vec(&review(&updated, &dup)).expect("json"),
        Some(ResourceKind::L3VNI),
        &state,
        &WebhookConfig::default(),
    )
    .expect("ok");
    let r = serde_json::from_slice::<AdmissionReview<DynamicObject>>(&out).expect("json").response.expect("response");
    assert!(r.allowed, "{}", r.result.message);
    let warnings = r.warnings.unwrap_or_default().join(" | ");
    assert!(warnings.contains("ValidationFailed: duplicate vni 100: already used by L3VNI/red"), "{warnings}");
    // Changing it into a different failure is denied.
    let mut worse = dup.clone();
    worse.spec.vrf = "red".into();
    worse.spec.vni = 777;
    let out = admission::review_body(
        &serde_json::to_vec(&review(&worse, &dup)).expect("json"),
        Some(ResourceKind::L3VNI),
        &state,
        &WebhookConfig::default(),
    )
    .expect("ok");
    let r = serde_json::from_slice::<AdmissionReview<DynamicObject>>(&out).expect("json").response.expect("response");
    assert!(!r.allowed);
    assert!(r.result.message.contains(r#"more than one L3VNI detected in VRF "red""#), "{}", r.result.message);
}

#[test]
fn raw_frr_config_namespace_is_configurable() {
    let config = WebhookConfig { namespace: "default".into() };
    let body = load_review("rawfrrconfig-create-other-namespace-denied");
    let out = admission::review_body(&body, Some(ResourceKind::RawFRRConfig), &cluster(), &config).expect("ok");
    let r = serde_json::from_slice::<AdmissionReview<DynamicObject>>(&out).expect("json").response.expect("response");
    assert!(r.allowed, "{}", r.result.message);
    assert_eq!(r.warnings, Some(vec![RAW_FRR_CONFIG_WARNING.to_string()]));
}

#[test]
fn a_vni_on_nodes_without_underlay_is_accepted_with_a_warning() {
    let mut state = cluster();
    state.objects.underlays.clear();
    let r = run("l3vni-create-allowed", &state);
    assert!(r.allowed, "{}", r.result.message);
    let warnings = r.warnings.unwrap_or_default().join(" | ");
    assert!(
        warnings.contains(
            r#"not applied on nodes "worker-a", "worker-b", "worker-c": DependencyFailed: no Underlay selects the node"#
        ),
        "{warnings}"
    );
}

fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, c) in m {
                pointers(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    /// Any field of a real request replaced by a value of another type, or removed: the review
    /// answers (a response or a malformed-request error) and never panics.
    #[test]
    fn mangled_requests_never_panic(
        fixture in proptest::sample::select(CASES.iter().map(|c| c.fixture).collect::<Vec<_>>()),
        pick in proptest::prelude::any::<proptest::sample::Index>(),
        replacement in proptest::prop_oneof![
            proptest::prelude::Just(serde_json::Value::Null),
            proptest::prelude::Just(serde_json::json!(-1)),
            proptest::prelude::Just(serde_json::json!("x")),
            proptest::prelude::Just(serde_json::json!([])),
            proptest::prelude::Just(serde_json::json!({})),
            proptest::prelude::Just(serde_json::json!(1e300)),
        ],
        remove in proptest::prelude::any::<bool>(),
    ) {
        let mut v: serde_json::Value = serde_json::from_slice(&load_review(fixture)).expect("json");
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        let target = pick.get(&all).clone();
        if remove && !target.is_empty() {
            let (parent, key) = target.rsplit_once('/').expect("pointer has a parent");
            match v.pointer_mut(parent) {
                Some(serde_json::Value::Object(m)) => { m.remove(&key.replace("~1", "/").replace("~0", "~")); }
                Some(serde_json::Value::Array(a)) => { if let Ok(i) = key.parse::<usize>() { a.remove(i); } }
                _ => {}
            }
        } else if let Some(slot) = v.pointer_mut(&target) {
            *slot = replacement;
        }
        let body = serde_json::to_vec(&v).expect("json");
        static STATE: std::sync::LazyLock<ClusterState> = std::sync::LazyLock::new(cluster);
        let _ = admission::review_body(&body, None, &STATE, &WebhookConfig::default());
    }
}
