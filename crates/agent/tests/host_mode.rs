//! The agent end to end on this host's kernel (no VRF needed): a "node" namespace with an
//! underlay NIC, a router namespace the agent creates, a real FRR the agent runs, and a
//! configuration directory the test edits. Needs root and FRR; skips loudly otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn skip_reason() -> Option<String> {
    if !rustix_is_root() {
        return Some("not running as root".into());
    }
    if !Path::new("/usr/lib/frr/zebra").exists() {
        return Some("FRR is not installed (apt-get install frr frr-pythontools)".into());
    }
    None
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip_ok(args: &[&str]) -> bool {
    Command::new("ip").args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

fn link_exists(ns: &str, name: &str) -> bool {
    ip_ok(&["-n", ns, "link", "show", "dev", name])
}

struct Lab {
    prefix: String,
    dir: tempfile::TempDir,
    instance: Option<frr::Instance>,
}

impl Lab {
    fn host(&self) -> String {
        format!("{}-host", self.prefix)
    }
    fn router(&self) -> String {
        format!("{}-pe", self.prefix)
    }
    fn tor(&self) -> String {
        format!("{}-tor", self.prefix)
    }
    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(i) = &self.instance {
            let _ = i.stop();
        }
        for ns in [self.router(), self.host(), self.tor()] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

const UNDERLAY: &str = "underlays:\n- asn: 64514\n  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]\n  neighbors: [{asn: 64512, address: 192.168.77.1}]\n";
const OVERLAY: &str = "l2vnis:\n- name: east-west\n  vni: 300\n  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}\nbgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.30.0/24}}\n";

fn setup(tag: &str) -> Lab {
    let prefix = format!("opag{}{tag}", std::process::id());
    let lab = Lab { prefix, dir: tempfile::tempdir().expect("tempdir"), instance: None };
    for ns in [lab.host(), lab.tor()] {
        ip(&["netns", "add", &ns]);
    }
    ip(&["-n", &lab.host(), "link", "add", "toswitch", "type", "veth", "peer", "name", "tonode", "netns", &lab.tor()]);
    ip(&["-n", &lab.host(), "addr", "add", "192.168.77.2/24", "dev", "toswitch"]);
    ip(&["-n", &lab.host(), "link", "set", "toswitch", "up"]);
    ip(&["-n", &lab.tor(), "addr", "add", "192.168.77.1/24", "dev", "tonode"]);
    ip(&["-n", &lab.tor(), "link", "set", "tonode", "up"]);
    let cfg = lab.config_dir();
    std::fs::create_dir_all(&cfg).expect("config dir");
    std::fs::write(cfg.join("node-config.yaml"), "nodeIndex: {index: 0}\nnodeName: node0\n").expect("write");
    std::fs::write(cfg.join("openpe_underlay.yaml"), UNDERLAY).expect("write");
    std::fs::write(cfg.join("openpe_overlay.yaml"), OVERLAY).expect("write");
    lab
}

fn agent_for(lab: &Lab) -> agent::Agent {
    let mut cfg = agent::AgentConfig::new(vec![lab.config_dir()], lab.router());
    cfg.host_netns = Some(PathBuf::from(format!("/run/netns/{}", lab.host())));
    cfg.frr = agent::FrrMode::Managed {
        run_dir: lab.dir.path().join("frr-run"),
        config_dir: lab.dir.path().join("frr-etc"),
        hostname: Some("node0".into()),
    };
    agent::Agent::new(cfg)
}

async fn running_config(agent: &agent::Agent) -> String {
    let vtysh = agent.vtysh().expect("vtysh");
    vtysh.show_running_config().await.expect("show running-config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_mode_end_to_end_without_vrf() {
    if let Some(why) = skip_reason() {
        eprintln!("!!! SKIPPED host_mode_end_to_end_without_vrf: {why} !!!");
        return;
    }
    let mut lab = setup("e");
    let mut agent = agent_for(&lab);
    lab.instance = agent.frr_instance().cloned();

    // First reconcile: everything is created.
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert!(st.ready(), "{:?}", st.conditions);
    assert!(st.frr.reloaded && st.frr.lines_added > 0, "{:?}", st.frr);
    assert!(st.kernel.writes > 0);
    let (router, host) = (lab.router(), lab.host());
    assert!(!link_exists(&host, "toswitch"), "the NIC left the host namespace");
    let nic = ip(&["-n", &router, "-d", "addr", "show", "dev", "toswitch"]);
    assert!(nic.contains("192.168.77.2/24") && nic.contains("group 4242"), "{nic}");
    assert!(ip(&["-n", &router, "addr", "show", "dev", "lo"]).contains("100.65.0.0/32"));
    let vx = ip(&["-n", &router, "-d", "link", "show", "dev", "vni300"]);
    assert!(vx.contains("vxlan id 300") && vx.contains("dstport 4789") && vx.contains("master br-pe-300"), "{vx}");
    assert!(ip(&["-n", &host, "link", "show", "dev", "host-e-300"]).contains("master br-hs-300"));
    assert!(ip(&["-n", &host, "addr", "show", "dev", "pt-host"]).contains("192.169.30.2/24"));
    assert!(ip(&["-n", &router, "addr", "show", "dev", "pt-ns"]).contains("192.169.30.1/24"));
    // zebra holds every address the plan put in the router namespace (FRR 8.4 drops one that
    // arrives before zebra learned its interface; the agent then announces it again).
    let zebra = frr::state::interfaces(&agent.vtysh().expect("vtysh")).await.expect("zebra's interfaces");
    for (ifname, addr) in [("toswitch", "192.168.77.2/24"), ("pt-ns", "192.169.30.1/24"), ("lo", "100.65.0.0/32")] {
        let known =
            zebra.iter().find(|i| i.name == ifname).unwrap_or_else(|| panic!("zebra lacks {ifname}: {zebra:?}"));
        assert!(known.addresses.iter().any(|a| a.to_string() == addr), "zebra lacks {addr} on {ifname}: {known:?}");
    }
    let running = running_config(&agent).await;
    assert!(running.contains("router bgp 64514"), "{running}");
    assert!(running.contains("neighbor 192.169.30.2 remote-as 64515"), "{running}");
    assert!(running.contains("advertise-all-vni"), "{running}");

    // The BGP session to the "ToR" is configured; nothing runs there, so it stays down, but
    // the neighbor exists in FRR's state.
    let neighbors = frr::state::bgp_neighbors(&agent.vtysh().expect("vtysh")).await.expect("neighbors");
    assert!(neighbors.iter().any(|n| n.peer == "192.168.77.1"), "{neighbors:?}");

    // Second reconcile: nothing to do, nothing done.
    let st = agent.reconcile().await;
    assert_eq!(st.kernel.writes, 0, "a no-op reconcile writes nothing to the kernel");
    assert!(!st.frr.reloaded && st.frr.lines_added == 0 && st.frr.lines_removed == 0, "{:?}", st.frr);
    let ifindex_before = ip(&["-n", &router, "-o", "link", "show", "dev", "vni300"]);

    // The router namespace's name deleted: the namespace lives on (FRR runs in it, the agent
    // holds it), so the next reconcile names it again and restarts, rebuilds and writes nothing.
    let netns_path = PathBuf::from(format!("/run/netns/{router}"));
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).expect("stat"));
    let ns_before = inode(&netns_path);
    let zebra_pid = std::fs::read_to_string(lab.dir.path().join("frr-run/zebra.pid")).expect("zebra.pid");
    ip(&["netns", "del", &router]);
    assert!(!netns_path.exists());
    let st = agent.reconcile().await;
    assert!(st.ready(), "{:?}", st.conditions);
    assert_eq!(inode(&netns_path), ns_before, "the same namespace is named again");
    assert_eq!(st.kernel.writes, 0, "nothing rebuilt");
    assert!(!st.frr.reloaded, "{:?}", st.frr);
    let zebra_after = std::fs::read_to_string(lab.dir.path().join("frr-run/zebra.pid")).expect("zebra.pid");
    assert_eq!(zebra_pid, zebra_after, "FRR was not restarted");
    assert!(Path::new(&format!("/proc/{}", zebra_pid.trim())).exists(), "zebra {zebra_pid} runs");
    assert_eq!(ifindex_before, ip(&["-n", &router, "-o", "link", "show", "dev", "vni300"]));
    assert!(ip(&["-n", &router, "addr", "show", "dev", "toswitch"]).contains("192.168.77.2/24"));
    // The same with the agent restarted in between: the new one holds nothing yet and finds the
    // namespace through the FRR it manages.
    ip(&["netns", "del", &router]);
    drop(agent);
    let mut agent = agent_for(&lab);
    let st = agent.reconcile().await;
    assert!(st.ready(), "{:?}", st.conditions);
    assert_eq!(inode(&netns_path), ns_before, "a restarted agent names the same namespace again");
    assert_eq!(st.kernel.writes, 0, "nothing rebuilt");
    let zebra_after = std::fs::read_to_string(lab.dir.path().join("frr-run/zebra.pid")).expect("zebra.pid");
    assert_eq!(zebra_pid, zebra_after, "FRR was not restarted");

    // Drift: someone deletes the passthrough veth; the next reconcile repairs only that.
    ip(&["-n", &host, "link", "del", "pt-host"]);
    let st = agent.reconcile().await;
    assert!(st.ready(), "{:?}", st.failed_resources);
    assert!(st.kernel.writes > 0);
    assert!(ip(&["-n", &host, "addr", "show", "dev", "pt-host"]).contains("192.169.30.2/24"));
    assert_eq!(
        ifindex_before,
        ip(&["-n", &router, "-o", "link", "show", "dev", "vni300"]),
        "untouched objects keep their ifindex"
    );

    // An invalid resource is reported; everything else stays as it is.
    let bad = "apiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {name: clash}\nspec: {vni: 300}\n";
    std::fs::write(lab.config_dir().join("bad.yaml"), bad).expect("write");
    let st = agent.reconcile().await;
    assert!(!st.ready());
    let clash = st.failed_resources.iter().find(|f| f.name == "clash").expect("clash reported");
    assert_eq!(clash.reason, api::FailureReason::ValidationFailed);
    assert!(clash.message.contains("duplicate vni 300"), "{clash}");
    assert_eq!(st.kernel.writes, 0, "the valid resources were not touched");
    std::fs::remove_file(lab.config_dir().join("bad.yaml")).expect("rm");

    // A RawFRRConfig whose line FRR does not know fails alone, named with FRR's message and the
    // line; another snippet and everything else are applied.
    let raws = "apiVersion: network.openperouter.io/v1alpha1\nkind: RawFRRConfig\nmetadata: {name: typo}\n\
                spec: {rawConfig: \"router bgp 64514\\n neighbor 192.168.77.1 remote-az 5\\nexit\\n\"}\n---\n\
                apiVersion: network.openperouter.io/v1alpha1\nkind: RawFRRConfig\nmetadata: {name: fine}\n\
                spec: {rawConfig: \"route-map from-raw permit 10\\nexit\\n\"}\n";
    std::fs::write(lab.config_dir().join("raw.yaml"), raws).expect("write");
    let st = agent.reconcile().await;
    assert!(st.frr.error.is_none(), "{:?}", st.frr);
    assert_eq!(st.failed_resources.len(), 1, "{:?}", st.failed_resources);
    let typo = &st.failed_resources[0];
    assert_eq!(
        (typo.kind, typo.name.as_str(), typo.reason),
        (api::ResourceKind::RawFRRConfig, "typo", api::FailureReason::ValidationFailed)
    );
    assert!(typo.message.contains("remote-az 5") && typo.message.contains("Unknown command"), "{typo}");
    let running = running_config(&agent).await;
    assert!(running.contains("route-map from-raw permit 10") && !running.contains("remote-az"), "{running}");
    assert!(running.contains("neighbor 192.169.30.2 remote-as 64515"), "the passthrough stays: {running}");
    // Once refused, the snippet is not tried again: the next reconcile starts no process.
    let st = agent.reconcile().await;
    assert_eq!(st.failed_resources.len(), 1, "{:?}", st.failed_resources);
    assert!(!st.frr.reloaded, "{:?}", st.frr);
    std::fs::remove_file(lab.config_dir().join("raw.yaml")).expect("rm");

    // Removing the L2VNI removes exactly its objects.
    std::fs::write(
        lab.config_dir().join("openpe_overlay.yaml"),
        "bgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.30.0/24}}\n",
    )
    .expect("write");
    let st = agent.reconcile().await;
    assert!(st.ready(), "{:?}", st.failed_resources);
    for (ns, name) in [
        (&router, "vni300"),
        (&router, "br-pe-300"),
        (&router, "pe-e-300"),
        (&host, "host-e-300"),
        (&host, "br-hs-300"),
    ] {
        assert!(!link_exists(ns, name), "{name} should be gone");
    }
    assert!(link_exists(&host, "pt-host"), "the passthrough stays");

    // Removing the Underlay gives the NIC back to the host with its address.
    std::fs::remove_file(lab.config_dir().join("openpe_underlay.yaml")).expect("rm");
    let st = agent.reconcile().await;
    assert!(st.input_error.is_none(), "{:?}", st.input_error);
    let nic = ip(&["-n", &host, "addr", "show", "dev", "toswitch"]);
    assert!(nic.contains("192.168.77.2/24"), "{nic}");
    assert!(!link_exists(&host, "pt-host"), "without an Underlay nothing of ours remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_configuration_changes_nothing() {
    if let Some(why) = skip_reason() {
        eprintln!("!!! SKIPPED unreadable_configuration_changes_nothing: {why} !!!");
        return;
    }
    let lab = setup("u");
    let mut cfg = agent::AgentConfig::new(vec![lab.config_dir()], lab.router());
    cfg.host_netns = Some(PathBuf::from(format!("/run/netns/{}", lab.host())));
    let mut agent = agent::Agent::new(cfg);
    std::fs::write(lab.config_dir().join("openpe_broken.yaml"), "l3vnis: [unclosed\n").expect("write");
    let st = agent.reconcile().await;
    assert!(st.input_error.as_deref().is_some_and(|e| e.contains("openpe_broken.yaml")), "{:?}", st.input_error);
    assert!(!st.ready());
    assert!(link_exists(&lab.host(), "toswitch"), "nothing was moved");
    assert!(!Path::new(&format!("/run/netns/{}", lab.router())).exists(), "the router namespace was not even created");
    tokio::time::sleep(Duration::from_millis(10)).await;
}
