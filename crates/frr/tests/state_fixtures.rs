//! The state readers on JSON captured from real FRR by `state_evpn.rs`
//! (`FRR_UPDATE_FIXTURES=1`), one directory per FRR version: runs without
//! root or FRR.

use std::net::IpAddr;
use std::path::PathBuf;

use frr::state::{self, EvpnRouteKey, VniKind};

fn fixture_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("frr-")))
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no captured fixtures in {}", root.display());
    dirs
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
}

#[test]
fn captured_outputs_parse_into_what_the_session_had() {
    let remote: IpAddr = "198.51.100.2".parse().unwrap();
    for dir in fixture_dirs() {
        let at = dir.display().to_string();
        let neighbors = state::parse_bgp_summary(&read(&dir, "bgp_summary.json")).unwrap();
        let n = neighbors.iter().find(|n| n.peer == "192.0.2.2").unwrap_or_else(|| panic!("{at}: {neighbors:#?}"));
        assert!(n.is_established(), "{at}");
        assert_eq!((n.vrf.as_str(), n.remote_as), ("default", Some(65002)), "{at}");
        assert!(n.af("ipv4Unicast").is_some() && n.af("l2VpnEvpn").is_some(), "{at}: {n:#?}");
        assert!(n.af("l2VpnEvpn").unwrap().prefixes_received.unwrap() >= 3, "{at}");

        let vnis = state::parse_evpn_vnis(&read(&dir, "evpn_vni.json")).unwrap();
        let l2 = vnis.iter().find(|v| v.vni == 100).unwrap();
        assert_eq!(l2.kind, VniKind::L2, "{at}");
        assert_eq!(l2.remote_vteps, [remote], "{at}");
        assert_eq!(vnis.iter().find(|v| v.vni == 200).unwrap().kind, VniKind::L3, "{at}");

        for file in ["evpn_routes.json", "evpn_table.json"] {
            let routes = state::parse_evpn_routes(&read(&dir, file)).unwrap();
            let from_remote = |t: u8| {
                routes.iter().filter(|r| r.key.route_type() == Some(t) && r.rd.starts_with("198.51.100.2:")).count()
            };
            assert!(from_remote(2) >= 1 && from_remote(3) == 1 && from_remote(5) >= 1, "{at}/{file}: {routes:#?}");
            let t5 = routes
                .iter()
                .find(|r| {
                    r.key == EvpnRouteKey::Prefix { eth_tag: 0, prefix: "198.51.100.2/32".parse().unwrap() }
                        && r.rd.starts_with("198.51.100.2:")
                })
                .unwrap();
            let best = t5.best().unwrap();
            assert_eq!(best.router_mac.as_deref(), Some("02:00:00:00:02:02"), "{at}/{file}");
            assert_eq!(best.next_hops, [remote], "{at}/{file}");
            assert_eq!(best.route_targets, ["65002:200"], "{at}/{file}");
        }
        // Only the detailed output carries the VNI of each path.
        let detail = state::parse_evpn_routes(&read(&dir, "evpn_routes.json")).unwrap();
        let mac = detail
            .iter()
            .find(|r| matches!(&r.key, EvpnRouteKey::MacIp { mac, .. } if mac == "02:00:00:00:00:02"))
            .unwrap_or_else(|| panic!("{at}: no type-2 for the remote host"));
        assert_eq!(mac.best().unwrap().vnis, [100], "{at}");
        let t2 = state::parse_evpn_routes(&read(&dir, "evpn_routes_type2.json")).unwrap();
        assert!(t2.iter().all(|r| r.key.route_type() == Some(2)), "{at}");

        let bfd = state::parse_bfd_peers(&read(&dir, "bfd_peers.json")).unwrap();
        assert_eq!(bfd.len(), 1, "{at}");
        assert!(bfd[0].is_up(), "{at}");
        assert_eq!(bfd[0].peer, "192.0.2.2", "{at}");
    }
}

#[test]
fn captured_interfaces_have_their_addresses_and_vrfs() {
    // Captured by hand from a lab leaf (`show interface vrf all json`, FRR 8.4.4).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frr-8.4.4");
    let ifs = state::parse_interfaces(&read(&dir, "interfaces.json")).unwrap();
    let names: Vec<&str> = ifs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth1", "ethblue", "ethdefault", "ethred", "lo"]);
    let red = &ifs[3];
    assert_eq!(red.vrf.as_deref(), Some("default"));
    assert!(red.up);
    let addrs: Vec<String> = red.addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs[..2], ["192.168.20.1/24", "2001:db8:20::1/64"]);
    assert_eq!(addrs.len(), 3, "{addrs:?}");
    assert!(ifs[4].addresses.iter().any(|a| a.to_string() == "100.64.0.1/32"));
    // A VRF level around the interfaces (other versions) reads the same.
    let nested = format!("{{\"red\": {}}}", read(&dir, "interfaces.json"));
    assert_eq!(state::parse_interfaces(&nested).unwrap(), ifs);
    assert!(state::parse_interfaces("").unwrap().is_empty());
    assert!(state::parse_interfaces("not json").is_err());
}

#[test]
fn frr_10_3_path_vnis_read_like_8_4() {
    // 8.4.4 prints each EVPN path's VNI twice ("vni" and "VNI"); 10.3 only as
    // "vni", and for a local MAC+IP route as the pair "L2VNI/L3VNI".
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let old = read(&root.join("frr-8.4.4"), "evpn_routes.json");
    let new = read(&root.join("frr-10.3"), "evpn_routes.json");
    assert!(old.contains("\"VNI\":") && !new.contains("\"VNI\":"));
    assert!(new.contains("\"vni\":\"100/200\""));
    let local_mac = |text: &str| {
        let routes = state::parse_evpn_routes(text).unwrap();
        let route = routes
            .into_iter()
            .find(|r| {
                matches!(&r.key, EvpnRouteKey::MacIp { mac, .. } if mac == "02:00:00:00:00:01")
                    && r.rd.starts_with("198.51.100.1:")
            })
            .expect("local type-2");
        route.best().expect("best path").vnis.clone()
    };
    assert_eq!(local_mac(&new), [100, 200]);
    assert_eq!(local_mac(&old), [100]);
}
