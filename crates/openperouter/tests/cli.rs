//! The CLI as users run it: exit codes, output shapes, the committed CRDs, and the shipped
//! examples (upstream-format manifests and static files).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_openperouter")).args(args).current_dir(root()).output().expect("run openperouter")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

#[test]
fn committed_crds_match_the_types() {
    let out = run(&["crds"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed =
        std::fs::read_to_string(root().join("config/crd/openperouter.yaml")).expect("config/crd/openperouter.yaml");
    assert!(
        stdout(&out) == committed,
        "config/crd/openperouter.yaml is stale: regenerate it with `cargo run -p openperouter -- crds > config/crd/openperouter.yaml`"
    );
    for kind in ["Underlay", "L3VNI", "L2VNI", "L3Passthrough", "RawFRRConfig", "RouterNodeConfigurationStatus"] {
        assert!(committed.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    assert!(committed.contains("x-kubernetes-validations"), "CEL rules are in the CRDs");
}

#[test]
fn validate_ok_prints_one_line() {
    let out = run(&["validate", "-f", "examples/lab", "--node-name", "worker-0"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("OK: 6 resource(s) read, 6 apply to node \"worker-0\" (index 0)"), "{text}");
}

#[test]
fn the_srv6_lab_configuration_is_valid_and_routes_red_over_srv6() {
    for index in ["0", "1"] {
        let out = run(&["validate", "-f", "examples/lab-srv6", "--node-name", "worker", "--node-index", index]);
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    }
    let out = run(&["render", "-f", "examples/lab-srv6", "--node-index", "1"]);
    let text = stdout(&out);
    assert!(text.contains("prefix fd00:0:33::/48 block-len 32 node-len 16"), "node 1's locator: {text}");
    assert!(text.contains("source-address 2001:db8:1234:5678::1"), "node 1's encapsulation source: {text}");
    assert!(text.contains("router bgp 64514 vrf red\n") && text.contains("  network 192.171.24.0/24\n"), "{text}");
}

#[test]
fn validate_failures_one_line_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = "apiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {name: orphan}\nspec: {vni: 120, routingDomain: {type: L3VNI, l3vni: {name: green}}}\n---\n\
               apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: bad}\nspec: {vrf: red, vni: 0}\n";
    let file = write_temp(&dir, "bad.yaml", bad);
    let out = run(&["validate", "-f", "examples/lab/openpe.yaml", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines.iter().any(|l| l.starts_with("L3VNI/bad: ValidationFailed: spec.vni: must be at least 1")), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("L2VNI/orphan: DependencyFailed: routing domain L3VNI/green does not exist")),
        "{text}"
    );
}

#[test]
fn validate_checks_raw_snippets_with_frrs_parser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raws = "apiVersion: network.openperouter.io/v1alpha1\nkind: RawFRRConfig\nmetadata: {name: typo}\n\
                spec: {rawConfig: \"router bgp 64514\\n neighbor 10.0.0.1 remote-az 5\\nexit\\n\"}\n---\n\
                apiVersion: network.openperouter.io/v1alpha1\nkind: RawFRRConfig\nmetadata: {name: fine}\n\
                spec: {rawConfig: \"route-map from-raw permit 10\\nexit\\n\"}\n";
    let file = write_temp(&dir, "raw.yaml", raws);
    let out = run(&["validate", "-f", "examples/lab/openpe.yaml", &file]);
    let text = stdout(&out);
    if !frr::vtysh_available() {
        assert!(text.contains("not checked with FRR's parser: vtysh (FRR) is not installed here"), "{text}");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "RawFRRConfig/typo: ValidationFailed: FRR's parser refused `neighbor 10.0.0.1 remote-az 5`: % Unknown command"
        ],
        "{text}"
    );
}

#[test]
fn malformed_input_exits_2_naming_file_document_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100}\n---\n\
                apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: blue}\nspec: {vrf: blue, vni: 200, hostsession: {}}\n";
    let file = write_temp(&dir, "typo.yaml", text);
    let out = run(&["validate", "-f", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("typo.yaml (document 2)") && err.contains("L3VNI/blue") && err.contains("hostsession"),
        "{err}"
    );

    let file = write_temp(&dir, "broken.yaml", "kind: [unclosed\n");
    let out = run(&["plan", "-f", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("broken.yaml: invalid YAML"), "{}", stderr(&out));

    let out = run(&["render", "-f", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does/not/exist.yaml"), "{}", stderr(&out));
}

#[test]
fn render_prints_the_frr_configuration() {
    let out = run(&["render", "-f", "examples/compat/evpn-layer2.yaml", "--node-index", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("router bgp 64514\n bgp router-id 10.0.0.3\n"), "{text}");
    assert!(text.contains(" network 100.65.0.2/32\n"), "{text}");
    assert!(text.contains("router bgp 64514 vrf red\n"), "{text}");
    assert!(text.contains(" neighbor 192.169.10.4 remote-as 64515\n"), "{text}");
    assert!(text.contains("  network 192.170.1.0/24\n"), "gateway subnet advertised: {text}");
}

#[test]
fn render_refuses_when_the_underlay_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let u = std::fs::read_to_string(root().join("examples/compat/underlay.yaml")).expect("read");
    let twice = format!("{u}---\n{}", u.replace("name: underlay", "name: second"));
    let file = write_temp(&dir, "two.yaml", &twice);
    let out = run(&["render", "-f", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("more than one underlay per node"), "{}", stderr(&out));
}

#[test]
fn plan_json_has_the_documented_keys() {
    let out = run(&["plan", "-f", "examples/lab", "-o", "json", "--node-index", "1", "--node-name", "worker-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(v["frr"].as_str().expect("frr string").contains("router bgp 64514 vrf red"));
    let links = v["kernel"]["links"].as_array().expect("links");
    let host_leg = links.iter().find(|l| l["name"] == "host-e-100").expect("host-e-100");
    assert_eq!(host_leg["side"], "host");
    assert_eq!(host_leg["addresses"][0], "192.169.10.3/24");
    assert_eq!(v["failedResources"].as_array().expect("failedResources").len(), 0);
    assert_eq!(v["node"]["name"], "worker-1");
}

#[test]
fn plan_text_is_a_set_of_tables() {
    let out = run(&["plan", "-f", "examples/lab", "--node-name", "worker-0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in
        ["RESOURCES\nKIND", "KERNEL: router namespace\nNAME", "KERNEL: host namespace\nNAME", "FRR CONFIGURATION"]
    {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let vxlan = text.lines().find(|l| l.starts_with("vni110 ")).expect("vni110 row");
    assert!(vxlan.contains("br-pe-110") && vxlan.contains("dstport 4789"), "{vxlan}");
}

#[test]
fn password_is_redacted_in_plan_but_present_in_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let u = std::fs::read_to_string(root().join("examples/compat/underlay.yaml")).expect("read");
    let file = write_temp(
        &dir,
        "pw.yaml",
        &u.replace("address: 192.168.11.2", "address: 192.168.11.2\n      password: hunter2-secret"),
    );
    let plan = run(&["plan", "-f", &file, "-o", "json", "--log-level", "debug"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(!stdout(&plan).contains("hunter2-secret") && !stderr(&plan).contains("hunter2-secret"));
    let render = run(&["render", "-f", &file, "--log-level", "debug"]);
    assert!(stdout(&render).contains("password hunter2-secret"));
    assert!(!stderr(&render).contains("hunter2-secret"));
}

/// Every shipped upstream-format sample parses and plans cleanly on a node it selects.
#[test]
fn compat_samples_plan() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["underlay.yaml"], "", "Underlay/underlay"),
        (&["underlay.yaml", "l3vni.yaml", "l2vni.yaml"], "", "L2VNI/l2red"),
        (&["evpn-layer2.yaml"], "", "L2VNI/layer2"),
        (&["evpn-metallb-host-type.yaml"], "", "L3VNI/blue"),
        (&["passthrough-metallb.yaml"], "", "L3Passthrough/passthrough"),
        (
            &["underlay.yaml", "l3passthrough-nodeselector-edge.yaml"],
            "node-role.kubernetes.io/edge=",
            "L3Passthrough/edge-passthrough",
        ),
        (&["route-reflector.yaml"], "node-role.kubernetes.io/control-plane=", "Underlay/reflector"),
        (&["route-reflector.yaml"], "", "Underlay/client"),
        (&["static"], "", "L2VNI/storage"),
        (&["underlay.yaml", "l2vni-route-targets.yaml"], "", "L2VNI/l2storage"),
        (&["underlay.yaml", "l2vni-ovs.yaml"], "", "L2VNI/l2ovs"),
        (&["underlay.yaml", "l2vni-ovs.yaml"], "", "L2VNI/l2ovs-external"),
        (&["underlay-password-secret.yaml"], "", "Underlay/underlay"),
        (&["l3vpn-srv6.yaml"], "", "L3VPN/red"),
        (&["l3vpn-srv6.yaml"], "", "L3VPN/blue"),
    ];
    for (files, labels, expect) in cases {
        let mut args = vec!["plan".to_string(), "-o".into(), "json".into(), "--node-name".into(), "node-1".into()];
        for f in *files {
            args.push("-f".into());
            args.push(format!("examples/compat/{f}"));
        }
        if !labels.is_empty() {
            args.push(format!("--node-labels={labels}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert!(out.status.success(), "{files:?}: {}{}", stdout(&out), stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        let applied: Vec<String> = v["applied"]
            .as_array()
            .expect("applied")
            .iter()
            .map(|a| format!("{}/{}", a["kind"].as_str().unwrap_or_default(), a["name"].as_str().unwrap_or_default()))
            .collect();
        assert!(applied.iter().any(|a| a == expect), "{files:?}: {expect} not applied in {applied:?}");
    }
}

#[test]
fn static_directory_uses_node_config() {
    let out = run(&["render", "-f", "examples/compat/static"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // node-config.yaml says index 1: router id host 2, VTEP host 1, passthrough host side .3.
    let text = stdout(&out);
    assert!(text.contains("bgp router-id 10.0.0.2") && text.contains("network 100.65.0.1/32"), "{text}");
    assert!(text.contains("neighbor 192.168.20.3 remote-as 64515"), "{text}");
}

#[test]
fn cni_underlay_sample_is_planned() {
    let out = run(&["plan", "-f", "examples/compat/underlay-cni-static.yaml", "--node-name", "node-1", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let plan = if v.get("plan").is_some() { &v["plan"] } else { &v };
    assert_eq!(plan["cni"][0]["ifname"], "net1", "{v}");
    assert_eq!(plan["cni"][0]["config"]["plugins"][0]["type"], "macvlan", "{v}");
}

#[test]
fn help_documents_exit_codes() {
    let out = run(&["validate", "--help"]);
    assert!(stdout(&out).contains("Exit status:") && stdout(&out).contains("2  the input cannot be read"));
}

#[test]
fn plan_diff_lists_kernel_operations_without_applying() {
    let ns = format!("opr-diff-absent-{}", std::process::id());
    let out = run(&["plan", "-f", "examples/lab", "--node-name", "worker-0", "--diff", &ns]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("router namespace {ns} does not exist")), "{text}");
    assert!(text.contains("create vxlan vni100 id 100 local 100.65.0.0 dstport 4789"), "{text}");
    assert!(text.contains("create vrf red"), "{text}");
    assert!(!std::path::Path::new("/run/netns").join(&ns).exists(), "--diff must not create anything");
    assert!(text.contains("FRR: not compared: no FRR vty sockets in"), "{text}");
}

#[test]
fn plan_diff_asks_open_vswitch_only_when_an_l2vni_is_on_it() {
    let ns = format!("opr-diff-absent-{}", std::process::id());
    let socket = format!("unix:/nonexistent-{}/db.sock", std::process::id());
    let ovs = ["-f", "examples/compat/underlay.yaml", "-f", "examples/compat/l2vni-ovs.yaml"];
    let out = run(&[&["plan"][..], &ovs, &["--node-name", "node-1", "--diff", &ns, "--ovs-socket", &socket]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Open vSwitch: not compared:") && text.contains("database connection failed"), "{text}");
    let out = run(&["plan", "-f", "examples/lab", "--node-name", "worker-0", "--diff", &ns, "--ovs-socket", &socket]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("Open vSwitch"), "no OVS host master and no database: {}", stdout(&out));
}

#[test]
fn plan_diff_lists_the_cni_steps_from_the_cache() {
    let ns = format!("opr-diff-absent-{}", std::process::id());
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = cache.path().to_string_lossy().into_owned();
    let cni = ["-f", "examples/compat/underlay-cni-static.yaml", "--node-name", "node-1", "--diff", &ns];
    let out = run(&[&["plan"][..], &cni, &["--cni-cache-dir", &dir]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("CNI ({dir}):\ncni    net1 add (not made yet)\n")), "{text}");
    // An attachment the cache holds that no Underlay wants any more is to be deleted.
    std::fs::write(cache.path().join("perouter-underlay-node-1@old0.json"), "{}").expect("write");
    let out = run(&[&["plan"][..], &cni, &["--cni-cache-dir", &dir]].concat());
    let text = stdout(&out);
    assert!(text.contains("cni    old0 delete (no longer planned)\n"), "{text}");
    // Without CNI interfaces planned or made, nothing is said about CNI.
    let out = run(&["plan", "-f", "examples/lab", "--node-name", "worker-0", "--diff", &ns, "--cni-cache-dir", &dir]);
    assert!(!stdout(&out).contains("CNI"), "{}", stdout(&out));
}

#[test]
fn plan_diff_prints_the_frr_lines_to_delete_and_add() {
    if let Some(reason) = frr::testing::skip_reason() {
        frr::testing::skip_loudly("plan --diff against FRR", &reason);
        return;
    }
    let mut fleet = frr::testing::Fleet::new();
    let inst = fleet.add_instance("frrdiff", None).expect("namespace");
    fleet.start_all().expect("FRR");
    let ns = format!("opr-diff-absent-{}", std::process::id());
    let vty = inst.spec().run_dir.to_string_lossy().into_owned();
    let out = run(&["plan", "-f", "examples/lab", "--node-name", "worker-0", "--diff", &ns, "--frr-vty", &vty]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("FRR ({vty}): ")), "{text}");
    assert!(text.contains("+ router bgp 64514\n") && text.contains("+ vrf red > vni 100\n"), "{text}");
    // Read-only: FRR still runs nothing of it.
    let shown = std::process::Command::new("vtysh")
        .args(["--vty_socket", &vty, "-c", "show running-config"])
        .output()
        .expect("vtysh");
    assert!(!String::from_utf8_lossy(&shown.stdout).contains("router bgp"), "--diff must not apply anything");
}

#[test]
fn passwords_from_secrets_are_read_with_secrets_dir_only() {
    let example = "examples/compat/underlay-password-secret.yaml";
    // Without a directory: planned without the password, and said so.
    let out = run(&["validate", "-f", example]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 neighbor password(s) come from Secrets and were not read"), "{}", stderr(&out));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("tor-bgp")).expect("mkdir");
    std::fs::write(dir.path().join("tor-bgp/password"), "md5-from-file\n").expect("write");
    let secrets = dir.path().to_string_lossy().into_owned();
    let out = run(&["render", "-f", example, "--secrets-dir", &secrets]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(" neighbor 192.168.11.2 password md5-from-file\n"), "{}", stdout(&out));
    let out = run(&["plan", "-f", example, "--secrets-dir", &secrets]);
    assert!(out.status.success() && !stdout(&out).contains("md5-from-file"), "plan redacts: {}", stdout(&out));

    std::fs::write(dir.path().join("tor-bgp/password"), "two words\n").expect("write");
    let out = run(&["validate", "-f", example, "--secrets-dir", &secrets]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("Underlay/underlay: DependencyFailed: neighbor 192.168.11.2: passwordSecret:"), "{text}");
    assert!(
        text.contains("contains whitespace or control characters (value not shown)") && !text.contains("two words")
    );
}

#[test]
fn logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let out = run(&["--log-level", "info", "plan", "-f", "examples/lab", "--node-name", "worker-0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("planning"), "the info line is there: {log}");
    assert!(!log.contains('\u{1b}'), "no escape sequences in a piped log: {log:?}");
}
