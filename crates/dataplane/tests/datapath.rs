//! Datapath integration tests on this machine's kernel (root; no VRF needed): every test runs
//! in a fresh router/host namespace pair of its own, checks the result with `ip` (an
//! independent reader), and removes the namespaces when it ends.

mod common;

use common::*;
use dataplane::{Action, Datapath, HostNetwork, LinkChange, Side, diff_live};
use kernel::NetNs;

const VTEP: &str = "100.65.0.1";

fn ops_text(r: &dataplane::Report) -> String {
    r.ops.iter().map(|o| format!("{o}\n")).collect()
}

#[test]
fn underlay_moves_in_with_addresses_and_back_out() {
    require_root!();
    let env = Env::new("ul");
    env.fake_nic("ul0", "ul0p", 1500, &["192.168.11.3/24", "2001:db8:11::3/64"]);
    let before = env.addr_list(Side::Host, "ul0");
    let mut dp = env.datapath();
    let want = underlay(&[VTEP, "2001:db8:65::1"], &["ul0"]);
    converge(&mut dp, &want);

    assert!(env.link(Side::Host, "ul0").is_none(), "ul0 left the host");
    let l = env.link(Side::Router, "ul0").expect("ul0 in the router");
    assert_eq!(l["group"], "4242");
    assert!(l["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert_eq!(env.addr_list(Side::Router, "ul0"), before);
    for (a, flags) in env.addrs(Side::Router, "ul0") {
        assert!(!flags.iter().any(|f| f == "noprefixroute"), "{a} re-added with noprefixroute");
    }
    // The prefix route came back with the address (no noprefixroute).
    assert!(env.ip(Side::Router, "route show dev ul0").contains("192.168.11.0/24"));
    let lo = env.addr_list(Side::Router, "lo");
    assert!(lo.contains(&"100.65.0.1/32".to_string()) && lo.contains(&"2001:db8:65::1/128".to_string()), "{lo:?}");
    assert!(env.link(Side::Router, "lo").unwrap()["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    // Sysctls.
    for key in ["net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.default.arp_accept"] {
        assert_eq!(env.sysctl(Side::Router, key), "1", "{key}");
    }
    assert_idempotent(&mut dp, &want);

    // The Underlay goes away: the NIC returns with its addresses, group 0, up; VTEPs leave lo.
    let r = converge(&mut dp, &HostNetwork::default());
    assert!(env.link(Side::Router, "ul0").is_none(), "{}", ops_text(&r));
    let l = env.link(Side::Host, "ul0").expect("ul0 back in the host");
    assert_eq!(l["group"], "default");
    assert!(l["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert_eq!(env.addr_list(Side::Host, "ul0"), before);
    assert_eq!(env.addr_list(Side::Router, "lo"), vec!["127.0.0.1/8".to_string(), "::1/128".to_string()]);
    assert_idempotent(&mut dp, &HostNetwork::default());
}

#[test]
fn missing_underlay_is_reported_and_the_rest_converges() {
    require_root!();
    let env = Env::new("noul");
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &["nosuchnic"]);
    add_l2vni(&mut want, "l2", 10, VTEP, HostBridge::None, None, &[]);
    let r = dp.reconcile(&want).unwrap();
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    assert_eq!(r.failures[0].owner, Some(owner("Underlay", "underlay")));
    assert!(r.failures[0].to_string().starts_with("Underlay/underlay: "), "{}", r.failures[0]);
    assert!(env.link(Side::Router, "vni10").is_some());
    // Without an underlay NIC the veth MTU rule has nothing to go by: MTU left alone.
    assert_eq!(env.link(Side::Host, "host-e-10").unwrap()["mtu"], 1500);
}

#[test]
fn l2vni_without_routing_domain_has_every_attribute() {
    require_root!();
    let env = Env::new("l2");
    env.fake_nic("ul0", "ul0p", 1500, &["192.168.11.3/24"]);
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &["ul0"]);
    add_l2vni(&mut want, "east-west", 300, VTEP, HostBridge::Managed, None, &[]);
    converge(&mut dp, &want);

    let br = env.link(Side::Router, "br-pe-300").unwrap();
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert!(br.get("master").is_none());
    assert_ne!(br["inet6_addr_gen_mode"], "none", "L2 bridges keep the default addrgenmode");
    let vx = env.link(Side::Router, "vni300").unwrap();
    let d = &vx["linkinfo"]["info_data"];
    assert_eq!(vx["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(d["id"], 300);
    assert_eq!(d["local"], VTEP);
    assert_eq!(d["port"], 4789);
    assert_eq!(d["learning"], false);
    assert_eq!(d["link"], "lo");
    assert_eq!(vx["master"], "br-pe-300");
    assert_eq!(vx["inet6_addr_gen_mode"], "none");
    let port = &vx["linkinfo"]["info_slave_data"];
    assert_eq!(port["neigh_suppress"], true);
    assert_eq!(port["learning"], false);
    assert!(vx["flags"].as_array().unwrap().iter().any(|f| f == "UP"));

    let pe = env.link(Side::Router, "pe-e-300").unwrap();
    assert_eq!(pe["master"], "br-pe-300");
    assert_eq!(pe["mtu"], 1450);
    let host = env.link(Side::Host, "host-e-300").unwrap();
    assert_eq!(host["master"], "br-hs-300");
    assert_eq!(host["mtu"], 1450);
    assert_eq!(host["link_netnsid"], pe["link_netnsid"].as_i64().map(|_| host["link_netnsid"].clone()).unwrap());
    assert_eq!(env.link(Side::Host, "br-hs-300").unwrap()["linkinfo"]["info_kind"], "bridge");
    for (side, n) in [(Side::Router, "br-pe-300"), (Side::Router, "pe-e-300"), (Side::Host, "host-e-300")] {
        assert!(env.link(side, n).unwrap()["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{n} up");
    }
    assert_idempotent(&mut dp, &want);

    // The underlay MTU changes: only the two veth MTUs follow.
    env.ip(Side::Router, "link set ul0 mtu 9000");
    let r = converge(&mut dp, &want);
    assert_eq!(r.ops.len(), 2, "{}", ops_text(&r));
    assert!(r.ops.iter().all(|o| matches!(&o.action, Action::SetLink { change: LinkChange::Mtu(8950), .. })));
    assert_eq!(env.link(Side::Host, "host-e-300").unwrap()["mtu"], 8950);
    assert_idempotent(&mut dp, &want);
}

/// An IPv6 tunnel endpoint (`underlayAddressFamily: IPv6`): the VTEP on `lo` and the VXLAN's
/// source are IPv6, over an underlay NIC with IPv6 addresses only; a second pass writes nothing.
#[test]
fn l2vni_on_an_ipv6_vtep_sources_its_vxlan_from_it() {
    require_root!();
    const VTEP6: &str = "2001:db8:65::1";
    let env = Env::new("l26");
    env.fake_nic("ul0", "ul0p", 1500, &["2001:db8:11::3/64"]);
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP6], &["ul0"]);
    add_l2vni(&mut want, "east-west", 301, VTEP6, HostBridge::Managed, None, &[]);
    converge(&mut dp, &want);
    let vx = env.link(Side::Router, "vni301").unwrap();
    let d = &vx["linkinfo"]["info_data"];
    assert_eq!(d["local6"], VTEP6, "{vx}");
    assert!(d.get("local").is_none(), "{vx}");
    assert_eq!(
        (&d["id"], &d["port"], &d["link"]),
        (&serde_json::json!(301), &serde_json::json!(4789), &serde_json::json!("lo"))
    );
    let lo = env.addrs(Side::Router, "lo");
    assert!(lo.iter().any(|(a, _)| a == &format!("{VTEP6}/128")), "{lo:?}");
    assert_idempotent(&mut dp, &want);
}

#[test]
fn external_host_bridge_is_used_and_never_removed() {
    require_root!();
    let env = Env::new("ext");
    env.ip(Side::Host, "link add br-ext type bridge");
    env.ip(Side::Host, "link add br-hs-77 type bridge"); // named like ours, but a wanted master
    let ext_index = env.ifindex(Side::Host, "br-ext");
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &[]);
    add_l2vni(&mut want, "a", 10, VTEP, HostBridge::External("br-ext"), None, &[]);
    add_l2vni(&mut want, "b", 77, VTEP, HostBridge::External("br-hs-77"), None, &[]);
    converge(&mut dp, &want);
    assert_eq!(env.link(Side::Host, "host-e-10").unwrap()["master"], "br-ext");
    assert_eq!(env.link(Side::Host, "host-e-77").unwrap()["master"], "br-hs-77");
    assert_idempotent(&mut dp, &want);

    // The L2VNIs go away: their veths go, the external bridges stay untouched.
    converge(&mut dp, &underlay(&[VTEP], &[]));
    assert!(env.link(Side::Host, "host-e-10").is_none());
    assert_eq!(env.ifindex(Side::Host, "br-ext"), ext_index);
    // br-hs-77 was never ours: now unwanted and named like a managed bridge, it is stale
    // by upstream's rule (prefix + number + bridge) and goes.
    assert!(env.link(Side::Host, "br-hs-77").is_none());

    // A missing external bridge fails that L2VNI only.
    let mut want = underlay(&[VTEP], &[]);
    add_l2vni(&mut want, "missing", 20, VTEP, HostBridge::External("br-nope"), None, &[]);
    add_l2vni(&mut want, "fine", 21, VTEP, HostBridge::Managed, None, &[]);
    let r = dp.reconcile(&want).unwrap();
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    assert_eq!(r.failures[0].owner, Some(owner("L2VNI", "missing")));
    assert!(r.failures[0].message.contains("br-nope"), "{}", r.failures[0]);
    assert!(env.link(Side::Host, "host-e-20").is_some(), "the veth itself is still built");
    assert_eq!(env.link(Side::Host, "host-e-21").unwrap()["master"], "br-hs-21");
}

#[test]
fn passthrough_veth_with_addresses_and_untouched_mtu() {
    require_root!();
    let env = Env::new("pt");
    env.fake_nic("ul0", "ul0p", 9000, &[]);
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &["ul0"]);
    add_passthrough(
        &mut want,
        "pt",
        &["192.169.20.2/24", "2001:db8:20::2/64"],
        &["192.169.20.1/24", "2001:db8:20::1/64"],
    );
    converge(&mut dp, &want);
    assert_eq!(env.addr_list(Side::Host, "pt-host"), vec!["192.169.20.2/24", "2001:db8:20::2/64"]);
    assert_eq!(env.addr_list(Side::Router, "pt-ns"), vec!["192.169.20.1/24", "2001:db8:20::1/64"]);
    assert_eq!(env.link(Side::Router, "pt-ns").unwrap()["mtu"], 1500);
    assert_idempotent(&mut dp, &want);

    // A changed address: only that address moves.
    let mut want2 = underlay(&[VTEP], &["ul0"]);
    add_passthrough(
        &mut want2,
        "pt",
        &["192.169.20.3/24", "2001:db8:20::2/64"],
        &["192.169.20.1/24", "2001:db8:20::1/64"],
    );
    let r = converge(&mut dp, &want2);
    assert_eq!(r.ops.len(), 2, "{}", ops_text(&r));
    assert_eq!(env.addr_list(Side::Host, "pt-host"), vec!["192.169.20.3/24", "2001:db8:20::2/64"]);

    // Gone: both legs removed.
    converge(&mut dp, &underlay(&[VTEP], &["ul0"]));
    assert!(env.link(Side::Host, "pt-host").is_none() && env.link(Side::Router, "pt-ns").is_none());
}

#[test]
fn announcing_addresses_notifies_again_and_changes_nothing() {
    require_root!();
    let env = Env::new("an");
    env.fake_nic("ul0", "ul0p", 1500, &[]);
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &["ul0"]);
    add_passthrough(&mut want, "pt", &["192.169.20.2/24"], &["192.169.20.1/24"]);
    converge(&mut dp, &want);
    let before = env.ip(Side::Host, "-d addr show dev pt-host");

    // An independent listener: `ip monitor address` in the host namespace.
    let mut monitor = std::process::Command::new("ip")
        .args(["-n", env.ns(Side::Host), "monitor", "address"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // 192.169.99.1/24 is not configured: it is skipped, not added.
    let announced = dp.announce_addresses(Side::Host, "pt-host", &[net("192.169.20.2/24"), net("192.169.99.1/24")]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    monitor.kill().unwrap();
    let out = monitor.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout);
    assert_eq!(announced.unwrap(), 1);
    assert!(events.contains("pt-host") && events.contains("inet 192.169.20.2/24"), "no notification: {events:?}");
    assert!(!events.contains("Deleted"), "the address was removed on the way: {events:?}");
    assert!(!events.contains("192.169.99.1"), "{events:?}");
    assert_eq!(env.ip(Side::Host, "-d addr show dev pt-host"), before);
    assert_idempotent(&mut dp, &want);
    assert!(dp.has_link(Side::Host, "pt-host").unwrap() && !dp.has_link(Side::Host, "nope0").unwrap());
    assert!(matches!(
        dp.announce_addresses(Side::Host, "nope0", &[net("192.169.20.2/24")]),
        Err(dataplane::Error::LinkNotFound { .. })
    ));
}

fn three_l2vnis(port_of_second: u16) -> HostNetwork {
    let mut want = underlay(&[VTEP], &["ul0"]);
    add_l2vni(&mut want, "one", 101, VTEP, HostBridge::Managed, None, &[]);
    add_l2vni(&mut want, "two", 102, VTEP, HostBridge::Managed, None, &[]);
    add_l2vni(&mut want, "three", 103, VTEP, HostBridge::None, None, &[]);
    if let Some(l) = want.links.iter_mut().find(|l| l.name == "vni102")
        && let dataplane::LinkKind::Vxlan { port, .. } = &mut l.kind
    {
        *port = port_of_second;
    }
    want
}

fn all_indexes(env: &Env) -> Vec<(Side, String, Option<u64>)> {
    let mut v = Vec::new();
    for side in [Side::Router, Side::Host] {
        for n in env.names(side) {
            let i = env.ifindex(side, &n);
            v.push((side, n, i));
        }
    }
    v
}

#[test]
fn a_change_touches_only_that_object() {
    require_root!();
    let env = Env::new("chg");
    env.fake_nic("ul0", "ul0p", 1500, &[]);
    let mut dp = env.datapath();
    converge(&mut dp, &three_l2vnis(4789));
    assert_idempotent(&mut dp, &three_l2vnis(4789));
    let before = all_indexes(&env);

    // An immutable attribute (dstport) of one VXLAN: that VXLAN alone is recreated.
    let r = converge(&mut dp, &three_l2vnis(4790));
    let touched: std::collections::BTreeSet<&str> = r.ops.iter().filter_map(|o| o.action.link()).collect();
    assert_eq!(touched.into_iter().collect::<Vec<_>>(), vec!["vni102"], "{}", ops_text(&r));
    assert_eq!(env.link(Side::Router, "vni102").unwrap()["linkinfo"]["info_data"]["port"], 4790);
    assert_eq!(env.link(Side::Router, "vni102").unwrap()["master"], "br-pe-102");
    assert_eq!(env.link(Side::Router, "vni102").unwrap()["linkinfo"]["info_slave_data"]["neigh_suppress"], true);
    let after = all_indexes(&env);
    for (b, a) in before.iter().zip(after.iter()) {
        if b.1 != "vni102" {
            assert_eq!(b, a, "ifindex of an untouched object changed");
        }
    }
    assert_idempotent(&mut dp, &three_l2vnis(4790));

    // A mutable attribute (anycast gateway address + MAC) of one bridge: set in place.
    let mut want = three_l2vnis(4790);
    let br = want.links.iter_mut().find(|l| l.name == "br-pe-101").unwrap();
    br.addresses = vec![net("192.170.1.1/24")];
    br.mac = Some(dataplane::MacAddr::anycast_gateway(101));
    let r = converge(&mut dp, &want);
    assert!(r.ops.iter().all(|o| o.action.link() == Some("br-pe-101")), "{}", ops_text(&r));
    assert_eq!(r.ops.len(), 2, "{}", ops_text(&r));
    let br = env.link(Side::Router, "br-pe-101").unwrap();
    assert_eq!(br["address"], "00:f3:00:00:00:66");
    assert_eq!(env.addr_list(Side::Router, "br-pe-101"), vec!["192.170.1.1/24"]);
    assert_eq!(all_indexes(&env), after, "nothing was recreated");
    assert_idempotent(&mut dp, &want);

    // A master change (managed host bridge -> none) on one VNI: one detach, the bridge goes.
    let mut want2 = want.clone();
    want2.links.retain(|l| l.name != "br-hs-102");
    want2.links.iter_mut().find(|l| l.name == "host-e-102").unwrap().master = None;
    let r = converge(&mut dp, &want2);
    assert!(r.ops.iter().all(|o| matches!(o.action.link(), Some("br-hs-102" | "host-e-102"))), "{}", ops_text(&r));
    assert!(env.link(Side::Host, "br-hs-102").is_none());
    assert!(env.link(Side::Host, "host-e-102").unwrap().get("master").is_none());
    assert_idempotent(&mut dp, &want2);
}

#[test]
fn stale_objects_go_and_foreign_ones_stay() {
    require_root!();
    let env = Env::new("stale");
    env.fake_nic("ul0", "ul0p", 1500, &[]);
    // Foreign objects, some named almost like ours.
    env.ip(Side::Router, "link add br-foreign type bridge");
    env.ip(Side::Router, "link add br-pe-x type bridge");
    env.ip(Side::Router, "link add vni55 type bridge"); // our VXLAN name, not a VXLAN
    env.ip(Side::Router, "link add vxforeign type vxlan id 999 dstport 4789 local 10.9.9.9 nolearning");
    env.ip(Side::Host, "link add myveth type veth peer name myveth-p");
    env.ip(Side::Host, "link add host-e-abc type veth peer name host-e-abd");
    env.ip(Side::Host, "link add br-hs-9x type bridge");
    env.ip(Side::Host, "link add br-stay type bridge");
    env.ip(Side::Host, "addr add 10.7.7.7/24 dev br-stay");
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &["ul0"]);
    add_l2vni(&mut want, "one", 101, VTEP, HostBridge::Managed, None, &[]);
    add_l2vni(&mut want, "two", 102, VTEP, HostBridge::Managed, None, &[]);
    add_l2vni(&mut want, "three", 103, VTEP, HostBridge::None, None, &[]);
    add_passthrough(&mut want, "pt", &["192.169.20.2/24"], &["192.169.20.1/24"]);
    converge(&mut dp, &want);
    let foreign = |env: &Env| {
        let mut v = Vec::new();
        for (side, n) in [
            (Side::Router, "br-foreign"),
            (Side::Router, "br-pe-x"),
            (Side::Router, "vni55"),
            (Side::Router, "vxforeign"),
            (Side::Host, "myveth"),
            (Side::Host, "myveth-p"),
            (Side::Host, "host-e-abc"),
            (Side::Host, "br-hs-9x"),
            (Side::Host, "br-stay"),
            (Side::Host, "ul0p"),
        ] {
            v.push((n, env.ifindex(side, n).expect(n)));
        }
        v.push(("br-stay addr", env.addr_list(Side::Host, "br-stay").len() as u64));
        v
    };
    let foreign_before = foreign(&env);

    let mut less = underlay(&[VTEP], &["ul0"]);
    add_l2vni(&mut less, "two", 102, VTEP, HostBridge::Managed, None, &[]);
    let kept = (env.ifindex(Side::Router, "vni102"), env.ifindex(Side::Host, "host-e-102"));
    let r = converge(&mut dp, &less);
    assert!(
        r.ops.iter().all(|o| matches!(o.action, Action::DeleteLink { .. })),
        "only deletions expected:\n{}",
        ops_text(&r)
    );
    for n in ["br-pe-101", "vni101", "pe-e-101", "br-pe-103", "vni103", "pe-e-103", "pt-ns"] {
        assert!(env.link(Side::Router, n).is_none(), "{n} should be gone");
    }
    for n in ["br-hs-101", "host-e-101", "host-e-103", "pt-host"] {
        assert!(env.link(Side::Host, n).is_none(), "{n} should be gone");
    }
    assert_eq!((env.ifindex(Side::Router, "vni102"), env.ifindex(Side::Host, "host-e-102")), kept);
    assert_eq!(foreign(&env), foreign_before, "foreign objects must be left alone");
    assert_idempotent(&mut dp, &less);

    // Everything goes (no Underlay): still only ours.
    converge(&mut dp, &HostNetwork::default());
    assert_eq!(foreign(&env), foreign_before);
    let mut router = env.names(Side::Router);
    router.sort();
    assert_eq!(router, vec!["br-foreign", "br-pe-x", "lo", "vni55", "vxforeign"]);
}

#[test]
fn kernel_failures_are_attributed_and_the_rest_converges() {
    require_root!();
    let env = Env::new("fail");
    // A foreign VXLAN already uses VNI 201 with the same local address and port: the kernel
    // refuses a second one.
    env.ip(Side::Router, &format!("link add vxclash type vxlan id 201 dstport 4789 local {VTEP} nolearning dev lo"));
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &[]);
    add_l2vni(&mut want, "blocked", 201, VTEP, HostBridge::None, None, &[]);
    add_l2vni(&mut want, "fine", 202, VTEP, HostBridge::Managed, None, &[]);
    let r = dp.reconcile(&want).unwrap();
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    let f = &r.failures[0];
    assert_eq!(f.owner, Some(owner("L2VNI", "blocked")));
    assert_eq!(f.object, "link vni201");
    let text = f.to_string();
    assert!(text.starts_with("L2VNI/blocked: link vni201 router namespace: create vxlan vni201"), "{text}");
    assert!(env.link(Side::Router, "vni202").is_some());
    assert!(env.link(Side::Host, "host-e-201").is_some(), "the rest of the blocked VNI is built");
    // Steps on the link that could not be created were skipped, not failed again.
    assert!(!r.ops.iter().any(|o| o.action.link() == Some("vni201") && !matches!(o.action, Action::CreateLink(_))));
    // Once the clash is gone, the next pass converges.
    env.ip(Side::Router, "link del vxclash");
    converge(&mut dp, &want);
    assert_idempotent(&mut dp, &want);
}

#[test]
fn sysctls_are_written_only_when_different_and_optional_ones_may_be_missing() {
    require_root!();
    let env = Env::new("sys");
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &[]);
    want.sysctls.push(dataplane::Sysctl {
        key: "net/ipv4/conf/all/no_such_knob".into(),
        value: "1".into(),
        optional: true,
        side: Side::Router,
    });
    let r = converge(&mut dp, &want);
    let writes: Vec<_> = r.ops.iter().filter(|o| matches!(o.action, Action::WriteSysctl { .. })).collect();
    assert_eq!(writes.len(), 6, "{}", ops_text(&r));
    assert!(r.notes.iter().any(|n| n.contains("no_such_knob")), "{:?}", r.notes);
    assert_idempotent(&mut dp, &want);
    // The host namespace was not touched.
    assert_eq!(env.sysctl(Side::Host, "net.ipv4.conf.all.forwarding"), "0");
    assert_eq!(env.sysctl(Side::Router, "net.ipv4.conf.all.forwarding"), "1");
    // A required one that does not exist is a failure of the Underlay.
    want.sysctls.push(dataplane::Sysctl {
        key: "net/ipv4/conf/all/no_such_required_knob".into(),
        value: "1".into(),
        optional: false,
        side: Side::Router,
    });
    let r = dp.reconcile(&want).unwrap();
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].owner, Some(owner("Underlay", "underlay")));
}

#[test]
fn veth_with_a_wrong_peer_is_recreated() {
    require_root!();
    let env = Env::new("peer");
    // host-e-5 exists, but its peer stayed in the host namespace (a half-done upstream setup).
    env.ip(Side::Host, "link add host-e-5 type veth peer name pe-e-5");
    let mut dp = env.datapath();
    let mut want = underlay(&[VTEP], &[]);
    add_l2vni(&mut want, "l2", 5, VTEP, HostBridge::None, None, &[]);
    let r = converge(&mut dp, &want);
    assert!(
        r.ops.iter().any(|o| matches!(&o.action, Action::DeleteLink { name, .. } if name == "host-e-5")),
        "{}",
        ops_text(&r)
    );
    assert!(env.link(Side::Host, "pe-e-5").is_none());
    assert_eq!(env.link(Side::Router, "pe-e-5").unwrap()["master"], "br-pe-5");
    assert_idempotent(&mut dp, &want);
}

#[test]
fn diff_live_reads_without_writing() {
    require_root!();
    let env = Env::new("live");
    env.fake_nic("ul0", "ul0p", 1500, &["192.168.11.3/24"]);
    let mut want = underlay(&[VTEP], &["ul0"]);
    add_l2vni(&mut want, "l2", 7, VTEP, HostBridge::Managed, None, &[]);
    let host_path = format!("/run/netns/{}", env.host);
    let d = diff_live(&want, &env.router, Some(&host_path)).unwrap();
    let text = d.to_string();
    assert!(text.contains("host   move ul0 to the router namespace"), "{text}");
    assert!(text.contains("create vxlan vni7 id 7 local 100.65.0.1 dstport 4789 nolearning dev lo master br-pe-7"));
    assert!(env.link(Side::Host, "ul0").is_some(), "diff_live changed nothing");
    // Same as the datapath's own diff.
    let mut dp = env.datapath();
    assert_eq!(dp.diff(&want).unwrap().ops, d.ops);
    // A router namespace that does not exist yet: diffed against a fresh one.
    let d = diff_live(&want, &format!("{}-missing", env.router), Some(&env.host)).unwrap();
    assert!(d.notes[0].contains("does not exist"), "{:?}", d.notes);
    assert!(d.ops.iter().any(|o| matches!(&o.action, Action::MoveLink { name, .. } if name == "ul0")));
    converge(&mut dp, &want);
    assert!(diff_live(&want, &env.router, Some(&env.host)).unwrap().is_empty());
}

#[test]
fn datapath_refuses_one_namespace_for_both_sides() {
    require_root!();
    let env = Env::new("same");
    let a = NetNs::open(&env.router).unwrap();
    let b = NetNs::open(&env.router).unwrap();
    assert!(matches!(Datapath::new(a, b), Err(dataplane::Error::SameNamespace(_))));
}
