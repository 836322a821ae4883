//! L2VNIs with an Open vSwitch host master, end to end on this host: the agent plans from
//! static files and applies the kernel state and the OVS ports, against a real Open vSwitch
//! (its own `ovsdb-server` and `ovs-vswitchd`, started by each test in a private directory and
//! a private "host" namespace, and stopped by pid). This kernel has no openvswitch module, so
//! the bridges use the userspace datapath (`datapath_type=netdev`, the agent's
//! `ovs_datapath_type`). Needs root and Open vSwitch (`apt-get install openvswitch-switch`);
//! skips loudly otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn skip_reason() -> Option<String> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false);
    if !root {
        return Some("not running as root".into());
    }
    if !Path::new(SCHEMA).exists() || !Path::new("/usr/sbin/ovs-vswitchd").exists() {
        return Some("Open vSwitch is not installed (apt-get install openvswitch-switch)".into());
    }
    None
}

macro_rules! require_ovs {
    ($name:literal) => {
        if let Some(why) = skip_reason() {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\n!!! SKIPPED {}: {why} !!!\n", $name);
            return;
        }
    };
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) -> String {
    run(Command::new("ip").args(args))
}

/// One private Open vSwitch: database and switch daemon, the switch inside `netns`.
struct Ovs {
    dir: PathBuf,
    socket: String,
}

impl Ovs {
    fn start(dir: &Path, netns: &str) -> Ovs {
        let dir = dir.join("ovs");
        std::fs::create_dir_all(&dir).expect("ovs dir");
        let db = dir.join("conf.db");
        let socket = format!("unix:{}", dir.join("db.sock").display());
        let ovs = Ovs { dir: dir.clone(), socket };
        let p = |name: &str| dir.join(name).display().to_string();
        run(Command::new("ovsdb-tool").arg("create").arg(&db).arg(SCHEMA));
        let daemon = |cmd: &mut Command| {
            cmd.env("OVS_RUNDIR", &dir).env("OVS_LOGDIR", &dir).env("OVS_DBDIR", &dir).env("OVS_SYSCONFDIR", &dir);
            run(cmd);
        };
        daemon(
            Command::new("ovsdb-server")
                .arg(&db)
                .arg(format!("--remote=p{}", ovs.socket))
                .arg(format!("--pidfile={}", p("ovsdb-server.pid")))
                .arg(format!("--unixctl={}", p("ovsdb-server.ctl")))
                .arg(format!("--log-file={}", p("ovsdb-server.log")))
                .args(["--detach", "--no-chdir"]),
        );
        ovs.vsctl(&["--no-wait", "init"]);
        daemon(
            Command::new("ip")
                .args(["netns", "exec", netns, "ovs-vswitchd", &ovs.socket])
                .arg(format!("--pidfile={}", p("ovs-vswitchd.pid")))
                .arg(format!("--unixctl={}", p("ovs-vswitchd.ctl")))
                .arg(format!("--log-file={}", p("ovs-vswitchd.log")))
                .args(["--detach", "--no-chdir"]),
        );
        ovs
    }

    fn vsctl(&self, args: &[&str]) -> String {
        run(Command::new("ovs-vsctl").arg(format!("--db={}", self.socket)).arg("--timeout=10").args(args))
            .trim()
            .to_string()
    }

    /// A bridge on the userspace datapath, made by someone else.
    fn add_bridge(&self, name: &str) {
        self.vsctl(&["add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev"]);
    }

    fn bridges(&self) -> Vec<String> {
        self.vsctl(&["list-br"]).lines().map(str::to_string).collect()
    }

    fn ports(&self, bridge: &str) -> Vec<String> {
        self.vsctl(&["list-ports", bridge]).lines().map(str::to_string).collect()
    }

    /// Bumped by every write transaction that goes through ovs-vsctl: an independent witness
    /// that nothing was written.
    fn next_cfg(&self) -> String {
        self.vsctl(&["get", "Open_vSwitch", ".", "next_cfg"])
    }

    fn pid(&self, daemon: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir.join(format!("{daemon}.pid"))).ok().and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for daemon in ["ovs-vswitchd", "ovsdb-server"] {
            let Some(pid) = self.pid(daemon) else { continue };
            let _ = Command::new("kill").arg(pid.to_string()).output();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A host namespace with an underlay NIC, a router namespace the agent makes, a configuration
/// directory and a private Open vSwitch.
struct Lab {
    prefix: String,
    dir: tempfile::TempDir,
    ovs: Option<Ovs>,
}

const UNDERLAY: &str = "underlays:\n- asn: 64514\n  tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch}}]\n  neighbors: [{asn: 64512, address: 192.168.77.1}]\n";

impl Lab {
    fn new(tag: &str) -> Lab {
        let prefix = format!("opovs{}{tag}", std::process::id());
        let mut lab = Lab { prefix, dir: tempfile::tempdir().expect("tempdir"), ovs: None };
        ip(&["netns", "add", &lab.host()]);
        ip(&["-n", &lab.host(), "link", "add", "toswitch", "type", "veth", "peer", "name", "tonode"]);
        ip(&["-n", &lab.host(), "addr", "add", "192.168.77.2/24", "dev", "toswitch"]);
        ip(&["-n", &lab.host(), "link", "set", "toswitch", "up"]);
        std::fs::create_dir_all(lab.config_dir()).expect("config dir");
        std::fs::write(lab.config_dir().join("node-config.yaml"), "nodeIndex: {index: 0}\nnodeName: node0\n")
            .expect("write");
        std::fs::write(lab.config_dir().join("openpe_underlay.yaml"), UNDERLAY).expect("write");
        lab.ovs = Some(Ovs::start(lab.dir.path(), &lab.host()));
        lab
    }

    fn host(&self) -> String {
        format!("{}-host", self.prefix)
    }

    fn router(&self) -> String {
        format!("{}-pe", self.prefix)
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn ovs(&self) -> &Ovs {
        self.ovs.as_ref().expect("ovs")
    }

    /// The L2VNIs of the node (`vni` and the `hostMaster` line of each).
    fn l2vnis(&self, l2: &[(&str, u32, &str)]) {
        let mut text = String::from("l2vnis:\n");
        for (name, vni, master) in l2 {
            text.push_str(&format!("- name: {name}\n  vni: {vni}\n  hostMaster: {master}\n"));
        }
        if l2.is_empty() {
            text = "l2vnis: []\n".into();
        }
        std::fs::write(self.config_dir().join("openpe_overlay.yaml"), text).expect("write");
    }

    fn agent(&self) -> agent::Agent {
        self.agent_on(&self.ovs().socket)
    }

    fn agent_on(&self, socket: &str) -> agent::Agent {
        let mut cfg = agent::AgentConfig::new(vec![self.config_dir()], self.router());
        cfg.host_netns = Some(PathBuf::from(format!("/run/netns/{}", self.host())));
        cfg.frr = agent::FrrMode::None;
        cfg.state_file = Some(self.dir.path().join("applied.json"));
        cfg.ovs_socket = socket.to_string();
        cfg.ovs_datapath_type = Some("netdev".into());
        agent::Agent::new(cfg)
    }

    fn link(&self, name: &str) -> Option<serde_json::Value> {
        let out = Command::new("ip").args(["-n", &self.host(), "-j", "link", "show", "dev", name]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.as_array().and_then(|a| a.first().cloned())
    }

    fn is_up(&self, name: &str) -> bool {
        self.link(name).is_some_and(|l| l["flags"].as_array().is_some_and(|f| f.iter().any(|f| f == "UP")))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.ovs = None; // the daemons first: the switch holds the namespace's netdevs
        for ns in [self.router(), self.host()] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

const MANAGED: &str = "{type: OVSBridge, ovsBridge: {lifecycle: Managed}}";

fn external(name: &str) -> String {
    format!("{{type: OVSBridge, ovsBridge: {{lifecycle: External, name: {name}}}}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_bridge_is_created_tagged_kept_and_deleted() {
    require_ovs!("managed_bridge_is_created_tagged_kept_and_deleted");
    let lab = Lab::new("m");
    let ovs = lab.ovs();
    // Bystanders: someone else's bridge with a port, and a br-hs-<n> that is not tagged ours.
    ovs.add_bridge("br-keep");
    ovs.vsctl(&["add-port", "br-keep", "keep0", "--", "set", "Interface", "keep0", "type=internal"]);
    ovs.add_bridge("br-hs-99");
    lab.l2vnis(&[("l2-ovs", 110, MANAGED)]);
    let mut agent = lab.agent();

    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert!(ovs.bridges().contains(&"br-hs-110".to_string()), "{:?}", ovs.bridges());
    assert_eq!(ovs.ports("br-hs-110"), ["host-e-110"]);
    assert_eq!(ovs.vsctl(&["br-get-external-id", "br-hs-110", "created-by"]), "openperouter");
    assert_eq!(ovs.vsctl(&["get", "Bridge", "br-hs-110", "datapath_type"]), "netdev");
    assert_eq!(ovs.vsctl(&["get", "Interface", "host-e-110", "type"]), "\"\"", "a system interface");
    assert!(lab.is_up("br-hs-110"), "the bridge's netdev is up: {:?}", lab.link("br-hs-110"));
    assert!(lab.is_up("host-e-110"));
    let leg = lab.link("host-e-110").expect("host leg");
    assert!(leg.get("master").is_none(), "no Linux bridge master on the userspace datapath: {leg}");
    // The interface works: the switch opened the veth.
    assert_eq!(ovs.vsctl(&["get", "Interface", "host-e-110", "error"]), "[]");

    // Nothing changed: nothing written, to the database or the kernel.
    let cfg_before = ovs.next_cfg();
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(st.kernel.writes, 0, "a no-op reconcile writes nothing");
    assert_eq!(ovs.next_cfg(), cfg_before, "a no-op reconcile makes no database transaction");

    // Drift in the database: the port is removed behind our back; it comes back.
    ovs.vsctl(&["del-port", "br-hs-110", "host-e-110"]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.ports("br-hs-110"), ["host-e-110"]);

    // The host master moves to a Linux bridge of the same name, and back, each in one
    // reconcile: the OVS bridge goes before the kernel step makes the Linux one.
    lab.l2vnis(&[("l2-ovs", 110, "{type: LinuxBridge, linuxBridge: {lifecycle: Managed}}")]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert!(!ovs.bridges().contains(&"br-hs-110".to_string()), "{:?}", ovs.bridges());
    // Create the Linux bridge, enslave the host leg, bring the bridge up: nothing more, so the
    // kernel step did not find (and delete) Open vSwitch's netdev of the same name.
    assert_eq!(st.kernel.operations, 3, "{:?}", st.kernel);
    assert_eq!(lab.link("host-e-110").expect("host leg")["master"], "br-hs-110");
    lab.l2vnis(&[("l2-ovs", 110, MANAGED)]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.ports("br-hs-110"), ["host-e-110"]);
    assert!(lab.link("host-e-110").expect("host leg").get("master").is_none());
    assert!(lab.is_up("br-hs-110"));

    // The L2VNI goes: our bridge and port go, nothing else.
    lab.l2vnis(&[]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.bridges(), ["br-hs-99", "br-keep"]);
    assert_eq!(ovs.ports("br-keep"), ["keep0"]);
    assert!(lab.link("host-e-110").is_none(), "the veth went with the L2VNI");
    let cfg_before = ovs.next_cfg();
    let st = agent.reconcile().await;
    assert_eq!(st.kernel.writes, 0);
    assert_eq!(ovs.next_cfg(), cfg_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_bridge_is_only_attached_to_and_detached_from() {
    require_ovs!("external_bridge_is_only_attached_to_and_detached_from");
    let lab = Lab::new("x");
    let ovs = lab.ovs();
    ovs.add_bridge("br-ext");
    ovs.vsctl(&["add-port", "br-ext", "ext0", "--", "set", "Interface", "ext0", "type=internal"]);
    lab.l2vnis(&[("l2-ext", 120, &external("br-ext"))]);
    let mut agent = lab.agent();

    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.ports("br-ext"), ["ext0", "host-e-120"]);
    assert_eq!(ovs.vsctl(&["br-get-external-id", "br-ext", "created-by"]), "", "not tagged ours");
    assert_eq!(ovs.bridges(), ["br-ext"], "no bridge created");

    let cfg_before = ovs.next_cfg();
    let st = agent.reconcile().await;
    assert_eq!(st.kernel.writes, 0);
    assert_eq!(ovs.next_cfg(), cfg_before);

    // Moved to a managed bridge: detached from br-ext, attached to br-hs-120.
    lab.l2vnis(&[("l2-ext", 120, MANAGED)]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.ports("br-ext"), ["ext0"]);
    assert_eq!(ovs.ports("br-hs-120"), ["host-e-120"]);

    // And back; then removed: br-ext stays with its own port.
    lab.l2vnis(&[("l2-ext", 120, &external("br-ext"))]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.bridges(), ["br-ext"], "our managed bridge went");
    assert_eq!(ovs.ports("br-ext"), ["ext0", "host-e-120"]);
    lab.l2vnis(&[]);
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.bridges(), ["br-ext"]);
    assert_eq!(ovs.ports("br-ext"), ["ext0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_bridges_and_ports_are_ours_by_name_and_tag_only() {
    require_ovs!("stale_bridges_and_ports_are_ours_by_name_and_tag_only");
    let lab = Lab::new("s");
    let ovs = lab.ovs();
    // Left over by an earlier agent: a tagged br-hs-<n>, and a host-e-<n> port on another bridge.
    ovs.add_bridge("br-hs-131");
    ovs.vsctl(&["br-set-external-id", "br-hs-131", "created-by", "openperouter"]);
    ovs.vsctl(&["add-port", "br-hs-131", "host-e-131"]);
    ovs.add_bridge("br-ext");
    for port in ["host-e-132", "host-e-13x", "eth-user"] {
        ovs.vsctl(&["add-port", "br-ext", port]);
    }
    // Not ours: tagged but not named br-hs-<n>; named br-hs-<n> but not tagged.
    ovs.add_bridge("br-tagged");
    ovs.vsctl(&["br-set-external-id", "br-tagged", "created-by", "openperouter"]);
    ovs.add_bridge("br-hs-133");
    ovs.vsctl(&["add-port", "br-hs-133", "host-e-133"]);
    lab.l2vnis(&[("wanted", 134, MANAGED)]);
    let mut agent = lab.agent();

    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.bridges(), ["br-ext", "br-hs-133", "br-hs-134", "br-tagged"]);
    assert_eq!(ovs.ports("br-ext"), ["eth-user", "host-e-13x"]);
    assert_eq!(ovs.ports("br-hs-133"), Vec::<String>::new(), "a host-e-<n> port nothing wants is detached");
    assert_eq!(ovs.ports("br-hs-134"), ["host-e-134"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_external_bridge_fails_its_l2vni_only() {
    require_ovs!("missing_external_bridge_fails_its_l2vni_only");
    let lab = Lab::new("f");
    let ovs = lab.ovs();
    lab.l2vnis(&[("broken", 140, &external("br-nope")), ("fine", 141, MANAGED)]);
    let mut agent = lab.agent();

    let st = agent.reconcile().await;
    assert_eq!(st.failed_resources.len(), 1, "{:?}", st.failed_resources);
    let f = &st.failed_resources[0];
    assert_eq!((f.kind, f.name.as_str()), (api::ResourceKind::L2VNI, "broken"));
    assert_eq!(f.reason, api::FailureReason::OverlayAttachmentFailed);
    assert!(f.message.contains("br-nope does not exist"), "{f}");
    assert_eq!(ovs.bridges(), ["br-hs-141"], "nothing made for the broken one");
    assert_eq!(ovs.ports("br-hs-141"), ["host-e-141"]);
    assert!(lab.link("host-e-140").is_some(), "its kernel objects are still made");

    // The bridge appears: the next reconcile attaches the port and the failure clears.
    ovs.add_bridge("br-nope");
    let st = agent.reconcile().await;
    assert!(st.failed_resources.is_empty(), "{:?}", st.failed_resources);
    assert_eq!(ovs.ports("br-nope"), ["host-e-140"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_fails_the_ovs_l2vnis_only() {
    require_ovs!("unreachable_database_fails_the_ovs_l2vnis_only");
    let lab = Lab::new("u");
    lab.l2vnis(&[
        ("on-ovs", 150, MANAGED),
        ("on-linux", 151, "{type: LinuxBridge, linuxBridge: {lifecycle: Managed}}"),
    ]);
    let socket = format!("unix:{}", lab.dir.path().join("no-such-db.sock").display());
    let mut agent = lab.agent_on(&socket);

    let st = agent.reconcile().await;
    assert_eq!(st.failed_resources.len(), 1, "{:?}", st.failed_resources);
    let f = &st.failed_resources[0];
    assert_eq!(
        (f.kind, f.name.as_str(), f.reason),
        (api::ResourceKind::L2VNI, "on-ovs", api::FailureReason::OverlayAttachmentFailed)
    );
    assert!(f.message.contains("no-such-db.sock") && f.message.contains("database connection failed"), "{f}");
    assert_eq!(lab.link("host-e-151").expect("host leg")["master"], "br-hs-151");
    assert!(lab.ovs().bridges().is_empty(), "the real database was never asked");
}
