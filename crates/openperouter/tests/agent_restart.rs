//! The agent (`openperouter host`, the real binary) killed under traffic and started again, on
//! this host's kernel (no VRF): first with SIGKILL, then with SIGTERM. Neither the stop nor the
//! start may write to the kernel, reset a BGP session or lose a probe.
//!
//! * A "node" namespace (the host side) with its NIC `toswitch` wired to a "ToR" namespace that
//!   runs a real FRR (AS 64512); the agent creates the router namespace, moves the NIC there,
//!   runs its own FRR, an L2VNI (VXLAN 300 with a managed host bridge) and a passthrough.
//! * Probes: `ping` every 100 ms from the host namespace to the ToR, through the passthrough
//!   veth and the router namespace.
//! * Kernel writes: `ip monitor` in the router and the host namespaces (`lab::kernel_watch`,
//!   which explains what is counted as a write and what is FRR's or the kernel's own), from
//!   before the first kill until the restarted agent has been Ready for a few resyncs. A canary
//!   write at the end proves the watches were listening.
//! * Sessions: `connectionsEstablished`/`connectionsDropped` of every neighbor, on the ToR and on
//!   the PE's FRR, unchanged.
//!
//! Needs root and FRR (skipped loudly otherwise).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frr::instance::{InstanceSpec, NetnsRef};
use frr::testing::{Fleet, ip, skip_loudly, skip_reason, unique_name};
use lab::kernel_watch::{self, KernelWatch};
use lab::session_counters;

const UNDERLAY: &str = "underlays:\n- asn: 64514\n  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]\n  neighbors: [{asn: 64512, address: 192.168.77.1}]\n";
const OVERLAY: &str = "l2vnis:\n- name: east-west\n  vni: 300\n  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}\nbgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.30.0/24}}\n";
const TOR: &str = "hostname tor\nrouter bgp 64512\n bgp router-id 192.168.77.1\n no bgp ebgp-requires-policy\n \
                   neighbor 192.168.77.2 remote-as 64514\n neighbor 192.168.77.2 timers connect 2\nexit\n!\n";
/// The agent's resync period in this test: the restarted agent runs a few periodic reconciles
/// while it is watched.
const RESYNC_SECS: u64 = 2;
/// How long the restarted agent is watched once Ready.
const WATCH_AFTER_READY: Duration = Duration::from_secs(2 * RESYNC_SECS + 1);

/// The router namespace the agent creates: deleted at the end (after the fleet stopped its FRR).
struct RouterNs(String);

impl Drop for RouterNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// The running agent, killed (by its pid) when the test ends.
struct AgentProc(Option<Child>);

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Node {
    dir: PathBuf,
    router: String,
    host: String,
    listen: SocketAddr,
}

impl Node {
    fn start_agent(&self, log_name: &str) -> Child {
        let log = std::fs::File::create(self.dir.join(log_name)).expect("agent log");
        let err = log.try_clone().expect("agent log");
        Command::new(env!("CARGO_BIN_EXE_openperouter"))
            .arg("host")
            .arg("--config-dir")
            .arg(self.dir.join("config"))
            .args(["--router-netns", &self.router])
            .arg("--host-netns")
            .arg(Path::new("/run/netns").join(&self.host))
            .arg("--frr-run-dir")
            .arg(self.dir.join("frr-run"))
            .arg("--frr-config-dir")
            .arg(self.dir.join("frr-etc"))
            .args(["--frr-hostname", "pe", "--listen", &self.listen.to_string()])
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .arg("--cni-cache-dir")
            .arg(self.dir.join("cni-cache"))
            .arg("--ovs-socket")
            .arg(format!("unix:{}", self.dir.join("no-ovs.sock").display()))
            .args(["--resync", &RESYNC_SECS.to_string(), "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start openperouter host")
    }

    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.listen, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, text))
    }

    /// Waits until `/readyz` answers 200; returns how long that took.
    fn wait_ready(&self, since: Instant, limit: Duration) -> Duration {
        loop {
            if self.http_get("/readyz").is_some_and(|(c, _)| c == 200) {
                return since.elapsed();
            }
            assert!(since.elapsed() < limit, "the agent was not Ready within {limit:?}: {}", self.log_tail());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `openperouter_kernel_writes_total` of the running agent.
    fn kernel_writes_metric(&self) -> u64 {
        let (_, text) = self.http_get("/metrics").expect("GET /metrics");
        text.lines()
            .find_map(|l| l.strip_prefix("openperouter_kernel_writes_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or_else(|| panic!("no openperouter_kernel_writes_total in {text}"))
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        for name in ["agent-1.log", "agent-2.log", "agent-3.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.join(name)) {
                let lines: Vec<&str> = t.lines().collect();
                out.push_str(&format!("--- {name}\n{}\n", lines[lines.len().saturating_sub(30)..].join("\n")));
            }
        }
        out
    }
}

/// `ping` every 100 ms from a namespace.
struct Ping(Child);

impl Ping {
    fn start(ns: &str, dst: &str) -> Ping {
        Ping(
            Command::new("ip")
                .args(["netns", "exec", ns, "ping", "-n", "-i", "0.1", "-W", "1", dst])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("ping"),
        )
    }

    /// Interrupts it: `(sent, lost)`; a probe still in flight at the interruption is not lost.
    fn stop(self) -> (u32, Vec<u32>) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let out = self.0.wait_with_output().expect("ping output");
        let text = String::from_utf8_lossy(&out.stdout);
        let sent: u32 = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no ping summary: {text}"));
        let answered: std::collections::BTreeSet<u32> = text
            .lines()
            .filter(|l| l.contains(" bytes from "))
            .filter_map(|l| l.split("icmp_seq=").nth(1)?.split_whitespace().next()?.parse().ok())
            .collect();
        let last = answered.iter().next_back().copied().unwrap_or(0);
        assert!(last + 2 >= sent, "the probes stopped being answered at {last} of {sent}: {text}");
        ((sent), (1..=last).filter(|s| !answered.contains(s)).collect())
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

async fn wait_established(vtysh: &frr::Vtysh, peer: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let n = frr::state::bgp_neighbors(vtysh).await.unwrap_or_default();
        if n.iter().any(|n| n.peer == peer && n.is_established()) {
            return;
        }
        assert!(Instant::now() < deadline, "session to {peer} not Established within {limit:?}: {n:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_and_restarted_writes_nothing_resets_nothing_loses_nothing() {
    if let Some(reason) = skip_reason() {
        skip_loudly("agent restart drill", &reason);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let router_ns = RouterNs(unique_name("oprar-pe"));
    let mut fleet = Fleet::new();
    let tor = fleet.add_instance("oprar-tor", Some("tor")).expect("ToR instance");
    let host = fleet.add_netns("oprar-host").expect("host namespace");
    let tor_ns = fleet.namespaces()[0].clone();
    // The PE's FRR is the agent's; the fleet stops it at the end.
    let pe_spec = InstanceSpec::private(
        router_ns.0.clone(),
        NetnsRef::Name(router_ns.0.clone()),
        dir.path().join("frr-run"),
        dir.path().join("frr-etc"),
    );
    let pe = fleet.adopt(pe_spec);
    let node =
        Node { dir: dir.path().to_path_buf(), router: router_ns.0.clone(), host: host.clone(), listen: free_port() };
    let mut agent = AgentProc(None);

    let (a, b) = (format!("ar{}a", std::process::id() % 100_000), format!("ar{}b", std::process::id() % 100_000));
    ip(&["link", "add", &a, "netns", &host, "type", "veth", "peer", "name", &b, "netns", &tor_ns]).unwrap();
    ip(&["-n", &host, "link", "set", &a, "name", "toswitch"]).unwrap();
    ip(&["-n", &tor_ns, "link", "set", &b, "name", "tonode"]).unwrap();
    ip(&["-n", &host, "addr", "add", "192.168.77.2/24", "dev", "toswitch"]).unwrap();
    ip(&["-n", &host, "link", "set", "toswitch", "up"]).unwrap();
    ip(&["-n", &tor_ns, "addr", "add", "192.168.77.1/24", "dev", "tonode"]).unwrap();
    ip(&["-n", &tor_ns, "link", "set", "tonode", "up"]).unwrap();
    ip(&["-n", &tor_ns, "route", "add", "192.169.30.0/24", "via", "192.168.77.2"]).unwrap();
    tor.start().expect("start the ToR's FRR");
    frr::Applier::for_instance(&tor).apply_text(TOR).await.expect("configure the ToR");
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("node-config.yaml"), "nodeIndex: {index: 0}\nnodeName: node0\n").unwrap();
    std::fs::write(cfg.join("openpe_underlay.yaml"), UNDERLAY).unwrap();
    std::fs::write(cfg.join("openpe_overlay.yaml"), OVERLAY).unwrap();

    // First start: everything is built; the ToR session comes up; the host reaches the ToR
    // through the passthrough.
    let started = Instant::now();
    agent.0 = Some(node.start_agent("agent-1.log"));
    let first_ready = node.wait_ready(started, Duration::from_secs(90));
    wait_established(&tor.vtysh(), "192.168.77.2", Duration::from_secs(60)).await;
    ip(&["-n", &host, "route", "add", "192.168.77.1/32", "via", "192.169.30.1"]).unwrap();
    let reach = Instant::now();
    while !Command::new("ip")
        .args(["netns", "exec", &host, "ping", "-n", "-c", "1", "-W", "1", "192.168.77.1"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(reach.elapsed() < Duration::from_secs(20), "the host never reached the ToR: {}", node.log_tail());
    }
    let tor_before = session_counters::read(&tor.vtysh()).await.expect("ToR counters");
    let pe_before = session_counters::read(&pe.vtysh()).await.expect("PE counters");
    assert!(tor_before.values().any(|c| c.established >= 1), "{tor_before:?}");
    let probes = Ping::start(&host, "192.168.77.1");
    let watches = [KernelWatch::start(&node.router).expect("watch"), KernelWatch::start(&host).expect("watch")];
    // Judged from when the kernel has been quiet for longer than its own late announcements.
    let quiet = Instant::now();
    let marks = kernel_watch::wait_quiet(&[&watches[0], &watches[1]], Duration::from_secs(60)).await.expect("quiet");
    let quiet = quiet.elapsed();
    let judged =
        || -> Vec<kernel_watch::Event> { watches.iter().zip(&marks).flat_map(|(w, &m)| w.events_since(m)).collect() };

    let mut figures = Vec::new();
    for (signal, log) in [("KILL", "agent-2.log"), ("TERM", "agent-3.log")] {
        let mut child = agent.0.take().expect("a running agent");
        let pid = child.id();
        let stopped = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill");
        assert!(stopped.success());
        let status = child.wait().expect("wait for the agent");
        if signal == "TERM" {
            assert!(status.success(), "SIGTERM: the agent exits cleanly: {status:?}");
        }
        let t = Instant::now();
        agent.0 = Some(node.start_agent(log));
        let ready = node.wait_ready(t, Duration::from_secs(60));
        tokio::time::sleep(WATCH_AFTER_READY).await;
        let writes = node.kernel_writes_metric();
        let events = judged();
        figures.push(format!(
            "SIG{signal}: restart → Ready {:.2} s; agent's own kernel write count {writes}; ip monitor so far: {}",
            ready.as_secs_f64(),
            kernel_watch::summary(&events)
        ));
        eprintln!("{}", figures.last().map_or("", String::as_str));
        let seen = kernel_watch::writes(&events);
        assert!(seen.is_empty(), "SIG{signal}: kernel writes seen:\n{seen:#?}\n{}", node.log_tail());
        assert_eq!(writes, 0, "SIG{signal}: the restarted agent counted kernel writes\n{}", node.log_tail());
    }
    let (sent, lost) = probes.stop();

    // The canary: one address added and removed in each namespace must be seen as writes.
    let before_canary = judged();
    for ns in [&node.router, &host] {
        ip(&["-n", ns, "addr", "add", "198.51.100.254/32", "dev", "lo"]).unwrap();
        ip(&["-n", ns, "addr", "del", "198.51.100.254/32", "dev", "lo"]).unwrap();
    }
    let [rw, hw] = watches;
    for (w, ns) in [(rw, &node.router), (hw, &host)] {
        let events = w.stop();
        let canary = kernel_watch::writes(&events).iter().filter(|e| e.line.contains("198.51.100.254")).count();
        assert!(canary >= 2, "the watch in {ns} missed the canary write: {events:#?}");
    }

    let tor_after = session_counters::read(&tor.vtysh()).await.expect("ToR counters");
    let pe_after = session_counters::read(&pe.vtysh()).await.expect("PE counters");
    let mut resets = session_counters::resets(&tor_before, &tor_after);
    resets.extend(session_counters::resets(&pe_before, &pe_after).into_iter().map(|r| format!("PE {r}")));

    let writes = kernel_watch::writes(&before_canary);
    eprintln!(
        "agent restart drill (host kernel, FRR): first start → Ready {:.2} s; kernel quiet after {:.1} s\n  {}\n  \
         ip monitor (router + host namespaces, both restarts): {}\n  \
         BGP sessions watched: {} on the ToR, {} on the PE; resets: {}\n  probes every 100 ms: {sent} sent, {} lost",
        first_ready.as_secs_f64(),
        quiet.as_secs_f64(),
        figures.join("\n  "),
        kernel_watch::summary(&before_canary),
        tor_before.len(),
        pe_before.len(),
        resets.len(),
        lost.len()
    );
    assert!(writes.is_empty(), "kernel writes seen while the agent restarted:\n{writes:#?}\n{}", node.log_tail());
    assert!(resets.is_empty(), "BGP sessions reset: {resets:?}");
    assert!(lost.is_empty(), "probes lost (sequence numbers): {lost:?}");
    drop(agent);
}
