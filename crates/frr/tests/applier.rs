//! The applier against a live FRR: a sequence of changes checked against
//! `show running-config` and against frr-reload.py (the oracle: its delta
//! must be empty after every step), no-ops that spawn nothing, FRR restarts
//! and drift noticed, refused lines reported with FRR's message and the
//! previous configuration put back, a refused raw snippet left out alone.
//! Needs root and FRR (skipped loudly otherwise).

mod common;

use std::net::IpAddr;

use frr::testing::{Fleet, skip_loudly, skip_reason};
use frr::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peer(s: &str) -> PeerTarget {
    PeerTarget::Address(ip(s))
}

/// A PE: eBGP to the fabric with EVPN.
fn underlay(leaf_as: u32) -> Config {
    let leaf = peer("192.168.11.2");
    let mut bgp = BgpInstance::new(64514, None);
    bgp.router_id = "10.0.0.1".parse().ok();
    bgp.neighbors = vec![Neighbor::new(leaf.clone(), RemoteAs::Number(leaf_as))];
    let mut v4 =
        AddressFamily { neighbors: vec![AfNeighbor::activated(leaf.clone())], ..AddressFamily::new(Afi::Ipv4Unicast) };
    v4.networks = vec!["100.65.0.1/32".parse().unwrap()];
    let evpn = AddressFamily {
        neighbors: vec![AfNeighbor::activated(leaf)],
        advertise_all_vni: true,
        ..AddressFamily::new(Afi::L2vpnEvpn)
    };
    bgp.address_families = vec![v4, evpn];
    Config {
        resolve_nht_via_default: true,
        route_maps: vec![RouteMap::allow_all()],
        bgp: vec![bgp],
        ..Config::default()
    }
}

/// `vrf NAME / vni VNI` and `router bgp 64514 vrf NAME` with a host session.
fn add_l3vni(config: &mut Config, vrf: &str, vni: u32, host: &str) {
    config.vrf_vnis.push(VrfVni { vrf: vrf.into(), vni });
    let mut bgp = BgpInstance::new(64514, Some(vrf.into()));
    bgp.router_id = "10.0.0.1".parse().ok();
    bgp.neighbors = vec![Neighbor::new(peer(host), RemoteAs::Number(64515))];
    let af_neighbor = AfNeighbor {
        route_map_in: Some("allowall".into()),
        route_map_out: Some("allowall".into()),
        ..AfNeighbor::activated(peer(host))
    };
    let mut v4 = AddressFamily { neighbors: vec![af_neighbor], ..AddressFamily::new(Afi::Ipv4Unicast) };
    v4.networks = vec![format!("{host}/32").parse().unwrap()];
    let evpn = AddressFamily {
        advertise_ipv4_unicast: true,
        route_targets_import: vec![format!("64514:{vni}")],
        route_targets_export: vec![format!("64514:{vni}")],
        ..AddressFamily::new(Afi::L2vpnEvpn)
    };
    bgp.address_families = vec![v4, evpn];
    config.bgp.push(bgp);
}

/// `show running-config`, normalised, must be the rendering of `config`
/// with the hostname the applier filled in.
async fn assert_running(applier: &Applier, vtysh: &Vtysh, config: &Config, step: &str) {
    let expected = applier.render(config).await.unwrap();
    let running = normalize_running_config(&vtysh.show_running_config().await.unwrap(), false);
    // bgpd prints VRF instances in creation order: compare blocks.
    assert!(
        same_blocks(&running, &expected),
        "{step}: running config differs from the rendering:\n--- rendered\n{expected}--- running\n{running}"
    );
}

/// frr-reload.py, asked about the file the applier wrote, sees nothing to do.
async fn assert_oracle_agrees(inst: &frr::Instance, step: &str) {
    let outcome = inst.frr_reload().test(&inst.config_path()).await.unwrap_or_else(|e| panic!("{step}: {e}"));
    assert!(outcome.delta.is_empty(), "{step}: frr-reload.py still sees a delta:\n{}", outcome.delta);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_of_configs_converges_and_noop_is_empty() {
    if let Some(reason) = skip_reason() {
        skip_loudly("apply sequence", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrap-seq", Some("ap-seq")).unwrap();
    fleet.start_all().unwrap();
    let applier = Applier::for_instance(&inst);
    let vtysh = inst.vtysh();

    let mut config = underlay(64512);
    let first = applier.apply(&config).await.unwrap();
    assert!(first.reloaded);
    assert!(first.added.iter().any(|l| l.line == "router bgp 64514"), "{first:?}");
    // A fresh namespace has forwarding off: zebra printed `no ip forwarding`,
    // the config wants it on.
    assert!(first.removed.iter().any(|l| l.line == "no ip forwarding"), "{:?}", first.removed);
    // One pass over the vty sockets.
    assert_eq!(first.passes, 1, "{first:?}");
    assert_running(&applier, &vtysh, &config, "underlay").await;
    assert_oracle_agrees(&inst, "underlay").await;
    // The hostname was filled in from FRR: nothing about it in the delta.
    assert!(!first.added.iter().chain(&first.removed).any(|l| l.line.starts_with("hostname")), "{first:?}");

    type Change = Box<dyn Fn(&mut Config)>;
    let steps: Vec<(&str, Change)> = vec![
        ("add L3VNI red", Box::new(|c: &mut Config| add_l3vni(c, "red", 100, "192.169.10.2"))),
        ("add L3VNI blue", Box::new(|c: &mut Config| add_l3vni(c, "blue", 200, "192.169.11.2"))),
        (
            "change the fabric neighbor's AS",
            Box::new(|c: &mut Config| c.bgp[0].neighbors[0].remote_as = RemoteAs::Number(64600)),
        ),
        (
            "remove VRF red",
            Box::new(|c: &mut Config| {
                c.vrf_vnis.retain(|v| v.vrf != "red");
                c.bgp.retain(|b| b.vrf.as_deref() != Some("red"));
            }),
        ),
    ];
    for (step, change) in steps {
        change(&mut config);
        let report = applier.apply(&config).await.unwrap_or_else(|e| panic!("{step}: {e}"));
        assert!(report.reloaded, "{step}");
        assert!(!report.added.is_empty() || !report.removed.is_empty(), "{step}: empty delta");
        eprintln!(
            "{step}: +{} -{} lines, {:?}, {} commands, {} passes",
            report.added.len(),
            report.removed.len(),
            report.duration,
            report.commands,
            report.passes
        );
        assert_eq!(report.passes, 1, "{step}: the first pass should be enough: {report:?}");
        assert_running(&applier, &vtysh, &config, step).await;
        assert_oracle_agrees(&inst, step).await;
        // Applying the same config again changes nothing and does not even ask FRR.
        let noop = applier.apply(&config).await.unwrap();
        assert!(noop.added.is_empty() && noop.removed.is_empty(), "{step}: no-op delta:\n{noop:?}");
        assert!(!noop.reloaded && !noop.read_running, "{step}: {noop:?}");
        assert_eq!(noop.passes, 0, "{step}");
        assert!(applier.delta(&config).await.unwrap().is_empty());
    }
    // What the last step removed is gone for real.
    let text = vtysh.show_running_config().await.unwrap();
    // FRR 10.3 keeps an empty `vrf red` / `exit-vrf` block, which configures
    // nothing and which normalisation drops; its vni and BGP instance are gone.
    assert!(!normalize_running_config(&text, false).contains("vrf red"), "{text}");
    assert!(!text.contains(" vni 100") && !text.contains("router bgp 64514 vrf red"), "{text}");
    assert!(text.contains("router bgp 64514 vrf blue"), "{text}");
    assert!(text.contains("neighbor 192.168.11.2 remote-as 64600"), "{text}");
    // The applied file is the rendering, private to root.
    let file = std::fs::read_to_string(applier.config_path()).unwrap();
    assert_eq!(file, applier.render(&config).await.unwrap());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(applier.config_path()).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_lines_are_named_and_the_previous_config_stays() {
    if let Some(reason) = skip_reason() {
        skip_loudly("apply failures", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrap-fail", Some("ap-fail")).unwrap();
    fleet.start_all().unwrap();
    let applier = Applier::for_instance(&inst);
    let vtysh = inst.vtysh();
    let mut good = underlay(64512);
    good.bgp[0].neighbors[0].password = Some(Secret::new("pw-9f8e7d"));
    applier.apply(&good).await.unwrap();
    let before_running = normalize_running_config(&vtysh.show_running_config().await.unwrap(), false);
    let before_file = std::fs::read_to_string(applier.config_path()).unwrap();

    // FRR refuses a route-reflector client on an eBGP peer, and the change also deletes
    // something first: the line is named with FRR's words, the previous configuration is back.
    let hostname = applier.running_hostname().await.unwrap().unwrap();
    let text = format!(
        "hostname {hostname}\nrouter bgp 64514\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         no bgp network import-check\n neighbor 192.168.11.2 remote-as 64512\n !\n address-family ipv4 unicast\n  \
         neighbor 192.168.11.2 route-reflector-client\n exit-address-family\nexit\n!\n"
    );
    let err = applier.apply_text(&text).await.unwrap_err();
    let ApplyError::NotApplied { rollback, lines } = &err else { panic!("{err:?}") };
    assert_eq!(*rollback, Rollback::Restored, "{err}");
    assert_eq!(
        err.failed_lines(),
        ["router bgp 64514 > address-family ipv4 unicast > neighbor 192.168.11.2 route-reflector-client"],
        "{err}"
    );
    assert!(lines[0].message.as_deref().unwrap_or_default().contains("Not an internal neighbor"), "{err}");
    assert!(!err.to_string().contains("pw-9f8e7d"), "{err}");
    assert_eq!(std::fs::read_to_string(applier.config_path()).unwrap(), before_file);
    assert_eq!(normalize_running_config(&vtysh.show_running_config().await.unwrap(), false), before_running);
    assert!(applier.delta(&good).await.unwrap().is_empty());
    // Where a line lives, daemon by daemon: a BGP line in bgpd alone, a line nobody holds.
    let mut session = frr::vty::Session::open(&inst.spec().run_dir, std::time::Duration::from_secs(10)).await.unwrap();
    let held = session
        .daemons_holding(&["neighbor 192.168.11.2 remote-as 64512", "route-map nowhere permit 1"])
        .await
        .unwrap();
    assert_eq!(held[0].1, ["bgpd"], "{held:?}");
    assert!(held[1].1.is_empty(), "{held:?}");
    // Passwords never show in reports either.
    let mut changed = good.clone();
    changed.bgp[0].neighbors[0].password = Some(Secret::new("pw-new-123"));
    let report = applier.apply(&changed).await.unwrap();
    let shown = format!("{report:?} {}", report.to_json());
    assert!(shown.contains("password <redacted>"), "{shown}");
    assert!(!shown.contains("pw-new-123") && !shown.contains("pw-9f8e7d"), "{shown}");
    assert_oracle_agrees(&inst, "password changed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_snippet_is_left_out_alone() {
    if let Some(reason) = skip_reason() {
        skip_loudly("snippet isolation", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrap-raw", Some("ap-raw")).unwrap();
    fleet.start_all().unwrap();
    let applier = Applier::for_instance(&inst);
    let mut config = underlay(64512);
    add_l3vni(&mut config, "red", 100, "192.169.10.2");
    config.raw.push("router bgp 64514\n neighbor 192.168.11.2 remote-az 5\nexit".into());
    config.raw.push("route-map from-snippet permit 10\nexit".into());
    let report = applier.apply(&config).await.unwrap();
    assert_eq!(report.rejected_snippets.len(), 1, "{report:?}");
    let rejected = &report.rejected_snippets[0];
    assert_eq!(rejected.index, 0);
    assert!(rejected.line.contains("remote-az 5"), "{rejected}");
    assert!(rejected.message.contains("Unknown command"), "{rejected}");
    // Everything else runs: the VRF, its BGP instance and the good snippet.
    let text = inst.vtysh().show_running_config().await.unwrap();
    assert!(text.contains("router bgp 64514 vrf red") && text.contains("route-map from-snippet permit 10"), "{text}");
    let mut without = config.clone();
    without.raw.remove(0);
    assert!(applier.delta(&without).await.unwrap().is_empty());
    // Asked again, the snippet stays out without being tried: FRR is not even asked.
    let again = applier.apply(&config).await.unwrap();
    assert_eq!(again.rejected_snippets, report.rejected_snippets);
    assert!(!again.read_running && again.passes == 0, "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_drift_are_noticed() {
    if let Some(reason) = skip_reason() {
        skip_loudly("restart and drift", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrap-drift", Some("ap-drift")).unwrap();
    fleet.start_all().unwrap();
    let options = ApplyOptions { drift_check: std::time::Duration::from_millis(300), ..ApplyOptions::default() };
    let applier = Applier::for_instance(&inst).with_options(options);
    let config = underlay(64512);
    applier.apply(&config).await.unwrap();
    let noop = applier.apply(&config).await.unwrap();
    assert!(!noop.read_running && noop.passes == 0, "{noop:?}");
    // Someone changes FRR behind the applier's back: found at the next drift check.
    inst.vtysh().exec(&["configure terminal", "router bgp 64514", "no bgp router-id"]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let healed = applier.apply(&config).await.unwrap();
    assert!(healed.read_running && healed.reloaded, "{healed:?}");
    assert_eq!(
        healed.added.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["router bgp 64514 > bgp router-id 10.0.0.1"]
    );
    // A restarted daemon comes back without configuration; its new pid file gives it away.
    let pid: i32 = std::fs::read_to_string(inst.spec().run_dir.join("bgpd.pid")).unwrap().trim().parse().unwrap();
    kernel::procs::signal(pid as u32, kernel::procs::Signal::SIGKILL);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let after = loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if let Ok(r) = applier.apply(&config).await
            && r.read_running
            && inst.vtysh().show_running_config().await.is_ok_and(|t| t.contains("router bgp 64514"))
        {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "bgpd did not come back");
    };
    assert!(after.read_running, "{after:?}");
    assert!(applier.delta(&config).await.unwrap().is_empty());
}

/// Adding then removing a BFD profile and a neighbor's `bfd profile` (FRR prints `neighbor X
/// bfd` too) converges back in one pass; frr-reload.py needed two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_removing_bfd_converges() {
    if let Some(reason) = skip_reason() {
        skip_loudly("BFD removal", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrap-bfd", Some("ap-bfd")).unwrap();
    fleet.start_all().unwrap();
    let applier = Applier::for_instance(&inst);
    let plain = underlay(64512);
    let mut with_bfd = plain.clone();
    with_bfd.bfd_profiles.push(BfdProfile {
        transmit_interval: Some(200),
        minimum_ttl: Some(250),
        ..BfdProfile::new("neighbor-192.168.11.2")
    });
    with_bfd.bgp[0].neighbors[0].bfd = Some(Bfd { profile: Some("neighbor-192.168.11.2".into()) });
    applier.apply(&plain).await.unwrap();
    let added = applier.apply(&with_bfd).await.unwrap();
    assert!(
        added.added.iter().any(|l| l.line == "neighbor 192.168.11.2 bfd profile neighbor-192.168.11.2"),
        "{added:?}"
    );
    assert!(applier.delta(&with_bfd).await.unwrap().is_empty());
    assert_oracle_agrees(&inst, "with BFD").await;
    let removed = applier.apply(&plain).await.unwrap();
    assert!(removed.removed.iter().any(|l| l.line == "neighbor 192.168.11.2 bfd"), "{removed:?}");
    eprintln!("BFD removal: {} passes, {} commands", removed.passes, removed.commands);
    let left = applier.delta(&plain).await.unwrap();
    assert!(left.is_empty(), "left after removing BFD:\n{left}");
    assert_oracle_agrees(&inst, "BFD removed").await;
    let text = inst.vtysh().show_running_config().await.unwrap();
    assert!(!text.lines().any(|l| l == "bfd" || l.ends_with(" bfd") || l.contains(" bfd ")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv6_is_added_and_removed_on_frr_10() {
    if let Some(reason) = skip_reason() {
        skip_loudly("SRv6 through the applier", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let Some(inst) = common::srv6_instance(&mut fleet, "frrap-srv6", "ap-srv6", "SRv6 through the applier") else {
        return;
    };
    let netns = fleet.namespaces().last().cloned().unwrap();
    let applier = Applier::for_instance(&inst);
    let plain = underlay(64512);
    let srv6 = Config { hostname: None, ..common::srv6_l3vpn() };
    let mut without_vpn = srv6.clone();
    without_vpn.bgp.retain(|b| b.vrf.is_none());
    let without_source = Config { srv6_encapsulation_source: None, ..srv6.clone() };
    let source_only = Config { srv6_encapsulation_source: srv6.srv6_encapsulation_source, ..plain.clone() };
    let steps = [
        ("plain", &plain),
        ("SRv6 added", &srv6),
        ("encapsulation source removed", &without_source),
        ("encapsulation source again", &srv6),
        ("L3VPN removed", &without_vpn),
        ("L3VPN again", &srv6),
        // `no srv6` leaves the encapsulation block: it is emptied too.
        ("SRv6 and IS-IS removed", &plain),
        ("encapsulation source alone", &source_only),
        ("encapsulation source removed alone", &plain),
    ];
    for (step, config) in steps {
        let report = match applier.apply(config).await {
            Ok(r) => r,
            Err(e) => {
                let running = inst.vtysh().show_running_config().await.unwrap_or_default();
                panic!("{step}: {e}\n--- running\n{running}")
            }
        };
        eprintln!("{step}: +{} -{} in {} passes", report.added.len(), report.removed.len(), report.passes);
        let left = applier.delta(config).await.unwrap();
        assert!(left.is_empty(), "{step}: left:\n{left}");
        assert_oracle_agrees(&inst, step).await;
        // zebra sets the kernel's SRv6 encapsulation source (`::` when none is configured).
        let tunsrc = frr::testing::netns_exec(&netns, &["ip", "sr", "tunsrc", "show"]).unwrap();
        let want = config.srv6_encapsulation_source.map_or("::".to_string(), |a| a.to_string());
        assert_eq!(tunsrc.trim(), format!("tunsrc addr {want}"), "{step}");
    }
}
