//! Every validation rule of the overlays (L3VNI, L2VNI, L3VPN over SRv6, passthrough, raw
//! configuration) and of what they share, each with an accepted and a rejected case and the
//! exact outcome. Inputs go through the real loader (schema + CEL) and the planner, as users'
//! files do.

mod validation_support;

use std::collections::BTreeMap;
use std::path::Path;

use api::{FailureReason, ResourceKind};
use validation_support::*;

// ------------------------------------------------------------------ L3VNI

#[test]
fn l3vni_vrf_name() {
    let yaml = docs(&[underlay(), l3vni("red", "0red", 100, "192.169.10.0/24", "")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "spec.vrf");
    let yaml = docs(&[underlay(), l3vni("red", "averyveryverylongname", 100, "192.169.10.0/24", "")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "at most 15 characters");
    accepted(&docs(&[underlay(), l3vni("red", "red_1-x", 100, "192.169.10.0/24", "")]));
}

#[test]
fn l3vni_vni_range() {
    let yaml = docs(&[underlay(), l3vni("red", "red", 16777216, "192.169.10.0/24", "")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "spec.vni: must be at most");
}

#[test]
fn l3vni_route_targets() {
    let yaml = docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", "  importRTs: [\"999.1.2.3:5\"]\n")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "not a valid IPv4 address");
    let yaml =
        docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", "  exportRTs: [\"4200000000:70000\"]\n")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "at most 65535");
    accepted(&docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", "  exportRTs: [\"64514:100\"]\n")]));
}

#[test]
fn l2vni_route_targets() {
    let yaml = docs(&[underlay(), l2vni("l2", 110, None, "  importRTs: [\"999.1.2.3:5\"]\n")]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "not a valid IPv4 address");
    let yaml = docs(&[underlay(), l2vni("l2", 110, None, "  exportRTs: [\"4200000000:70000\"]\n")]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "at most 65535");
    let yaml = docs(&[underlay(), l2vni("l2", 110, None, "  exportRTs: [\"64514:1234567890123456789\"]\n")]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "exportRTs[0]");
    accepted(&docs(&[
        underlay(),
        l2vni("l2", 110, None, "  exportRTs: [\"64514:7\"]\n  importRTs: [\"10.0.0.1:110\", \"64520:110\"]\n"),
    ]));
}

#[test]
fn l3vni_host_asn_differs() {
    let yaml = docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", "").replace("hostASN: 64515", "hostASN: 64514"),
    ]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "hostASN must be different from asn");
}

#[test]
fn l3vni_host_session_needs_exactly_one_peer_kind() {
    let yaml = docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", "").replace("hostASN: 64515, ", "")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "either hostASN or hostType");
}

#[test]
fn duplicate_l3vni_vni() {
    let yaml = docs(&[
        underlay(),
        l3vni("blue", "blue", 100, "192.169.11.0/24", ""),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
    ]);
    let plan = rejected(
        &yaml,
        ResourceKind::L3VNI,
        "red",
        FailureReason::ValidationFailed,
        "duplicate vni 100: already used by L3VNI/blue",
    );
    assert_eq!(plan.applied.iter().filter(|a| a.kind == ResourceKind::L3VNI).count(), 1, "blue keeps it");
}

#[test]
fn duplicate_l3vni_vrf() {
    let yaml = docs(&[
        underlay(),
        l3vni("blue", "red", 200, "192.169.11.0/24", ""),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
    ]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "more than one L3VNI detected in VRF");
}

#[test]
fn l3vni_needs_underlay_with_tunnel_endpoint() {
    let yaml = l3vni("red", "red", 100, "192.169.10.0/24", "");
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::DependencyFailed, "no Underlay selects node");
    let no_te = underlay().replace("  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n", "");
    let yaml = docs(&[no_te, l3vni("red", "red", 100, "192.169.10.0/24", "")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::DependencyFailed, "has no tunnelEndpoint");
}

#[test]
fn l3vni_underlay_address_family_must_exist() {
    let yaml = docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", "  underlayAddressFamily: IPv6\n")]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "no IPv6 tunnel endpoint CIDR");
}

#[test]
fn host_session_pools_must_not_overlap() {
    let yaml = docs(&[
        underlay(),
        l3vni("blue", "blue", 200, "192.169.0.0/16", ""),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
    ]);
    rejected(
        &yaml,
        ResourceKind::L3VNI,
        "red",
        FailureReason::ValidationFailed,
        "overlaps with 192.169.0.0/16 of L3VNI/blue",
    );
    let yaml =
        docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", ""), passthrough("pt", "192.169.10.0/25", "")]);
    rejected(&yaml, ResourceKind::L3Passthrough, "pt", FailureReason::ValidationFailed, "overlaps");
    accepted(&docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        passthrough("pt", "192.169.20.0/24", ""),
    ]));
}

#[test]
fn host_session_pool_must_fit_node_index() {
    let yaml = docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/30", "")]);
    let plan = run(&yaml, 1, &[]);
    let f = &plan.failed_resources[0];
    assert_eq!((f.kind, f.reason), (ResourceKind::L3VNI, FailureReason::ValidationFailed));
    assert!(f.message.contains("node index 1 does not fit"), "{f}");
}

// ------------------------------------------------------------------ L2VNI

#[test]
fn l2vni_missing_or_invalid_l3vni_is_a_dependency_failure() {
    let yaml = docs(&[underlay(), l2vni("l2", 110, Some("green"), "")]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::DependencyFailed, "L3VNI/green does not exist");
    let bad = l3vni("red", "red", 100, "192.169.10.0/24", "  importRTs: [\"x\"]\n");
    let yaml = docs(&[underlay(), bad, l2vni("l2", 110, Some("red"), "")]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::DependencyFailed, "is invalid or not selected");
    accepted(&docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", ""), l2vni("l2", 110, Some("red"), "")]));
}

#[test]
fn l2vni_duplicate_vni() {
    let yaml = docs(&[underlay(), l3vni("red", "red", 100, "192.169.10.0/24", ""), l2vni("l2", 100, None, "")]);
    rejected(
        &yaml,
        ResourceKind::L2VNI,
        "l2",
        FailureReason::ValidationFailed,
        "duplicate vni 100: already used by L3VNI/red",
    );
    let yaml = docs(&[underlay(), l2vni("a", 300, None, ""), l2vni("b", 300, None, "")]);
    rejected(&yaml, ResourceKind::L2VNI, "b", FailureReason::ValidationFailed, "already used by L2VNI/a");
}

#[test]
fn l2vni_gateway_ips() {
    let yaml = docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        l2vni("l2", 110, Some("red"), "  gatewayIPs: [10.1.0.1/24, 10.2.0.1/24]\n"),
    ]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "one IPv4 plus one IPv6");
    let yaml = docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        l2vni("l2", 110, Some("red"), "  gatewayIPs: [banana]\n"),
    ]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "not a CIDR");
    let yaml = docs(&[underlay(), l2vni("l2", 110, None, "  gatewayIPs: [10.1.0.1/24]\n")]);
    rejected(
        &yaml,
        ResourceKind::L2VNI,
        "l2",
        FailureReason::ValidationFailed,
        "gatewayIPs cannot be set without routingDomain",
    );
    accepted(&docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        l2vni("l2", 110, Some("red"), "  gatewayIPs: [10.1.0.1/24, \"2001:db8:1::1/64\"]\n"),
    ]));
}

#[test]
fn subnets_inside_a_vrf_must_not_overlap() {
    let yaml = docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        l2vni("l2", 110, Some("red"), "  gatewayIPs: [192.169.10.200/24]\n"),
    ]);
    let plan =
        rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "subnet overlap in VRF \"red\"");
    assert!(plan.failed_resources.iter().any(|f| f.kind == ResourceKind::L3VNI && f.name == "red"));
    let yaml = docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        l2vni("a", 110, Some("red"), "  gatewayIPs: [10.1.0.1/16]\n"),
        l2vni("b", 111, Some("red"), "  gatewayIPs: [10.1.2.1/24]\n"),
    ]);
    rejected(&yaml, ResourceKind::L2VNI, "b", FailureReason::ValidationFailed, "subnet overlap");
}

#[test]
fn several_l2vnis_in_one_vrf_and_same_subnets_in_different_vrfs_are_fine() {
    // Upstream #222: several L2VNIs in one VRF were rejected.
    accepted(&docs(&[
        underlay(),
        l3vni("red", "red", 100, "192.169.10.0/24", ""),
        l3vni("blue", "blue", 200, "192.169.11.0/24", ""),
        l2vni("a", 110, Some("red"), "  gatewayIPs: [10.1.0.1/24]\n"),
        l2vni("b", 111, Some("red"), "  gatewayIPs: [10.2.0.1/24]\n"),
        l2vni("c", 210, Some("blue"), "  gatewayIPs: [10.1.0.1/24]\n"),
    ]));
}

#[test]
fn l2vni_host_master() {
    // Open vSwitch: a managed br-hs-<vni> or an existing bridge; the host leg becomes its port.
    let yaml = docs(&[
        underlay(),
        l2vni("l2", 110, None, "  hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: Managed}}\n"),
        l2vni("l2-ext", 111, None, "  hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: External, name: br-int}}\n"),
    ]);
    accepted(&yaml);
    let kernel = run(&yaml, 0, &[]).kernel.unwrap();
    let ports: Vec<(&str, &str, bool)> =
        kernel.ovs_ports.iter().map(|p| (p.port.as_str(), p.bridge.as_str(), p.managed_bridge)).collect();
    assert_eq!(ports, [("host-e-110", "br-hs-110", true), ("host-e-111", "br-int", false)]);
    let host_legs: Vec<_> = kernel.links.iter().filter(|l| l.name.starts_with("host-e-")).collect();
    assert!(host_legs.iter().all(|l| l.master.is_none()), "OVS ports get no Linux master: {host_legs:?}");
    assert!(kernel.links.iter().all(|l| !l.name.starts_with("br-hs-")), "no Linux bridge for an OVS host master");
    let yaml = docs(&[
        underlay(),
        l2vni("l2", 110, None, "  hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: External}}\n"),
    ]);
    rejected(
        &yaml,
        ResourceKind::L2VNI,
        "l2",
        FailureReason::ValidationFailed,
        "name is required for an External bridge",
    );
    let yaml = docs(&[
        underlay(),
        l2vni("l2", 110, None, "  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: External}}\n"),
    ]);
    rejected(
        &yaml,
        ResourceKind::L2VNI,
        "l2",
        FailureReason::ValidationFailed,
        "name is required for an External bridge",
    );
    let yaml = docs(&[
        underlay(),
        l2vni("l2", 110, None, "  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed, name: br0}}\n"),
    ]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "not allowed for a Managed one");
    let yaml = docs(&[
        underlay(),
        l2vni("l2", 110, None, "  hostMaster: {type: LinuxBridge, ovsBridge: {lifecycle: Managed}}\n"),
    ]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "type/config mismatch");
    accepted(&docs(&[
        underlay(),
        l2vni("l2", 110, None, "  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: External, name: br0}}\n"),
    ]));
}

#[test]
fn l2vni_routing_domain_union() {
    let yaml = docs(&[
        underlay(),
        format!("{H}\nkind: L2VNI\nmetadata: {{name: l2}}\nspec:\n  vni: 110\n  routingDomain: {{type: L3VNI}}\n"),
    ]);
    rejected(&yaml, ResourceKind::L2VNI, "l2", FailureReason::ValidationFailed, "requires the l3vni field");
}

// ------------------------------------------------------------------ Passthrough, raw, L3VPN

#[test]
fn one_passthrough_per_node() {
    let yaml = docs(&[underlay(), passthrough("a", "192.169.20.0/24", ""), passthrough("b", "192.169.21.0/24", "")]);
    let plan = rejected(
        &yaml,
        ResourceKind::L3Passthrough,
        "a",
        FailureReason::ValidationFailed,
        "more than one l3passthrough per node",
    );
    assert!(plan.failed_resources.iter().any(|f| f.name == "b"));
    // Upstream #223: resources that never meet on a node do not conflict.
    let b = passthrough("b", "192.169.20.0/24", "  nodeSelector: {matchLabels: {edge: \"true\"}}\n");
    accepted(&docs(&[underlay(), passthrough("a", "192.169.20.0/24", ""), b]));
}

#[test]
fn passthrough_needs_an_underlay() {
    rejected(
        &passthrough("pt", "192.169.20.0/24", ""),
        ResourceKind::L3Passthrough,
        "pt",
        FailureReason::DependencyFailed,
        "no Underlay",
    );
}

#[test]
fn raw_config_must_not_be_empty() {
    let yaml =
        docs(&[underlay(), format!("{H}\nkind: RawFRRConfig\nmetadata: {{name: raw}}\nspec: {{rawConfig: \"\"}}\n")]);
    rejected(&yaml, ResourceKind::RawFRRConfig, "raw", FailureReason::ValidationFailed, "at least 1 characters");
}

// ------------------------------------------------------------------ SRv6 and L3VPN

fn srv6_underlay(srv6: &str) -> String {
    format!(
        "{H}\nkind: Underlay\nmetadata: {{name: underlay}}\nspec:\n  asn: 64514\n  tunnelEndpoint: {{cidrs: [100.65.0.0/24, \"fd00:65::/64\"]}}\n  interfaces: [{{type: NetworkDevice, networkDevice: {{interfaceName: eth0}}}}]\n  neighbors:\n  - {{asn: 64512, address: \"fd00:11::2\"}}\n  isis: {{baseNet: 49.0001.0002.0003.0004.00}}\n  srv6: {{{srv6}locator: {{basePrefix: \"fd00:0:32::/48\", format: usid-f3216}}}}\n"
    )
}

fn l3vpn(name: &str, vrf: &str, rd: u32, import: &str) -> String {
    format!(
        "{H}\nkind: L3VPN\nmetadata: {{name: {name}}}\nspec:\n  vrf: {vrf}\n  rdAssignedNumber: {rd}\n  importRTs: [{import}]\n"
    )
}

#[test]
fn l3vpns_are_planned_over_srv6() {
    let yaml = docs(&[srv6_underlay(""), l3vpn("red", "red", 100, "'64520:100'")]);
    accepted(&yaml);
    let plan = run(&yaml, 2, &[]);
    assert!(plan.applied.iter().any(|a| a.kind == ResourceKind::L3VPN && a.name == "red"));
    let frr = plan.frr.as_ref().unwrap().render();
    assert!(frr.contains("prefix fd00:0:34::/48 block-len 32 node-len 16"), "node 2's locator:\n{frr}");
    assert!(frr.contains("net 49.0001.0002.0003.0006.00"), "node 2's NET:\n{frr}");
    assert!(frr.contains("rd vpn export 10.0.0.3:100") && frr.contains("rt vpn export 64514:100"), "{frr}");
    let kernel = plan.kernel.as_ref().unwrap();
    assert!(kernel.sysctls.iter().any(|s| s.key == "net/ipv6/conf/all/seg6_enabled" && s.value == "1"));
    assert!(kernel.sysctls.iter().any(|s| s.key == "net/ipv4/conf/red/rp_filter" && s.value == "0"));
}

#[test]
fn an_l3vpn_needs_an_srv6_underlay() {
    let yaml = docs(&[underlay(), l3vpn("red", "red", 100, "'64520:100'")]);
    let plan =
        rejected(&yaml, ResourceKind::L3VPN, "red", FailureReason::DependencyFailed, "without an underlay with SRV6");
    assert!(plan.frr.is_some(), "the rest of the node is still planned");
}

#[test]
fn an_l3vpn_imports_at_least_one_route_target() {
    let yaml = docs(&[srv6_underlay(""), l3vpn("red", "red", 100, "")]);
    rejected(
        &yaml,
        ResourceKind::L3VPN,
        "red",
        FailureReason::ValidationFailed,
        "at least one explicit import Route Target",
    );
    let yaml = docs(&[srv6_underlay(""), l3vpn("red", "red", 100, "'x:1'")]);
    rejected(&yaml, ResourceKind::L3VPN, "red", FailureReason::ValidationFailed, "invalid route targets");
}

#[test]
fn rd_numbers_and_vrfs_are_unique_across_vnis_and_vpns() {
    let vni = l3vni("green", "green", 100, "192.169.30.0/24", "");
    let yaml = docs(&[srv6_underlay(""), vni.clone(), l3vpn("red", "red", 100, "'64520:100'")]);
    rejected(
        &yaml,
        ResourceKind::L3VPN,
        "red",
        FailureReason::ValidationFailed,
        "duplicate rdAssignedNumber 100: already used by L3VNI/green",
    );
    let yaml = docs(&[srv6_underlay(""), vni, l3vpn("red", "green", 200, "'64520:100'")]);
    rejected(
        &yaml,
        ResourceKind::L3VPN,
        "red",
        FailureReason::ValidationFailed,
        "VRF \"green\" is already used by L3VNI/green",
    );
    let yaml = docs(&[srv6_underlay(""), l3vpn("a", "red", 100, "'64520:1'"), l3vpn("b", "red", 200, "'64520:2'")]);
    rejected(&yaml, ResourceKind::L3VPN, "b", FailureReason::ValidationFailed, "more than one L3VPN detected in VRF");
    // An L3VNI and an L3VPN side by side in different VRFs.
    accepted(&docs(&[
        srv6_underlay(""),
        l3vni("green", "green", 300, "192.169.30.0/24", ""),
        l3vpn("red", "red", 100, "'64520:1'"),
    ]));
}

fn l2vni_via_l3vpn(name: &str, vni: u32, vpn: &str, extra: &str) -> String {
    format!(
        "{H}\nkind: L2VNI\nmetadata: {{name: {name}}}\nspec:\n  vni: {vni}\n  routingDomain: {{type: L3VPN, l3vpn: {{name: {vpn}}}}}\n{extra}"
    )
}

#[test]
fn an_l2vni_is_routed_through_an_l3vpn() {
    let red = format!(
        "{}  hostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: 192.169.10.0/24}}}}\n",
        l3vpn("red", "red", 100, "'64520:100'")
    );
    let l2 = l2vni_via_l3vpn("l2red", 110, "red", "  gatewayIPs: [192.171.24.1/24]\n");
    let yaml = docs(&[srv6_underlay(""), red.clone(), l2.clone()]);
    accepted(&yaml);
    let plan = run(&yaml, 0, &[]);
    // Its bridge in the L3VPN's VRF, its veth sized for SRv6, its gateway subnet leaving as a VPN route.
    let kernel = serde_json::to_value(plan.kernel.as_ref().expect("kernel")).expect("json");
    let links = kernel["links"].as_array().cloned().unwrap_or_default();
    let link = |name: &str| links.iter().find(|l| l["name"] == name).cloned().unwrap_or_default();
    assert_eq!(link("br-pe-110")["master"], "red", "{kernel:#}");
    assert_eq!(link("pe-e-110")["mtu"], serde_json::json!({"underlayMinus": 64}), "{kernel:#}");
    let frr = plan.frr.as_ref().expect("frr").render();
    let vrf_block =
        frr.split("router bgp 64514 vrf red\n").nth(1).and_then(|b| b.split("\nexit\n").next()).unwrap_or("");
    assert!(vrf_block.contains("  network 192.171.24.0/24\n") && vrf_block.contains("export vpn"), "{frr}");
    assert!(frr.contains("  advertise-all-vni\n"), "type-2 routes of the segment: {frr}");

    // A missing or failed L3VPN is a dependency failure.
    let yaml = docs(&[srv6_underlay(""), l2vni_via_l3vpn("l2", 110, "nope", "")]);
    rejected(
        &yaml,
        ResourceKind::L2VNI,
        "l2",
        FailureReason::DependencyFailed,
        "routing domain L3VPN/nope does not exist",
    );
    let yaml = docs(&[underlay(), l3vpn("red", "red", 100, "'64520:100'"), l2vni_via_l3vpn("l2", 110, "red", "")]);
    rejected(
        &yaml,
        ResourceKind::L2VNI,
        "l2",
        FailureReason::DependencyFailed,
        "routing domain L3VPN/red is invalid or not selected for this node",
    );
    // Its gateway must not overlap the L3VPN's host pool in the VRF.
    let clash = l2vni_via_l3vpn("l2clash", 120, "red", "  gatewayIPs: [192.169.10.1/24]\n");
    let yaml = docs(&[srv6_underlay(""), red, clash]);
    rejected(&yaml, ResourceKind::L2VNI, "l2clash", FailureReason::ValidationFailed, "subnet overlap in VRF \"red\"");
    rejected(&yaml, ResourceKind::L3VPN, "red", FailureReason::ValidationFailed, "subnet overlap in VRF \"red\"");
}

#[test]
fn l3vpn_host_pools_do_not_overlap_other_host_pools() {
    let red = format!(
        "{}  hostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: 192.169.10.0/24}}}}\n",
        l3vpn("red", "red", 100, "'64520:100'")
    );
    let yaml = docs(&[srv6_underlay(""), l3vni("green", "green", 300, "192.169.10.0/24", ""), red]);
    rejected(
        &yaml,
        ResourceKind::L3VPN,
        "red",
        FailureReason::ValidationFailed,
        "overlaps with 192.169.10.0/24 of L3VNI/green",
    );
}

#[test]
fn reduced_encapsulation_is_refused_with_the_reason() {
    underlay_rejected(&srv6_underlay("encapBehavior: H.Encaps.Red, "), "H.Encaps.Red is not supported yet");
}

#[test]
fn invalid_node_selector_is_reported() {
    let yaml = docs(&[
        underlay(),
        l3vni(
            "red",
            "red",
            100,
            "192.169.10.0/24",
            "  nodeSelector: {matchExpressions: [{key: zone, operator: Near}]}\n",
        ),
    ]);
    rejected(&yaml, ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "unknown operator");
}

#[test]
fn messages_are_capped_at_500_characters() {
    let long = "x".repeat(2000);
    let f = api::FailedResource::new(ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, long);
    assert_eq!(f.message.chars().count(), 500);
}

#[test]
fn incumbents_keep_their_resources_on_conflict() {
    // "aaa" sorts first and would normally win the VNI; "zzz" was applied before, so it keeps it.
    let yaml = docs(&[underlay(), l2vni("zzz", 300, None, ""), l2vni("aaa", 300, None, "")]);
    let mut loaded = api::load::Loaded::default();
    api::load::load_str(&yaml, Path::new("case.yaml"), &mut loaded).expect("load");
    let mut resources = plan::Resources::from(&loaded);
    let node = plan::Node { name: "worker".into(), index: 0, labels: BTreeMap::new() };
    let fresh = plan::plan_node(&resources, &node, &plan::Options::default());
    assert_eq!(fresh.failed_resources[0].name, "zzz");
    resources.incumbents.insert((ResourceKind::L2VNI, "zzz".into()));
    let sticky = plan::plan_node(&resources, &node, &plan::Options::default());
    assert_eq!(sticky.failed_resources.len(), 1);
    assert_eq!(sticky.failed_resources[0].name, "aaa");
    assert!(sticky.failed_resources[0].message.contains("already used by L2VNI/zzz"));
}
