//! A node whose underlay is not its NIC but a macvlan CNI plugins make on it (`CNIDevice`): the
//! NIC goes back to the node, the macvlan in the router namespace takes the node's underlay
//! address, statically first, then (the configuration changed: deleted and made again) leased
//! from a DHCP server on the ToR; sessions, EVPN and the passthrough work through it each time;
//! then back to the NIC, with nothing of the CNI interfaces, their cache entries or the DHCP
//! daemon left behind.

use std::time::Duration;

use ipnet::IpNet;

use super::config::agent_status;
use super::ctx::*;
use super::exclusive::Exclusive;
use super::routing::{host_sessions, underlay_sessions};
use super::view;
use crate::fabric::{node_host_ns, node_router_ns, node_underlay_ip, pod_ip};
use crate::pe;

/// The name of the CNI-made underlay interface in the router namespace.
const IFNAME: &str = "fabric0";

/// The pids of CNI DHCP daemons (`…/dhcp daemon`) running in the network namespace at `netns`
/// (a `/run/netns/NAME` path). Labs side by side in one VM share `/run/cni/dhcp.sock`, so
/// whether a node's agent stopped its daemon is told by the daemon's namespace, not the socket.
fn dhcp_daemons_in(netns: &std::path::Path) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(want) = std::fs::metadata(netns).map(|m| (m.dev(), m.ino())) else { return Vec::new() };
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = argv.split(|b| *b == 0).collect();
            argv.windows(2).any(|w| w[0].rsplit(|b| *b == b'/').next() == Some(b"dhcp") && w[1] == b"daemon")
        })
        .filter(|pid| std::fs::metadata(format!("/proc/{pid}/ns/net")).is_ok_and(|m| (m.dev(), m.ino()) == want))
        .collect()
}

/// How the macvlan gets its address.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Addressing {
    Static,
    Dhcp,
}

/// The lab's PE configuration with node `i`'s Underlay on a CNI macvlan over `toswitch`.
fn cni_config(base: &str, i: u32, addressing: Addressing) -> String {
    let ipam = match addressing {
        Addressing::Static => {
            format!("type: static\n                addresses: [{{address: \"{}/24\"}}]", node_underlay_ip(i))
        }
        Addressing::Dhcp => "type: dhcp".to_string(),
    };
    let cni = format!(
        "    - type: CNIDevice\n      cniDevice:\n        type: RawConfig\n        interfaceName: {IFNAME}\n        rawConfig:\n          cniVersion: 1.0.0\n          name: underlay\n          plugins:\n            - type: macvlan\n              master: toswitch\n              mode: bridge\n              ipam:\n                {ipam}\n"
    );
    base.replace("    - type: NetworkDevice\n      networkDevice: {interfaceName: toswitch}\n", &cni)
}

/// A DHCP server on the ToR's switch port that leases exactly node `i`'s underlay address and
/// offers no router (a default route in the router namespace is not wanted); stopped on drop.
struct DhcpServer {
    child: tokio::process::Child,
    leases: std::path::PathBuf,
}

impl DhcpServer {
    fn start(c: &Ctx<'_>, i: u32, dir: &std::path::Path) -> Result<DhcpServer, String> {
        let dnsmasq = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("dnsmasq is not installed (apt-get install dnsmasq-base): no DHCP server for the lab")?;
        let leases = dir.join("tor-dhcp.leases");
        let _ = std::fs::remove_file(&leases);
        let ip = node_underlay_ip(i);
        let child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &c.ns("tor"), dnsmasq, "--keep-in-foreground", "--port=0"])
            .args([
                "--interface=toswitch",
                "--bind-interfaces",
                "--conf-file=/dev/null",
                "--dhcp-option=3",
                "--no-ping",
            ])
            .arg(format!("--dhcp-range={ip},{ip},255.255.255.0,10m"))
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--pid-file={}", dir.join("tor-dhcp.pid").display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start dnsmasq on the ToR: {e}"))?;
        Ok(DhcpServer { child, leases })
    }

    /// Whether it has leased `ip`.
    fn leased(&self, ip: &str) -> bool {
        std::fs::read_to_string(&self.leases).is_ok_and(|l| l.split_whitespace().any(|w| w == ip))
    }
}

impl Drop for DhcpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Node `i`'s underlay moved onto the macvlan (from the NIC or from another macvlan) with
/// `addressing`: the address in the router namespace, sessions up, traffic through L3VNI, the
/// passthrough and to the leaves, exactly one cache entry.
async fn on_the_macvlan(c: &Ctx<'_>, i: u32, addressing: Addressing, cache: &std::path::Path) -> Check {
    let base = pe::default_config(&c.lab.options.spec);
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    let (router, host) = (node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i));
    let address: IpNet = format!("{}/24", node_underlay_ip(i)).parse().map_err(|e| format!("{e}"))?;
    let text = cni_config(base, i, addressing);
    if !text.contains(IFNAME) {
        return Err("the lab's PE configuration has no NetworkDevice toswitch to replace".to_string());
    }
    let before = view::ifindexes(&router).get(IFNAME).copied();
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    // The NIC returns to the node (with its address, which the macvlan takes over: the node's
    // copy goes, or both would answer for it); a macvlan made before is replaced by a new one.
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(90), || async {
        if !view::ifindexes(&host).contains_key("toswitch") {
            return Err("toswitch not back in the node yet".to_string());
        }
        if view::addresses(&host, "toswitch").unwrap_or_default().contains(&address) {
            view::remove_address(&host, "toswitch", &address)?;
        }
        let now = view::ifindexes(&router).get(IFNAME).copied();
        if before.is_some() && now == before {
            return Err(format!("{IFNAME} not made again yet"));
        }
        let made = view::addresses(&router, IFNAME).unwrap_or_default();
        if made.contains(&address) {
            Ok(String::new())
        } else {
            Err(format!("{IFNAME} in the router namespace: {made:?}"))
        }
    })
    .await?;
    let made_in = started.elapsed().as_secs_f64();
    underlay_sessions(c).await?;
    host_sessions(c).await?;
    let pinged = pings(
        &[
            (c.ns(&format!("pod{i}")), "192.168.20.2".to_string()),
            (c.ns("hostA-red"), pod_ip(i)),
            (c.ns(&format!("pod{i}")), "192.168.22.2".to_string()),
        ],
        Duration::from_secs(60),
    )
    .await?;
    let cached = cache_entries(cache);
    if cached != 1 {
        return Err(format!("{cached} CNI cache entries for node{i}, not 1"));
    }
    let how = match addressing {
        Addressing::Static => "static",
        Addressing::Dhcp => "leased by DHCP",
    };
    Ok(format!("{address} {how} in {made_in:.1} s; sessions up; {pinged}"))
}

fn cache_entries(cache: &std::path::Path) -> usize {
    std::fs::read_dir(cache).map(|d| d.count()).unwrap_or(0)
}

pub(super) async fn cni_underlay(c: &Ctx<'_>) -> Option<Check> {
    let i = c.nodes.checked_sub(1).filter(|i| *i > 0)?;
    let base = pe::default_config(&c.lab.options.spec);
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    let (router, host) = (node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i));
    let address: IpNet = match format!("{}/24", node_underlay_ip(i)).parse() {
        Ok(a) => a,
        Err(e) => return Some(Err(format!("{e}"))),
    };
    let cache = pe::agent_dir(&c.lab.options.dir(), i).join("cni-cache");
    // The CNI DHCP daemon is one per machine and keys its leases by container ID, network and
    // interface name, the same in every lab: labs side by side in one VM (the e2e suite) would
    // share it and release each other's leases. One lab at a time runs this scenario.
    let lock = c.lab.options.dir().parent().map(|root| root.join("cni-scenario.lock"));
    let _exclusive = match &lock {
        Some(path) => match Exclusive::acquire(path, Duration::from_secs(600)).await {
            Ok(held) => Some(held),
            Err(e) => return Some(Err(format!("waiting for another lab's CNI scenario: {e}"))),
        },
        None => None,
    };
    let mut server = None;
    let run = async {
        let fixed = on_the_macvlan(c, i, Addressing::Static, &cache).await?;
        // Another configuration for the same interface: the static one is deleted, the DHCP one
        // made, with a lease from the ToR.
        let dhcp = server.insert(DhcpServer::start(c, i, &c.lab.options.dir())?);
        let leased = on_the_macvlan(c, i, Addressing::Dhcp, &cache).await?;
        if !dhcp.leased(&node_underlay_ip(i)) {
            return Err(format!("the ToR's DHCP server has no lease of {}", node_underlay_ip(i)));
        }
        Ok::<String, String>(format!("node{i}: {IFNAME} (macvlan on toswitch) made by CNI: {fixed}; then {leased}"))
    }
    .await;
    // Back to the NIC: its address returns first (it moves into the router namespace with it).
    let restored = async {
        if view::ifindexes(&host).contains_key("toswitch")
            && !view::addresses(&host, "toswitch").unwrap_or_default().contains(&address)
        {
            view::add_address(&host, "toswitch", &address)?;
        }
        std::fs::write(&path, base).map_err(|e| format!("{}: {e}", path.display()))?;
        eventually(Duration::from_secs(90), || async {
            let r = view::ifindexes(&router);
            let st = agent_status(c, i).await?;
            let ready = st.get("conditions").map(|v| v.to_string()).unwrap_or_default();
            if r.contains_key(IFNAME) || !r.contains_key("toswitch") || cache_entries(&cache) != 0 {
                Err(format!(
                    "node{i}: {IFNAME} still there or toswitch not back in the router namespace ({} cache entries)",
                    cache_entries(&cache)
                ))
            } else if !(ready.contains("\"Ready\"") && ready.contains("\"True\"")) {
                Err(format!("node{i} not Ready: {ready}"))
            } else if let [pid, ..] = dhcp_daemons_in(&kernel::NetNs::path_of(&host))[..] {
                Err(format!("node{i}'s CNI DHCP daemon ({pid}) still runs with nothing addressed by DHCP"))
            } else {
                Ok(String::new())
            }
        })
        .await?;
        underlay_sessions(c).await?;
        pings(&[(c.ns(&format!("pod{i}")), "192.168.20.2".to_string())], Duration::from_secs(60)).await
    }
    .await;
    drop(server);
    Some(match (run, restored) {
        (Ok(done), Ok(_)) => {
            Ok(format!("{done}; back on the NIC: {IFNAME}, its cache entry and the DHCP daemon gone, traffic back"))
        }
        (Ok(_), Err(e)) => Err(format!("did not recover on the NIC: {e} — {}", diagnosis(c, i).await)),
        (Err(e), _) => Err(format!("{e} — {}", diagnosis(c, i).await)),
    })
}

/// Where node `i`'s underlay stands when the scenario fails: both ends of the ToR session (state,
/// last reset, timers due), the ToR's BFD peers, its neighbour entry for the node (the MAC the
/// macvlan had may linger there) and the node's underlay links and addresses.
async fn diagnosis(c: &Ctx<'_>, i: u32) -> String {
    let node = node_underlay_ip(i);
    let mut parts = Vec::new();
    let wanted = ["BGP state", "Last reset", "Next start timer", "Next connect timer", "Read thread", "Connections"];
    let keep = |out: String| -> Vec<String> {
        out.lines().map(str::trim).filter(|l| wanted.iter().any(|w| l.contains(w))).map(str::to_string).collect()
    };
    if let Ok(tor) = c.vtysh("tor") {
        let out = tor.exec(&[&format!("show bgp neighbors {node}")]).await.map_err(|e| e.to_string());
        parts.push(format!("tor → {node}: {:?}", keep(out.unwrap_or_else(|e| e))));
        let bfd = tor.exec(&["show bfd peers brief"]).await.map_err(|e| e.to_string()).unwrap_or_else(|e| e);
        parts.push(format!("tor BFD: {}", truncate(&bfd, 600)));
    }
    let out = c.pe_vtysh(i).exec(&["show bgp neighbors 192.168.11.2"]).await.map_err(|e| e.to_string());
    parts.push(format!("node{i}-pe → 192.168.11.2: {:?}", keep(out.unwrap_or_else(|e| e))));
    let (_, neigh) = sh(&c.ns("tor"), &["ip", "neigh", "show", &node]).await;
    parts.push(format!("tor neighbour {node}: {}", neigh.trim()));
    let (_, links) = sh(&node_router_ns(&c.prefix, i), &["ip", "-br", "addr"]).await;
    parts.push(format!("node{i} router namespace: {}", links.trim().replace('\n', "; ")));
    // The agent's last words on the CNI step and its last warnings.
    let log = std::fs::read_to_string(pe::agent_dir(&c.lab.options.dir(), i).join("agent.log")).unwrap_or_default();
    let said: Vec<&str> =
        log.lines().filter(|l| l.contains("CNI") || l.contains("WARN") || l.contains("ERROR")).collect();
    parts.push(format!("node{i} agent.log: {:?}", &said[said.len().saturating_sub(10)..]));
    // What watchfrr did to the node's FRR (a daemon restarted, a restart command killed).
    let run = c.lab.options.dir().join(format!("node{i}-pe")).join("run");
    let logs = [run.join("watchfrr.log"), run.join(format!("node{i}-pe")).join("watchfrr.log")];
    if let Some(log) = logs.iter().find_map(|p| std::fs::read_to_string(p).ok()) {
        let lines: Vec<&str> = log.lines().collect();
        parts.push(format!("node{i} watchfrr.log: {:?}", &lines[lines.len().saturating_sub(8)..]));
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nic_of_the_underlay_becomes_a_cni_device() {
        let text = cni_config(pe::DEFAULT_PE_CONFIG, 1, Addressing::Static);
        assert!(!text.contains("NetworkDevice") && text.contains("type: CNIDevice"), "{text}");
        assert!(text.contains("master: toswitch") && text.contains("addresses: [{address: \"192.168.11.4/24\"}]"));
        let dhcp = cni_config(pe::DEFAULT_PE_CONFIG, 1, Addressing::Dhcp);
        assert!(dhcp.contains("ipam:\n                type: dhcp\n") && !dhcp.contains("addresses"), "{dhcp}");
    }

    #[test]
    fn dhcp_daemons_are_found_by_their_network_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("dhcp");
        // Blocks in the shell itself (no child process) until killed.
        std::fs::write(&script, "read line\n").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg(&script)
            .arg("daemon")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let ours = std::path::Path::new("/proc/self/ns/net");
        let found = (0..50).find_map(|_| {
            let f = dhcp_daemons_in(ours);
            if f.contains(&pid) {
                Some(f)
            } else {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            }
        });
        let elsewhere = dhcp_daemons_in(std::path::Path::new("/proc/1/ns/mnt"));
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.is_some(), "a `dhcp daemon` in this namespace is found");
        assert!(!elsewhere.contains(&pid), "not when another namespace is asked about");
        assert!(!dhcp_daemons_in(ours).contains(&pid), "gone once it exited");
    }
}
