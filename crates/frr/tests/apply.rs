//! Applying configurations to a live FRR through frr-reload.py: a sequence
//! of changes checked against `show running-config`, no-op applies with an
//! empty delta, a rejected file and a failed reload that leave the previous
//! configuration in place. Needs root and FRR (skipped loudly otherwise).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_of_configs_converges_and_noop_is_empty() {
    if let Some(reason) = skip_reason() {
        skip_loudly("apply sequence", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrap-seq", Some("ap-seq")).unwrap();
    fleet.start_all().unwrap();
    let applier = Applier::for_instance(&inst).with_vtysh_count(true);
    let vtysh = inst.vtysh();

    let mut config = underlay(64512);
    let first = applier.apply(&config).await.unwrap();
    assert!(first.reloaded);
    assert!(first.added.iter().any(|l| l.line == "router bgp 64514"), "{first:?}");
    // A fresh namespace has forwarding off: zebra printed `no ip forwarding`,
    // the config wants it on.
    assert!(first.removed.iter().any(|l| l.line == "no ip forwarding"), "{:?}", first.removed);
    assert_running(&applier, &vtysh, &config, "underlay").await;
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
            "{step}: +{} -{} lines, {:?}, {} deletes, {:?} vtysh",
            report.added.len(),
            report.removed.len(),
            report.duration,
            report.deletes_executed,
            report.vtysh_processes
        );
        assert_running(&applier, &vtysh, &config, step).await;
        // Applying the same config again changes nothing.
        let noop = applier.apply(&config).await.unwrap();
        assert!(noop.added.is_empty() && noop.removed.is_empty(), "{step}: no-op delta:\n{noop:?}");
        assert!(!noop.reloaded, "{step}");
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
async fn rejected_file_and_failed_reload_keep_the_previous_config() {
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
    let before_running = vtysh.show_running_config().await.unwrap();
    let before_file = std::fs::read_to_string(applier.config_path()).unwrap();

    // A syntax error: rejected by --test, nothing applied.
    let mut bad = good.clone();
    bad.raw.push("router bgp 64514\n neighbor 192.168.11.2 remote-az 5\nexit".into());
    let err = applier.apply(&bad).await.unwrap_err();
    assert!(matches!(err, ApplyError::Rejected(_)), "{err:?}");
    assert_eq!(err.failed_lines(), ["neighbor 192.168.11.2 remote-az 5"], "{err}");
    assert!(err.to_string().contains("remote-az"), "{err}");
    assert!(!err.to_string().contains("pw-9f8e7d"), "{err}");
    assert_eq!(vtysh.show_running_config().await.unwrap(), before_running);
    assert_eq!(std::fs::read_to_string(applier.config_path()).unwrap(), before_file);

    // Semantically wrong (FRR refuses a route-reflector client on an eBGP
    // peer) and deleting something first: the reload fails part-way and the
    // previous configuration is reloaded.
    let hostname = applier.running_hostname().await.unwrap().unwrap();
    let text = format!(
        "hostname {hostname}\nrouter bgp 64514\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n \
         no bgp network import-check\n neighbor 192.168.11.2 remote-as 64512\n !\n address-family ipv4 unicast\n  \
         neighbor 192.168.11.2 route-reflector-client\n exit-address-family\nexit\n!\n"
    );
    let err = applier.apply_text(&text).await.unwrap_err();
    let ApplyError::ReloadFailed { rollback, .. } = &err else { panic!("{err:?}") };
    assert!(matches!(rollback, Some(Ok(()))), "{err}");
    assert!(err.failed_lines().iter().any(|l| l == "neighbor 192.168.11.2 route-reflector-client"), "{err}");
    assert!(err.to_string().contains("Not an internal neighbor"), "{err}");
    assert!(!err.to_string().contains("pw-9f8e7d"), "{err}");
    assert_eq!(std::fs::read_to_string(applier.config_path()).unwrap(), before_file);
    assert_eq!(
        normalize_running_config(&vtysh.show_running_config().await.unwrap(), false),
        normalize_running_config(&before_running, false)
    );
    assert!(applier.delta(&good).await.unwrap().is_empty());
    // Passwords never show in reports either.
    let mut changed = good.clone();
    changed.bgp[0].neighbors[0].password = Some(Secret::new("pw-new-123"));
    let report = applier.apply(&changed).await.unwrap();
    let shown = format!("{report:?} {}", report.to_json());
    assert!(shown.contains("password <redacted>"), "{shown}");
    assert!(!shown.contains("pw-new-123") && !shown.contains("pw-9f8e7d"), "{shown}");
}

/// Adding then removing a BFD profile and a neighbor's `bfd profile`
/// (FRR prints `neighbor X bfd` too) converges back to an empty delta, but
/// FRR 8.4's frr-reload.py needs two reloads for it: the first leaves `bfd`
/// and `neighbor X bfd` behind. The applier's verification reloads again.
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
    let removed = applier.apply(&plain).await.unwrap();
    assert!(removed.removed.iter().any(|l| l.line == "neighbor 192.168.11.2 bfd"), "{removed:?}");
    assert_eq!(removed.reloads, 2, "one reload is enough now: update ApplyOptions::max_reloads' doc; {removed:?}");
    assert_eq!(removed.residual, Some(Delta::default()));
    let left = applier.delta(&plain).await.unwrap();
    assert!(left.is_empty(), "left after removing BFD:\n{left}");
    let text = inst.vtysh().show_running_config().await.unwrap();
    assert!(!text.lines().any(|l| l == "bfd" || l.ends_with(" bfd") || l.contains(" bfd ")), "{text}");
}
