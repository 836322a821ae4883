//! `openperouter status`: the node at a glance, read from a running agent's `/status`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use crate::output::Table;

/// Arguments of `openperouter status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Address of the agent (`openperouter host --listen`).
    #[arg(long, default_value = "127.0.0.1:9081", conflicts_with = "cluster")]
    agent: SocketAddr,
    /// Every node of the Kubernetes cluster instead of one host agent (kubeconfig as kubectl
    /// finds it). `kubectl openperouter status` is the same.
    #[arg(long)]
    pub cluster: bool,
    /// With --cluster: the namespace of the RouterNodeConfigurationStatus objects.
    #[arg(long, short, default_value = k8s::admission::DEFAULT_NAMESPACE, requires = "cluster")]
    namespace: String,
    /// Print the raw JSON instead of tables.
    #[arg(long)]
    json: bool,
}

fn get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .with_context(|| format!("connecting to the agent at {addr} (is `openperouter host` running?)"))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").context("malformed HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!("{path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn uptime(secs: Option<u64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s >= 86_400 => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        Some(s) => format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
    }
}

/// Renders a status JSON document as tables.
pub fn render(st: &Value) -> String {
    let mut out = String::new();
    let ready = st["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    out.push_str(&format!(
        "Node {} (index {})  Ready={} {}  revision {}  reconciles {}  last {}\n",
        s(&st["node"]),
        s(&st["nodeIndex"]),
        s(&ready["status"]),
        s(&ready["reason"]),
        s(&st["appliedRevision"]),
        s(&st["reconciles"]),
        s(&st["lastReconcile"]),
    ));
    if let Some(e) = st["inputError"].as_str() {
        out.push_str(&format!("input error: {e}\n"));
    }
    out.push('\n');
    let live = &st["live"];
    let sessions = live["sessions"].as_array().cloned().unwrap_or_default();
    let live_vnis = live["vnis"].as_array().cloned().unwrap_or_default();

    let mut t = Table::new(&["VNI", "TYPE", "RESOURCE", "VRF", "KERNEL", "FRR VNI", "HOST SESSION", "ROUTES IN/OUT"]);
    for v in st["vnis"].as_array().cloned().unwrap_or_default() {
        let vni = v["vni"].as_u64().unwrap_or(0);
        let frr_vni = live_vnis.iter().find(|l| l["vni"].as_u64() == Some(vni));
        let frr_state = match frr_vni {
            Some(l) if l["kind"] == "L2" => {
                format!("up, {} remote VTEP(s)", l["remoteVteps"].as_array().map_or(0, |r| r.len()))
            }
            Some(_) => "up".into(),
            None if live.is_null() => "?".into(),
            None => "missing".into(),
        };
        let peers: Vec<String> = v["hostPeers"].as_array().cloned().unwrap_or_default().iter().map(s).collect();
        let (mut session, mut routes) = ("-".to_string(), "-".to_string());
        if !peers.is_empty() {
            let found: Vec<&Value> =
                sessions.iter().filter(|x| x["vrf"] == v["vrf"] && peers.contains(&s(&x["peer"]))).collect();
            session = peers
                .iter()
                .map(|p| {
                    let state = found
                        .iter()
                        .find(|x| s(&x["peer"]) == *p)
                        .map(|x| s(&x["state"]))
                        .unwrap_or_else(|| "?".into());
                    format!("{p} {state}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            let pin: u64 = found.iter().filter_map(|x| x["prefixesIn"].as_u64()).sum();
            let pout: u64 = found.iter().filter_map(|x| x["prefixesOut"].as_u64()).sum();
            routes = format!("{pin}/{pout}");
        }
        t.row(vec![
            vni.to_string(),
            s(&v["kind"]),
            s(&v["resource"]),
            s(&v["vrf"]),
            if v["kernelOk"] == true { "ok".into() } else { "FAILED".into() },
            frr_state,
            session,
            routes,
        ]);
    }
    out.push_str(&format!("VNIS\n{}\n", t.render()));

    let mut t = Table::new(&["VRF", "PEER", "STATE", "UPTIME", "PREFIXES IN/OUT"]);
    for x in &sessions {
        t.row(vec![
            s(&x["vrf"]),
            s(&x["peer"]),
            s(&x["state"]),
            uptime(x["uptimeSecs"].as_u64()),
            format!("{}/{}", s(&x["prefixesIn"]), s(&x["prefixesOut"])),
        ]);
    }
    match live["error"].as_str() {
        Some(e) => out.push_str(&format!("BGP SESSIONS\nFRR not readable: {e}\n\n")),
        None if live.is_null() => out.push_str("BGP SESSIONS\nFRR is not managed by this agent\n\n"),
        None => out.push_str(&format!("BGP SESSIONS\n{}\n", t.render())),
    }

    let failed = st["failedResources"].as_array().cloned().unwrap_or_default();
    if failed.is_empty() {
        out.push_str("FAILED RESOURCES\nnone\n");
    } else {
        let mut t = Table::new(&["KIND", "NAME", "REASON", "MESSAGE"]);
        for f in failed {
            t.row(vec![s(&f["kind"]), s(&f["name"]), s(&f["reason"]), s(&f["message"])]);
        }
        out.push_str(&format!("FAILED RESOURCES\n{}", t.render()));
    }
    out
}

/// Runs `openperouter status`.
pub fn run(args: StatusArgs) -> Result<ExitCode> {
    if args.cluster {
        return crate::status_cluster::run(&args.namespace, args.json);
    }
    let body = get(args.agent, "/status")?;
    let st: Value = serde_json::from_str(&body).context("the agent's /status is not JSON")?;
    if args.json {
        println!("{body}");
    } else {
        print!("{}", render(&st));
    }
    let ready =
        st["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    Ok(if ready { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_vnis_sessions_and_failures() {
        let st = serde_json::json!({
            "node": "node0", "nodeIndex": 0, "reconciles": 3, "appliedRevision": "abc", "lastReconcile": "2026-01-01T00:00:00Z",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ConfigurationFailed", "message": "m"}],
            "vnis": [
                {"vni": 100, "kind": "L3", "resource": "L3VNI/red", "vrf": "red", "hostPeers": ["192.169.10.2"], "kernelOk": true},
                {"vni": 300, "kind": "L2", "resource": "L2VNI/ew", "hostPeers": [], "kernelOk": false}
            ],
            "live": {
                "sessions": [
                    {"vrf": "red", "peer": "192.169.10.2", "state": "Established", "uptimeSecs": 75, "prefixesIn": 2, "prefixesOut": 5},
                    {"vrf": "default", "peer": "192.168.11.2", "state": "Active", "prefixesIn": 0, "prefixesOut": 0}
                ],
                "vnis": [{"vni": 100, "kind": "L3", "vrf": "red", "remoteVteps": []}, {"vni": 300, "kind": "L2", "remoteVteps": ["100.65.0.1"]}]
            },
            "failedResources": [{"kind": "L2VNI", "name": "ew", "reason": "OverlayAttachmentFailed", "message": "link vni300: boom"}]
        });
        let text = render(&st);
        let row100 = text.lines().find(|l| l.starts_with("100 ")).expect("vni 100 row");
        assert!(
            row100.contains("192.169.10.2 Established") && row100.contains("2/5") && row100.contains(" ok "),
            "{row100}"
        );
        let row300 = text.lines().find(|l| l.starts_with("300 ")).expect("vni 300 row");
        assert!(row300.contains("FAILED") && row300.contains("1 remote VTEP"), "{row300}");
        assert!(text.contains("00:01:15"), "{text}");
        assert!(text.contains("OverlayAttachmentFailed  link vni300: boom"), "{text}");
    }
}
