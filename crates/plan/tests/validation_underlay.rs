//! Every validation rule of the Underlay and its neighbors (passwords from Secrets included),
//! each with an accepted and a rejected case and the exact outcome. Inputs go through the real
//! loader (schema + CEL) and the planner, as users' files do.

mod validation_support;

use std::collections::BTreeMap;
use std::path::Path;

use api::{FailureReason, ResourceKind};
use validation_support::*;

// ------------------------------------------------------------------ Underlay

#[test]
fn one_underlay_per_node() {
    let second = underlay().replace("name: underlay", "name: other");
    let plan = run(&docs(&[underlay(), second.clone()]), 0, &[]);
    assert_eq!(plan.verdict, plan::Verdict::UnderlayFailed);
    assert_eq!(plan.failed_resources.len(), 2);
    assert!(plan.failed_resources[0].message.contains("more than one underlay per node"));
    // Scoped by node selector: the second one selects another rack, so no conflict here.
    let scoped = second.replace("spec:\n", "spec:\n  nodeSelector: {matchLabels: {rack: r9}}\n");
    accepted(&docs(&[underlay(), scoped]));
}

#[test]
fn underlay_asn_range() {
    underlay_rejected(&underlay().replace("asn: 64514", "asn: 0"), "spec.asn: must be at least 1");
}

#[test]
fn underlay_needs_a_neighbor() {
    underlay_rejected(&underlay_with("    []\n", ""), "spec.neighbors: must have at least 1");
}

#[test]
fn duplicate_neighbor_address() {
    underlay_rejected(
        &underlay_with("  - {asn: 64512, address: 192.168.11.2}\n  - {asn: 64513, address: 192.168.11.2}\n", ""),
        "duplicate neighbor address",
    );
    accepted(&underlay_with("  - {asn: 64512, address: 192.168.11.2}\n  - {asn: 64513, address: 192.168.11.3}\n", ""));
}

#[test]
fn duplicate_neighbor_interface() {
    underlay_rejected(
        &underlay_with("  - {asn: 64512, interface: eth0}\n  - {asn: 64513, interface: eth0}\n", ""),
        "only one peer is allowed per interface",
    );
    accepted(&underlay_with("  - {asn: 64512, interface: eth0}\n  - {asn: 64513, interface: eth1}\n", ""));
}

#[test]
fn listen_ranges_must_not_overlap() {
    underlay_rejected(
        &underlay_with(
            "  - {type: Internal, listenRange: 10.0.0.0/16}\n  - {type: Internal, listenRange: 10.0.5.0/24}\n",
            "",
        ),
        "overlaps with listenRange",
    );
    accepted(&underlay_with(
        "  - {type: Internal, listenRange: 10.0.0.0/24}\n  - {type: Internal, listenRange: 10.0.1.0/24}\n",
        "",
    ));
}

#[test]
fn listen_range_must_be_a_cidr_and_not_link_local() {
    underlay_rejected(
        &underlay_with("  - {type: Internal, listenRange: nonsense}\n", ""),
        "listenRange must be a CIDR",
    );
    underlay_rejected(
        &underlay_with("  - {type: Internal, listenRange: \"fe80::/64\"}\n", ""),
        "must not be an IPv6 link-local range",
    );
}

#[test]
fn duplicate_interfaces() {
    let yaml = underlay().replace(
        "interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth0}}]",
        "interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth0}}, {type: NetworkDevice, networkDevice: {interfaceName: eth0}}]",
    );
    underlay_rejected(&yaml, "duplicate interface \"eth0\"");
}

#[test]
fn interface_name_pattern() {
    underlay_rejected(&underlay().replace("interfaceName: eth0", "interfaceName: 9eth"), "does not match the pattern");
}

#[test]
fn interface_union_must_match_type() {
    let yaml = underlay().replace("{type: NetworkDevice, networkDevice", "{type: CNIDevice, networkDevice");
    underlay_rejected(&yaml, "type/config mismatch");
}

fn cni_underlay(cni_device: &str) -> String {
    underlay().replace(
        "{type: NetworkDevice, networkDevice: {interfaceName: eth0}}",
        &format!("{{type: CNIDevice, cniDevice: {cni_device}}}"),
    )
}

#[test]
fn cni_devices_are_planned_with_their_configuration() {
    let good = "{type: RawConfig, rawConfig: {cniVersion: 1.0.0, name: m, plugins: [{type: macvlan, master: eth0}]}, runtimeConfig: {mac: \"02:00:00:00:00:01\"}}";
    let yaml = cni_underlay(good);
    accepted(&yaml);
    let plan = run(&yaml, 0, &[]);
    assert_eq!(plan.cni.len(), 1);
    assert_eq!(plan.cni[0].ifname, "net1", "the default name");
    assert_eq!(plan.cni[0].config["plugins"][0]["master"], "eth0");
    assert_eq!(plan.cni[0].runtime_config["mac"], "02:00:00:00:00:01");
    let kernel = plan.kernel.expect("kernel");
    let link = kernel.links.iter().find(|l| l.name == "net1").expect("net1 is an underlay link");
    assert!(link.group.is_none(), "not marked as a NIC to give back to the host");
    // Configurations CNI 1.0 plugins cannot run are refused, with the reason.
    underlay_rejected(
        &cni_underlay("{type: RawConfig, rawConfig: {cniVersion: 0.4.0, name: m, type: macvlan}}"),
        "invalid CNI config: cniVersion \"0.4.0\" is not supported",
    );
    underlay_rejected(
        &cni_underlay("{type: RawConfig, rawConfig: {cniVersion: 1.0.0, name: m, plugins: [{master: eth0}]}}"),
        "invalid CNI config: plugin 0",
    );
    let two = underlay().replace(
        "interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth0}}]",
        &format!("interfaces: [{{type: CNIDevice, cniDevice: {good}}}, {{type: CNIDevice, cniDevice: {good}}}]"),
    );
    underlay_rejected(&two, "duplicate interface \"net1\"");
}

#[test]
fn mixing_interface_types() {
    let yaml = underlay().replace(
        "interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth0}}]",
        "interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth0}}, {type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {}}}]",
    );
    underlay_rejected(&yaml, "mixing NetworkDevice and CNIDevice is not supported");
}

#[test]
fn tunnel_endpoint_cidrs() {
    underlay_rejected(
        &underlay().replace("[100.65.0.0/24]", "[not-a-cidr]"),
        "every tunnel endpoint entry must be a CIDR",
    );
    underlay_rejected(&underlay().replace("[100.65.0.0/24]", "[100.65.0.0/24, 100.66.0.0/24]"), "at most one IPv4");
    underlay_rejected(&underlay().replace("[100.65.0.0/24]", "[]"), "must have at least 1");
    accepted(&underlay().replace("[100.65.0.0/24]", "[100.65.0.0/24, \"fd00:65::/64\"]"));
}

#[test]
fn node_index_must_fit_the_pools() {
    let yaml = underlay().replace("[100.65.0.0/24]", "[100.65.0.0/30]");
    let plan = run(&yaml, 7, &[]);
    assert_eq!(plan.verdict, plan::Verdict::UnderlayFailed);
    assert!(plan.failed_resources[0].message.contains("node index 7 does not fit"), "{:?}", plan.failed_resources);
}

#[test]
fn router_id_cidr_must_be_ipv4() {
    underlay_rejected(
        &underlay_with("  - {asn: 64512, address: 192.168.11.2}\n", "  routerIDCIDR: \"fd00::/64\"\n"),
        "routerIDCIDR",
    );
}

#[test]
fn srv6_needs_isis_and_a_net_must_be_well_formed() {
    let neighbor = "  - {asn: 64512, address: 192.168.11.2}\n";
    underlay_rejected(
        &underlay_with(neighbor, "  srv6: {locator: {basePrefix: \"fd00:0:32::/48\", format: usid-f3216}}\n"),
        "SRv6 can only be configured if isis is set",
    );
    underlay_rejected(
        &underlay_with(neighbor, "  isis: {baseNet: 49.0001.0002.0003.0004.0g}\n"),
        "baseNet must look like",
    );
    accepted(&underlay_with(neighbor, "  isis: {baseNet: 49.0001.0002.0003.0004.00}\n"));
    let last = run(&underlay_with(neighbor, "  isis: {baseNet: 49.0001.ffff.ffff.ffff.00}\n"), 1, &[]);
    assert_eq!(last.verdict, plan::Verdict::UnderlayFailed);
    assert!(last.failed_resources[0].message.contains("overflows the system ID"), "{:?}", last.failed_resources);
}

#[test]
fn cluster_id_outside_router_id_cidr() {
    underlay_rejected(
        &underlay_with(
            "  - {asn: 64512, address: 192.168.11.2}\n",
            "  routerIDCIDR: 10.0.0.0/24\n  routeReflector: {clusterID: 10.0.0.5}\n",
        ),
        "clusterID must be outside the routerIDCIDR range",
    );
    accepted(&underlay_with(
        "  - {asn: 64512, address: 192.168.11.2}\n",
        "  routerIDCIDR: 10.0.0.0/24\n  routeReflector: {clusterID: 10.1.0.5}\n",
    ));
}

// ------------------------------------------------------------------ Neighbor CEL rules

fn neighbor_rejected(neighbor: &str, needle: &str) {
    underlay_rejected(&underlay_with(&format!("  - {neighbor}\n"), ""), needle);
}

#[test]
fn neighbor_rules() {
    neighbor_rejected("{address: 192.168.11.2}", "either ASN or Type must be set");
    neighbor_rejected("{asn: 1, type: External, address: 192.168.11.2}", "ASN and Type cannot be set together");
    neighbor_rejected("{asn: 1, address: 192.168.11.2, holdTimeSeconds: 9}", "must be set together");
    neighbor_rejected(
        "{asn: 1, address: 192.168.11.2, holdTimeSeconds: 2, keepaliveTimeSeconds: 1}",
        "0 or at least 3",
    );
    neighbor_rejected(
        "{asn: 1, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 10}",
        "must not exceed",
    );
    neighbor_rejected("{asn: 1}", "one of address, interface or listenRange");
    neighbor_rejected(
        "{asn: 1, address: 192.168.11.2, interface: eth0}",
        "address and interface cannot be set together",
    );
    neighbor_rejected(
        "{asn: 1, interface: eth0, addressFamilies: [{type: ipv4vpn}]}",
        "interface (unnumbered) neighbor",
    );
    neighbor_rejected(
        "{asn: 1, address: 192.168.11.2, addressFamilies: [{type: ipv6vpn}]}",
        "require an IPv6 neighbor address",
    );
    neighbor_rejected("{type: Internal, address: 192.168.11.2, listenRange: 10.0.0.0/24}", "listenRange and address");
    neighbor_rejected("{type: Internal, interface: eth0, listenRange: 10.0.0.0/24}", "listenRange and interface");
    neighbor_rejected(
        "{asn: 1, address: 192.168.11.2, addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]}",
        "requires type Internal",
    );
    neighbor_rejected(
        "{asn: 1, address: \"2001:db8::1\", addressFamilies: [{type: evpn}, {type: ipv6vpn}]}",
        "mutually exclusive",
    );
    neighbor_rejected("{asn: 1, address: 300.1.1.1}", "address must be an IP address");
    neighbor_rejected("{asn: 1, address: 192.168.11.2, port: 20000}", "must be at most 16384");
    neighbor_rejected("{asn: 1, address: 192.168.11.2, password: \"with space\"}", "does not match the pattern");
    neighbor_rejected("{asn: 1, address: 192.168.11.2, bfd: {receiveInterval: 5}}", "must be at least 10");
    neighbor_rejected(
        "{asn: 1, address: 192.168.11.2, properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 0}}]}",
        "must be at least 1",
    );
    accepted(&underlay_with(
        "  - {type: Internal, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, bfd: {sessionMode: Passive}, addressFamilies: [{type: evpn, properties: [{type: routeReflectorClient}]}]}\n",
        "",
    ));
}

// ------------------------------------------------------------------ passwords from Secrets

/// Plans `yaml` with the passwords `read` gives (by Secret name and key), as a controller or host
/// mode would after reading them.
fn run_with_passwords(yaml: &str, read: &[(&str, &str, Result<&str, &str>)]) -> plan::NodePlan {
    let mut loaded = api::load::Loaded::default();
    api::load::load_str(yaml, Path::new("case.yaml"), &mut loaded).unwrap_or_else(|e| panic!("load: {e}\n{yaml}"));
    let mut resources = plan::Resources::from(&loaded);
    let passwords = read
        .iter()
        .map(|(name, key, value)| {
            let reference = api::PasswordRef { namespace: String::new(), name: name.to_string(), key: key.to_string() };
            (reference, value.map(plan::Secret::new).map_err(str::to_string))
        })
        .collect();
    resources.passwords = Some(passwords);
    let node = plan::Node { name: "worker".into(), index: 0, labels: BTreeMap::new() };
    plan::plan_node(&resources, &node, &plan::Options::default())
}

#[test]
fn neighbor_password_from_a_secret() {
    let yaml = underlay_with("  - {asn: 64512, address: 192.168.11.2, passwordSecret: {name: tor}}\n", "");
    // Read: rendered into the configuration (and only there).
    let plan = run_with_passwords(&yaml, &[("tor", "password", Ok("from-secret-1"))]);
    assert!(plan.failed_resources.is_empty(), "{:?}", plan.failed_resources);
    let frr = plan.frr.as_ref().expect("an FRR configuration");
    assert!(frr.render().contains(" neighbor 192.168.11.2 password from-secret-1\n"));
    assert!(!frr.render_redacted().contains("from-secret-1") && !format!("{plan:?}").contains("from-secret-1"));
    // Not read by the caller (admission): planned without it, no outcome.
    accepted(&yaml);
    assert!(!run(&yaml, 0, &[]).frr.expect("config").render().contains("password"));

    // Not usable: the Underlay fails as a dependency, the value never shows.
    let cases: [(&str, Result<&str, &str>, &str); 5] = [
        (
            "tor",
            Err("the Secret does not exist"),
            "passwordSecret: Secret tor key \"password\": the Secret does not exist",
        ),
        ("other", Ok("x"), "passwordSecret: Secret tor key \"password\" was not read"),
        ("tor", Ok("has space"), "contains whitespace or control characters (value not shown)"),
        ("tor", Ok(""), "is empty"),
        ("tor", Ok(&"x".repeat(81)), "is longer than 80 characters"),
    ];
    for (name, value, needle) in cases {
        let plan = run_with_passwords(&yaml, &[(name, "password", value)]);
        let failed = &plan.failed_resources;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!((failed[0].kind, failed[0].reason), (ResourceKind::Underlay, FailureReason::DependencyFailed));
        assert!(failed[0].message.contains(needle), "{:?} lacks {needle:?}", failed[0].message);
        assert!(failed[0].message.starts_with("neighbor 192.168.11.2: "), "{}", failed[0].message);
        assert!(!failed[0].message.contains("has space"));
        assert!(plan.frr.is_none() && plan.kernel.is_none(), "a password that cannot be used changes nothing");
    }
    assert!(run_with_passwords(&yaml, &[("tor", "password", Ok(&"x".repeat(80)))]).failed_resources.is_empty());

    // A key of its own.
    let yaml = underlay_with("  - {asn: 64512, address: 192.168.11.2, passwordSecret: {name: tor, key: bgp}}\n", "");
    let plan = run_with_passwords(&yaml, &[("tor", "bgp", Ok("k3y-pw"))]);
    assert!(plan.frr.expect("config").render().contains("password k3y-pw"));

    // Both forms at once are refused by the schema.
    let both = underlay_with("  - {asn: 64512, address: 192.168.11.2, password: a, passwordSecret: {name: tor}}\n", "");
    underlay_rejected(&both, "password and passwordSecret cannot be set together");
}
