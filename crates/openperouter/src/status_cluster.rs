//! `openperouter status --cluster` (and `kubectl openperouter status`): every node's router in
//! one table, from the cluster's RouterNodeConfigurationStatus objects and Nodes.

use std::process::ExitCode;

use anyhow::{Context, Result};
use k8s::cluster_status::NodeRow;
use k8s_openapi::jiff::Timestamp;

use crate::output::Table;

/// How long ago `t` was, shortly (`45s`, `12m`, `3h`, `5d`).
fn age(t: Option<Timestamp>, now: Timestamp) -> String {
    let Some(t) = t else { return "-".into() };
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `3/3 up`, or `2/3 up; down: 192.168.11.2 Active` (a VRF other than default is named).
fn sessions(row: &NodeRow) -> String {
    if row.sessions.is_empty() {
        return "-".into();
    }
    let up = row.sessions.iter().filter(|s| s.state == "Established").count();
    let mut text = format!("{up}/{} up", row.sessions.len());
    let down: Vec<String> = row
        .sessions
        .iter()
        .filter(|s| s.state != "Established")
        .map(|s| {
            if s.vrf == "default" {
                format!("{} {}", s.peer, s.state)
            } else {
                format!("{} {} {}", s.vrf, s.peer, s.state)
            }
        })
        .collect();
    if !down.is_empty() {
        text.push_str(&format!("; down: {}", down.join(", ")));
    }
    text
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// The table, then one line per failed resource and per node that says why it is not Ready.
pub fn render(rows: &[NodeRow], now: Timestamp) -> String {
    let mut t =
        Table::new(&["NODE", "INDEX", "READY", "REASON", "SINCE", "REVISION", "APPLIED", "FAILED", "BGP SESSIONS"]);
    for r in rows {
        let (ready, reason) = match (r.reported, r.node_missing) {
            (false, _) => ("-".to_string(), "no status yet (is the controller running on this node?)".to_string()),
            (true, true) => (r.ready.clone(), "node deleted".to_string()),
            (true, false) => (r.ready.clone(), r.reason.clone()),
        };
        t.row(vec![
            r.node.clone(),
            r.index.clone().unwrap_or_else(|| "-".into()),
            ready,
            reason,
            age(r.since, now),
            r.revision.as_deref().map(|v| v.chars().take(8).collect()).unwrap_or_else(|| "-".into()),
            r.applied.to_string(),
            r.failed.len().to_string(),
            sessions(r),
        ]);
    }
    let ready = rows.iter().filter(|r| r.is_ready()).count();
    let mut out = format!("{ready} of {} nodes Ready\n\n{}", rows.len(), t.render());
    let mut why = Table::new(&["NODE", "RESOURCE", "REASON", "MESSAGE"]);
    for r in rows {
        for f in &r.failed {
            why.row(vec![
                r.node.clone(),
                format!("{}/{}", f.kind, f.name),
                f.reason.to_string(),
                shorten(&f.message, 120),
            ]);
        }
        if r.reported && !r.is_ready() && r.failed.is_empty() && !r.message.is_empty() {
            why.row(vec![r.node.clone(), "-".into(), r.reason.clone(), shorten(&r.message, 120)]);
        }
    }
    if !why.is_empty() {
        out.push_str(&format!("\nWHY NOT READY\n{}", why.render()));
    }
    out
}

/// Reads the cluster (kubeconfig as kubectl finds it, or the in-cluster account) and prints.
/// Exit status 1 when a node is not Ready.
pub fn run(namespace: &str, json: bool) -> Result<ExitCode> {
    k8s::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    let rows = rt.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (KUBECONFIG, ~/.kube/config or the in-cluster account)")?;
        k8s::cluster_status::fetch(&client, namespace).await.context("reading the node statuses")
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no nodes found");
    } else {
        print!("{}", render(&rows, Timestamp::now()));
    }
    Ok(if rows.iter().all(NodeRow::is_ready) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{BgpSessionState, FailedResource, FailureReason, ResourceKind};

    fn row(node: &str) -> NodeRow {
        NodeRow {
            node: node.into(),
            index: Some("0".into()),
            reported: true,
            ready: "True".into(),
            reason: "ConfigurationSuccessful".into(),
            message: "All configuration applied successfully".into(),
            since: Some("2026-01-02T03:00:00Z".parse().expect("time")),
            revision: Some("0123456789abcdef".into()),
            sessions: vec![
                BgpSessionState { vrf: "default".into(), peer: "192.168.11.2".into(), state: "Established".into() },
                BgpSessionState { vrf: "red".into(), peer: "192.169.10.3".into(), state: "Established".into() },
            ],
            applied: 3,
            failed: Vec::new(),
            node_missing: false,
        }
    }

    #[test]
    fn one_line_per_node_and_the_reasons_below() {
        let now: Timestamp = "2026-01-02T03:12:00Z".parse().expect("time");
        let a = row("node-a");
        let mut b = row("node-b");
        b.index = Some("1".into());
        b.ready = "False".into();
        b.reason = "ConfigurationFailed".into();
        b.sessions[1].state = "Active".into();
        b.failed = vec![FailedResource::new(
            ResourceKind::L3VNI,
            "zz-dup",
            FailureReason::ValidationFailed,
            "VNI 100 is already used by L3VNI red",
        )];
        let mut c = row("node-c");
        c.reported = false;
        c.index = None;
        c.ready = "Unknown".into();
        c.sessions.clear();
        let mut d = row("node-d");
        d.ready = "False".into();
        d.reason = "FrrConfigurationFailed".into();
        d.message = "the reloader did not answer within 70s".into();
        let text = render(&[a, b, c, d], now);
        let line =
            |n: &str| text.lines().find(|l| l.starts_with(n)).unwrap_or_else(|| panic!("{n} in {text}")).to_string();
        assert!(text.starts_with("1 of 4 nodes Ready\n"), "{text}");
        let a = line("node-a");
        assert!(a.contains("True") && a.contains("12m") && a.contains("01234567 ") && a.contains("2/2 up"), "{a}");
        assert!(!a.contains("0123456789"), "the revision is shortened: {a}");
        let b = line("node-b");
        assert!(b.contains("ConfigurationFailed") && b.contains("1/2 up; down: red 192.169.10.3 Active"), "{b}");
        assert!(line("node-c").contains("no status yet"), "{text}");
        assert!(text.contains("WHY NOT READY"), "{text}");
        let why_b = text.lines().filter(|l| l.starts_with("node-b")).nth(1).expect("node-b's reason");
        assert!(
            why_b.contains("L3VNI/zz-dup") && why_b.contains("ValidationFailed") && why_b.contains("already used"),
            "{why_b}"
        );
        let why_d = text.lines().filter(|l| l.starts_with("node-d")).nth(1).expect("node-d's reason");
        assert!(why_d.contains("FrrConfigurationFailed") && why_d.contains("did not answer"), "{why_d}");
        assert_eq!(text.lines().filter(|l| l.starts_with("node-a")).count(), 1, "a Ready node has no reason line");
    }
}
