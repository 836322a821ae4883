//! The CNI runtime with Debian's `containernetworking-plugins` (macvlan with static addressing)
//! in a throwaway namespace: ADD makes the interface with its address, a second ensure only
//! CHECKs, a deleted interface is repaired, a changed configuration replaces the old attachment
//! (no stale cache), remove deletes it and its cache entry, and a failing ADD leaves nothing.
//! Needs root and the plugins (`/usr/lib/cni`); skips loudly without them.

use std::path::PathBuf;

use cni::{Attachment, Ensured, PendingAction, Runtime, Wanted};
use kernel::{NetNs, Socket};
use serde_json::{Map, Value, json};

fn plugins() -> Option<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> = cni::DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect();
    (cni::exec::find("macvlan", &dirs).is_ok() && cni::exec::find("static", &dirs).is_ok()).then_some(dirs)
}

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = NetNs::delete(&self.0);
    }
}

/// The IPv4 addresses of `link` in `ns`, as text (`None`: no such link).
fn addresses(ns: &str, link: &str) -> Option<Vec<String>> {
    let handle = NetNs::open(ns).expect("namespace");
    handle
        .run(|| {
            let mut sock = Socket::open().expect("netlink");
            let index = sock.index_of(link).expect("index")?;
            let all = sock.addresses().expect("addresses");
            Some(
                all.into_iter()
                    .filter(|(i, a)| *i == index && a.addr().is_ipv4())
                    .map(|(_, a)| a.to_string())
                    .collect(),
            )
        })
        .expect("run in namespace")
}

fn macvlan(address: &str) -> Value {
    json!({"cniVersion": "1.0.0", "name": "underlay", "plugins": [
        {"type": "macvlan", "master": "parent0", "mode": "bridge",
         "ipam": {"type": "static", "addresses": [{"address": address}]}}
    ]})
}

#[test]
fn macvlan_underlay_is_added_checked_repaired_replaced_and_removed() {
    let Some(dirs) = plugins() else {
        eprintln!(
            "!!! SKIPPED: CNI plugins macvlan/static not installed (apt-get install containernetworking-plugins) !!!"
        );
        return;
    };
    if !nix_is_root() {
        eprintln!("!!! SKIPPED: needs root (network namespaces) !!!");
        return;
    }
    // The node's namespace with the parent NIC, and the router's, where the macvlan goes.
    let (host, name) = (format!("cnih{}", std::process::id()), format!("cnir{}", std::process::id()));
    let _ns = (Ns(host.clone()), Ns(name.clone()));
    let handle = NetNs::create(&name).expect("namespace");
    let host_handle = NetNs::create(&host).expect("namespace");
    host_handle
        .run(|| {
            let mut sock = Socket::open().expect("netlink");
            let mut pair = kernel::rtnl::NewLink::new(
                "parent0",
                kernel::rtnl::LinkKind::Veth { peer: "peer0", peer_mtu: None, peer_netns: None },
            );
            pair.up = true;
            sock.request(&mut pair.message()).expect("veth");
            sock.set_up_by_name("peer0").expect("up");
        })
        .expect("run");
    let cache = tempfile::tempdir().expect("cache");
    let mut rt = Runtime::new(dirs, cache.path());
    rt.host_netns = Some(NetNs::path_of(&host));
    let att = Attachment {
        container_id: "perouter-underlay-test".into(),
        netns: NetNs::path_of(&name),
        ifname: "net1".into(),
    };
    let none = Map::new();
    // What the cache and the namespace say is left to do for `wanted` (no plugin runs).
    let pending = |rt: &Runtime, wanted: &[(&str, &Value)]| -> Vec<(String, PendingAction)> {
        let wanted: Vec<Wanted<'_>> =
            wanted.iter().map(|(ifname, config)| Wanted { ifname, config, runtime_config: &none }).collect();
        let present = |ifname: &str| addresses(&name, ifname).is_some();
        rt.pending("perouter-underlay-test", &NetNs::path_of(&name), &wanted, present)
            .into_iter()
            .map(|p| (p.ifname, p.action))
            .collect()
    };
    let (ten, twenty) = (macvlan("192.168.11.10/24"), macvlan("192.168.11.20/24"));
    assert_eq!(pending(&rt, &[("net1", &ten)]), vec![("net1".to_string(), PendingAction::Add)]);

    // ADD, then only CHECK.
    let added = rt.ensure(&att, &macvlan("192.168.11.10/24"), &none).expect("add");
    assert!(matches!(added, Ensured::Added { .. }), "{added:?}");
    assert_eq!(addresses(&name, "net1"), Some(vec!["192.168.11.10/24".to_string()]));
    assert_eq!(rt.ensure(&att, &macvlan("192.168.11.10/24"), &none).expect("check"), Ensured::Unchanged);
    assert_eq!(rt.attached("perouter-underlay-test"), vec!["net1".to_string()]);
    assert_eq!(pending(&rt, &[("net1", &ten)]), vec![]);
    assert_eq!(pending(&rt, &[("net1", &twenty)]), vec![("net1".to_string(), PendingAction::Replace)]);
    assert_eq!(pending(&rt, &[]), vec![("net1".to_string(), PendingAction::Delete)]);

    // Someone deletes the interface: CHECK fails, it is made again.
    handle
        .run(|| Socket::open().expect("netlink").request(&mut kernel::rtnl::delete_link("net1")))
        .expect("run")
        .expect("delete");
    assert_eq!(pending(&rt, &[("net1", &ten)]), vec![("net1".to_string(), PendingAction::Repair)]);
    let repaired = rt.ensure(&att, &macvlan("192.168.11.10/24"), &none).expect("repair");
    assert!(matches!(repaired, Ensured::Repaired { .. }), "{repaired:?}");
    assert_eq!(addresses(&name, "net1"), Some(vec!["192.168.11.10/24".to_string()]));

    // Another configuration: the old attachment goes first, no stale cache entry stops it.
    let replaced = rt.ensure(&att, &macvlan("192.168.11.20/24"), &none).expect("replace");
    assert!(matches!(replaced, Ensured::Replaced { .. }), "{replaced:?}");
    assert_eq!(addresses(&name, "net1"), Some(vec!["192.168.11.20/24".to_string()]));
    assert_eq!(rt.ensure(&att, &macvlan("192.168.11.20/24"), &none).expect("check"), Ensured::Unchanged);

    // Removed: the interface and the cache entry go; removing again finds nothing.
    assert!(rt.remove(&att).expect("remove"));
    assert_eq!(addresses(&name, "net1"), None);
    assert!(rt.attached("perouter-underlay-test").is_empty());
    assert!(!rt.remove(&att).expect("remove again"));

    // And made again with yet another configuration, as a deleted and recreated Underlay is.
    let again = rt.ensure(&att, &macvlan("192.168.11.30/24"), &none).expect("add again");
    assert!(matches!(again, Ensured::Added { .. }), "{again:?}");
    assert_eq!(addresses(&name, "net1"), Some(vec!["192.168.11.30/24".to_string()]));
    assert!(rt.remove(&att).expect("remove"));

    // A failing ADD (no such parent) says why and leaves neither an interface nor a cache entry.
    let mut bad = macvlan("192.168.11.40/24");
    bad["plugins"][0]["master"] = json!("nosuchnic");
    let e = rt.ensure(&att, &bad, &none).expect_err("no parent").to_string();
    assert!(e.contains("macvlan ADD failed") && e.contains("Link not found"), "{e}");
    assert_eq!(addresses(&name, "net1"), None);
    assert!(rt.attached("perouter-underlay-test").is_empty());
    // A configuration below CNI 1.0 is refused before anything runs.
    let mut old = macvlan("192.168.11.50/24");
    old["cniVersion"] = json!("0.4.0");
    assert!(rt.ensure(&att, &old, &none).expect_err("old").to_string().contains("1.0.0 or later"));
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
