//! L2VNI 110 (the stretched segment) on Open vSwitch, on both nodes: first on a bridge the
//! router manages (`br-hs-110`, tagged `created-by=openperouter`, the host leg `host-e-110` its
//! port), then on a bridge someone else made (`br-ext-110`, only our port attached and
//! detached), then back on the Linux bridge. The L2 pods follow the host master as a CNI would
//! (their veths become ports of the OVS bridge, then of the Linux bridge again), and after each
//! switch they reach each other across the fabric with type-2 routes, as in the `stretched L2`
//! scenario. At the end the external bridge and its other ports are still there, nothing of
//! ours is left in Open vSwitch, and `plan --diff` finds nothing to do.

use std::time::{Duration, Instant};

use super::config::{agent_status, conformance};
use super::ctx::*;
use super::traffic::l2_stretch;
use super::view;
use crate::fabric::{L2POD_NODE_IF, node_host_ns};
use crate::{ovs, pe};

/// The L2VNI moved between host masters, its VNI and bridge names.
const L2VNI: &str = "red-l2";
const MANAGED_BRIDGE: &str = "br-hs-110";
const HOST_LEG: &str = "host-e-110";
/// The bridge "someone else" made, and a port of theirs that must survive us.
const EXTERNAL_BRIDGE: &str = "br-ext-110";
const BYSTANDER: &str = "ext110-keep";

const MANAGED: &str = "{type: OVSBridge, ovsBridge: {lifecycle: Managed}}";
const EXTERNAL: &str = "{type: OVSBridge, ovsBridge: {lifecycle: External, name: br-ext-110}}";

/// The lab's PE configuration `base` with the `hostMaster` of the L2VNI `name` replaced by
/// `master` (a flow mapping on one line).
fn with_host_master(base: &str, name: &str, master: &str) -> String {
    base.split("\n---\n")
        .map(|doc| {
            let is_it = doc.lines().any(|l| l.trim() == "kind: L2VNI")
                && doc.lines().any(|l| l.contains(&format!("name: {name},")) || l.trim() == format!("name: {name}"));
            if !is_it {
                return doc.to_string();
            }
            doc.lines()
                .map(|l| match l.find("hostMaster:") {
                    Some(at) => format!("{}hostMaster: {master}", &l[..at]),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                + if doc.ends_with('\n') { "\n" } else { "" }
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// `ovs-vsctl` on node `i`'s database.
async fn vsctl(c: &Ctx<'_>, i: u32, args: &[&str]) -> Result<String, String> {
    let dir = c.lab.options.dir();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs::vsctl(&dir, i, &refs)
    })
    .await
    .map_err(|e| e.to_string())?
}

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    v.sort();
    v
}

/// Node `i`'s Open vSwitch holds the external bridge only, with exactly the ports `want`.
async fn only_the_external_bridge(c: &Ctx<'_>, i: u32, want: &[&str]) -> Result<(), String> {
    let bridges = lines(&vsctl(c, i, &["list-br"]).await?);
    if bridges != [EXTERNAL_BRIDGE] {
        return Err(format!("node{i}: bridges {bridges:?}, want only {EXTERNAL_BRIDGE}"));
    }
    let ports = lines(&vsctl(c, i, &["list-ports", EXTERNAL_BRIDGE]).await?);
    let mut want: Vec<String> = want.iter().map(|p| p.to_string()).collect();
    want.sort();
    if ports != want {
        return Err(format!("node{i}: {EXTERNAL_BRIDGE} has ports {ports:?}, want {want:?}"));
    }
    Ok(())
}

/// Node `i`'s kernel: `link` is a port whose master is a device of `kind` (`openvswitch` for
/// the kernel datapath's `ovs-system`, `bridge` for a Linux bridge).
fn master_kind(c: &Ctx<'_>, i: u32, link: &str) -> Result<(String, String), String> {
    let ns = node_host_ns(&c.prefix, i);
    let links = view::links(&ns)?;
    let port = links.iter().find(|l| l.name == link).ok_or_else(|| format!("{ns}: no {link}"))?;
    let master = port.master.and_then(|m| links.iter().find(|l| l.index == m));
    Ok(master.map(|m| (m.name.clone(), m.kind.clone())).unwrap_or_default())
}

/// Writes node `i`'s PE configuration.
fn write_config(c: &Ctx<'_>, i: u32, text: &str) -> Result<(), String> {
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Waits until every node's agent is Ready with no failed resource.
async fn all_ready(c: &Ctx<'_>) -> Check {
    for i in 0..c.nodes {
        eventually(Duration::from_secs(60), || async {
            let st = agent_status(c, i).await?;
            let ready = st.get("conditions").map(|v| v.to_string()).unwrap_or_default();
            let failed = st.get("failedResources").map(|v| v.to_string()).unwrap_or_default();
            if !(ready.contains("\"Ready\"") && ready.contains("\"True\"")) {
                Err(format!("node{i} not Ready: {ready}"))
            } else if failed != "[]" && failed != "null" && !failed.is_empty() {
                Err(format!("node{i}: failed resources {failed}"))
            } else {
                Ok(String::new())
            }
        })
        .await?;
    }
    Ok(String::new())
}

/// `Err(why)`: the scenario cannot run here (SKIP); otherwise its outcome.
pub(super) async fn l2vni_on_ovs(c: &Ctx<'_>) -> Result<Check, &'static str> {
    if c.nodes < 2 {
        return Err("needs at least two nodes");
    }
    if c.lab.options.spec.srv6 {
        return Err("runs on the EVPN fabric's lab, not the SRv6 one");
    }
    if let Some(why) = ovs::missing() {
        return Err(why);
    }
    let dir = c.lab.options.dir();
    let down: Vec<u32> = (0..c.nodes).filter(|i| !ovs::running(&dir, *i)).collect();
    if !down.is_empty() {
        return Ok(Err(format!(
            "Open vSwitch is installed but does not run on nodes {down:?} (see {}/node<i>-ovs/*.log)",
            dir.display()
        )));
    }
    let base = pe::default_config(&c.lab.options.spec);
    let run = run(c, base).await;
    let restored = restore(c, base).await;
    Ok(match (run, restored) {
        (Ok(done), Ok(_)) => Ok(done),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(format!("did not recover on the Linux bridge: {e}")),
    })
}

async fn run(c: &Ctx<'_>, base: &str) -> Check {
    let mut said = Vec::new();
    // 1. Managed: br-hs-110 becomes an OVS bridge of ours with the host leg as its port.
    let t = Instant::now();
    for i in 0..c.nodes {
        write_config(c, i, &with_host_master(base, L2VNI, MANAGED))?;
    }
    for i in 0..c.nodes {
        eventually(Duration::from_secs(60), || async {
            let tag = vsctl(c, i, &["br-get-external-id", MANAGED_BRIDGE, "created-by"]).await?;
            if tag != "openperouter" {
                return Err(format!("node{i}: {MANAGED_BRIDGE} created-by is {tag:?}"));
            }
            let ports = lines(&vsctl(c, i, &["list-ports", MANAGED_BRIDGE]).await?);
            if ports != [HOST_LEG] {
                return Err(format!("node{i}: {MANAGED_BRIDGE} has ports {ports:?}"));
            }
            Ok(String::new())
        })
        .await?;
        let (master, kind) = master_kind(c, i, HOST_LEG)?;
        if kind == "bridge" {
            return Err(format!("node{i}: {HOST_LEG} is still a port of the Linux bridge {master}"));
        }
        vsctl(c, i, &["--may-exist", "add-port", MANAGED_BRIDGE, L2POD_NODE_IF]).await?;
    }
    let managed_in = t.elapsed().as_secs_f64();
    all_ready(c).await?;
    let l2 = l2_stretch(c).await.ok_or("needs two nodes")??;
    said.push(format!(
        "Managed: {MANAGED_BRIDGE} an OVS bridge tagged created-by=openperouter with port {HOST_LEG} on every node in {managed_in:.1} s, l2pods as its ports; {l2}"
    ));

    // 2. External: our port moves to a bridge someone else made; ours goes.
    let t = Instant::now();
    for i in 0..c.nodes {
        let mut add = vec!["--may-exist", "add-br", EXTERNAL_BRIDGE];
        let datapath = ovs::datapath_type(&c.lab.options.dir(), i).map(|d| format!("datapath_type={d}"));
        if let Some(d) = &datapath {
            add.extend(["--", "set", "Bridge", EXTERNAL_BRIDGE, d.as_str()]);
        }
        vsctl(c, i, &add).await?;
        vsctl(
            c,
            i,
            &[
                "--may-exist",
                "add-port",
                EXTERNAL_BRIDGE,
                BYSTANDER,
                "--",
                "set",
                "Interface",
                BYSTANDER,
                "type=internal",
            ],
        )
        .await?;
        write_config(c, i, &with_host_master(base, L2VNI, EXTERNAL))?;
    }
    for i in 0..c.nodes {
        eventually(Duration::from_secs(60), || async {
            only_the_external_bridge(c, i, &[BYSTANDER, HOST_LEG]).await?;
            Ok(String::new())
        })
        .await?;
        // The managed bridge's deletion took the l2pod's port with it.
        vsctl(c, i, &["--may-exist", "add-port", EXTERNAL_BRIDGE, L2POD_NODE_IF]).await?;
    }
    let external_in = t.elapsed().as_secs_f64();
    all_ready(c).await?;
    l2_stretch(c).await.ok_or("needs two nodes")??;
    said.push(format!(
        "External: {HOST_LEG} a port of {EXTERNAL_BRIDGE} and {MANAGED_BRIDGE} gone from Open vSwitch in {external_in:.1} s, l2pods as its ports; the same pings, type-2 and FDB entry"
    ));

    // 3. Back on the Linux bridge: our port leaves the external bridge, which keeps the rest.
    let t = Instant::now();
    for i in 0..c.nodes {
        write_config(c, i, base)?;
    }
    for i in 0..c.nodes {
        eventually(Duration::from_secs(60), || async {
            only_the_external_bridge(c, i, &[BYSTANDER, L2POD_NODE_IF]).await?;
            match master_kind(c, i, HOST_LEG)? {
                (m, k) if m == MANAGED_BRIDGE && k == "bridge" => Ok(String::new()),
                other => {
                    Err(format!("node{i}: {HOST_LEG}'s master is {other:?}, not the Linux bridge {MANAGED_BRIDGE}"))
                }
            }
        })
        .await?;
        vsctl(c, i, &["del-port", EXTERNAL_BRIDGE, L2POD_NODE_IF]).await?;
    }
    let linux_in = t.elapsed().as_secs_f64();
    crate::control::attach_pods(c.lab).await.map_err(|e| e.to_string())?;
    all_ready(c).await?;
    l2_stretch(c).await.ok_or("needs two nodes")??;
    let conformant = conformance(c).await?;
    // The external bridge was the scenario's: it goes, after it was shown to have survived.
    for i in 0..c.nodes {
        vsctl(c, i, &["--if-exists", "del-br", EXTERNAL_BRIDGE]).await?;
    }
    said.push(format!(
        "Linux bridge: {HOST_LEG} back on {MANAGED_BRIDGE} in {linux_in:.1} s, {EXTERNAL_BRIDGE} kept with its other ports, l2pods on the Linux bridge; the same pings, type-2 and FDB entry; {conformant}"
    ));
    Ok(said.join(". "))
}

/// Whatever happened: the base configuration, no OVS bridge left, the l2pods on the Linux
/// bridge again.
async fn restore(c: &Ctx<'_>, base: &str) -> Check {
    for i in 0..c.nodes {
        write_config(c, i, base)?;
    }
    for i in 0..c.nodes {
        vsctl(c, i, &["--if-exists", "del-port", L2POD_NODE_IF]).await?;
        vsctl(c, i, &["--if-exists", "del-br", EXTERNAL_BRIDGE]).await?;
        eventually(Duration::from_secs(60), || async {
            let bridges = lines(&vsctl(c, i, &["list-br"]).await?);
            if !bridges.is_empty() {
                return Err(format!("node{i}: Open vSwitch still has {bridges:?}"));
            }
            match master_kind(c, i, HOST_LEG)? {
                (m, k) if m == MANAGED_BRIDGE && k == "bridge" => Ok(String::new()),
                other => Err(format!("node{i}: {HOST_LEG}'s master is {other:?}")),
            }
        })
        .await?;
    }
    crate::control::attach_pods(c.lab).await.map_err(|e| e.to_string())?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_l2vni_changes_its_host_master() {
        let text = with_host_master(pe::DEFAULT_PE_CONFIG, L2VNI, MANAGED);
        let docs: Vec<&str> = text.split("\n---\n").collect();
        let red = docs.iter().find(|d| d.contains("name: red-l2,")).expect("red-l2");
        assert!(red.contains(&format!("  hostMaster: {MANAGED}\n")), "{red}");
        let east = docs.iter().find(|d| d.contains("name: east-west,")).expect("east-west");
        assert!(east.contains("hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}"), "{east}");
        assert_eq!(text.matches("OVSBridge").count(), 1);
        assert_eq!(with_host_master(pe::DEFAULT_PE_CONFIG, "nothing", MANAGED), pe::DEFAULT_PE_CONFIG);
        let back = with_host_master(&text, L2VNI, "{type: LinuxBridge, linuxBridge: {lifecycle: Managed}}");
        assert_eq!(back, pe::DEFAULT_PE_CONFIG);
    }
}
