//! The kernel crate against this machine's kernel (root): every test makes namespaces of its
//! own (named after the test and this process), checks with `ip` as an independent reader where
//! that helps, and deletes what it made.

use std::net::IpAddr;

use ipnet::IpNet;
use kernel::rtnl::{self, AddrMode, LinkKind, LinkRef, LinkSet, NewLink, Vxlan};
use kernel::{NetNs, NetnsError, Socket, sysctl};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// A namespace deleted when the test ends, whatever happens.
struct Scoped(String);

impl Scoped {
    fn new(tag: &str) -> (Scoped, NetNs) {
        let name = format!("krt-{tag}-{}", std::process::id());
        let ns = NetNs::create(&name).expect("create namespace");
        (Scoped(name), ns)
    }
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let _ = NetNs::delete(&self.0);
    }
}

fn ip(ns: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("ip").args(["-n", ns]).args(args).output().expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn namespaces_are_created_opened_and_deleted() {
    require_root!();
    let name = format!("krt-ns-{}", std::process::id());
    let ns = NetNs::create(&name).unwrap();
    assert!(NetNs::exists(&name));
    assert!(NetNs::list().contains(&name));
    assert!(matches!(NetNs::create(&name), Err(NetnsError::Exists { .. })));
    let again = NetNs::open(&name).unwrap();
    assert!(ns.same_as(&again));
    assert!(!ns.same_as(&NetNs::current().unwrap()));
    // `ip` sees the same namespace, with only lo, up.
    let text = ip(&name, &["-o", "link"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("lo:") && text.contains(",UP"), "{text}");
    // Code run inside sees the namespace; the calling thread does not move.
    let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let inside = ns.run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap()).unwrap();
    assert_ne!(inside, before);
    assert_eq!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), before);
    let scratch = NetNs::scratch(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap()).unwrap();
    assert_ne!(scratch, before);
    drop((ns, again));
    NetNs::delete(&name).unwrap();
    assert!(!NetNs::exists(&name));
    assert!(matches!(NetNs::open(&name), Err(NetnsError::NotFound { .. })));
    assert!(matches!(NetNs::create("a/b"), Err(NetnsError::InvalidName { .. })));
}

#[test]
fn a_namespace_whose_name_was_deleted_is_named_again_with_everything_in_it() {
    require_root!();
    let name = format!("krt-attach-{}", std::process::id());
    let _scoped = Scoped(name.clone());
    let held = NetNs::create(&name).unwrap();
    let mut sock = held.run(Socket::open).unwrap().unwrap();
    let veth = NewLink::new("krt-a", LinkKind::Veth { peer: "krt-b", peer_mtu: None, peer_netns: None });
    sock.request(&mut veth.message()).unwrap();
    drop(sock);
    // The name goes; the handle keeps the namespace, and its veth, alive.
    NetNs::delete(&name).unwrap();
    assert!(!NetNs::exists(&name));
    let named = held.attach(&name).unwrap();
    assert!(named.same_as(&held) && named.same_as(&NetNs::open(&name).unwrap()));
    assert_eq!(named.name(), Some(name.as_str()));
    let text = ip(&name, &["-o", "link"]);
    assert!(text.contains("krt-a@krt-b") && text.contains("krt-b@krt-a"), "{text}");
    // A name that is taken is not attached over.
    assert!(matches!(held.attach(&name), Err(NetnsError::Exists { .. })));
    assert!(NetNs::open(&name).unwrap().same_as(&held));
}

#[test]
fn typed_requests_build_a_bridged_vxlan_a_veth_pair_and_a_default_route() {
    require_root!();
    let (a_name, a) = Scoped::new("a");
    let (b_name, b) = Scoped::new("b");
    let mut sa = a.run(Socket::open).unwrap().unwrap();
    let mut sb = b.run(Socket::open).unwrap().unwrap();

    // A veth pair, its peer made straight in b.
    let veth =
        NewLink::new("to-b", LinkKind::Veth { peer: "to-a", peer_mtu: Some(1400), peer_netns: Some(b.raw_fd()) });
    sa.request(&mut veth.message()).unwrap();
    let ia = sa.index_of("to-b").unwrap().expect("to-b in a");
    let ib = sb.index_of("to-a").unwrap().expect("to-a in b");
    assert_eq!(sb.index_of("to-b").unwrap(), None);
    let addr: IpNet = "10.9.0.1/24".parse().unwrap();
    sa.request(&mut rtnl::set_link(LinkRef::Index(ia), &[LinkSet::Up(true)])).unwrap();
    sa.request(&mut rtnl::add_address(ia, &addr, AddrMode::Create)).unwrap();
    let again = sa.request(&mut rtnl::add_address(ia, &addr, AddrMode::Create)).unwrap_err();
    assert_eq!(again.errno(), Some(libc::EEXIST), "{again}");
    sa.request(&mut rtnl::add_address(ia, &addr, AddrMode::Replace)).unwrap();
    sb.request(&mut rtnl::set_link(LinkRef::Index(ib), &[LinkSet::Up(true)])).unwrap();
    sb.request(&mut rtnl::add_address(ib, &"10.9.0.2/24".parse().unwrap(), AddrMode::Create)).unwrap();
    sa.request(&mut rtnl::add_route(&"0.0.0.0/0".parse().unwrap(), "10.9.0.2".parse().unwrap())).unwrap();

    // A bridge with a VXLAN port, learning off and ARP/ND suppression on.
    sa.request(&mut rtnl::add_address(1, &"100.65.0.7/32".parse().unwrap(), AddrMode::Create)).unwrap();
    let mut br = NewLink::new("br-t", LinkKind::Bridge);
    br.mac = Some([0x00, 0xf3, 0, 0, 0, 0x6f]);
    br.up = true;
    sa.request(&mut br.message()).unwrap();
    let ibr = sa.index_of("br-t").unwrap().unwrap();
    let vx = Vxlan { vni: 4242, local: "100.65.0.7".parse().unwrap(), port: 4789, learning: false, device: None };
    let mut vxl = NewLink::new("vni4242", LinkKind::Vxlan(vx));
    vxl.master = Some(ibr);
    sa.request(&mut vxl.message()).unwrap();
    sa.request(&mut rtnl::set_link(
        LinkRef::Name("vni4242"),
        &[LinkSet::BridgePort { neigh_suppress: true, learning: false }, LinkSet::Up(true)],
    ))
    .unwrap();

    // What `ip` sees.
    let details = ip(&a_name.0, &["-d", "link", "show", "vni4242"]);
    for want in [
        "vxlan id 4242",
        "local 100.65.0.7",
        "dstport 4789",
        "nolearning",
        "master br-t",
        "neigh_suppress on",
        "learning off",
    ] {
        assert!(details.contains(want), "{want:?} in {details}");
    }
    assert!(ip(&b_name.0, &["link", "show", "to-a"]).contains("mtu 1400"));
    assert!(ip(&a_name.0, &["route"]).contains("default via 10.9.0.2 dev to-b"));

    // What our readers see.
    let links = sa.links().unwrap();
    let find = |n: &str| links.iter().find(|l| l.name == n).unwrap_or_else(|| panic!("{n} in {links:?}"));
    assert_eq!(find("vni4242").kind, "vxlan");
    assert_eq!(find("vni4242").master, Some(ibr));
    assert_eq!(find("br-t").mac, Some([0x00, 0xf3, 0, 0, 0, 0x6f]));
    assert_eq!(find("to-b").kind, "veth");
    let addrs = sa.addresses().unwrap();
    assert!(addrs.contains(&(ia, addr)));
    let routes = sa.routes().unwrap();
    let default = routes.iter().find(|r| r.destination.prefix_len() == 0 && r.table == 254).expect("default route");
    assert_eq!(default.gateways, vec!["10.9.0.2".parse::<IpAddr>().unwrap()]);
    // A ping fills the neighbour table.
    let _ =
        std::process::Command::new("ip").args(["netns", "exec", &a_name.0, "ping", "-c1", "-W1", "10.9.0.2"]).output();
    let neigh = sa.neighbours().unwrap();
    assert!(
        neigh
            .iter()
            .any(|n| n.ip == Some("10.9.0.2".parse::<IpAddr>().unwrap()) && n.index == ia && !n.fdb && n.mac.is_some()),
        "{neigh:?}"
    );

    // A VXLAN FDB entry is read as a bridge neighbour with its remote VTEP.
    let fdb = std::process::Command::new("bridge")
        .args(["-n", &a_name.0, "fdb", "append", "00:00:00:00:00:00", "dev", "vni4242", "dst", "100.64.0.9"])
        .status()
        .unwrap();
    assert!(fdb.success());
    let ivx = sa.index_of("vni4242").unwrap().unwrap();
    let neigh = sa.neighbours().unwrap();
    assert!(
        neigh
            .iter()
            .any(|n| n.fdb && n.index == ivx && n.ip == Some("100.64.0.9".parse().unwrap()) && n.mac == Some([0; 6])),
        "{neigh:?}"
    );

    // Deleting one end of the pair removes both.
    sa.request(&mut rtnl::delete_link("to-b")).unwrap();
    assert_eq!(sb.index_of("to-a").unwrap(), None);
    assert_eq!(sa.request(&mut rtnl::delete_link("to-b")).unwrap_err().errno(), Some(libc::ENODEV));
}

#[test]
fn sysctls_are_per_namespace_and_keys_with_dots_work() {
    require_root!();
    let (_a_name, a) = Scoped::new("s");
    let mut s = a.run(Socket::open).unwrap().unwrap();
    s.request(&mut NewLink::new("eth0.10", LinkKind::Bridge).message()).unwrap();
    let key = "net/ipv4/conf/eth0.10/forwarding";
    assert_eq!(a.run(|| sysctl::read(key)).unwrap().unwrap().as_deref(), Some("0"));
    a.run(|| sysctl::write(key, "1")).unwrap().unwrap();
    assert_eq!(a.run(|| sysctl::read(key)).unwrap().unwrap().as_deref(), Some("1"));
    // This namespace has no such link.
    assert_eq!(sysctl::read(key).unwrap(), None);
    assert!(a.run(|| sysctl::write("net/ipv4/conf/none-such/forwarding", "1")).unwrap().is_err());
}

#[test]
fn routes_are_replaced_and_deleted_by_their_protocol() {
    require_root!();
    let (name, ns) = Scoped::new("rt");
    let mut s = ns.run(Socket::open).unwrap().unwrap();
    let lo = s.index_of("lo").unwrap().unwrap();
    s.request(&mut rtnl::set_link(LinkRef::Index(lo), &[LinkSet::Up(true)])).unwrap();
    let a = NewLink::new("rt-a", LinkKind::Veth { peer: "rt-b", peer_mtu: None, peer_netns: None });
    s.request(&mut a.message()).unwrap();
    for dev in ["rt-a", "rt-b"] {
        s.request(&mut rtnl::set_link(LinkRef::Name(dev), &[LinkSet::Up(true)])).unwrap();
    }
    let ia = s.index_of("rt-a").unwrap().unwrap();
    s.request(&mut rtnl::add_address(ia, &"10.8.0.1/24".parse().unwrap(), AddrMode::Create)).unwrap();
    let bgp = kernel::netlink::uapi::RTPROT_BGP;
    let prefix: IpNet = "192.0.2.0/24".parse().unwrap();
    let ours = |s: &mut Socket| -> Vec<(IpNet, Vec<IpAddr>)> {
        s.routes().unwrap().into_iter().filter(|r| r.protocol == bgp).map(|r| (r.destination, r.gateways)).collect()
    };

    // Added, then its next hop moved in place, then a second replace changes nothing.
    s.request(&mut rtnl::replace_route(&prefix, "10.8.0.2".parse().unwrap(), bgp)).unwrap();
    assert_eq!(ours(&mut s), vec![(prefix, vec!["10.8.0.2".parse().unwrap()])]);
    s.request(&mut rtnl::replace_route(&prefix, "10.8.0.3".parse().unwrap(), bgp)).unwrap();
    s.request(&mut rtnl::replace_route(&prefix, "10.8.0.3".parse().unwrap(), bgp)).unwrap();
    assert_eq!(ours(&mut s), vec![(prefix, vec!["10.8.0.3".parse().unwrap()])]);
    assert!(ip(&name.0, &["route", "show", "proto", "bgp"]).contains("192.0.2.0/24 via 10.8.0.3 dev rt-a"));

    // A delete names the protocol: another protocol's route to the prefix is not ours to remove.
    s.request(&mut rtnl::delete_route(&prefix, bgp)).unwrap();
    assert!(ours(&mut s).is_empty());
    s.request(&mut rtnl::add_route(&prefix, "10.8.0.2".parse().unwrap())).unwrap();
    let gone = s.request(&mut rtnl::delete_route(&prefix, bgp)).unwrap_err();
    assert_eq!(gone.errno(), Some(libc::ESRCH), "{gone}");
    assert!(ip(&name.0, &["route", "show", "192.0.2.0/24"]).contains("via 10.8.0.2"));
}
