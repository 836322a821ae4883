//! Apply-time benchmark against a live FRR (not a timed test): 100 L3VNI
//! blocks added, a no-op, the blocks removed, each through frr-reload.py
//! (`Applier`), with the time of each step and the vtysh processes it
//! spawned (counted by a vtysh shim passed as `--bindir`). This is the
//! baseline for our own incremental applier.
//!
//! Run: `cargo bench -p frr --bench apply` (root and FRR needed). Set
//! `BENCH_VNIS` to change the number of blocks (default 100).

use std::net::IpAddr;
use std::time::Instant;

use frr::testing::{Fleet, skip_loudly, skip_reason};
use frr::*;

const ASN: u32 = 64514;

fn base() -> Config {
    let leaf = PeerTarget::Address("192.168.11.2".parse::<IpAddr>().unwrap());
    let mut bgp = BgpInstance::new(ASN, None);
    bgp.router_id = "10.0.0.1".parse().ok();
    bgp.neighbors = vec![Neighbor::new(leaf.clone(), RemoteAs::Number(64512))];
    let v4 = AddressFamily {
        networks: vec!["100.65.0.1/32".parse().unwrap()],
        neighbors: vec![AfNeighbor::activated(leaf.clone())],
        ..AddressFamily::new(Afi::Ipv4Unicast)
    };
    let evpn = AddressFamily {
        neighbors: vec![AfNeighbor::activated(leaf)],
        advertise_all_vni: true,
        ..AddressFamily::new(Afi::L2vpnEvpn)
    };
    bgp.address_families = vec![v4, evpn];
    Config { route_maps: vec![RouteMap::allow_all()], bgp: vec![bgp], ..Config::default() }
}

fn with_vnis(count: u32) -> Config {
    let mut config = base();
    for i in 1..=count {
        let vrf = format!("vrf{i}");
        let vni = 1000 + i;
        config.vrf_vnis.push(VrfVni { vrf: vrf.clone(), vni });
        let mut bgp = BgpInstance::new(ASN, Some(vrf));
        bgp.router_id = "10.0.0.1".parse().ok();
        let v4 = AddressFamily {
            networks: vec![format!("10.{}.{}.0/24", i / 250, i % 250).parse().unwrap()],
            ..AddressFamily::new(Afi::Ipv4Unicast)
        };
        let evpn = AddressFamily {
            advertise_ipv4_unicast: true,
            route_targets_import: vec![format!("{ASN}:{vni}")],
            route_targets_export: vec![format!("{ASN}:{vni}")],
            ..AddressFamily::new(Afi::L2vpnEvpn)
        };
        bgp.address_families = vec![v4, evpn];
        config.bgp.push(bgp);
    }
    config
}

fn row(step: &str, r: &ApplyReport) {
    println!(
        "| {step:<28} | {:>8.2} | {:>8.2} | {:>9} | {:>6} | {:>6} | {:>7} | {:>6} |",
        r.duration.as_secs_f64(),
        r.test_duration.as_secs_f64(),
        r.reload_duration.map(|d| format!("{:.2}", d.as_secs_f64())).unwrap_or_else(|| "-".into()),
        r.added.len(),
        r.removed.len(),
        r.deletes_executed,
        r.vtysh_processes.map(|n| n.to_string()).unwrap_or_default(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this too: only benchmark when asked.
    if std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Some(reason) = skip_reason() {
        skip_loudly("apply benchmark", &reason);
        return;
    }
    let count: u32 = std::env::var("BENCH_VNIS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrbench", Some("bench")).expect("namespace");
    frr::testing::enable_forwarding(fleet.namespaces().last().expect("netns")).expect("forwarding");
    fleet.start_all().expect("FRR start");
    // frr-reload.py as upstream runs it (--test, --reload), without the
    // applier's verification --test.
    let plain = ApplyOptions { verify: false, ..ApplyOptions::default() };
    let applier = Applier::for_instance(&inst).with_vtysh_count(true).with_options(plain);
    let forced = Applier::for_instance(&inst)
        .with_vtysh_count(true)
        .with_options(ApplyOptions { skip_unchanged: false, ..plain });

    let started = Instant::now();
    applier.apply(&base()).await.expect("base config");
    println!("\nfrr-reload.py apply benchmark, {count} L3VNI blocks (FRR {}):\n", frr_version(&inst).await);
    println!(
        "| step                         | total s  | --test s | --reload s | +lines | -lines | deletes | vtysh  |"
    );
    println!("|------------------------------|----------|----------|-----------|--------|--------|---------|--------|");
    let big = with_vnis(count);
    row(&format!("add {count} L3VNIs"), &applier.apply(&big).await.expect("add"));
    row("no-op (--test only)", &applier.apply(&big).await.expect("no-op"));
    row("no-op (--test + --reload)", &forced.apply(&big).await.expect("forced no-op"));
    let removed = applier.apply(&base()).await.expect("remove");
    row(&format!("remove {count} L3VNIs"), &removed);
    let residual = applier.delta(&base()).await.expect("delta");
    println!(
        "\nafter removal, delta to the base config: {}",
        if residual.is_empty() { "empty".to_string() } else { residual.to_string() }
    );
    if removed.deletes_executed > 0 {
        println!(
            "per delete: {:.1} ms (one vtysh process each)",
            removed.reload_duration.unwrap_or_default().as_secs_f64() * 1000.0 / removed.deletes_executed as f64
        );
    }
    println!("whole run: {:?}", started.elapsed());
}

async fn frr_version(inst: &Instance) -> String {
    let text = inst.vtysh().exec(&["show version"]).await.unwrap_or_default();
    text.split_whitespace().skip_while(|w| *w != "FRRouting").nth(1).unwrap_or("?").to_string()
}
