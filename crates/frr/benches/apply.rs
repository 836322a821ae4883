//! Apply-time benchmark against a live FRR (not a timed test): our
//! [`Applier`] against frr-reload.py (`--test`, then `--reload` when the
//! delta is not empty, as a reloader runs it), each on an FRR instance of
//! its own, in the same run: N L3VNIs (a VRF with its `vni`, a BGP instance
//! and a host session each) added, a no-op, one neighbor changed, all of
//! them removed. Prints the time of each step, the vtysh processes it
//! started (`procs`; ours talks to the vty sockets and starts none), the
//! ratio, and the goals for N = 100.
//!
//! Run: `cargo bench -p frr --bench apply` (root and FRR needed); on FRR 10.3:
//! `scripts/frr10 cargo bench -p frr --bench apply`.
//! `BENCH_VNIS=10,100,1000` (the default) chooses the sizes; `RUST_LOG=frr=debug`
//! shows what each daemon did.

use std::net::IpAddr;
use std::time::{Duration, Instant};

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
        let host = PeerTarget::Address(format!("192.169.{}.{}", i / 250, i % 250 + 2).parse::<IpAddr>().unwrap());
        bgp.neighbors = vec![Neighbor::new(host.clone(), RemoteAs::Number(64515))];
        let v4 = AddressFamily {
            networks: vec![format!("10.{}.{}.0/24", i / 250, i % 250).parse().unwrap()],
            neighbors: vec![AfNeighbor {
                route_map_in: Some("allowall".into()),
                route_map_out: Some("allowall".into()),
                ..AfNeighbor::activated(host)
            }],
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

/// One step of one applier: its time and the vtysh processes it started.
#[derive(Clone, Copy)]
struct Step {
    took: Duration,
    vtysh: usize,
}

/// frr-reload.py as a reloader runs it: `--test`, then `--reload` when the delta is not empty.
async fn frr_reload_apply(inst: &Instance, config: &Config) -> Step {
    let mut config = config.clone();
    config.hostname = inst.spec().hostname.clone();
    let text = config.render_for(inst.spec().version);
    let path = inst.config_path();
    std::fs::write(&path, text).expect("write frr.conf");
    let mut reload = inst.frr_reload();
    reload.count_vtysh = true;
    let started = Instant::now();
    let test = reload.test(&path).await.expect("frr-reload.py --test");
    let mut vtysh = test.vtysh_processes.unwrap_or(0);
    if !test.delta.is_empty() {
        let done = reload.reload(&path).await.expect("frr-reload.py --reload");
        vtysh += done.vtysh_processes.unwrap_or(0);
    }
    Step { took: started.elapsed(), vtysh }
}

async fn ours(applier: &Applier, config: &Config) -> Step {
    let started = Instant::now();
    let report = applier.apply(config).await.expect("apply");
    // The applier talks to the daemons' vty sockets: it starts no process.
    drop(report);
    Step { took: started.elapsed(), vtysh: 0 }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(step: &str, ours: Step, theirs: Option<Step>) {
    let (theirs_ms, theirs_vtysh, ratio) = match theirs {
        Some(t) => (
            format!("{:.1}", ms(t.took)),
            t.vtysh.to_string(),
            format!("{:.0}x", t.took.as_secs_f64() / ours.took.as_secs_f64().max(1e-6)),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    println!(
        "| {step:<34} | {:>10.1} | {:>5} | {:>14} | {:>5} | {:>7} |",
        ms(ours.took),
        ours.vtysh,
        theirs_ms,
        theirs_vtysh,
        ratio
    );
}

fn goal(what: &str, took: Duration, limit_ms: f64) {
    let verdict = if ms(took) <= limit_ms { "met" } else { "MISSED" };
    println!("goal {what}: {:.1} ms (≤ {limit_ms} ms): {verdict}", ms(took));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this too: only benchmark when asked.
    if std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    if let Some(reason) = skip_reason() {
        skip_loudly("apply benchmark", &reason);
        return;
    }
    let sizes: Vec<u32> = std::env::var("BENCH_VNIS")
        .unwrap_or_else(|_| "10,100,1000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let mut fleet = Fleet::new();
    let mine = fleet.add_instance("frrbench-ours", Some("bench-ours")).expect("namespace");
    let theirs = fleet.add_instance("frrbench-py", Some("bench-py")).expect("namespace");
    for ns in fleet.namespaces().to_vec() {
        frr::testing::enable_forwarding(&ns).expect("forwarding");
    }
    fleet.start_all().expect("FRR start");
    let applier = Applier::for_instance(&mine);
    // The same applier with its memory always expired: every apply reads FRR (a drift check).
    let checking = Applier::for_instance(&mine)
        .with_options(ApplyOptions { drift_check: Duration::ZERO, ..ApplyOptions::default() });
    let mut goals = Vec::new();
    let started = Instant::now();
    println!("\napply benchmark, FRR {}: ours against frr-reload.py (same run)\n", frr_version(&mine).await);
    println!("| step                               | ours ms    | procs | frr-reload ms  | procs | ratio   |");
    println!("|------------------------------------|------------|-------|----------------|-------|---------|");
    for &n in &sizes {
        ours(&applier, &base()).await;
        frr_reload_apply(&theirs, &base()).await;
        let big = with_vnis(n);
        let add = ours(&applier, &big).await;
        row(&format!("add {n} L3VNIs"), add, Some(frr_reload_apply(&theirs, &big).await));
        let noop = ours(&applier, &big).await;
        let their_noop = frr_reload_apply(&theirs, &big).await;
        row(&format!("no-op, {n} L3VNIs"), noop, Some(their_noop));
        let drift = ours(&checking, &big).await;
        row(&format!("no-op with drift check, {n}"), drift, None);
        let mut changed = big.clone();
        changed.bgp[1].neighbors[0].remote_as = RemoteAs::Number(64600);
        let change = ours(&applier, &changed).await;
        row(&format!("change one neighbor, {n} L3VNIs"), change, Some(frr_reload_apply(&theirs, &changed).await));
        let remove = ours(&applier, &base()).await;
        let their_remove = frr_reload_apply(&theirs, &base()).await;
        row(&format!("remove {n} L3VNIs"), remove, Some(their_remove));
        let left = applier.delta(&base()).await.expect("delta");
        assert!(left.is_empty(), "after removing {n}: {left}");
        if n == 100 {
            goals.push((add, noop, drift, change, remove));
        }
    }
    println!();
    for (add, noop, drift, change, remove) in goals {
        goal("add 100", add.took, 300.0);
        goal("no-op 100", noop.took, 20.0);
        goal("no-op 100 with its drift check", drift.took, 20.0);
        goal("change one neighbor (100)", change.took, 50.0);
        goal("remove 100", remove.took, 500.0);
    }
    println!("whole run: {:?}", started.elapsed());
}

async fn frr_version(inst: &Instance) -> String {
    let text = inst.vtysh().exec(&["show version"]).await.unwrap_or_default();
    text.split_whitespace().skip_while(|w| *w != "FRRouting").nth(1).unwrap_or("?").to_string()
}
