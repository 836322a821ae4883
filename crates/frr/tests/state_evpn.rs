//! State readers on real FRR output: two FRR instances in two namespaces,
//! connected by a veth, eBGP with EVPN (`advertise-all-vni`), an L2 VNI
//! (bridge + vxlan, no VRF: this kernel has none) with a host on each side,
//! an L3 VNI for the default VRF (`vni 200` at the top level, which gives
//! type-5 routes with a router MAC without a VRF device) and BFD on the
//! session. The JSON outputs are parsed live; with `FRR_UPDATE_FIXTURES=1`
//! they are also stored under `tests/fixtures/frr-VERSION/` for
//! `state_fixtures.rs`. Needs root and FRR (skipped loudly otherwise).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use frr::state::{self, EvpnRouteKey, EvpnRouteType, VniKind};
use frr::testing::{Fleet, ip, netns_exec, skip_loudly, skip_reason};

/// The commands captured, by fixture file name.
pub const CAPTURES: &[(&str, &str)] = &[
    ("bgp_summary.json", "show bgp vrf all summary json"),
    ("evpn_vni.json", "show evpn vni json"),
    ("evpn_routes.json", "show bgp l2vpn evpn route detail json"),
    ("evpn_routes_type2.json", "show bgp l2vpn evpn route detail type 2 json"),
    ("evpn_table.json", "show bgp l2vpn evpn json"),
    ("bfd_peers.json", "show bfd peers json"),
];

fn leaf_config(me: u8, asn: u32, peer_as: u32) -> String {
    let other = 3 - me;
    format!(
        "hostname leaf-{me}\n\
         vni 200\n\
         router bgp {asn}\n bgp router-id 198.51.100.{me}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         neighbor 192.0.2.{other} remote-as {peer_as}\n neighbor 192.0.2.{other} timers connect 2\n \
         neighbor 192.0.2.{other} bfd\n !\n \
         address-family ipv4 unicast\n  network 198.51.100.{me}/32\n  neighbor 192.0.2.{other} activate\n exit-address-family\n !\n \
         address-family l2vpn evpn\n  neighbor 192.0.2.{other} activate\n  advertise-all-vni\n  advertise ipv4 unicast\n \
         exit-address-family\nexit\n!\n"
    )
}

fn setup_kernel(ns: &str, me: u8) -> std::io::Result<()> {
    let vtep = format!("198.51.100.{me}/32");
    let local = format!("198.51.100.{me}");
    let run = |args: &[&str]| ip(&[&["-n", ns], args].concat());
    run(&["addr", "add", &format!("192.0.2.{me}/24"), "dev", "uplink"])?;
    run(&["link", "set", "uplink", "up"])?;
    // A port-less bridge stands in for the dummy VTEP loopback.
    run(&["link", "add", "lound", "type", "bridge"])?;
    run(&["link", "set", "lound", "up"])?;
    run(&["addr", "add", &vtep, "dev", "lound"])?;
    for (vni, bridge, mac) in [("100", "br100", None), ("200", "br200", Some(format!("02:00:00:00:02:0{me}")))] {
        run(&["link", "add", bridge, "type", "bridge"])?;
        if let Some(mac) = &mac {
            run(&["link", "set", bridge, "address", mac])?;
        }
        run(&["link", "set", bridge, "addrgenmode", "none", "up"])?;
        let vx = format!("vni{vni}");
        run(&["link", "add", &vx, "type", "vxlan", "id", vni, "local", &local, "dstport", "4789", "nolearning"])?;
        run(&["link", "set", &vx, "master", bridge, "addrgenmode", "none", "up"])?;
        netns_exec(ns, &["bridge", "link", "set", "dev", &vx, "learning", "off", "neigh_suppress", "on"])?;
    }
    // A host on the L2 VNI.
    run(&["link", "add", "host", "type", "veth", "peer", "name", "hostport"])?;
    run(&["link", "set", "hostport", "master", "br100", "up"])?;
    run(&["link", "set", "host", "address", &format!("02:00:00:00:00:0{me}"), "up"])?;
    run(&["addr", "add", &format!("10.100.0.{me}/24"), "dev", "host"])?;
    Ok(())
}

fn version_dir(version_text: &str) -> PathBuf {
    let version =
        version_text.split_whitespace().skip_while(|w| *w != "FRRouting").nth(1).unwrap_or("unknown").to_string();
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("frr-{version}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_on_a_live_evpn_session() {
    if let Some(reason) = skip_reason() {
        skip_loudly("EVPN state readers", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let a = fleet.add_instance("frrev-a", Some("leaf-1")).unwrap();
    let b = fleet.add_instance("frrev-b", Some("leaf-2")).unwrap();
    let ns: Vec<String> = fleet.namespaces().to_vec();
    let tmp = format!("ev{}", std::process::id() % 100_000);
    let (va, vb) = (format!("{tmp}a"), format!("{tmp}b"));
    ip(&["link", "add", &va, "netns", &ns[0], "type", "veth", "peer", "name", &vb, "netns", &ns[1]]).unwrap();
    ip(&["-n", &ns[0], "link", "set", &va, "name", "uplink"]).unwrap();
    ip(&["-n", &ns[1], "link", "set", &vb, "name", "uplink"]).unwrap();
    setup_kernel(&ns[0], 1).unwrap();
    setup_kernel(&ns[1], 2).unwrap();
    fleet.start_all().unwrap();
    for (inst, text) in [(&a, leaf_config(1, 65001, 65002)), (&b, leaf_config(2, 65002, 65001))] {
        frr::Applier::for_instance(inst).apply_text(&text).await.unwrap();
    }
    let va = a.vtysh();

    // Wait until everything is learnt: session up in both families, the
    // remote VTEP in the VNI, type 2/3/5 routes from the other side, BFD up.
    let deadline = Instant::now() + Duration::from_secs(45);
    let remote: IpAddr = "198.51.100.2".parse().unwrap();
    loop {
        let neighbors = state::bgp_neighbors(&va).await.unwrap();
        let vnis = state::evpn_vnis(&va).await.unwrap();
        let routes = state::evpn_routes(&va, None).await.unwrap();
        let bfd = state::bfd_peers(&va).await.unwrap();
        let from_b = |t: u8| routes.iter().any(|r| r.key.route_type() == Some(t) && r.rd.starts_with("198.51.100.2:"));
        let ready = neighbors
            .iter()
            .any(|n| n.is_established() && n.af("l2VpnEvpn").is_some_and(|a| a.prefixes_received.unwrap_or(0) >= 3))
            && vnis.iter().any(|v| v.vni == 100 && v.remote_vteps.contains(&remote))
            && from_b(2)
            && from_b(3)
            && from_b(5)
            && bfd.iter().any(|p| p.is_up());
        if ready {
            break;
        }
        if Instant::now() > deadline {
            panic!("EVPN did not converge:\n{neighbors:#?}\n{vnis:#?}\n{routes:#?}\n{bfd:#?}\n{}", a.log_tail(10));
        }
        // Traffic from the hosts makes sure both MACs are learnt.
        let _ = netns_exec(&ns[0], &["ping", "-c1", "-W1", "10.100.0.2"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Parse the live outputs and check what they say.
    let mut captured = Vec::new();
    for (file, command) in CAPTURES {
        captured.push((*file, va.json_text(command).await.unwrap()));
    }
    let text = |name: &str| captured.iter().find(|(f, _)| *f == name).map(|(_, t)| t.as_str()).unwrap();

    let neighbors = state::parse_bgp_summary(text("bgp_summary.json")).unwrap();
    assert_eq!(neighbors.len(), 1, "{neighbors:#?}");
    let n = &neighbors[0];
    assert_eq!(
        (n.vrf.as_str(), n.peer.as_str(), n.remote_as, n.local_as),
        ("default", "192.0.2.2", Some(65002), Some(65001))
    );
    assert!(n.is_established());
    assert_eq!(n.hostname.as_deref(), Some("leaf-2"));
    assert!(n.uptime.is_some());
    let afs: Vec<&str> = n.address_families.iter().map(|a| a.afi.as_str()).collect();
    assert_eq!(afs, ["ipv4Unicast", "l2VpnEvpn"]);
    assert_eq!(n.af("ipv4Unicast").unwrap().prefixes_received, Some(1));
    assert!(n.af("l2VpnEvpn").unwrap().prefixes_sent.unwrap() >= 3);

    let vnis = state::parse_evpn_vnis(text("evpn_vni.json")).unwrap();
    assert_eq!(
        vnis.iter().map(|v| (v.vni, v.kind.clone())).collect::<Vec<_>>(),
        [(100, VniKind::L2), (200, VniKind::L3)]
    );
    assert_eq!(vnis[0].vxlan_interface.as_deref(), Some("vni100"));
    assert_eq!(vnis[0].remote_vteps, [remote]);
    assert_eq!(vnis[0].remote_vtep_count, Some(1));
    assert_eq!(vnis[1].remote_vtep_count, None, "L3 VNIs print n/a");
    assert_eq!(vnis[1].tenant_vrf.as_deref(), Some("default"));

    let routes = state::parse_evpn_routes(text("evpn_routes.json")).unwrap();
    let find = |key: &EvpnRouteKey, rd_of: &str| {
        routes
            .iter()
            .find(|r| &r.key == key && r.rd.starts_with(rd_of))
            .unwrap_or_else(|| panic!("{key:?} from {rd_of}: {routes:#?}"))
    };
    let mac2 = find(&EvpnRouteKey::MacIp { eth_tag: 0, mac: "02:00:00:00:00:02".into(), ip: None }, "198.51.100.2:");
    let best = mac2.best().unwrap();
    assert_eq!(best.vnis, [100]);
    assert_eq!(best.next_hops, [remote]);
    assert_eq!(best.route_targets, ["65002:100"]);
    assert_eq!(best.peer.as_deref(), Some("192.0.2.2"));
    assert!(!best.local && best.valid);
    let imet = find(&EvpnRouteKey::Imet { eth_tag: 0, originator: remote }, "198.51.100.2:");
    assert_eq!(imet.best().unwrap().vnis, [100]);
    let local_imet =
        find(&EvpnRouteKey::Imet { eth_tag: 0, originator: "198.51.100.1".parse().unwrap() }, "198.51.100.1:");
    assert!(local_imet.best().unwrap().local);
    let t5 = find(&EvpnRouteKey::Prefix { eth_tag: 0, prefix: "198.51.100.2/32".parse().unwrap() }, "198.51.100.2:");
    let best = t5.best().unwrap();
    assert_eq!(best.router_mac.as_deref(), Some("02:00:00:00:02:02"));
    assert_eq!(best.vnis, [200]);
    assert_eq!(best.route_targets, ["65002:200"]);
    // The type filter returns only that type; the flat table parses too.
    let t2 = state::parse_evpn_routes(text("evpn_routes_type2.json")).unwrap();
    assert!(!t2.is_empty() && t2.iter().all(|r| r.key.route_type() == Some(2)), "{t2:#?}");
    let table = state::parse_evpn_routes(text("evpn_table.json")).unwrap();
    assert_eq!(table.len(), routes.len());
    assert!(table.iter().all(|r| !r.paths.is_empty()));
    let live_t5 = state::evpn_routes(&va, Some(EvpnRouteType::Prefix)).await.unwrap();
    assert!(live_t5.iter().all(|r| r.key.route_type() == Some(5)) && !live_t5.is_empty());

    let bfd = state::parse_bfd_peers(text("bfd_peers.json")).unwrap();
    assert_eq!(bfd.len(), 1);
    assert_eq!(
        (bfd[0].peer.as_str(), bfd[0].local.as_deref(), bfd[0].interface.as_deref()),
        ("192.0.2.2", Some("192.0.2.1"), Some("uplink"))
    );
    assert!(bfd[0].is_up() && !bfd[0].multihop);
    assert_eq!((bfd[0].receive_interval_ms, bfd[0].detect_multiplier), (Some(300), Some(3)));

    if std::env::var_os("FRR_UPDATE_FIXTURES").is_some() {
        let dir = version_dir(&va.exec(&["show version"]).await.unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        for (file, json) in &captured {
            std::fs::write(dir.join(file), json).unwrap();
        }
        eprintln!("fixtures written to {}", dir.display());
    }
    drop(b);
}
