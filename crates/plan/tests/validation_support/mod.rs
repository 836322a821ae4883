//! What the validation tests share: resources as users write them, planned through the real
//! loader (schema + CEL) and the planner, and the checks of their outcomes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use api::{FailureReason, ResourceKind};

pub const H: &str = "apiVersion: network.openperouter.io/v1alpha1";

pub fn underlay_with(neighbors: &str, extra: &str) -> String {
    format!(
        "{H}\nkind: Underlay\nmetadata: {{name: underlay}}\nspec:\n  asn: 64514\n  tunnelEndpoint: {{cidrs: [100.65.0.0/24]}}\n  interfaces: [{{type: NetworkDevice, networkDevice: {{interfaceName: eth0}}}}]\n{extra}  neighbors:\n{neighbors}"
    )
}

pub fn underlay() -> String {
    underlay_with("  - {asn: 64512, address: 192.168.11.2}\n", "")
}

pub fn l3vni(name: &str, vrf: &str, vni: u32, cidr: &str, extra: &str) -> String {
    format!(
        "{H}\nkind: L3VNI\nmetadata: {{name: {name}}}\nspec:\n  vrf: {vrf}\n  vni: {vni}\n  hostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: {cidr}}}}}\n{extra}"
    )
}

pub fn l2vni(name: &str, vni: u32, domain: Option<&str>, extra: &str) -> String {
    let rd = domain.map(|d| format!("  routingDomain: {{type: L3VNI, l3vni: {{name: {d}}}}}\n")).unwrap_or_default();
    format!("{H}\nkind: L2VNI\nmetadata: {{name: {name}}}\nspec:\n  vni: {vni}\n{rd}{extra}")
}

pub fn passthrough(name: &str, cidr: &str, extra: &str) -> String {
    format!(
        "{H}\nkind: L3Passthrough\nmetadata: {{name: {name}}}\nspec:\n  hostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: {cidr}}}}}\n{extra}"
    )
}

pub fn docs(parts: &[String]) -> String {
    parts.join("\n---\n")
}

pub fn run(yaml: &str, index: u32, labels: &[(&str, &str)]) -> plan::NodePlan {
    let mut loaded = api::load::Loaded::default();
    api::load::load_str(yaml, Path::new("case.yaml"), &mut loaded).unwrap_or_else(|e| panic!("load: {e}\n{yaml}"));
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let node = plan::Node { name: "worker".into(), index, labels };
    plan::plan_node(&plan::Resources::from(&loaded), &node, &plan::Options::default())
}

pub fn accepted(yaml: &str) {
    let plan = run(yaml, 0, &[]);
    let failed: Vec<String> = plan.failed_resources.iter().map(ToString::to_string).collect();
    assert!(failed.is_empty(), "expected no failures, got:\n{}\n--- input ---\n{yaml}", failed.join("\n"));
    assert!(plan.frr.is_some() && plan.kernel.is_some());
}

pub fn rejected(yaml: &str, kind: ResourceKind, name: &str, reason: FailureReason, needle: &str) -> plan::NodePlan {
    let plan = run(yaml, 0, &[]);
    let hit = plan.failed_resources.iter().find(|f| f.kind == kind && f.name == name);
    let Some(hit) = hit else {
        panic!("expected {kind}/{name} to fail, got {:?}\n--- input ---\n{yaml}", plan.failed_resources);
    };
    assert_eq!(hit.reason, reason, "{hit}");
    assert!(hit.message.contains(needle), "message {:?} lacks {needle:?}", hit.message);
    plan
}

pub fn underlay_rejected(yaml: &str, needle: &str) {
    let plan = rejected(yaml, ResourceKind::Underlay, "underlay", FailureReason::ValidationFailed, needle);
    assert_eq!(plan.verdict, plan::Verdict::UnderlayFailed);
    assert!(plan.frr.is_none() && plan.kernel.is_none(), "an invalid Underlay must change nothing");
}
