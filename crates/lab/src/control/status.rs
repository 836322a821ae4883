//! Reading the lab back: namespaces, FRR instances, speakers, agents and sessions.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use frr::instance::{DaemonState, Instance};
use kernel::NetNs;

use super::lab::*;
use super::sessions::*;
use crate::fabric::Role;
use crate::speaker::SpeakerKind;

/// One namespace in [`LabStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceStatus {
    pub name: String,
    pub short: String,
    pub role: Role,
    pub exists: bool,
    /// `(daemon, state)` of its FRR instance, watchfrr first; empty when it runs no FRR.
    pub daemons: Vec<(String, DaemonState)>,
}

/// What [`status`] found.
#[derive(Debug, Clone)]
pub struct LabStatus {
    pub lab: Lab,
    pub namespaces: Vec<NamespaceStatus>,
    pub sessions: Vec<Session>,
    /// Instances that did not answer.
    pub errors: Vec<String>,
    /// The node agents (with PEs): `(node index, pid when running, readiness)`.
    pub agents: Vec<(u32, Option<u32>, String)>,
    /// Each node's BGP speaker.
    pub speakers: Vec<SpeakerStatus>,
}

/// A node's BGP speaker in [`LabStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerStatus {
    pub node: u32,
    pub kind: SpeakerKind,
    /// Its own processes (BIRD; GoBGP and its route installer) with their pids when running.
    pub processes: Vec<(&'static str, Option<u32>)>,
}

impl LabStatus {
    /// What is wrong; empty when healthy.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ns in &self.namespaces {
            if !ns.exists {
                out.push(format!("namespace {} is missing", ns.name));
            }
            for (d, s) in &ns.daemons {
                if !matches!(s, DaemonState::Running { .. }) {
                    out.push(format!("{}: {d} is not running", ns.short));
                }
            }
        }
        for s in self.sessions.iter().filter(|s| s.unhealthy()) {
            out.push(format!("{}: BGP session with {} is {}", s.ns, s.neighbor.peer, s.neighbor.state));
        }
        out.extend(self.errors.iter().cloned());
        for s in &self.speakers {
            for (what, pid) in &s.processes {
                if pid.is_none() {
                    out.push(format!("node{}: {what} ({} speaker) is not running", s.node, s.kind));
                }
            }
        }
        for (i, pid, ready) in &self.agents {
            if pid.is_none() {
                out.push(format!("node{i}: the agent is not running"));
            } else if ready != "Ready" {
                out.push(format!("node{i}: the agent is not Ready ({ready})"));
            }
        }
        out
    }

    /// Nothing is wrong.
    pub fn healthy(&self) -> bool {
        self.problems().is_empty()
    }
}

/// Reads the state of the lab: namespaces, FRR daemons, BGP sessions.
pub async fn status(lab: &Lab) -> LabStatus {
    let instances: BTreeMap<String, Instance> = lab.instances().into_iter().collect();
    let namespaces = lab
        .topology
        .namespaces
        .iter()
        .map(|n| NamespaceStatus {
            name: n.name.clone(),
            short: n.short.clone(),
            role: n.role,
            exists: NetNs::exists(&n.name),
            daemons: instances.get(&n.short).map(|i| i.status().daemons).unwrap_or_default(),
        })
        .collect();
    let (sessions, errors) = sessions(lab).await;
    let mut agents = Vec::new();
    if lab.with_pe {
        let dir = lab.options.dir();
        for i in 0..lab.options.spec.nodes {
            let pid = crate::pe::agent_pid(&dir, i);
            let prefix = lab.options.spec.prefix.clone();
            let ready =
                tokio::task::spawn_blocking(move || crate::pe::http_get(&prefix, i, "/readyz", Duration::from_secs(3)))
                    .await;
            let ready = match ready {
                Ok(Ok((200, _))) => "Ready".to_string(),
                Ok(Ok((_, body))) => format!("not ready: {}", body.trim()),
                Ok(Err(e)) => format!("no answer: {e}"),
                Err(e) => format!("no answer: {e}"),
            };
            agents.push((i, pid, ready));
        }
    }
    let speakers = (0..lab.options.spec.nodes)
        .map(|i| {
            let s = lab.speaker(i);
            SpeakerStatus { node: i, kind: s.kind, processes: s.processes() }
        })
        .collect();
    LabStatus { lab: lab.clone(), namespaces, sessions, errors, agents, speakers }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Spine => "spine",
        Role::Leaf => "leaf",
        Role::Tor => "tor",
        Role::Switch => "switch (bridge)",
        Role::ExternalHost => "external host",
        Role::NodeHost => "node host",
        Role::NodeRouter => "node router (PE)",
        Role::Pod => "pod",
    }
}

fn uptime(d: Option<Duration>) -> String {
    let Some(d) = d else { return "-".into() };
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

impl fmt::Display for LabStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = &self.lab.options.spec;
        writeln!(
            f,
            "lab {}: {} nodes, tenant VRFs {}, run directory {}",
            spec.prefix,
            spec.nodes,
            if spec.vrf { "red/blue" } else { "off (--no-vrf)" },
            self.lab.options.dir().display()
        )?;
        writeln!(f)?;
        writeln!(f, "{:<22} {:<18} FRR", "NAMESPACE", "ROLE")?;
        for ns in &self.namespaces {
            let frr = if !ns.exists {
                "MISSING NAMESPACE".to_string()
            } else if ns.daemons.is_empty() {
                match ns.role {
                    Role::NodeRouter if self.lab.with_pe => "run by the node agent (see AGENTS)".to_string(),
                    Role::NodeRouter => "- (empty, reserved for the PE)".to_string(),
                    _ => "-".to_string(),
                }
            } else if ns.daemons.iter().all(|(_, s)| matches!(s, DaemonState::Running { .. })) {
                format!("running ({})", ns.daemons.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(" "))
            } else {
                let mut s = String::new();
                for (d, st) in &ns.daemons {
                    let word = match st {
                        DaemonState::Running { .. } => "up",
                        DaemonState::Stopped => "STOPPED",
                        DaemonState::Stale { .. } => "DEAD",
                    };
                    let _ = write!(s, "{d}:{word} ");
                }
                s.trim_end().to_string()
            };
            writeln!(f, "{:<22} {:<18} {frr}", ns.name, role_name(ns.role))?;
        }
        writeln!(f)?;
        writeln!(f, "{:<8} {:<8} {:<22} PROCESSES", "NODE", "SPEAKER", "NAMESPACE")?;
        for SpeakerStatus { node: i, kind, processes } in &self.speakers {
            let procs = if *kind == SpeakerKind::Frr {
                "FRR instance (see above)".to_string()
            } else {
                let words: Vec<String> = processes
                    .iter()
                    .map(|(what, pid)| format!("{what}[{}]", pid.map_or("DEAD".to_string(), |p| p.to_string())))
                    .collect();
                words.join(" ")
            };
            writeln!(
                f,
                "{:<8} {:<8} {:<22} {procs}",
                format!("node{i}"),
                kind.name(),
                crate::fabric::node_host_ns(&spec.prefix, *i)
            )?;
        }
        if !self.agents.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<8} {:<8} {:<22} READY (agent at 127.0.0.1:{} in the node's namespace)",
                "AGENT",
                "PID",
                "ROUTER NS",
                crate::pe::AGENT_PORT
            )?;
            for (i, pid, ready) in &self.agents {
                writeln!(
                    f,
                    "{:<8} {:<8} {:<22} {ready}",
                    format!("node{i}"),
                    pid.map_or("DEAD".to_string(), |p| p.to_string()),
                    crate::fabric::node_router_ns(&spec.prefix, *i)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<8} {:<8} {:<15} {:<7} {:<12} {:<9} {:<17} NOTE",
            "ROUTER", "VRF", "PEER", "AS", "STATE", "UPTIME", "PFX RCVD v4/evpn"
        )?;
        for s in &self.sessions {
            let n = &s.neighbor;
            let count =
                |af: &str| n.af(af).and_then(|a| a.prefixes_received).map_or("-".to_string(), |c| c.to_string());
            let pfx = format!("{}/{}", count("ipv4Unicast"), count("l2VpnEvpn"));
            let note = if n.is_established() {
                ""
            } else if s.towards_pe && !s.pe_running {
                "waiting for PE"
            } else {
                "DOWN"
            };
            let state = if n.is_established() { "Established" } else { n.state.as_str() };
            writeln!(
                f,
                "{:<8} {:<8} {:<15} {:<7} {:<12} {:<9} {:<17} {note}",
                s.ns,
                n.vrf,
                n.peer,
                n.remote_as.map_or("-".to_string(), |a| a.to_string()),
                state,
                uptime(n.uptime.filter(|_| n.is_established())),
                pfx
            )?;
        }
        writeln!(f)?;
        let fabric = self.sessions.iter().filter(|s| !s.towards_pe).count();
        let fabric_up = self.sessions.iter().filter(|s| !s.towards_pe && s.neighbor.is_established()).count();
        let waiting = self.sessions.iter().filter(|s| s.towards_pe && !s.neighbor.is_established()).count();
        let pe = self.sessions.iter().filter(|s| s.towards_pe).count();
        let pe_up = self.sessions.iter().filter(|s| s.towards_pe && s.neighbor.is_established()).count();
        let problems = self.problems();
        if problems.is_empty() && self.lab.with_pe {
            writeln!(
                f,
                "HEALTHY: {fabric_up}/{fabric} fabric sessions and {pe_up}/{pe} PE sessions Established, {} agents Ready",
                self.agents.len()
            )
        } else if problems.is_empty() {
            writeln!(f, "HEALTHY: {fabric_up}/{fabric} fabric sessions Established, {waiting} waiting for a PE")
        } else {
            writeln!(f, "UNHEALTHY: {fabric_up}/{fabric} fabric sessions Established")?;
            for p in problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}
