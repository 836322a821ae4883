//! A `CNIDevice` underlay addressed by DHCP: a DHCP server (dnsmasq) on the "ToR" side, the
//! agent starting the CNI DHCP daemon and supervising it (started again after it was killed),
//! the macvlan in the router namespace leased an address from the server's range. Needs root,
//! the CNI plugins and dnsmasq; skips loudly otherwise.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ipv4_of(ns: &str, dev: &str) -> Vec<String> {
    let out = Command::new("ip").args(["-n", ns, "-4", "-o", "addr", "show", "dev", dev]).output().expect("ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1).map(str::to_string))
        .collect()
}

struct Cleanup {
    namespaces: Vec<String>,
    children: Vec<Child>,
    pids: Vec<u32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in &self.pids {
            let _ = Command::new("kill").arg(pid.to_string()).output();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

const UNDERLAY: &str = "underlays:\n- asn: 64514\n  neighbors: [{asn: 64512, address: 192.168.79.1}]\n  interfaces:\n  - type: CNIDevice\n    cniDevice:\n      type: RawConfig\n      interfaceName: fabric0\n      rawConfig: {cniVersion: 1.0.0, name: underlay, plugins: [{type: macvlan, master: toswitch, mode: bridge, ipam: {type: dhcp}}]}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cni_underlay_with_dhcp_addressing_and_a_supervised_daemon() {
    let dirs: Vec<PathBuf> = cni::DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect();
    let dnsmasq = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"].into_iter().find(|p| std::path::Path::new(p).exists());
    let (true, Ok(_), Some(dnsmasq)) = (is_root(), cni::exec::find("dhcp", &dirs), dnsmasq) else {
        eprintln!(
            "!!! SKIPPED cni_dhcp: needs root, the CNI plugins and dnsmasq (apt-get install containernetworking-plugins dnsmasq-base) !!!"
        );
        return;
    };
    if std::os::unix::net::UnixStream::connect("/run/cni/dhcp.sock").is_ok() {
        eprintln!("!!! SKIPPED cni_dhcp: a CNI DHCP daemon already runs on this machine !!!");
        return;
    }
    let p = format!("opdh{}", std::process::id());
    let (host, router, tor) = (format!("{p}-host"), format!("{p}-pe"), format!("{p}-tor"));
    let mut cleanup =
        Cleanup { namespaces: vec![router.clone(), host.clone(), tor.clone()], children: Vec::new(), pids: Vec::new() };
    for ns in [&host, &tor] {
        ip(&["netns", "add", ns]);
    }
    ip(&["-n", &host, "link", "add", "toswitch", "type", "veth", "peer", "name", "tonode", "netns", &tor]);
    ip(&["-n", &host, "link", "set", "toswitch", "up"]);
    ip(&["-n", &tor, "addr", "add", "192.168.79.1/24", "dev", "tonode"]);
    ip(&["-n", &tor, "link", "set", "tonode", "up"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Command::new("ip")
        .args(["netns", "exec", &tor, dnsmasq, "--no-daemon", "--port=0", "--interface=tonode", "--bind-interfaces"])
        .arg("--dhcp-range=192.168.79.50,192.168.79.59,255.255.255.0,1h")
        .arg(format!("--dhcp-leasefile={}", dir.path().join("leases").display()))
        .spawn()
        .expect("dnsmasq");
    cleanup.children.push(server);

    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(config.join("node-config.yaml"), "nodeIndex: {index: 0}\nnodeName: node0\n").expect("write");
    std::fs::write(config.join("openpe_underlay.yaml"), UNDERLAY).expect("write");
    let mut cfg = agent::AgentConfig::new(vec![config.clone()], router.clone());
    cfg.host_netns = Some(PathBuf::from(format!("/run/netns/{host}")));
    cfg.cni_cache_dir = dir.path().join("cni-cache");
    let mut agent = agent::Agent::new(cfg.clone());

    let leased = |addrs: &[String]| addrs.iter().any(|a| a.starts_with("192.168.79.5") && a.ends_with("/24"));
    let st = agent.reconcile().await;
    let daemon = agent.dhcp_daemon_pid().expect("the agent started the DHCP daemon");
    cleanup.pids.push(daemon);
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    let addrs = ipv4_of(&router, "fabric0");
    assert!(leased(&addrs), "fabric0 leased an address from 192.168.79.50-59: {addrs:?}");

    // The daemon dies: the next reconcile starts it again, the interface keeps its lease.
    let _ = Command::new("kill").arg(daemon.to_string()).output();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    let again = agent.dhcp_daemon_pid().expect("a DHCP daemon");
    cleanup.pids.push(again);
    assert_ne!(again, daemon, "started again");
    assert!(std::os::unix::net::UnixStream::connect("/run/cni/dhcp.sock").is_ok(), "its socket answers");
    assert!(leased(&ipv4_of(&router, "fabric0")));

    // The agent stops, and so does the daemon; the Underlay goes meanwhile. The next agent
    // needs the daemon to delete the interface (the plugin releases its lease through it),
    // though nothing planned uses DHCP any more: it starts it, deletes fabric0, forgets it, and
    // stops the daemon again.
    drop(agent);
    let _ = Command::new("kill").arg(again.to_string()).output();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::remove_file(config.join("openpe_underlay.yaml")).expect("remove");
    let mut agent = agent::Agent::new(cfg);
    agent.reconcile().await;
    cleanup.pids.extend(agent.dhcp_daemon_pid());
    let gone = Command::new("ip").args(["-n", &router, "link", "show", "fabric0"]).output().expect("ip");
    assert!(!gone.status.success(), "fabric0 deleted with the Underlay");
    let cached = std::fs::read_dir(dir.path().join("cni-cache")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(cached, 0, "no CNI cache entry left");
    assert_eq!(agent.dhcp_daemon_pid(), None, "the daemon stopped once nothing used DHCP");
    assert!(std::os::unix::net::UnixStream::connect("/run/cni/dhcp.sock").is_err(), "its socket no longer answers");
}
