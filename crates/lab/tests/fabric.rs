//! The fabric lab against the real kernel and real FRR: namespaces, links, FRR instances, BGP
//! sessions, reachability, and a machine left as it was after `down`.
//!
//! * `fabric_without_vrf` runs on any kernel (the lab's `--no-vrf` mode);
//! * `fabric_with_tenant_vrfs` needs VRF devices: it skips loudly on a kernel without them, and
//!   fails there when `OPR_REQUIRE_VRF=1` (as `scripts/vm-test -p lab --test fabric` sets: both
//!   tests then run in one VM boot);
//! * `failed_up_leaves_nothing_behind` makes `up` fail after FRR started and checks the cleanup.
//!
//! Every test needs root and FRR (skipped loudly otherwise), uses a lab name unique to this
//! process, and removes its lab in a Drop guard even when an assertion fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lab::fabric::{LabSpec, Role};
use lab::{Lab, LabError, LabOptions};

fn skip_reason() -> Option<String> {
    lab::control::missing_prerequisite()
}

fn require_vrf() -> bool {
    std::env::var("OPR_REQUIRE_VRF").is_ok_and(|v| v == "1")
}

/// A lab name unique to this process and test.
fn unique(tag: &str) -> String {
    format!("t{}{tag}", std::process::id() % 1_000_000)
}

/// Removes the lab on drop (test failure included).
struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = lab::down(&self.0, Path::new(lab::DEFAULT_RUN_ROOT), 2) {
            eprintln!("cleanup of lab {}: {e}", self.0);
        }
    }
}

/// What a lab may leave on the machine: its namespaces, links in this namespace, processes whose
/// command line names its run directory, its run directory.
#[derive(Debug, PartialEq, Eq)]
struct Footprint {
    namespaces: BTreeSet<String>,
    root_links: BTreeSet<String>,
    processes: Vec<u32>,
    run_dir: bool,
}

fn footprint(prefix: &str, interesting_links: &BTreeSet<String>) -> Footprint {
    let run_dir: PathBuf = Path::new(lab::DEFAULT_RUN_ROOT).join(prefix);
    let namespaces = kernel::NetNs::list().into_iter().filter(|n| n.starts_with(&format!("{prefix}-"))).collect();
    // Links of the root namespace with a name the lab uses (other engineers' links come and go).
    let root_links = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| interesting_links.contains(n))
                .collect()
        })
        .unwrap_or_default();
    Footprint { namespaces, root_links, processes: lab::control::processes_under(&run_dir), run_dir: run_dir.exists() }
}

fn lab_link_names(lab: &Lab) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for v in &lab.topology.veths {
        names.insert(v.a.ifname.clone());
        names.insert(v.b.ifname.clone());
    }
    for n in &lab.topology.namespaces {
        names.extend(n.vrfs.iter().map(|v| v.name.clone()));
        names.extend(n.bridges.iter().map(|b| b.name.clone()));
        names.extend(n.vxlans.iter().map(|x| x.name.clone()));
    }
    names
}

fn in_ns(ns: &str, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .arg(program)
        .args(args)
        .output()
        .expect("nsenter runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ping(ns: &str, target: &str) -> (bool, String) {
    in_ns(ns, "ping", &["-c", "1", "-W", "2", "-q", target])
}

/// Pings until it succeeds or `within` passes.
fn ping_until(ns: &str, target: &str, within: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let (ok, out) = ping(ns, target);
        if ok {
            return Ok(());
        }
        if start.elapsed() > within {
            return Err(format!("ping {target} from {ns} failed for {within:?}: {out}"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The protocol FRR installed `prefix` with in the default VRF of `inst`.
async fn route_protocol(lab: &Lab, short: &str, prefix: &str) -> Option<String> {
    let inst = lab.instance(short)?;
    let text = inst.vtysh().json_text(&format!("show ip route {prefix} json")).await.ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get(prefix)?.as_array()?.iter().find_map(|r| {
        (r.get("selected").and_then(|s| s.as_bool()) == Some(true))
            .then(|| r.get("protocol").and_then(|p| p.as_str()).map(str::to_string))
            .flatten()
    })
}

/// The checks shared by both modes, on a lab that `up` returned.
async fn check_fabric(lab: &Lab) {
    // Every fabric session Established (up waited for it; status agrees), PE sessions waiting.
    let status = lab::status(lab).await;
    println!("{status}");
    assert!(status.healthy(), "{:?}", status.problems());
    let fabric: Vec<_> = status.sessions.iter().filter(|s| !s.towards_pe).collect();
    for (ns, peer) in [
        ("spine", "192.168.1.1"),
        ("spine", "192.168.1.3"),
        ("spine", "192.168.1.5"),
        ("leafA", "192.168.1.0"),
        ("leafB", "192.168.1.2"),
        ("tor", "192.168.1.4"),
    ] {
        assert!(
            fabric.iter().any(|s| s.ns == ns && s.neighbor.peer == peer && s.neighbor.is_established()),
            "{ns} → {peer} not Established"
        );
    }
    let towards_pe = status.sessions.iter().filter(|s| s.towards_pe).count();
    assert_eq!(towards_pe, 2 + 2 * 3, "the ToR's 2 node sessions and 3 per host speaker");
    for ns in &status.namespaces {
        if matches!(ns.role, Role::Spine | Role::Leaf | Role::Tor | Role::NodeHost) {
            // watchfrr, zebra, bgpd (+ bfdd on the ToR), + mgmtd on FRR ≥ 9.
            let mgmtd = usize::from(std::path::Path::new("/usr/lib/frr/mgmtd").exists());
            let expected = if ns.role == Role::Tor { 4 } else { 3 } + mgmtd;
            assert_eq!(ns.daemons.len(), expected, "{}: {:?}", ns.name, ns.daemons);
        } else {
            assert!(ns.daemons.is_empty(), "{} must run no FRR", ns.name);
        }
    }

    // Every external host reaches its leaf gateway, over IPv4 and IPv6.
    for ns in lab.topology.namespaces.iter().filter(|n| n.role == Role::ExternalHost) {
        for gw in &ns.gateways {
            ping_until(&ns.name, &gw.to_string(), Duration::from_secs(5)).unwrap();
        }
    }

    // The ToR learns both leaves' VTEPs over BGP and reaches them.
    for vtep in ["100.64.0.1", "100.64.0.2"] {
        let prefix = format!("{vtep}/32");
        let start = Instant::now();
        let mut protocol = None;
        while start.elapsed() < Duration::from_secs(15) {
            protocol = route_protocol(lab, "tor", &prefix).await;
            if protocol.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(protocol.as_deref(), Some("bgp"), "the tor must learn {prefix} via BGP");
        ping_until(&lab.ns("tor"), vtep, Duration::from_secs(10)).unwrap();
    }
    // The node router namespaces stay empty: only lo.
    for ns in lab.topology.namespaces.iter().filter(|n| n.role == Role::NodeRouter) {
        let (ok, links) = in_ns(&ns.name, "ip", &["-o", "link", "show"]);
        assert!(ok && links.lines().count() == 1, "{}: {links}", ns.name);
    }
}

async fn run_lab(spec: LabSpec) {
    let prefix = spec.prefix.clone();
    let options = LabOptions::new(spec);
    let probe = Lab::open(&prefix, Path::new(lab::DEFAULT_RUN_ROOT)).err();
    assert!(matches!(probe, Some(LabError::NotFound(..))), "lab {prefix} must not exist yet");
    let links = lab_link_names(&Lab {
        topology: lab::fabric::Topology::new(&options.spec),
        options: options.clone(),
        with_pe: false,
    });
    let before = footprint(&prefix, &links);
    assert!(before.namespaces.is_empty() && before.processes.is_empty() && !before.run_dir, "{before:?}");
    let guard = Guard(prefix.clone());

    let start = Instant::now();
    let mut progress = |l: &str| println!("[{prefix}] {l}");
    let lab = lab::up(&options, &mut progress).await.expect("lab up");
    let took = start.elapsed();
    println!(
        "MEASURED: lab {prefix} (vrf {}) up with every fabric session Established in {:.2} s",
        options.spec.vrf,
        took.as_secs_f64()
    );
    let during = footprint(&prefix, &links);
    assert_eq!(during.namespaces.len(), lab.topology.namespaces.len());
    assert!(!during.processes.is_empty() && during.run_dir);

    // A second `up` of the same name refuses and touches nothing.
    let again = lab::up(&options, &mut |_| {}).await;
    assert!(matches!(again, Err(LabError::Exists { .. })), "{again:?}");

    check_fabric(&lab).await;
    if options.spec.vrf {
        check_tenant_vrfs(&lab).await;
    }

    let start = Instant::now();
    let report = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || lab::down(&prefix, Path::new(lab::DEFAULT_RUN_ROOT), 2)
    })
    .await
    .unwrap()
    .expect("lab down");
    println!("MEASURED: lab {prefix} down in {:.2} s", start.elapsed().as_secs_f64());
    assert_eq!(report.namespaces.len(), lab.topology.namespaces.len());
    assert_eq!(report.instances, lab.instances().len());
    // Idempotent.
    let second = lab::down(&prefix, Path::new(lab::DEFAULT_RUN_ROOT), 2).expect("second down");
    assert!(!second.removed_anything(), "{second:?}");
    assert_eq!(footprint(&prefix, &links), before);
    drop(guard);
}

/// VRF-only checks: VRF devices on the leaves, L3 VNIs in FRR, and the ToR (where the PEs will
/// peer) receiving both leaves' tenant subnets as EVPN type-5 routes with the right L3 VNI and
/// the leaf's VTEP as next hop. (The leaves share AS 64520, as upstream, so they do not import
/// each other's routes: tenant traffic is meant to flow between a leaf and the nodes' PEs.)
async fn check_tenant_vrfs(lab: &Lab) {
    for leaf in ["leafA", "leafB"] {
        let (ok, out) = in_ns(&lab.ns(leaf), "ip", &["-d", "-o", "link", "show", "type", "vrf"]);
        assert!(ok && out.contains("red") && out.contains("blue"), "{leaf}: {out}");
        let inst = lab.instance(leaf).unwrap();
        let start = Instant::now();
        loop {
            let vnis = frr::state::evpn_vnis(&inst.vtysh()).await.unwrap_or_default();
            let l3: BTreeSet<u32> = vnis.iter().filter(|v| v.kind == frr::state::VniKind::L3).map(|v| v.vni).collect();
            if l3 == BTreeSet::from([100, 200]) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{leaf}: L3 VNIs {vnis:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let tor = lab.instance("tor").unwrap();
    let expected: BTreeSet<(String, u32, String)> = [
        ("192.168.20.0/24", 100, "100.64.0.1"),
        ("192.168.21.0/24", 200, "100.64.0.1"),
        ("192.169.20.0/24", 100, "100.64.0.2"),
        ("192.169.21.0/24", 200, "100.64.0.2"),
    ]
    .into_iter()
    .map(|(p, v, n)| (p.to_string(), v, n.to_string()))
    .collect();
    let start = Instant::now();
    loop {
        let routes =
            frr::state::evpn_routes(&tor.vtysh(), Some(frr::state::EvpnRouteType::Prefix)).await.unwrap_or_default();
        let seen: BTreeSet<(String, u32, String)> = routes
            .iter()
            .filter_map(|r| {
                let frr::state::EvpnRouteKey::Prefix { prefix, .. } = &r.key else { return None };
                let best = r.best()?;
                Some((prefix.to_string(), *best.vnis.first()?, best.next_hops.first()?.to_string()))
            })
            .collect();
        if expected.is_subset(&seen) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "tor type-5 routes: {seen:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fabric_without_vrf() {
    if let Some(reason) = skip_reason() {
        eprintln!("!!! SKIPPED fabric_without_vrf: {reason} !!!");
        return;
    }
    run_lab(LabSpec { prefix: unique("n"), nodes: 2, vrf: false, ..LabSpec::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fabric_with_tenant_vrfs() {
    if let Some(reason) = skip_reason() {
        assert!(!require_vrf(), "OPR_REQUIRE_VRF=1 but the lab cannot run: {reason}");
        eprintln!("!!! SKIPPED fabric_with_tenant_vrfs: {reason} !!!");
        return;
    }
    if !lab::control::kernel_has_vrf().await.expect("probing VRF support") {
        assert!(!require_vrf(), "OPR_REQUIRE_VRF=1 but this kernel cannot create VRF devices");
        eprintln!(
            "!!! SKIPPED fabric_with_tenant_vrfs: this kernel has no VRF devices; run it in the VM: \
             scripts/vm-test -p lab --test fabric !!!"
        );
        return;
    }
    run_lab(LabSpec { prefix: unique("v"), nodes: 2, vrf: true, ..LabSpec::default() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_up_leaves_nothing_behind() {
    if let Some(reason) = skip_reason() {
        eprintln!("!!! SKIPPED failed_up_leaves_nothing_behind: {reason} !!!");
        return;
    }
    let prefix = unique("f");
    let mut options = LabOptions::new(LabSpec { prefix: prefix.clone(), nodes: 1, vrf: false, ..LabSpec::default() });
    // Everything is built and FRR runs, then up fails: it must remove everything.
    options.fail_after_start = true;
    let links = lab_link_names(&Lab {
        topology: lab::fabric::Topology::new(&options.spec),
        options: options.clone(),
        with_pe: false,
    });
    let before = footprint(&prefix, &links);
    let _guard = Guard(prefix.clone());
    let result = lab::up(&options, &mut |l| println!("[{prefix}] {l}")).await;
    assert!(matches!(result, Err(LabError::Injected)), "{result:?}");
    assert_eq!(footprint(&prefix, &links), before);
    // A bad name is refused before anything happens.
    let bad = LabOptions::new(LabSpec { prefix: "bad-name".into(), nodes: 1, vrf: false, ..LabSpec::default() });
    assert!(matches!(lab::up(&bad, &mut |_| {}).await, Err(LabError::BadName(_))));
}
