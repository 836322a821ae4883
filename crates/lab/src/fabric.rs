//! The fabric lab's topology as plain data: namespaces, links, addresses, kernel objects and the
//! FRR configuration of every routing namespace. Pure: building it touches nothing; the builder
//! turns it into kernel objects and FRR instances.
//!
//! Plan (mirrors the upstream e2e fabric, one namespace per box, every name prefixed so two labs
//! can coexist):
//!
//! ```text
//!                 spine (AS 64612)
//!               /        |         \
//!   leafA (64520)   leafB (64520)   tor (64512) ── switch bridge ── node0, node1, … (underlay NICs)
//!   VTEP 100.64.0.1 VTEP 100.64.0.2                                  each node: host ns + empty router ns
//!   hosts: red/blue/default   hosts: red/blue                         host BGP speaker AS 64515
//! ```
//!
//! | link | A side | B side |
//! |---|---|---|
//! | spine–leafA | spine `eth1` 192.168.1.0/31 | leafA `eth1` 192.168.1.1/31 |
//! | spine–leafB | spine `eth2` 192.168.1.2/31 | leafB `eth1` 192.168.1.3/31 |
//! | spine–tor | spine `eth3` 192.168.1.4/31 | tor `eth1` 192.168.1.5/31 |
//! | leafA–hostA-red | `ethred` 192.168.20.1/24, 2001:db8:20::1/64 (VRF red) | `eth1` .2 |
//! | leafA–hostA-blue | `ethblue` 192.168.21.1/24, 2001:db8:21::1/64 (VRF blue) | `eth1` .2 |
//! | leafA–hostA-default | `ethdefault` 192.168.22.1/24 | `eth1` .2 |
//! | leafB–hostB-red | `ethred` 192.169.20.1/24, 2001:db8:169:20::1/64 (VRF red) | `eth1` .2 |
//! | leafB–hostB-blue | `ethblue` 192.169.21.1/24, 2001:db8:169:21::1/64 (VRF blue) | `eth1` .2 |
//! | tor–switch | tor `toswitch` 192.168.11.2/24 | switch port `p-tor` |
//! | node i–switch | node `toswitch` 192.168.11.(3+i)/24 | switch port `p-node<i>` |
//!
//! The leaves carry VRF red (L3VNI 100, table 1100) and blue (L3VNI 200, table 1101) with bridges
//! `br100`/`br200` and VXLANs `vni100`/`vni200`, and redistribute their connected networks. The
//! ToR peers with every node's underlay address (AS 64514, the PE) and relays EVPN; it also
//! announces its connected networks (the spine link and the nodes' switch subnet), so that the
//! fabric routes back to the nodes' underlay (the leaves' VTEPs answer pings from the ToR). Each node's
//! host speaker peers with the PE's host-session addresses (L3VNI red `192.169.10.1`, blue
//! `192.169.11.1`, passthrough `192.169.30.1`) and announces its pod prefix `10.244.<i>.0/24`.
//!
//! Without VRFs ([`LabSpec::vrf`] false, for kernels that lack them): the leaves have no VRFs, no
//! L3VNI bridges and no VXLANs, and their red/blue host links are plain default-VRF interfaces
//! (their subnets are then routed in the underlay); the FRR configs have no tenant VRFs. Every
//! fabric BGP session and every host's gateway work the same.
//!
//! Every namespace gets `net.ipv6.conf.{all,default}.accept_dad=0` (addresses usable at once);
//! routers get IPv4 and IPv6 forwarding; leaves get `net.ipv6.conf.all.keep_addr_on_down=1` so
//! that IPv6 addresses survive enslaving to a VRF. External hosts get IPv4 and IPv6 default
//! routes towards their leaf.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::speaker::kind::SpeakerKind;

pub mod ipv6;
mod routers;
pub mod srv6;

use routers::{host_speaker_config, leaf_config, spine_config, tor_config};

/// AS numbers of the lab.
pub mod asn {
    /// Spine.
    pub const SPINE: u32 = 64612;
    /// Both leaves.
    pub const LEAF: u32 = 64520;
    /// The ToR the nodes hang off.
    pub const TOR: u32 = 64512;
    /// The PE routers on the nodes.
    pub const PE: u32 = 64514;
    /// The host speakers on the nodes.
    pub const HOST: u32 = 64515;
}

/// What a namespace is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The spine router.
    Spine,
    /// An EVPN leaf with external hosts.
    Leaf,
    /// The nodes' top-of-rack router.
    Tor,
    /// The layer-2 switch (a bridge).
    Switch,
    /// An external host behind a leaf.
    ExternalHost,
    /// A node's host namespace (the "Kubernetes node").
    NodeHost,
    /// A node's router namespace, left empty for the PE.
    NodeRouter,
    /// A workload ("pod") on a node: a namespace with one veth towards the node.
    Pod,
}

/// A VRF in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrf {
    /// Name.
    pub name: String,
    /// Routing table.
    pub table: u32,
}

/// A bridge in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// Name.
    pub name: String,
    /// Master VRF.
    pub vrf: Option<String>,
    /// Fixed MAC (leaves use fixed router MACs).
    pub mac: Option<[u8; 6]>,
}

/// A VXLAN device enslaved to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vxlan {
    /// Name.
    pub name: String,
    /// VNI.
    pub vni: u32,
    /// Local VTEP.
    pub local: IpAddr,
    /// Bridge it belongs to.
    pub bridge: String,
}

/// One namespace with the objects that live only inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Full name (with the lab prefix).
    pub name: String,
    /// Short name used in tables (`spine`, `leafA`, `node0`, …).
    pub short: String,
    /// Role.
    pub role: Role,
    /// Addresses on `lo`.
    pub loopback: Vec<IpNet>,
    /// VRFs.
    pub vrfs: Vec<Vrf>,
    /// Bridges.
    pub bridges: Vec<Bridge>,
    /// VXLANs.
    pub vxlans: Vec<Vxlan>,
    /// Default gateways (external hosts).
    pub gateways: Vec<IpAddr>,
    /// Whether IP forwarding is on.
    pub forwarding: bool,
    /// FRR configuration, when the namespace runs FRR.
    pub frr: Option<String>,
    /// Sysctls beyond those of its role (path below `/proc/sys`, value).
    pub sysctls: Vec<(String, String)>,
}

impl Namespace {
    /// An empty namespace `<prefix>-<short>`; routers forward.
    pub(crate) fn new(prefix: &str, short: &str, role: Role) -> Namespace {
        Namespace {
            name: format!("{prefix}-{short}"),
            short: short.to_string(),
            role,
            loopback: Vec::new(),
            vrfs: Vec::new(),
            bridges: Vec::new(),
            vxlans: Vec::new(),
            gateways: Vec::new(),
            forwarding: matches!(role, Role::Spine | Role::Leaf | Role::Tor | Role::NodeHost),
            frr: None,
            sysctls: Vec::new(),
        }
    }
}

/// One end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Namespace (full name).
    pub ns: String,
    /// Interface name.
    pub ifname: String,
    /// Addresses.
    pub addresses: Vec<IpNet>,
    /// Master device (VRF or bridge) in the same namespace.
    pub master: Option<String>,
}

impl End {
    /// `ifname` in namespace `<prefix>-<short>` with `addrs`, enslaved to `master` if given.
    pub(crate) fn new(prefix: &str, short: &str, ifname: &str, addrs: &[&str], master: Option<&str>) -> End {
        End {
            ns: format!("{prefix}-{short}"),
            ifname: ifname.to_string(),
            addresses: addrs.iter().map(|a| net(a)).collect(),
            master: master.map(str::to_string),
        }
    }
}

/// A veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// First end.
    pub a: End,
    /// Second end.
    pub b: End,
    /// MTU of both ends (the kernel's default when `None`).
    pub mtu: Option<u32>,
}

/// The whole lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The prefix of every name.
    pub prefix: String,
    /// Namespaces, in creation order.
    pub namespaces: Vec<Namespace>,
    /// Veth pairs.
    pub veths: Vec<Veth>,
}

/// Settings of a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// Prefix of every namespace and run directory.
    pub prefix: String,
    /// Number of nodes.
    pub nodes: u32,
    /// Whether the leaves carry the tenant VRFs red and blue (needs a kernel with VRF support).
    pub vrf: bool,
    /// The nodes' BGP speakers, one per node in order or one for all (empty: FRR everywhere);
    /// see [`crate::speaker`].
    pub speakers: Vec<SpeakerKind>,
    /// The SRv6 fabric as well: IS-IS on the ToR, an SRv6 leaf with an external host in VRF red
    /// (see [`srv6`]); needs FRR ≥ 10 and VRFs.
    pub srv6: bool,
    /// An IPv6-only underlay instead of the IPv4 one: IPv6 fabric sessions, even nodes numbered
    /// on the switch, odd nodes unnumbered on point-to-point links (see [`ipv6`]).
    pub ipv6: bool,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec { prefix: "opr".into(), nodes: 2, vrf: true, speakers: Vec::new(), srv6: false, ipv6: false }
    }
}

impl LabSpec {
    /// The BGP speaker of node `index`.
    pub fn speaker(&self, index: u32) -> SpeakerKind {
        crate::speaker::kind::kind_of(&self.speakers, index)
    }
}

fn net(s: &str) -> IpNet {
    // Only called with literals and formatted addresses of this module.
    s.parse().unwrap_or_else(|_| panic!("lab address {s:?} is not a CIDR"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("lab address {s:?} is not an IP"))
}

/// The node's underlay address on the switch.
pub fn node_underlay_ip(index: u32) -> String {
    format!("192.168.11.{}", 3 + index)
}

/// The node's underlay NIC `toswitch` and its switch port (also recreated by `lab check` after
/// the router namespace, into which the PE moved the NIC, was deleted); on the IPv6 underlay
/// [`ipv6::node_nic`].
pub fn node_nic(spec: &LabSpec, index: u32) -> Veth {
    let prefix = &spec.prefix;
    if spec.ipv6 {
        return ipv6::node_nic(prefix, index);
    }
    Veth {
        a: End {
            ns: node_host_ns(prefix, index),
            ifname: "toswitch".into(),
            addresses: vec![net(&format!("{}/24", node_underlay_ip(index)))],
            master: None,
        },
        b: End {
            ns: format!("{prefix}-switch"),
            ifname: format!("p-node{index}"),
            addresses: vec![],
            master: Some("br0".into()),
        },
        mtu: None,
    }
}

/// The routed pod of node `index` (namespace `pod<i>`, gateway `10.244.<i>.1` on the node).
pub fn pod_ip(index: u32) -> String {
    format!("10.244.{index}.2")
}

/// The L2 pod of node `index` on L2VNI 110 (namespace `l2pod<i>`).
pub fn l2pod_ip(index: u32) -> String {
    format!("192.171.24.{}", 2 + index)
}

/// The pod of node `index` on the disconnected L2VNI 300 (namespace `ewpod<i>`).
pub fn ewpod_ip(index: u32) -> String {
    format!("10.30.0.{}", 2 + index)
}

/// The anycast gateway of L2VNI 110 (in `examples/lab/openpe.yaml`).
pub const L2_GATEWAY: &str = "192.171.24.1";
/// The node-side end of the L2 pod's veth, enslaved to `br-hs-110` once the PE made it.
pub const L2POD_NODE_IF: &str = "vl2pod";
/// The node-side end of the disconnected-L2 pod's veth, enslaved to `br-hs-300`.
pub const EWPOD_NODE_IF: &str = "vewpod";

/// The PE namespace name of node `index` in a lab.
pub fn node_router_ns(prefix: &str, index: u32) -> String {
    format!("{prefix}-node{index}-pe")
}

/// The host namespace name of node `index` in a lab.
pub fn node_host_ns(prefix: &str, index: u32) -> String {
    format!("{prefix}-node{index}")
}

impl Topology {
    /// Builds the topology for `spec`.
    pub fn new(spec: &LabSpec) -> Topology {
        let p = &spec.prefix;
        let ns = |short: &str, role: Role| Namespace::new(p, short, role);
        let end =
            |short: &str, ifname: &str, addrs: &[&str], master: Option<&str>| End::new(p, short, ifname, addrs, master);
        let mut namespaces = Vec::new();
        let mut veths = Vec::new();

        let mut spine = ns("spine", Role::Spine);
        spine.frr = Some(spine_config(spec));
        namespaces.push(spine);

        // (leaf, VTEP, spine address, own address, prefix length)
        let spine_links = if spec.ipv6 {
            [
                ipv6::SPINE_LINKS[0].spine_ip,
                ipv6::SPINE_LINKS[0].peer_ip,
                ipv6::SPINE_LINKS[1].spine_ip,
                ipv6::SPINE_LINKS[1].peer_ip,
            ]
        } else {
            ["192.168.1.0", "192.168.1.1", "192.168.1.2", "192.168.1.3"]
        };
        let len = if spec.ipv6 { 64 } else { 31 };
        for (leaf, vtep, spine_ip, own_ip) in [
            ("leafA", "100.64.0.1", spine_links[0], spine_links[1]),
            ("leafB", "100.64.0.2", spine_links[2], spine_links[3]),
        ] {
            let mut l = ns(leaf, Role::Leaf);
            l.loopback = vec![net(&format!("{vtep}/32"))];
            let mac_tail = if leaf == "leafA" { 0x65 } else { 0x75 };
            if spec.vrf {
                l.vrfs = vec![Vrf { name: "red".into(), table: 1100 }, Vrf { name: "blue".into(), table: 1101 }];
                l.bridges = vec![
                    Bridge {
                        name: "br100".into(),
                        vrf: Some("red".into()),
                        mac: Some([0xaa, 0xbb, 0xcc, 0, 0, mac_tail]),
                    },
                    Bridge {
                        name: "br200".into(),
                        vrf: Some("blue".into()),
                        mac: Some([0xaa, 0xbb, 0xcc, 0, 0, mac_tail + 1]),
                    },
                ];
                l.vxlans = vec![
                    Vxlan { name: "vni100".into(), vni: 100, local: ip(vtep), bridge: "br100".into() },
                    Vxlan { name: "vni200".into(), vni: 200, local: ip(vtep), bridge: "br200".into() },
                ];
            }
            l.frr = Some(leaf_config(leaf, spine_ip, vtep, spec));
            namespaces.push(l);
            let spine_if = if leaf == "leafA" { "eth1" } else { "eth2" };
            veths.push(Veth {
                a: end("spine", spine_if, &[&format!("{spine_ip}/{len}")], None),
                b: end(leaf, "eth1", &[&format!("{own_ip}/{len}")], None),
                mtu: None,
            });
        }

        // (host, leaf, leaf interface, IPv4 /24 prefix, tenant VRF, IPv6 /64 prefix)
        let hosts: [HostLink; 5] = [
            ("hostA-red", "leafA", "ethred", "192.168.20", Some("red"), "2001:db8:20"),
            ("hostA-blue", "leafA", "ethblue", "192.168.21", Some("blue"), "2001:db8:21"),
            ("hostA-default", "leafA", "ethdefault", "192.168.22", None, "2001:db8:22"),
            ("hostB-red", "leafB", "ethred", "192.169.20", Some("red"), "2001:db8:169:20"),
            ("hostB-blue", "leafB", "ethblue", "192.169.21", Some("blue"), "2001:db8:169:21"),
        ];
        for (host, leaf, ifname, v4, vrf, v6) in hosts {
            let mut h = ns(host, Role::ExternalHost);
            h.gateways = vec![ip(&format!("{v4}.1")), ip(&format!("{v6}::1"))];
            namespaces.push(h);
            veths.push(Veth {
                a: end(leaf, ifname, &[&format!("{v4}.1/24"), &format!("{v6}::1/64")], vrf.filter(|_| spec.vrf)),
                b: end(host, "eth1", &[&format!("{v4}.2/24"), &format!("{v6}::2/64")], None),
                mtu: None,
            });
        }

        let mut tor = ns("tor", Role::Tor);
        tor.frr = Some(tor_config(spec));
        if spec.srv6
            && let Some(c) = tor.frr.as_mut()
        {
            c.push_str(&srv6::tor_isis());
        }
        namespaces.push(tor);
        let (spine_tor, tor_spine, tor_switch) = if spec.ipv6 {
            let l = &ipv6::SPINE_LINKS[2];
            (format!("{}/64", l.spine_ip), format!("{}/64", l.peer_ip), format!("{}/64", ipv6::TOR_SWITCH_IP))
        } else {
            ("192.168.1.4/31".to_string(), "192.168.1.5/31".to_string(), "192.168.11.2/24".to_string())
        };
        veths.push(Veth {
            a: end("spine", "eth3", &[&spine_tor], None),
            b: end("tor", "eth1", &[&tor_spine], None),
            mtu: None,
        });

        let mut switch = ns("switch", Role::Switch);
        switch.bridges = vec![Bridge { name: "br0".into(), vrf: None, mac: None }];
        namespaces.push(switch);
        veths.push(Veth {
            a: end("tor", "toswitch", &[&tor_switch], None),
            b: end("switch", "p-tor", &[], Some("br0")),
            mtu: None,
        });

        for i in 0..spec.nodes {
            let short = format!("node{i}");
            let mut host = ns(&short, Role::NodeHost);
            // BIRD and GoBGP speakers are started by `crate::speaker`, not as FRR instances.
            host.frr = (spec.speaker(i) == SpeakerKind::Frr).then(|| host_speaker_config(i));
            namespaces.push(host);
            namespaces.push(ns(&format!("node{i}-pe"), Role::NodeRouter));
            veths.push(node_nic(spec, i));
            // Pods: a routed one on the node's pod subnet, and two attached (after the PE made
            // them) to the node's managed host bridges of L2VNI 110 (routed, anycast gateway)
            // and L2VNI 300 (disconnected).
            let pods = [
                (
                    format!("pod{i}"),
                    "vpod",
                    format!("{}/24", pod_ip(i)),
                    format!("10.244.{i}.1/24"),
                    Some(format!("10.244.{i}.1")),
                ),
                (
                    format!("l2pod{i}"),
                    L2POD_NODE_IF,
                    format!("{}/24", l2pod_ip(i)),
                    String::new(),
                    Some(L2_GATEWAY.to_string()),
                ),
                (format!("ewpod{i}"), EWPOD_NODE_IF, format!("{}/24", ewpod_ip(i)), String::new(), None),
            ];
            for (pod, node_if, pod_addr, node_addr, gw) in pods {
                let mut n = ns(&pod, Role::Pod);
                n.gateways = gw.iter().map(|g| ip(g)).collect();
                namespaces.push(n);
                let node_addrs: Vec<&str> = if node_addr.is_empty() { vec![] } else { vec![node_addr.as_str()] };
                veths.push(Veth {
                    a: end(&pod, if pod.starts_with("pod") { "eth0" } else { "net1" }, &[&pod_addr], None),
                    b: end(&short, node_if, &node_addrs, None),
                    mtu: None,
                });
            }
        }
        if spec.srv6 {
            srv6::add(p, &mut namespaces, &mut veths);
        }
        Topology { prefix: p.clone(), namespaces, veths }
    }

    /// A namespace by short name.
    pub fn namespace(&self, short: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.short == short)
    }
}

/// An external host's link: host, leaf, leaf interface, IPv4 /24, tenant VRF, IPv6 /64.
type HostLink = (&'static str, &'static str, &'static str, &'static str, Option<&'static str>, &'static str);

/// The PE-side addresses each host speaker peers with (L3VNI red, L3VNI blue, passthrough).
pub const PE_HOST_SESSION_IPS: [&str; 3] = ["192.169.10.1", "192.169.11.1", "192.169.30.1"];

/// Whether a BGP peer is one of the nodes' PE routers (the ToR's sessions towards the nodes'
/// underlay addresses or interfaces, the host speakers' sessions towards the PE's host-side
/// addresses): those sessions stay down until a PE runs in the node's router namespace.
pub fn is_pe_peer(spec: &LabSpec, peer: &str) -> bool {
    PE_HOST_SESSION_IPS.contains(&peer) || (0..spec.nodes).any(|i| tor_peer_of_node(spec, i) == peer)
}

/// The BGP peer (as FRR names it) of the ToR towards node `index`'s PE.
pub fn tor_peer_of_node(spec: &LabSpec, index: u32) -> String {
    if spec.ipv6 { ipv6::node_peer(index) } else { node_underlay_ip(index) }
}

/// The BGP peer (as FRR names it) of node `index`'s PE towards the ToR.
pub fn node_peer_of_tor(spec: &LabSpec, index: u32) -> String {
    if spec.ipv6 { ipv6::tor_peer(index) } else { "192.168.11.2".to_string() }
}

/// The pod prefix node `index`'s host speaker announces.
pub fn pod_prefix(index: u32) -> String {
    format!("10.244.{index}.0/24")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_unique() {
        let t = Topology::new(&LabSpec { prefix: "x1".into(), nodes: 3, ..LabSpec::default() });
        let mut names: Vec<&str> = t.namespaces.iter().map(|n| n.name.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("x1-")));
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(before, names.len());
        assert!(t.namespace("node2-pe").is_some_and(|n| n.role == Role::NodeRouter && n.frr.is_none()));
        for v in &t.veths {
            assert!(v.a.ifname.len() <= 15 && v.b.ifname.len() <= 15);
        }
    }

    #[test]
    fn tor_peers_with_every_node() {
        let t = Topology::new(&LabSpec { prefix: "x".into(), nodes: 3, ..LabSpec::default() });
        let tor = t.namespace("tor").and_then(|n| n.frr.clone()).unwrap_or_default();
        for i in 0..3 {
            assert!(tor.contains(&format!("neighbor 192.168.11.{} remote-as 64514", 3 + i)), "{tor}");
        }
    }

    #[test]
    fn fabric_configs_pass_frr_syntax_check() {
        if !frr::vtysh_available() {
            eprintln!("!!! SKIPPED: vtysh is not installed (apt-get install frr) !!!");
            return;
        }
        for (vrf, ipv6) in [(true, false), (false, false), (true, true)] {
            let t = Topology::new(&LabSpec { vrf, ipv6, ..LabSpec::default() });
            for n in &t.namespaces {
                if let Some(conf) = &n.frr
                    && let Err(e) = frr::check_syntax(conf)
                {
                    panic!("{}: {e}\n{conf}", n.short);
                }
            }
        }
    }

    #[test]
    fn without_vrf_the_leaves_have_no_tenant_objects() {
        let t = Topology::new(&LabSpec { vrf: false, ..LabSpec::default() });
        for leaf in ["leafA", "leafB"] {
            let l = t.namespace(leaf).cloned().unwrap();
            assert!(l.vrfs.is_empty() && l.bridges.is_empty() && l.vxlans.is_empty());
            assert!(!l.frr.unwrap().contains("vrf red"));
        }
        assert!(t.veths.iter().all(|v| v.a.master.is_none() || v.a.ns.ends_with("switch")));
        assert!(t.veths.iter().all(|v| v.b.master.is_none() || v.b.ns.ends_with("switch")));
        let spec = LabSpec::default();
        assert!(is_pe_peer(&spec, "192.168.11.4") && !is_pe_peer(&spec, "192.168.11.5"));
        assert!(is_pe_peer(&spec, "192.169.30.1") && !is_pe_peer(&spec, "192.168.1.1"));
        let v6 = LabSpec { ipv6: true, ..LabSpec::default() };
        assert!(is_pe_peer(&v6, "2001:db8:11::3") && is_pe_peer(&v6, "tonode1") && !is_pe_peer(&v6, "192.168.11.4"));
    }

    #[test]
    fn only_frr_nodes_get_an_frr_speaker_configuration() {
        let spec = LabSpec {
            nodes: 3,
            speakers: vec![SpeakerKind::Bird, SpeakerKind::Frr, SpeakerKind::Gobgp],
            ..LabSpec::default()
        };
        let t = Topology::new(&spec);
        let frr: Vec<bool> =
            (0..3).map(|i| t.namespace(&format!("node{i}")).is_some_and(|n| n.frr.is_some())).collect();
        assert_eq!(frr, vec![false, true, false]);
        assert!(Topology::new(&LabSpec::default()).namespace("node1").is_some_and(|n| n.frr.is_some()));
    }
}
