//! Applies N L2VNIs (managed host bridge, no routing domain) from empty, re-applies (no-op) and
//! changes one, and prints our time next to a baseline measured in the same run: `ip -batch`
//! creating the same objects in another pair of fresh namespaces.
//!
//! Run as root: `cargo bench -p dataplane --bench apply` (env `BENCH_N=100,1000` to choose N).
//! Not a test: it prints numbers, it does not judge them.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dataplane::{HostNetwork, Side};

const VTEP: &str = "100.65.0.1";

/// N L2VNIs; the first `gateways` of them get an anycast gateway (address + MAC).
fn want(n: u32, gateways: u32) -> HostNetwork {
    let mut h = underlay(&[VTEP], &["ul0"]);
    for i in 0..n {
        let vni = 1000 + i;
        let gw = format!("192.170.{}.1/24", i % 250);
        let gws: &[&str] = if i < gateways { &[gw.as_str()] } else { &[] };
        add_l2vni(&mut h, &format!("l2-{vni}"), vni, VTEP, HostBridge::Managed, None, gws);
    }
    h
}

/// Runs `ip -n <ns> -batch <file>` and returns its wall time.
fn ip_batch(ns: &str, script: &str) -> Duration {
    let path = std::env::temp_dir().join(format!("dp-bench-{}-{ns}.batch", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let t = Instant::now();
    let st = Command::new("ip").args(["-n", ns, "-batch"]).arg(&path).stdout(Stdio::null()).status().unwrap();
    let dt = t.elapsed();
    let _ = std::fs::remove_file(&path);
    assert!(st.success(), "ip -batch failed");
    dt
}

fn ip_read(ns: &str) -> Duration {
    let t = Instant::now();
    for args in [&["-d", "link", "show"][..], &["addr", "show"][..]] {
        let st = Command::new("ip").args(["-n", ns]).args(args).stdout(Stdio::null()).status().unwrap();
        assert!(st.success());
    }
    t.elapsed()
}

/// The same objects as `want(n)` (minus the underlay, set up before timing), as iproute2 does it.
fn baseline(env: &Env, n: u32) -> (Duration, Duration, Duration) {
    env.ip(Side::Router, "link add ul0 mtu 1500 type veth peer name ul0p");
    env.ip(Side::Router, "link set ul0 group 4242 up");
    env.ip(Side::Router, &format!("addr add {VTEP}/32 dev lo"));
    let mut r = String::new();
    let mut h = String::new();
    for i in 0..n {
        let vni = 1000 + i;
        let _ = writeln!(r, "link add br-pe-{vni} type bridge");
        let _ = writeln!(r, "link set br-pe-{vni} up");
        let _ = writeln!(r, "link add vni{vni} type vxlan id {vni} local {VTEP} dstport 4789 nolearning dev lo");
        let _ = writeln!(r, "link set vni{vni} master br-pe-{vni} addrgenmode none");
        let _ = writeln!(r, "link set dev vni{vni} type bridge_slave neigh_suppress on learning off");
        let _ = writeln!(r, "link set vni{vni} up");
        let _ =
            writeln!(r, "link add pe-e-{vni} mtu 1450 type veth peer name host-e-{vni} mtu 1450 netns {}", env.host);
        let _ = writeln!(r, "link set pe-e-{vni} master br-pe-{vni} up");
        let _ = writeln!(h, "link add br-hs-{vni} type bridge");
        let _ = writeln!(h, "link set br-hs-{vni} up");
        let _ = writeln!(h, "link set host-e-{vni} master br-hs-{vni} up");
    }
    let create = ip_batch(&env.router, &r) + ip_batch(&env.host, &h);
    let read = ip_read(&env.router) + ip_read(&env.host);
    let change = ip_batch(
        &env.router,
        "link set br-pe-1000 address 00:f3:00:00:03:e9\naddr add 192.170.1.1/24 dev br-pe-1000\n",
    );
    (create, read, change)
}

struct Ours {
    create: Duration,
    create_ops: usize,
    create_writes: u64,
    first_noop: Duration,
    noop: Duration,
    noop_writes: u64,
    change: Duration,
    change_ops: usize,
}

fn ours(env: &Env, n: u32) -> Ours {
    env.fake_nic("ul0", "ul0p", 1500, &[]);
    let mut dp = env.datapath();
    let base = underlay(&[VTEP], &["ul0"]);
    converge(&mut dp, &base);

    let full = want(n, 0);
    let t = Instant::now();
    let r = dp.reconcile(&full).unwrap();
    let create = t.elapsed();
    assert!(r.is_ok(), "{:#?}", r.failures);
    let (create_ops, create_writes) = (r.ops.len(), r.writes);

    // Right after a big apply the datapath dumps both namespaces again (cheaper than reading
    // back thousands of notifications).
    let t = Instant::now();
    let r = dp.reconcile(&full).unwrap();
    let first_noop = t.elapsed();
    assert!(r.ops.is_empty() && r.writes == 0);
    settle_addresses(env);

    let mut noop = Duration::MAX;
    let mut noop_writes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = dp.reconcile(&full).unwrap();
        noop = noop.min(t.elapsed());
        noop_writes += r.writes;
        assert!(r.ops.is_empty());
    }

    // One L2VNI at a time gets an anycast gateway: best of 3.
    let mut change = Duration::MAX;
    let mut change_ops = 0;
    for k in 1..=3 {
        let changed = want(n, k);
        let t = Instant::now();
        let r = dp.reconcile(&changed).unwrap();
        change = change.min(t.elapsed());
        change_ops = r.ops.len();
        assert!(r.is_ok());
    }
    Ours { create, create_ops, create_writes, first_noop, noop, noop_writes, change, change_ops }
}

/// Waits (up to 30 s) until IPv6 duplicate address detection has finished on every new link:
/// the steady state a periodic reconcile sees.
fn settle_addresses(env: &Env) {
    for _ in 0..60 {
        let busy = [Side::Router, Side::Host].iter().any(|&s| !env.ip(s, "-6 addr show tentative").trim().is_empty());
        if !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the kernel has finished tearing down deleted namespaces (their cleanup holds
/// the RTNL lock for long stretches and would slow whatever runs next): until creating and
/// deleting a bridge in a probe namespace is quick again.
fn settle() {
    let probe = Env::new("probe");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let t = Instant::now();
        probe.ip(Side::Router, "link add settle0 type bridge");
        probe.ip(Side::Router, "link del settle0");
        if t.elapsed() < Duration::from_millis(15) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        println!("apply bench: skipped (run it with `cargo bench -p dataplane --bench apply`)");
        return;
    }
    if !is_root() {
        eprintln!("\n*** SKIPPED: the apply bench needs root (network namespaces) ***\n");
        return;
    }
    let ns: Vec<u32> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("{:>5}  {:<28} {:>10} {:>12} {:>7}  note", "N", "step", "ours ms", "baseline ms", "ratio");
    for n in ns {
        settle();
        // Both namespace pairs live until both runs are done: deleting namespaces full of
        // links keeps the kernel busy for seconds, which must not overlap a measurement.
        let (env_base, env_ours) = (Env::new("bb"), Env::new("bo"));
        let (b_create, b_read, b_change) = baseline(&env_base, n);
        let o = ours(&env_ours, n);
        let row = |step: &str, ours: Duration, base: Duration, note: String| {
            println!("{n:>5}  {step:<28} {:>10.1} {:>12.1} {:>7.2}  {note}", ms(ours), ms(base), ms(ours) / ms(base));
        };
        row(
            "from empty",
            o.create,
            b_create,
            format!("{} ops, {} writes; baseline: ip -batch (router + host)", o.create_ops, o.create_writes),
        );
        row(
            "first re-apply (full dump)",
            o.first_noop,
            b_read,
            "0 writes; after a big apply both namespaces are dumped again; baseline: ip -d link + ip addr".into(),
        );
        row(
            "no-op re-apply (best of 5)",
            o.noop,
            b_read,
            format!("{} writes; baseline: ip -d link + ip addr (both ns)", o.noop_writes),
        );
        row(
            "change one (best of 3)",
            o.change,
            b_change,
            format!("{} ops: gateway address + MAC on one bridge; baseline: ip -batch of those 2 lines", o.change_ops),
        );
        drop((env_base, env_ours));
    }
}
