//! A `CNIDevice` underlay through the agent on this host's kernel: the node's NIC in a "node"
//! namespace, a macvlan on it made by Debian's CNI plugins (static addressing) in the router
//! namespace the agent creates, the "ToR" reachable through it; a no-op reconcile runs no plugin,
//! a changed configuration replaces the interface, the Underlay removed deletes it, recreated
//! with yet another configuration it comes back (no stale cache). FRR is not run (not needed
//! for the interface). Needs root and the CNI plugins; skips loudly otherwise.

use std::path::PathBuf;
use std::process::Command;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ipv4_of(ns: &str, dev: &str) -> Option<Vec<String>> {
    let out = Command::new("ip").args(["-n", ns, "-4", "-o", "addr", "show", "dev", dev]).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1).map(str::to_string))
            .collect()
    })
}

struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn underlay(address: &str) -> String {
    format!(
        "underlays:\n- asn: 64514\n  neighbors: [{{asn: 64512, address: 192.168.78.1}}]\n  interfaces:\n  - type: CNIDevice\n    cniDevice:\n      type: RawConfig\n      interfaceName: fabric0\n      rawConfig: {{cniVersion: 1.0.0, name: underlay, plugins: [{{type: macvlan, master: toswitch, mode: bridge, ipam: {{type: static, addresses: [{{address: \"{address}\"}}]}}}}]}}\n"
    )
}

const PASSTHROUGH: &str =
    "bgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.30.0/24}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cni_underlay_is_made_kept_replaced_and_removed() {
    let dirs: Vec<PathBuf> = cni::DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect();
    if !is_root() || cni::exec::find("macvlan", &dirs).is_err() {
        eprintln!(
            "!!! SKIPPED cni_underlay: needs root and the CNI plugins (apt-get install containernetworking-plugins) !!!"
        );
        return;
    }
    let p = format!("opcn{}", std::process::id());
    let (host, router, tor) = (format!("{p}-host"), format!("{p}-pe"), format!("{p}-tor"));
    let _cleanup = Namespaces(vec![router.clone(), host.clone(), tor.clone()]);
    for ns in [&host, &tor] {
        ip(&["netns", "add", ns]);
    }
    ip(&["-n", &host, "link", "add", "toswitch", "type", "veth", "peer", "name", "tonode", "netns", &tor]);
    ip(&["-n", &host, "link", "set", "toswitch", "up"]);
    ip(&["-n", &tor, "addr", "add", "192.168.78.1/24", "dev", "tonode"]);
    ip(&["-n", &tor, "link", "set", "tonode", "up"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(config.join("node-config.yaml"), "nodeIndex: {index: 0}\nnodeName: node0\n").expect("write");
    std::fs::write(config.join("openpe_overlay.yaml"), PASSTHROUGH).expect("write");
    let write_underlay = |text: &str| std::fs::write(config.join("openpe_underlay.yaml"), text).expect("write");
    write_underlay(&underlay("192.168.78.10/24"));
    let mut cfg = agent::AgentConfig::new(vec![config.clone()], router.clone());
    cfg.host_netns = Some(PathBuf::from(format!("/run/netns/{host}")));
    cfg.cni_cache_dir = dir.path().join("cni-cache");
    let mut agent = agent::Agent::new(cfg);
    let cache_entries = || std::fs::read_dir(dir.path().join("cni-cache")).map(|d| d.count()).unwrap_or(0);

    // Made, in the router namespace, with its address; the ToR answers through it.
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ipv4_of(&router, "fabric0"), Some(vec!["192.168.78.10/24".to_string()]));
    assert!(ipv4_of(&host, "fabric0").is_none(), "made in the router namespace, not the node's");
    let ping = Command::new("ip").args(["netns", "exec", &router, "ping", "-c1", "-W2", "192.168.78.1"]).output();
    assert!(ping.is_ok_and(|o| o.status.success()), "the ToR answers through the CNI interface");
    assert_eq!(cache_entries(), 1);

    // Nothing changed: no plugin runs (the cache entry is not rewritten), no kernel write.
    let entry = std::fs::read_dir(dir.path().join("cni-cache")).expect("cache").flatten().next().expect("entry").path();
    let written = std::fs::metadata(&entry).and_then(|m| m.modified()).expect("mtime");
    let index = ip(&["-n", &router, "-o", "link", "show", "dev", "fabric0"]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(st.kernel.writes, 0, "a no-op reconcile writes nothing");
    assert_eq!(std::fs::metadata(&entry).and_then(|m| m.modified()).expect("mtime"), written);
    assert_eq!(ip(&["-n", &router, "-o", "link", "show", "dev", "fabric0"]), index);

    // Another address: the interface is made again with it.
    write_underlay(&underlay("192.168.78.20/24"));
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ipv4_of(&router, "fabric0"), Some(vec!["192.168.78.20/24".to_string()]));

    // The Underlay removed: the interface and its cache entry go.
    std::fs::remove_file(config.join("openpe_underlay.yaml")).expect("remove");
    let st = agent.reconcile().await;
    assert!(ipv4_of(&router, "fabric0").is_none(), "deleted with the Underlay: {:?}", st.failed_resources);
    assert_eq!(cache_entries(), 0);

    // Made again with yet another configuration: nothing stale is in the way.
    write_underlay(&underlay("192.168.78.30/24"));
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ipv4_of(&router, "fabric0"), Some(vec!["192.168.78.30/24".to_string()]));

    // A configuration the plugin refuses is the Underlay's failure, with the plugin's words.
    write_underlay(&underlay("192.168.78.30/24").replace("master: toswitch", "master: nosuchnic"));
    let st = agent.reconcile().await;
    let failed = st.failed_resources.iter().find(|f| f.kind == api::ResourceKind::Underlay).expect("Underlay failed");
    assert!(
        failed.message.contains("CNI interface fabric0") && failed.message.contains("macvlan ADD failed"),
        "{failed:?}"
    );
}
