//! `openperouter host --once --frr-mode none` as a script would run it: exit 0 and a summary
//! when everything converged, exit 1 and `Kind/name: Reason: message` lines otherwise. Needs
//! root (it creates network namespaces); skips loudly otherwise.

use std::path::Path;
use std::process::Command;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn once_applies_and_reports() {
    if !is_root() {
        eprintln!("!!! SKIPPED once_applies_and_reports: not running as root !!!");
        return;
    }
    let p = format!("opho{}", std::process::id());
    let (host, router) = (format!("{p}-host"), format!("{p}-pe"));
    let _cleanup = Cleanup(vec![router.clone(), host.clone()]);
    ip(&["netns", "add", &host]);
    ip(&["-n", &host, "link", "add", "toswitch", "type", "veth", "peer", "name", "peer0"]);
    ip(&["-n", &host, "addr", "add", "192.168.77.2/24", "dev", "toswitch"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = &dir.path().join("config");
    std::fs::create_dir_all(cfg).expect("mkdir");
    std::fs::write(cfg.join("node-config.yaml"), "nodeIndex: {index: 2}\nnodeName: node2\n").expect("write");
    std::fs::write(
        cfg.join("openpe_all.yaml"),
        "underlays:\n- asn: 64514\n  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]\n  neighbors: [{asn: 64512, address: 192.168.77.1}]\n\
         l2vnis:\n- name: ew\n  vni: 300\n",
    )
    .expect("write");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_openperouter"))
            .args(["host", "--once", "--frr-mode", "none", "--router-netns", &router])
            .arg("--host-netns")
            .arg(Path::new("/run/netns").join(&host))
            .arg("--config-dir")
            .arg(cfg)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .output()
            .expect("run")
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("OK: node \"node2\" (index 2) converged"), "{stdout}");
    let lo = Command::new("ip").args(["-n", &router, "addr", "show", "dev", "lo"]).output().expect("ip");
    assert!(String::from_utf8_lossy(&lo.stdout).contains("100.65.0.2/32"), "VTEP of node index 2");

    std::fs::write(
        cfg.join("bad.yaml"),
        "apiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {name: dup}\nspec: {vni: 300}\n",
    )
    .expect("write");
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // "dup" sorts before "ew", but "ew" was applied first (remembered in the state dir), so
    // the newcomer is the one that fails.
    assert!(stdout.lines().any(|l| l.starts_with("L2VNI/dup: ValidationFailed: duplicate vni 300")), "{stdout}");
}
