//! Shared helpers of the datapath integration tests: throwaway namespace pairs with cleanup,
//! `ip` as an independent witness of kernel state, and desired-state builders shaped like the
//! planner's output.
#![allow(dead_code)]

use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use dataplane::{
    AddrGenMode, BridgePort, Datapath, HostNetwork, Link, LinkKind, MacAddr, Mtu, Owner, Side, Sysctl,
    UNDERLAY_LINK_GROUP, VXLAN_OVERHEAD, names,
};
use ipnet::IpNet;
use kernel::NetNs;
use serde_json::Value;

/// Whether the tests can touch namespaces (root).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Returns early (with a loud message) when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: datapath tests need root (network namespaces) ***\n");
            return;
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A router and a host namespace created for one test, deleted on drop.
pub struct Env {
    pub router: String,
    pub host: String,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let env = Env { router: format!("dpt-{tag}-r-{pid}-{n}"), host: format!("dpt-{tag}-h-{pid}-{n}") };
        NetNs::create(&env.router).expect("create router netns");
        NetNs::create(&env.host).expect("create host netns");
        env
    }

    pub fn ns(&self, side: Side) -> &str {
        match side {
            Side::Router => &self.router,
            Side::Host => &self.host,
        }
    }

    pub fn datapath(&self) -> Datapath {
        Datapath::new(NetNs::open(&self.router).unwrap(), NetNs::open(&self.host).unwrap()).unwrap()
    }

    /// Runs `ip -n <ns> <args>` and returns stdout; panics on failure.
    pub fn ip(&self, side: Side, args: &str) -> String {
        let out =
            Command::new("ip").arg("-n").arg(self.ns(side)).args(args.split_whitespace()).output().expect("run ip");
        assert!(out.status.success(), "ip -n {} {args}: {}", self.ns(side), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A sysctl as `sysctl -n` reads it inside the namespace.
    pub fn sysctl(&self, side: Side, key: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", self.ns(side), "sysctl", "-n", key])
            .output()
            .expect("run ip netns exec sysctl");
        assert!(out.status.success(), "sysctl {key}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `ip -d -j link show dev <name>` as JSON (None when absent).
    pub fn link(&self, side: Side, name: &str) -> Option<Value> {
        let out = Command::new("ip")
            .args(["-n", self.ns(side), "-d", "-j", "link", "show", "dev", name])
            .output()
            .expect("run ip");
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).expect("ip json");
        v.as_array().and_then(|a| a.first().cloned())
    }

    pub fn ifindex(&self, side: Side, name: &str) -> Option<u64> {
        self.link(side, name).and_then(|l| l["ifindex"].as_u64())
    }

    /// Non-link-local addresses of a link, as `addr/prefix`, with their flags.
    pub fn addrs(&self, side: Side, name: &str) -> Vec<(String, Vec<String>)> {
        let out =
            Command::new("ip").args(["-n", self.ns(side), "-j", "addr", "show", "dev", name]).output().expect("run ip");
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).expect("ip json");
        let mut res = Vec::new();
        for l in v.as_array().into_iter().flatten() {
            for a in l["addr_info"].as_array().into_iter().flatten() {
                if a["scope"] == "link" {
                    continue;
                }
                let flags = a
                    .as_object()
                    .map(|o| {
                        o.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.clone()).collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                res.push((format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]), flags));
            }
        }
        res
    }

    pub fn addr_list(&self, side: Side, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self.addrs(side, name).into_iter().map(|(a, _)| a).collect();
        v.sort();
        v
    }

    pub fn names(&self, side: Side) -> Vec<String> {
        let out = self.ip(side, "-j link show");
        let v: Value = serde_json::from_str(&out).unwrap();
        let mut names: Vec<String> =
            v.as_array().unwrap().iter().map(|l| l["ifname"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    }

    /// A veth "NIC" in the host namespace (its peer stays there too), with addresses and MTU.
    pub fn fake_nic(&self, name: &str, peer: &str, mtu: u32, addrs: &[&str]) {
        self.ip(Side::Host, &format!("link add {name} mtu {mtu} type veth peer name {peer} mtu {mtu}"));
        for a in addrs {
            self.ip(Side::Host, &format!("addr add {a} dev {name}"));
        }
        self.ip(Side::Host, &format!("link set {name} up"));
        self.ip(Side::Host, &format!("link set {peer} up"));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = NetNs::delete(&self.router);
        let _ = NetNs::delete(&self.host);
    }
}

pub fn owner(kind: &str, name: &str) -> Owner {
    Owner { kind: kind.into(), name: name.into() }
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// The Underlay part of a plan: sysctls, VTEPs on the router `lo`, the underlay NICs.
pub fn underlay(vteps: &[&str], nics: &[&str]) -> HostNetwork {
    let o = owner("Underlay", "underlay");
    let mut h = HostNetwork::default();
    for (k, optional) in [
        ("net/ipv4/conf/all/forwarding", false),
        ("net/ipv6/conf/all/forwarding", false),
        ("net/ipv4/conf/all/arp_accept", false),
        ("net/ipv4/conf/default/arp_accept", false),
        ("net/ipv6/conf/all/accept_untracked_na", true),
        ("net/ipv6/conf/default/accept_untracked_na", true),
    ] {
        h.sysctls.push(Sysctl { key: k.into(), value: "1".into(), optional, side: Side::Router });
    }
    let mut lo = Link::new(names::LOOPBACK, Side::Router, LinkKind::Loopback, o.clone());
    lo.managed = false;
    lo.addresses = vteps.iter().map(|v| IpNet::from(v.parse::<IpAddr>().unwrap())).collect();
    h.links.push(lo);
    for n in nics {
        let mut l = Link::new(*n, Side::Router, LinkKind::Underlay, o.clone());
        l.group = Some(UNDERLAY_LINK_GROUP);
        h.links.push(l);
    }
    h
}

fn vxlan(vni: u32, vtep: &str, port: u16, master: &str, o: &Owner) -> Link {
    let mut l = Link::new(
        names::vxlan(vni),
        Side::Router,
        LinkKind::Vxlan { vni, local: vtep.parse().unwrap(), port, learning: false, device: names::LOOPBACK.into() },
        o.clone(),
    );
    l.master = Some(master.into());
    l.addr_gen_mode = Some(AddrGenMode::None);
    l.bridge_port = Some(BridgePort { neigh_suppress: true, learning: false });
    l
}

fn veth_pair(vni: u32, o: &Owner) -> (Link, Link) {
    let mut host = Link::new(
        names::host_veth(vni),
        Side::Host,
        LinkKind::Veth { peer: names::pe_veth(vni), peer_side: Side::Router },
        o.clone(),
    );
    host.mtu = Mtu::UnderlayMinus(VXLAN_OVERHEAD);
    let mut pe = Link::new(
        names::pe_veth(vni),
        Side::Router,
        LinkKind::Veth { peer: names::host_veth(vni), peer_side: Side::Host },
        o.clone(),
    );
    pe.mtu = Mtu::UnderlayMinus(VXLAN_OVERHEAD);
    (host, pe)
}

pub enum HostBridge<'a> {
    None,
    Managed,
    External(&'a str),
}

/// An L2VNI as the planner builds it.
pub fn add_l2vni(
    h: &mut HostNetwork,
    name: &str,
    vni: u32,
    vtep: &str,
    hb: HostBridge,
    vrf: Option<&str>,
    gateways: &[&str],
) {
    let o = owner("L2VNI", name);
    let bridge = names::pe_bridge(vni);
    let mut br = Link::new(&bridge, Side::Router, LinkKind::Bridge, o.clone());
    br.master = vrf.map(str::to_string);
    if !gateways.is_empty() {
        br.addresses = gateways.iter().map(|g| net(g)).collect();
        br.mac = Some(MacAddr::anycast_gateway(vni));
    }
    h.links.push(br);
    h.links.push(vxlan(vni, vtep, 4789, &bridge, &o));
    let (mut host, mut pe) = veth_pair(vni, &o);
    pe.master = Some(bridge.clone());
    match hb {
        HostBridge::None => {}
        HostBridge::Managed => {
            let b = Link::new(names::host_bridge(vni), Side::Host, LinkKind::Bridge, o.clone());
            host.master = Some(b.name.clone());
            h.links.push(b);
        }
        HostBridge::External(n) => host.master = Some(n.into()),
    }
    h.links.push(host);
    h.links.push(pe);
}

/// An L3VNI as the planner builds it; `session` = (host addresses, router addresses).
pub fn add_l3vni(
    h: &mut HostNetwork,
    name: &str,
    vrf: &str,
    vni: u32,
    vtep: &str,
    session: Option<(&[&str], &[&str])>,
) {
    let o = owner("L3VNI", name);
    h.links.push(Link::new(vrf, Side::Router, LinkKind::Vrf, o.clone()));
    let mut br = Link::new(names::pe_bridge(vni), Side::Router, LinkKind::Bridge, o.clone());
    br.master = Some(vrf.into());
    br.addr_gen_mode = Some(AddrGenMode::None);
    h.links.push(br);
    h.links.push(vxlan(vni, vtep, 4789, &names::pe_bridge(vni), &o));
    if let Some((hosts, routers)) = session {
        let (mut host, mut pe) = veth_pair(vni, &o);
        host.addresses = hosts.iter().map(|a| net(a)).collect();
        pe.addresses = routers.iter().map(|a| net(a)).collect();
        pe.master = Some(vrf.into());
        h.links.push(host);
        h.links.push(pe);
    }
}

/// The passthrough veth.
pub fn add_passthrough(h: &mut HostNetwork, name: &str, hosts: &[&str], routers: &[&str]) {
    let o = owner("L3Passthrough", name);
    let mut host = Link::new(
        names::PASSTHROUGH_HOST,
        Side::Host,
        LinkKind::Veth { peer: names::PASSTHROUGH_ROUTER.into(), peer_side: Side::Router },
        o.clone(),
    );
    host.addresses = hosts.iter().map(|a| net(a)).collect();
    let mut pe = Link::new(
        names::PASSTHROUGH_ROUTER,
        Side::Router,
        LinkKind::Veth { peer: names::PASSTHROUGH_HOST.into(), peer_side: Side::Host },
        o,
    );
    pe.addresses = routers.iter().map(|a| net(a)).collect();
    h.links.push(host);
    h.links.push(pe);
}

/// Reconciles and asserts a clean report; returns it.
pub fn converge(dp: &mut Datapath, want: &HostNetwork) -> dataplane::Report {
    let r = dp.reconcile(want).expect("reconcile");
    assert!(r.is_ok(), "failures: {:#?}", r.failures);
    r
}

/// Asserts that a second pass finds nothing to do and writes nothing.
pub fn assert_idempotent(dp: &mut Datapath, want: &HostNetwork) {
    let d = dp.diff(want).expect("diff");
    assert!(d.ops.is_empty(), "expected no steps, got:\n{d}");
    let before = dp.writes();
    let r = dp.reconcile(want).expect("reconcile");
    assert!(r.ops.is_empty() && r.writes == 0, "second apply wrote {} times: {:#?}", r.writes, r.ops);
    assert_eq!(dp.writes(), before);
    // What the notifications kept up to date equals a fresh dump.
    let cached = dp.observe(want).expect("observe");
    let fresh = dp.observe_fresh(want).expect("observe fresh");
    assert_eq!(cached, fresh, "the notification-fed picture drifted from the kernel");
}
