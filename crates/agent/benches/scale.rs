//! One node at scale: the agent (in this process, with the FRR it manages, on this kernel) given
//! N L2VNIs and M L3VNIs from nothing. Prints the time from start to Ready (FRR's start
//! included), a no-op reconcile twice (the first one after Ready reads FRR back), one L2VNI
//! added and removed again end to end, the process's memory (the agent library and its runtime,
//! nothing else) and FRR's; each once at a small size first, in the same run, and the large
//! size's figures as ratios of it.
//!
//! Run as root where VRF devices exist (the lab VM): `scripts/vm-test -p agent --bench scale`.
//! Without VRFs only the L2VNIs run (said so). `BENCH_SCALE=L2,L3` sets the large size (default
//! 1000,100; the small one is a tenth). Not a test: it prints numbers, it does not judge them,
//! but it stops when a size never becomes Ready.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn kernel_has_vrf() -> bool {
    let name = format!("opsc{}vrf", std::process::id() % 100_000);
    let ok = Command::new("ip")
        .args(["link", "add", &name, "type", "vrf", "table", "4242"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        let _ = Command::new("ip").args(["link", "del", &name]).output();
    }
    ok
}

/// kB of a `/proc/PID/status` field (`VmRSS`, `VmHWM`).
fn status_kb(pid: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const UNDERLAY: &str = "apiVersion: network.openperouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: underlay}\nspec:\n  asn: 64514\n  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]\n  neighbors: [{asn: 64512, address: 192.168.77.1}]\n";

/// `l3` L3VNIs (each with a host session), `l2` L2VNIs: the first `l3` routed into one L3VNI
/// each with an anycast gateway, the rest disconnected.
fn resources(l2: u32, l3: u32) -> String {
    let mut out = String::new();
    for i in 0..l3 {
        let _ = write!(
            out,
            "---\napiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {{name: s{i}}}\nspec:\n  vrf: s{i}\n  vni: {}\n  hostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: 10.{}.{}.0/24}}}}\n",
            20000 + i,
            200 + i / 250,
            i % 250
        );
    }
    for j in 0..l2 {
        let routed = if j < l3 {
            format!(
                "  routingDomain: {{type: L3VNI, l3vni: {{name: s{j}}}}}\n  gatewayIPs: [\"10.{}.{}.1/24\"]\n",
                210 + j / 250,
                j % 250
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "---\napiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {{name: l2-{j}}}\nspec:\n  vni: {}\n{routed}  hostMaster: {{type: LinuxBridge, linuxBridge: {{lifecycle: Managed}}}}\n",
            30000 + j
        );
    }
    out
}

/// One node: a host namespace with the underlay NIC (its peer in a "ToR" namespace where no
/// BGP runs: the session stays down, as it does not matter here) and a configuration directory.
struct Node {
    prefix: String,
    dir: tempfile::TempDir,
    instance: Option<frr::Instance>,
}

impl Node {
    fn new(tag: &str) -> Node {
        let node = Node {
            prefix: format!("opsc{}{tag}", std::process::id() % 100_000),
            dir: tempfile::tempdir().expect("tempdir"),
            instance: None,
        };
        let (host, tor) = (node.ns("host"), node.ns("tor"));
        ip(&["netns", "add", &host]);
        ip(&["netns", "add", &tor]);
        ip(&["-n", &host, "link", "add", "toswitch", "type", "veth", "peer", "name", "tonode", "netns", &tor]);
        ip(&["-n", &host, "addr", "add", "192.168.77.2/24", "dev", "toswitch"]);
        ip(&["-n", &host, "link", "set", "toswitch", "up"]);
        ip(&["-n", &tor, "addr", "add", "192.168.77.1/24", "dev", "tonode"]);
        ip(&["-n", &tor, "link", "set", "tonode", "up"]);
        std::fs::create_dir_all(node.config_dir()).expect("config dir");
        std::fs::write(node.config_dir().join("node-config.yaml"), "nodeIndex: {index: 0}\nnodeName: node0\n")
            .expect("write");
        std::fs::write(node.config_dir().join("underlay.yaml"), UNDERLAY).expect("write");
        node
    }
    fn ns(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }
    fn agent(&self) -> agent::Agent {
        let mut cfg = agent::AgentConfig::new(vec![self.config_dir()], self.ns("pe"));
        cfg.host_netns = Some(PathBuf::from(format!("/run/netns/{}", self.ns("host"))));
        cfg.frr = agent::FrrMode::Managed {
            run_dir: self.dir.path().join("frr-run"),
            config_dir: self.dir.path().join("frr-etc"),
            hostname: Some("node0".into()),
        };
        agent::Agent::new(cfg)
    }
    /// kB of resident memory of the FRR daemons (their pid files).
    fn frr_rss_kb(&self) -> u64 {
        let run = self.dir.path().join("frr-run");
        let Ok(entries) = std::fs::read_dir(&run) else { return 0 };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pid"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|pid| status_kb(pid.trim(), "VmRSS"))
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(i) = &self.instance {
            let _ = i.stop();
        }
        for ns in [self.ns("pe"), self.ns("host"), self.ns("tor")] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

struct Figures {
    l2: u32,
    l3: u32,
    links: usize,
    to_ready: Duration,
    reconciles_to_ready: u64,
    first_writes: u64,
    frr_lines: usize,
    noop: Duration,
    noop_writes: u64,
    /// The no-op reconcile's FRR and kernel steps (ms).
    noop_frr_ms: u64,
    noop_kernel_ms: u64,
    /// A second no-op reconcile right after the first: the first one after Ready reads FRR's
    /// running configuration again (its drift check), while FRR may still be digesting the
    /// burst of kernel events; the second shows the steady state.
    noop_again: Duration,
    noop_again_frr_ms: u64,
    add_one: Duration,
    add_writes: u64,
    remove_one: Duration,
    remove_writes: u64,
    rss_kb: u64,
    /// Of which anonymous memory (the heap, stacks), the rest mapped files (the program's pages).
    anon_kb: u64,
    hwm_kb: u64,
    frr_rss_kb: u64,
}

fn count_links(ns: &str) -> usize {
    let out = Command::new("ip").args(["-n", ns, "-o", "link", "show"]).output().expect("ip link");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

async fn measure(tag: &str, l2: u32, l3: u32) -> Figures {
    let mut node = Node::new(tag);
    std::fs::write(node.config_dir().join("scale.yaml"), resources(l2, l3)).expect("write");
    let mut agent = node.agent();
    node.instance = agent.frr_instance().cloned();
    let started = Instant::now();
    let mut st = agent.reconcile().await;
    let first_writes = st.kernel.writes;
    let frr_lines = st.frr.lines_added;
    while !st.ready() {
        assert!(st.input_error.is_none(), "{l2} L2VNIs, {l3} L3VNIs: {}", st.input_error.as_deref().unwrap_or(""));
        assert!(
            started.elapsed() < Duration::from_secs(1200),
            "{l2} L2VNIs, {l3} L3VNIs: not Ready after 20 min: {:?} {:?}",
            st.conditions,
            st.failed_resources.iter().take(3).collect::<Vec<_>>()
        );
        eprintln!("  … not Ready yet after {:.1} s: {:?}", started.elapsed().as_secs_f64(), st.conditions.first());
        st = agent.reconcile().await;
    }
    let to_ready = started.elapsed();
    let reconciles_to_ready = st.reconciles;
    let links = count_links(&node.ns("pe")) + count_links(&node.ns("host"));
    eprintln!("  {l2} L2VNIs, {l3} L3VNIs: Ready after {:.1} s ({links} links)", to_ready.as_secs_f64());

    let t = Instant::now();
    let st = agent.reconcile().await;
    let noop = t.elapsed();
    let noop_writes = st.kernel.writes;
    let (noop_frr_ms, noop_kernel_ms) = (st.frr.duration_ms, st.kernel.duration_ms);
    settle(&mut agent, st, "the no-op reconcile").await;
    let t = Instant::now();
    let st = agent.reconcile().await;
    let noop_again = t.elapsed();
    let noop_again_frr_ms = st.frr.duration_ms;
    settle(&mut agent, st, "the second no-op reconcile").await;

    let one = "apiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {name: one-more}\nspec:\n  vni: 39999\n  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}\n";
    std::fs::write(node.config_dir().join("one.yaml"), one).expect("write");
    let t = Instant::now();
    let st = agent.reconcile().await;
    let add_one = t.elapsed();
    let add_writes = st.kernel.writes;
    settle(&mut agent, st, "adding one L2VNI").await;
    std::fs::remove_file(node.config_dir().join("one.yaml")).expect("remove");
    let t = Instant::now();
    let st = agent.reconcile().await;
    let remove_one = t.elapsed();
    let remove_writes = st.kernel.writes;
    settle(&mut agent, st, "removing it").await;

    let me = std::process::id().to_string();
    let figures = Figures {
        l2,
        l3,
        links,
        to_ready,
        reconciles_to_ready,
        first_writes,
        frr_lines,
        noop,
        noop_writes,
        noop_frr_ms,
        noop_kernel_ms,
        noop_again,
        noop_again_frr_ms,
        add_one,
        add_writes,
        remove_one,
        remove_writes,
        rss_kb: status_kb(&me, "VmRSS"),
        anon_kb: status_kb(&me, "RssAnon"),
        hwm_kb: status_kb(&me, "VmHWM"),
        frr_rss_kb: node.frr_rss_kb(),
    };
    drop(agent);
    drop(node);
    figures
}

/// When a step left the node not Ready, says why and reconciles until it is again (10 min at
/// most): the figures of a node under too much load are still worth printing.
async fn settle(agent: &mut agent::Agent, mut st: agent::NodeStatus, step: &str) {
    let t = Instant::now();
    while !st.ready() {
        assert!(t.elapsed() < Duration::from_secs(600), "not Ready 10 min after {step}: {:?}", st.conditions);
        eprintln!("  !! not Ready after {step} (+{:.1} s): {:?}", t.elapsed().as_secs_f64(), st.conditions.first());
        if let Some(frr) = agent.frr_instance() {
            eprintln!("  !! FRR's logs:\n{}", frr.log_tail(6));
        }
        st = agent.reconcile().await;
    }
}

fn parse_scale() -> (u32, u32) {
    let v = std::env::var("BENCH_SCALE").unwrap_or_else(|_| "1000,100".into());
    let mut parts = v.split(',').map(|p| p.trim().parse::<u32>().expect("BENCH_SCALE=L2,L3"));
    (parts.next().unwrap_or(1000), parts.next().unwrap_or(100))
}

fn print(f: &Figures) {
    let s = |d: Duration| d.as_secs_f64();
    println!(
        "{:>5} L2VNIs, {:>3} L3VNIs ({} links): start → Ready {:.1} s ({} reconcile(s), {} kernel writes, FRR +{} lines); \
         no-op reconcile {:.3} s ({} writes; FRR step {:.3} s, kernel step {:.3} s), again {:.3} s (FRR step {:.3} s); one L2VNI added {:.3} s ({} writes), removed {:.3} s ({} writes); \
         RSS {:.1} MB ({:.1} MB anonymous; peak {:.1} MB); FRR {:.1} MB",
        f.l2,
        f.l3,
        f.links,
        s(f.to_ready),
        f.reconciles_to_ready,
        f.first_writes,
        f.frr_lines,
        s(f.noop),
        f.noop_writes,
        f.noop_frr_ms as f64 / 1000.0,
        f.noop_kernel_ms as f64 / 1000.0,
        s(f.noop_again),
        f.noop_again_frr_ms as f64 / 1000.0,
        s(f.add_one),
        f.add_writes,
        s(f.remove_one),
        f.remove_writes,
        f.rss_kb as f64 / 1024.0,
        f.anon_kb as f64 / 1024.0,
        f.hwm_kb as f64 / 1024.0,
        f.frr_rss_kb as f64 / 1024.0,
    );
}

fn main() {
    if !kernel::procs::is_root() || !Path::new("/usr/lib/frr/zebra").exists() {
        eprintln!("!!! SKIPPED the scale bench: it needs root and FRR !!!");
        return;
    }
    let (mut l2, mut l3) = parse_scale();
    if !kernel_has_vrf() {
        eprintln!("!!! this kernel has no VRF devices: L2VNIs only (run it in the lab VM for L3VNIs) !!!");
        l3 = 0;
    }
    l2 = l2.max(l3);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let small = rt.block_on(measure("s", (l2 / 10).max(1), l3 / 10));
    print(&small);
    let large = rt.block_on(measure("l", l2, l3));
    print(&large);
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "ratios large/small ({}× the VNIs): start → Ready {:.1}×, no-op reconcile (again) {:.1}×, one L2VNI added {:.1}×, removed {:.1}×, FRR memory {:.1}×",
        (large.l2 + large.l3) as f64 / (small.l2 + small.l3) as f64,
        r(large.to_ready, small.to_ready),
        r(large.noop_again, small.noop_again),
        r(large.add_one, small.add_one),
        r(large.remove_one, small.remove_one),
        large.frr_rss_kb as f64 / small.frr_rss_kb.max(1) as f64,
    );
}
