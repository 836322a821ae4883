//! The agents and their configuration: the live kernel and FRR match each node's plan, an
//! invalid resource is reported and harms nothing, removing a VNI or the Underlay removes exactly
//! their objects.

use std::time::Duration;

use serde_json::Value;

use super::ctx::*;
use super::routing::{host_sessions, underlay_sessions};
use super::view;
use crate::fabric::{ewpod_ip, node_host_ns, node_router_ns};
use crate::pe;

/// Runs `openperouter ARGS…` (the lab's PE program) and parses its JSON output.
async fn program_json(c: &Ctx<'_>, args: &[std::ffi::OsString]) -> Result<Value, String> {
    // The lab's own program; `lab check` run on its own (the lab opened from its directory) is
    // that program.
    let program = c
        .lab
        .options
        .pe
        .as_ref()
        .map(|p| p.program.clone())
        .or_else(|| c.lab.options.program.clone())
        .or_else(|| std::env::current_exe().ok())
        .ok_or("cannot find the openperouter program")?;
    let run = tokio::process::Command::new(&program).args(args).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .map_err(|_| format!("{} timed out", program.display()))?
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!("{} {args:?}: {e}: {}", program.display(), last_line(&String::from_utf8_lossy(&out.stderr)))
    })
}

/// Each node's kernel, FRR and Open vSwitch (when it runs one) hold exactly its plan:
/// `openperouter plan --diff`, as an operator runs it, finds no kernel step, no FRR line and no
/// Open vSwitch step to change.
pub(super) async fn conformance(c: &Ctx<'_>) -> Check {
    let dir = c.lab.options.dir();
    let mut seen = Vec::new();
    for i in 0..c.nodes {
        let conf = pe::config_dir(&dir, i).into_os_string();
        let planned = program_json(c, &["plan".into(), "-f".into(), conf, "-o".into(), "json".into()]).await?;
        let links = planned.pointer("/kernel/links").and_then(Value::as_array).map_or(0, Vec::len);
        let addresses: usize = planned
            .pointer("/kernel/links")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|l| l.get("addresses").and_then(Value::as_array)).map(Vec::len).sum())
            .unwrap_or(0);
        if links == 0 {
            return Err(format!("node{i}: the plan has no kernel links: {}", truncate(&planned.to_string(), 300)));
        }
        node_matches_plan(c, i).await?;
        seen.push(format!("node{i} ({links} links, {addresses} addresses)"));
    }
    Ok(format!(
        "`plan --diff` finds no kernel step, no FRR line and no Open vSwitch step to change on {}",
        seen.join(", ")
    ))
}

/// Node `i`'s kernel, FRR and Open vSwitch hold exactly the plan of its configuration
/// directory: `openperouter plan --diff` finds nothing to change.
pub(super) async fn node_matches_plan(c: &Ctx<'_>, i: u32) -> Result<(), String> {
    let dir = c.lab.options.dir();
    let conf = pe::config_dir(&dir, i);
    let diff = program_json(
        c,
        &[
            "plan".into(),
            "-f".into(),
            conf.into_os_string(),
            "--diff".into(),
            node_router_ns(&c.prefix, i).into(),
            "--host-netns".into(),
            node_host_ns(&c.prefix, i).into(),
            "--frr-vty".into(),
            dir.join(format!("node{i}-pe")).join("run").into_os_string(),
            "--ovs-socket".into(),
            crate::ovs::socket(&dir, i).into(),
            "-o".into(),
            "json".into(),
        ],
    )
    .await?;
    let ops =
        diff.pointer("/kernel/ops").and_then(Value::as_array).ok_or(format!("node{i}: no kernel diff: {diff}"))?;
    let problems = diff.pointer("/kernel/problems").and_then(Value::as_array).map_or(0, Vec::len);
    if !ops.is_empty() || problems > 0 {
        return Err(format!(
            "node{i}: the kernel differs from the plan: {}",
            truncate(&diff["kernel"].to_string(), 600)
        ));
    }
    // The node's Open vSwitch, when it runs one: nothing of ours to add or remove.
    let ovs = &diff["ovs"];
    if let Some(note) = ovs.get("note") {
        return Err(format!("node{i}: Open vSwitch not compared: {note}"));
    }
    let ovs_steps: usize = ["ops", "problems"].iter().map(|k| ovs[k].as_array().map_or(0, Vec::len)).sum();
    if ovs_steps != 0 {
        return Err(format!("node{i}: Open vSwitch differs from the plan: {}", truncate(&ovs.to_string(), 600)));
    }
    let frr = &diff["frr"];
    if let Some(note) = frr.get("note") {
        return Err(format!("node{i}: FRR not compared: {note}"));
    }
    let changed: usize = ["removed", "added"].iter().map(|k| frr[k].as_array().map_or(1, Vec::len)).sum();
    if changed != 0 {
        return Err(format!("node{i}: FRR differs from the plan: {}", truncate(&frr.to_string(), 600)));
    }
    Ok(())
}

pub(super) const INVALID_FILE: &str = "openpe_zz_lab_check_invalid.yaml";
pub(super) const INVALID: &str = "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: lab-check-invalid, namespace: openperouter-system}\nspec:\n  vrf: invalid\n  vni: 100\n";

pub(super) async fn agent_status(c: &Ctx<'_>, i: u32) -> Result<Value, String> {
    let prefix = c.prefix.clone();
    let (code, body) =
        tokio::task::spawn_blocking(move || pe::http_get(&prefix, i, "/status", Duration::from_secs(15)))
            .await
            .map_err(|e| e.to_string())??;
    if code != 200 {
        return Err(format!("/status answered {code}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("/status: {e}"))
}

pub(super) async fn invalid_resource(c: &Ctx<'_>) -> Check {
    let path = pe::config_dir(&c.lab.options.dir(), 0).join(INVALID_FILE);
    std::fs::write(&path, INVALID).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let result = async {
        let reason = eventually(Duration::from_secs(60), || async {
            let st = agent_status(c, 0).await?;
            let failed = st.get("failedResources").cloned().unwrap_or_default();
            let text = failed.to_string();
            if text.contains("lab-check-invalid") { Ok(text) } else { Err(format!("not reported yet: {text}")) }
        })
        .await?;
        // Everything else untouched: sessions, pod traffic, L2.
        underlay_sessions(c).await?;
        pings(
            &[(c.ns("pod0"), "192.168.20.2".into()), (c.ns("l2pod0"), "192.168.20.2".into())],
            Duration::from_secs(10),
        )
        .await?;
        Ok::<String, String>(format!("reported in node0's /status: {}", truncate(&reason, 140)))
    }
    .await;
    let _ = std::fs::remove_file(&path);
    let cleared = eventually(Duration::from_secs(30), || async {
        let st = agent_status(c, 0).await?;
        let text = st.get("failedResources").cloned().unwrap_or_default().to_string();
        if text.contains("lab-check-invalid") { Err("still reported after removal".into()) } else { Ok(String::new()) }
    })
    .await;
    let r = result?;
    cleared?;
    Ok(format!("{r}; cleared after removal"))
}

/// The lab's PE configuration `base` without the documents of the given kinds/names.
pub(super) fn config_without(base: &str, drop: &[(&str, &str)]) -> String {
    base.split("\n---\n")
        .filter(|doc| {
            !drop.iter().any(|(kind, name)| {
                doc.lines().any(|l| l.trim() == format!("kind: {kind}"))
                    && doc.lines().any(|l| l.contains(&format!("name: {name},")) || l.trim() == format!("name: {name}"))
            })
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

pub(super) async fn config_removal(c: &Ctx<'_>) -> Option<Check> {
    // The last node: the scenarios after this one (FRR killed, namespace deleted) use node0.
    let i = c.nodes.checked_sub(1).filter(|i| *i > 0)?;
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    let (router, host) = (node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i));
    let run = async {
        let before_router = view::ifindexes(&router);
        let before_host = view::ifindexes(&host);
        // 1. The disconnected L2VNI goes: exactly its five objects leave.
        let write = |text: String| std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()));
        write(config_without(pe::DEFAULT_PE_CONFIG, &[("L2VNI", "east-west")]))?;
        let l2_objects = [(&router, "vni300"), (&router, "br-pe-300"), (&router, "pe-e-300"), (&host, "host-e-300"), (&host, "br-hs-300")];
        eventually(Duration::from_secs(60), || async {
            let (r, h) = (view::ifindexes(&router), view::ifindexes(&host));
            let left: Vec<&str> =
                l2_objects.iter().filter(|(ns, n)| if *ns == &router { r.contains_key(*n) } else { h.contains_key(*n) }).map(|(_, n)| *n).collect();
            if left.is_empty() { Ok(String::new()) } else { Err(format!("still there: {left:?}")) }
        })
        .await?;
        let (r, h) = (view::ifindexes(&router), view::ifindexes(&host));
        for (ns, before, now) in [(&router, &before_router, &r), (&host, &before_host, &h)] {
            for (name, index) in before.iter() {
                if l2_objects.iter().any(|(_, n)| n == name) {
                    continue;
                }
                if now.get(name) != Some(index) {
                    return Err(format!("{ns}: {name} was touched (ifindex {index} → {:?})", now.get(name)));
                }
            }
        }
        // 2. The Underlay goes: nothing of ours is left and the NIC is back in the host with its
        //    address.
        write(config_without(pe::DEFAULT_PE_CONFIG, &[("L2VNI", "east-west"), ("Underlay", "underlay")]))?;
        let nic_addr = format!("{}/24", crate::fabric::node_underlay_ip(i));
        eventually(Duration::from_secs(60), || async {
            let nic = view::addresses(&host, "toswitch").unwrap_or_default();
            if !nic.iter().any(|a| a.to_string() == nic_addr) {
                return Err(format!("toswitch not back in node{i} with {nic_addr}: {nic:?}"));
            }
            let r = view::ifindexes(&router);
            let ours: Vec<&String> = r.keys().filter(|n| *n != "lo").collect();
            if !ours.is_empty() {
                return Err(format!("left in the router namespace: {ours:?}"));
            }
            let h = view::ifindexes(&host);
            let ours: Vec<&String> =
                h.keys().filter(|n| n.starts_with("host-e-") || n.starts_with("br-hs-") || *n == "pt-host").collect();
            if ours.is_empty() { Ok(String::new()) } else { Err(format!("left in the host namespace: {ours:?}")) }
        })
        .await?;
        Ok::<String, String>(format!(
            "node{i}: without L2VNI east-west exactly vni300, br-pe-300, pe-e-300, host-e-300, br-hs-300 went (the other {} links kept their ifindex); without the Underlay nothing of ours was left and toswitch came back with {nic_addr}",
            before_router.len() + before_host.len() - l2_objects.len()
        ))
    }
    .await;
    // Always restore the configuration and wait for the node to serve again.
    let restored = async {
        std::fs::write(&path, pe::DEFAULT_PE_CONFIG).map_err(|e| format!("{}: {e}", path.display()))?;
        eventually(Duration::from_secs(90), || async {
            let st = agent_status(c, i).await?;
            let ready = st.get("conditions").map(|v| v.to_string()).unwrap_or_default();
            if ready.contains("\"Ready\"") && ready.contains("\"True\"") {
                Ok(String::new())
            } else {
                Err(format!("node{i} not Ready: {ready}"))
            }
        })
        .await?;
        // Ready can still be the status of the configuration without the Underlay: wait for the
        // restored host bridges themselves (a loaded machine may need a while to rebuild them).
        eventually(Duration::from_secs(120), || async {
            let h = view::ifindexes(&host);
            let missing: Vec<&str> = ["br-hs-110", "br-hs-300"].into_iter().filter(|b| !h.contains_key(*b)).collect();
            if missing.is_empty() { Ok(String::new()) } else { Err(format!("{host}: {missing:?} not rebuilt yet")) }
        })
        .await?;
        crate::control::attach_pods(c.lab).await.map_err(|e| e.to_string())?;
        underlay_sessions(c).await?;
        host_sessions(c).await?;
        let (a, b) = (c.nodes - 1, 0);
        pings(
            &[(c.ns(&format!("ewpod{a}")), ewpod_ip(b)), (c.ns(&format!("pod{a}")), "192.168.20.2".to_string())],
            Duration::from_secs(30),
        )
        .await
    }
    .await;
    Some(match (run, restored) {
        (Ok(done), Ok(_)) => Ok(format!("{done}; restored: Ready, sessions up, traffic back")),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(format!("did not recover after the configuration was restored: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_dropped_from_the_pe_configuration_by_kind_and_name() {
        let full = config_without(pe::DEFAULT_PE_CONFIG, &[]);
        assert_eq!(full, pe::DEFAULT_PE_CONFIG);
        let less = config_without(pe::DEFAULT_PE_CONFIG, &[("L2VNI", "east-west"), ("Underlay", "underlay")]);
        assert!(!less.contains("kind: Underlay") && !less.contains("name: east-west"), "{less}");
        for kept in ["name: red,", "name: blue,", "name: red-l2,", "kind: L3Passthrough"] {
            assert!(less.contains(kept), "{kept} dropped:\n{less}");
        }
    }
}
