//! Human tables and JSON for `openperouter plan`.

use std::fmt::Write;

use dataplane::{Link, LinkKind, Mtu, Side};
use plan::NodePlan;

/// A left-aligned text table; columns are as wide as their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text, one line per row.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn dash(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".to_string())
}

fn details(link: &Link) -> String {
    let mut parts: Vec<String> = Vec::new();
    match &link.kind {
        LinkKind::Vxlan { vni, local, port, learning, device } => {
            parts.push(format!("id {vni} local {local} dstport {port} dev {device}"));
            if !learning {
                parts.push("nolearning".into());
            }
        }
        LinkKind::Veth { peer, peer_side } => parts.push(format!("peer {peer} ({peer_side})")),
        LinkKind::Underlay => parts.push("moved from the host, keeps its addresses".into()),
        LinkKind::Vrf => parts.push("table: lowest free".into()),
        _ => {}
    }
    if let Some(g) = link.group {
        parts.push(format!("group {g}"));
    }
    if let Some(mac) = link.mac {
        parts.push(format!("mac {mac}"));
    }
    if link.addr_gen_mode.is_some() {
        parts.push("addrgenmode none".into());
    }
    if let Some(bp) = link.bridge_port
        && bp.neigh_suppress
    {
        parts.push("neigh_suppress".into());
    }
    if !link.managed {
        parts.push("not created by us".into());
    }
    parts.join(", ")
}

fn mtu(m: Mtu) -> String {
    match m {
        Mtu::Unchanged => "-".into(),
        Mtu::UnderlayMinus(n) => format!("underlay-{n}"),
    }
}

/// The text form: verdict, resources, kernel objects per namespace, sysctls, FRR config.
pub fn plan_text(plan: &NodePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Node {} (index {}): {:?}", plan.node.name, plan.node.index, plan.verdict);
    let _ = writeln!(out, "{}\n", plan.summary());

    let mut resources = Table::new(&["KIND", "NAME", "OUTCOME"]);
    for a in &plan.applied {
        resources.row(vec![a.kind.to_string(), a.name.clone(), "applied".into()]);
    }
    for f in &plan.failed_resources {
        resources.row(vec![f.kind.to_string(), f.name.clone(), format!("{}: {}", f.reason, f.message)]);
    }
    let _ = writeln!(out, "RESOURCES\n{}", resources.render());

    match &plan.kernel {
        None => out.push_str("KERNEL\nunchanged (the Underlay is invalid)\n\n"),
        Some(kernel) => {
            for (side, title) in [(Side::Router, "router namespace"), (Side::Host, "host namespace")] {
                let mut t = Table::new(&["NAME", "KIND", "MASTER", "MTU", "ADDRESSES", "OWNER", "DETAILS"]);
                for link in kernel.links_in(side) {
                    let addresses = link.addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
                    t.row(vec![
                        link.name.clone(),
                        link.kind.label().into(),
                        dash(link.master.clone()),
                        mtu(link.mtu),
                        dash(Some(addresses)),
                        link.owner.to_string(),
                        details(link),
                    ]);
                }
                if t.rows.is_empty() {
                    let _ = writeln!(out, "KERNEL: {title}\nnothing of ours\n");
                } else {
                    let _ = writeln!(out, "KERNEL: {title}\n{}", t.render());
                }
            }
            if !kernel.ovs_ports.is_empty() {
                let mut t = Table::new(&["OPEN VSWITCH PORT", "BRIDGE", "OWNER", "DETAILS"]);
                for p in &kernel.ovs_ports {
                    let details = if p.managed_bridge {
                        "bridge created by us (created-by=openperouter), deleted with the resource"
                    } else {
                        "existing bridge: the port is attached and detached only"
                    };
                    t.row(vec![p.port.clone(), p.bridge.clone(), p.owner.to_string(), details.into()]);
                }
                let _ = writeln!(out, "{}", t.render());
            }
            if !kernel.sysctls.is_empty() {
                let mut t = Table::new(&["SYSCTL (router namespace)", "VALUE", "NOTE"]);
                for s in &kernel.sysctls {
                    t.row(vec![
                        s.key.clone(),
                        s.value.clone(),
                        if s.optional { "skipped on kernels without it".into() } else { String::new() },
                    ]);
                }
                let _ = writeln!(out, "{}", t.render());
            }
        }
    }
    if !plan.cni.is_empty() {
        let mut t = Table::new(&["CNI INTERFACE (router namespace)", "PLUGINS", "CONFIGURATION"]);
        for c in &plan.cni {
            let plugins: Vec<String> = c.config["plugins"]
                .as_array()
                .map(|p| p.iter().filter_map(|p| p["type"].as_str().map(str::to_string)).collect())
                .unwrap_or_else(|| c.config["type"].as_str().map(|t| vec![t.to_string()]).unwrap_or_default());
            t.row(vec![
                c.ifname.clone(),
                plugins.join(", "),
                c.config["name"].as_str().unwrap_or_default().to_string(),
            ]);
        }
        let _ = writeln!(out, "{}", t.render());
    }

    match &plan.frr {
        None => out.push_str("FRR CONFIGURATION\nunchanged (the Underlay is invalid)\n"),
        Some(config) => {
            let _ = write!(out, "FRR CONFIGURATION (passwords redacted)\n{}", config.render_redacted());
        }
    }
    out
}

/// The JSON form: `node`, `verdict`, `summary`, `frr` (text, passwords redacted, null when
/// unchanged), `kernel` (links and sysctls, null when unchanged), `failedResources`, `applied`.
pub fn plan_json(plan: &NodePlan) -> Result<String, serde_json::Error> {
    let value = serde_json::json!({
        "node": plan.node,
        "verdict": plan.verdict,
        "summary": plan.summary(),
        "frr": plan.frr.as_ref().map(|c| c.render_redacted()),
        "kernel": plan.kernel,
        "cni": plan.cni,
        "failedResources": plan.failed_resources,
        "applied": plan.applied,
    });
    serde_json::to_string_pretty(&value)
}
