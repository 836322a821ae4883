//! Where a node's FRR configuration goes, behind one interface: an FRR reached on its vty
//! sockets (an instance this process runs, or Debian's pathspace instance), where the
//! [`Applier`] applies it; or FRR in another container, where the configuration file is
//! written and the reloader sidecar applies it. Either way one [`Applied`] says what happened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::instance::{DaemonState, Instance, InstanceSpec, InstanceStatus, NetnsRef};
use crate::reloader::ReloaderClient;
use crate::vty::VtyError;
use crate::{Applier, ApplyError, Config, FrrVersion, Vtysh};

/// What one apply did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    pub lines_added: usize,
    pub lines_removed: usize,
    /// Whether FRR was changed.
    pub reloaded: bool,
    pub duration: Duration,
    /// The raw snippets FRR refused (their index in [`Config::raw`]) and why; the rest was
    /// applied without them.
    pub rejected_snippets: Vec<(usize, String)>,
}

/// Interface addresses FRR has not learned (see [`Target::lacking_addresses`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lacking {
    /// Interfaces FRR knows, with the addresses it lacks.
    pub addresses: Vec<(String, Vec<IpNet>)>,
    /// Interfaces FRR does not know at all.
    pub interfaces: Vec<String>,
}

impl Lacking {
    /// FRR holds everything.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.interfaces.is_empty()
    }
}

/// An FRR to configure.
#[derive(Debug)]
pub enum Target {
    /// FRR reached on its vty sockets; `managed` when this process runs the instance (starts it,
    /// restarts it into a new namespace). `restart_unit`: for an instance systemd runs, the unit
    /// this process may restart when mgmtd keeps its datastores locked.
    Local { instance: Box<Instance>, applier: Arc<Applier>, managed: bool, restart_unit: Option<String> },
    /// FRR in another container, behind the reloader sidecar's unix socket.
    Reloader {
        client: ReloaderClient,
        /// The configuration file shared with the reloader.
        config_path: PathBuf,
        /// The hostname FRR prints.
        hostname: String,
        /// The FRR release behind the reloader (asked once).
        version: Option<FrrVersion>,
    },
}

impl Target {
    /// The FRR a node agent runs itself in the router namespace `netns` (named after it), with
    /// its files in `run_dir` and `config_dir` and `hostname` in its own UTS namespace. zebra keeps the routes it installed for 60 s after it
    /// restarts, so that forwarding goes on while BGP (graceful restart) relearns them.
    pub fn private_instance(
        netns: &str,
        run_dir: impl Into<PathBuf>,
        config_dir: impl Into<PathBuf>,
        hostname: Option<String>,
    ) -> Target {
        let mut spec = InstanceSpec::private(netns, NetnsRef::Name(netns.to_string()), run_dir, config_dir);
        spec.hostname = hostname;
        spec.daemon_args.entry("zebra".into()).or_default().extend(["-K".to_string(), "60".to_string()]);
        Target::managed(Instance::new(spec))
    }

    /// Debian's pathspace instance `frr@NAME`, running in the namespace `netns`, run by systemd;
    /// `restart_unit`, when given, is restarted (`systemctl restart`) should mgmtd keep its
    /// datastores locked.
    pub fn pathspace(name: &str, netns: &str, restart_unit: Option<String>) -> Target {
        Target::external(Instance::new(InstanceSpec::pathspace(name, NetnsRef::Name(netns.to_string()))), restart_unit)
    }

    /// An FRR instance this process runs.
    pub fn managed(instance: Instance) -> Target {
        Target::Local {
            applier: Arc::new(Applier::for_instance(&instance)),
            instance: Box::new(instance),
            managed: true,
            restart_unit: None,
        }
    }

    /// An FRR instance run by someone else (systemd's `frr@NAME`), with the unit this process
    /// may restart, if any.
    pub fn external(instance: Instance, restart_unit: Option<String>) -> Target {
        Target::Local {
            applier: Arc::new(Applier::for_instance(&instance)),
            instance: Box::new(instance),
            managed: false,
            restart_unit,
        }
    }

    /// FRR behind the reloader on `socket`; `hostname` is the one FRR prints.
    pub fn reloader(socket: PathBuf, config_path: PathBuf, hostname: String) -> Target {
        Target::Reloader { client: ReloaderClient::new(socket), config_path, hostname, version: None }
    }

    /// The instance this process runs, if any.
    pub fn managed_instance(&self) -> Option<&Instance> {
        match self {
            Target::Local { instance, managed: true, .. } => Some(instance),
            _ => None,
        }
    }

    /// Restarts FRR, in the background, so that it runs in a router namespace made again under
    /// the same name (FRR still runs in the old one, which holds the NICs moved there): the
    /// instance this process runs is stopped and started, an instance systemd runs is restarted
    /// through the unit the operator named (its `NetworkNamespacePath=` opens the new namespace).
    /// `None` when this process may restart neither.
    pub fn restart_into_new_namespace(&self) -> Option<tokio::task::JoinHandle<Result<(), String>>> {
        match self {
            Target::Local { instance, managed: true, .. } => {
                let instance = (**instance).clone();
                Some(tokio::task::spawn_blocking(move || {
                    let _ = instance.stop();
                    instance.start().map(|_| ()).map_err(|e| e.to_string())
                }))
            }
            Target::Local { restart_unit: Some(unit), .. } => {
                let unit = unit.clone();
                Some(tokio::spawn(async move { restart_systemd_unit(&unit).await }))
            }
            _ => None,
        }
    }

    /// vtysh for reading FRR's state, when FRR is reachable from here.
    pub fn vtysh(&self) -> Option<Vtysh> {
        match self {
            Target::Local { instance, .. } => Some(instance.vtysh()),
            Target::Reloader { .. } => None,
        }
    }

    /// The state of every BGP session, wherever FRR runs (behind the reloader too).
    pub async fn sessions(&self) -> Result<Vec<crate::state::SessionState>, String> {
        match self {
            Target::Local { instance, .. } => crate::state::bgp_neighbors(&instance.vtysh())
                .await
                .map(|n| crate::state::session_states(&n))
                .map_err(|e| e.to_string()),
            Target::Reloader { client, .. } => client.sessions().await.map_err(|e| e.to_string()),
        }
    }

    /// Restarts the BGP sessions that sit in Idle (`clear bgp` on each; sessions connecting,
    /// opening or up are left alone) and returns how many. For an FRR that has just started:
    /// bgpd configured from a file tries each neighbor before its address families are read,
    /// counts that as a failure and waits out a start timer (seconds, doubling) although
    /// everything is in place by then. Behind the reloader nothing is done (0).
    pub async fn restart_idle_sessions(&self) -> Result<usize, String> {
        let Target::Local { instance, .. } = self else { return Ok(0) };
        let vtysh = instance.vtysh();
        let neighbors = crate::state::bgp_neighbors(&vtysh).await.map_err(|e| e.to_string())?;
        let commands: Vec<String> = neighbors
            .iter()
            .filter(|n| n.state == "Idle")
            .map(|n| {
                if n.vrf == "default" {
                    format!("clear bgp {}", n.peer)
                } else {
                    format!("clear bgp vrf {} {}", n.vrf, n.peer)
                }
            })
            .collect();
        if commands.is_empty() {
            return Ok(0);
        }
        let refs: Vec<&str> = commands.iter().map(String::as_str).collect();
        vtysh.exec(&refs).await.map_err(|e| e.to_string())?;
        Ok(commands.len())
    }

    /// What FRR (zebra) has not learned of the interface addresses `wanted`: per interface it
    /// knows, the addresses it lacks, and the interfaces it does not know at all. `None` when
    /// this target's FRR cannot be asked from here (behind the reloader).
    pub async fn lacking_addresses(&self, wanted: &[(&str, Vec<IpNet>)]) -> Option<Result<Lacking, String>> {
        let vtysh = self.vtysh()?;
        let known = match crate::state::interfaces(&vtysh).await {
            Ok(k) => k,
            Err(e) => return Some(Err(format!("cannot read zebra's interfaces: {e}"))),
        };
        let known: std::collections::HashMap<&str, _> = known.iter().map(|i| (i.name.as_str(), i)).collect();
        let mut lacking = Lacking::default();
        for (name, addrs) in wanted {
            match known.get(name) {
                Some(i) => {
                    let missing: Vec<IpNet> = addrs.iter().copied().filter(|a| !i.addresses.contains(a)).collect();
                    if !missing.is_empty() {
                        lacking.addresses.push((name.to_string(), missing));
                    }
                }
                None => lacking.interfaces.push(name.to_string()),
            }
        }
        Some(Ok(lacking))
    }

    /// Makes sure a managed FRR runs the daemons `config` needs before it is applied: started
    /// when it is not running, restarted into a new namespace when `netns_changed`, and restarted
    /// with isisd the first time `config` configures IS-IS (isisd then stays: taking IS-IS away
    /// empties its configuration); while watchfrr restarts daemons (and loads their
    /// configuration), waits up to 30 s for it, then restarts FRR whole when daemons are still
    /// down. Nothing to do for the other targets.
    pub async fn ensure_running(&mut self, netns_changed: bool, config: &Config) -> Result<(), String> {
        let added = self.add_daemons(config);
        if !added.is_empty() {
            tracing::info!(daemons = ?added, "the configuration needs more FRR daemons: restarting FRR with them");
        }
        let Some(instance) = self.managed_instance().cloned() else { return Ok(()) };
        if netns_changed || !added.is_empty() {
            let _ = instance.stop();
        } else {
            let watchfrr_alive = |st: &InstanceStatus| {
                st.daemons.iter().any(|(d, s)| d == "watchfrr" && matches!(s, DaemonState::Running { .. }))
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let st = instance.status();
                // Restarted daemons get their configuration from frr.conf first: applying
                // ours meanwhile would race with that load.
                if st.all_running() && !instance.booting() {
                    return Ok(());
                }
                if !watchfrr_alive(&st) {
                    break;
                }
                if Instant::now() > deadline {
                    let down: Vec<&str> = st
                        .daemons
                        .iter()
                        .filter(|(_, s)| !matches!(s, DaemonState::Running { .. }))
                        .map(|(d, _)| d.as_str())
                        .collect();
                    if down.is_empty() {
                        return Err("FRR's restarted daemons were still loading their configuration after 30 s".into());
                    }
                    // watchfrr runs but does not bring them back (it can wait for ever on a job
                    // it believes still running): FRR is restarted whole, watchfrr with it.
                    tracing::warn!(daemons = ?down, "watchfrr did not bring FRR's daemons back within 30 s: restarting FRR");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let _ = instance.stop();
        }
        let started =
            tokio::task::spawn_blocking(move || instance.start()).await.map_err(|e| format!("starting FRR: {e}"))?;
        started.map(|_| ()).map_err(|e| format!("starting FRR: {e}"))
    }

    /// Adds to a managed instance the daemons `config` needs that it does not run, with an
    /// applier that knows them; returns them. The caller restarts the instance.
    fn add_daemons(&mut self, config: &Config) -> Vec<String> {
        let Target::Local { instance, applier, managed: true, .. } = self else { return Vec::new() };
        let wanted: &[&str] = if config.needs_isisd() { &["isisd"] } else { &[] };
        let missing: Vec<String> =
            wanted.iter().filter(|d| !instance.spec().daemons.iter().any(|x| x == *d)).map(|d| d.to_string()).collect();
        if !missing.is_empty() {
            let mut spec = instance.spec().clone();
            spec.daemons.extend(missing.iter().cloned());
            **instance = Instance::new(spec);
            *applier = Arc::new(Applier::for_instance(instance));
        }
        missing
    }

    /// Applies `config`; the error says what FRR or the reloader answered.
    pub async fn apply(&mut self, config: &Config) -> Result<Applied, String> {
        match self {
            Target::Local { applier, instance, managed, restart_unit } => {
                let r = match applier.apply(config).await {
                    Err(e @ ApplyError::Vty(VtyError::Locked { .. })) if *managed => {
                        // FRR 10.3's mgmtd can keep its datastores locked for up to ten minutes
                        // after a commit failed (a back end left in the middle of it): nothing
                        // is configurable until then. This FRR is ours: restart it whole.
                        tracing::warn!(error = %e, "mgmtd keeps its configuration locked: restarting FRR");
                        let instance = (**instance).clone();
                        let _ = instance.stop();
                        tokio::task::spawn_blocking(move || instance.start())
                            .await
                            .map_err(|e| format!("restarting FRR: {e}"))?
                            .map_err(|e| format!("restarting FRR: {e}"))?;
                        applier.apply(config).await
                    }
                    Err(e @ ApplyError::Vty(VtyError::Locked { .. })) if restart_unit.is_some() => {
                        // Not ours to run, but the operator named the unit we may restart.
                        let unit = restart_unit.as_deref().unwrap_or_default();
                        tracing::warn!(error = %e, unit, "mgmtd keeps its configuration locked: restarting FRR's unit");
                        restart_systemd_unit(unit).await?;
                        applier.apply(config).await
                    }
                    Err(e @ ApplyError::Vty(VtyError::Locked { .. })) => {
                        return Err(format!(
                            "FRR rejected the configuration: {e} (FRR 10.3's mgmtd can keep them locked \
                             for up to ten minutes after a failed commit; restarting its FRR service clears it)"
                        ));
                    }
                    other => other,
                }
                .map_err(|e| format!("FRR rejected the configuration: {e}"))?;
                Ok(Applied {
                    lines_added: r.added.len(),
                    lines_removed: r.removed.len(),
                    reloaded: r.reloaded,
                    duration: r.duration,
                    rejected_snippets: r.rejected_snippets.iter().map(|x| (x.index, x.to_string())).collect(),
                })
            }
            Target::Reloader { client, config_path, hostname, version } => {
                let started = Instant::now();
                let mut config = config.clone();
                if config.hostname.is_none() {
                    config.hostname = Some(hostname.clone());
                }
                let version = match version {
                    Some(v) => *v,
                    None => match client.version().await {
                        Ok(v) => {
                            tracing::info!(version = %v, "FRR version behind the reloader");
                            *version.insert(v)
                        }
                        Err(e) => {
                            // An older reloader has no /version: render the default line and
                            // ask again next time.
                            tracing::warn!(error = %e, default = %FrrVersion::DEFAULT, "cannot read FRR's version from the reloader");
                            FrrVersion::DEFAULT
                        }
                    },
                };
                let body = client
                    .apply(config_path, &config.render_for(version))
                    .await
                    .map_err(|e| format!("FRR configuration not applied: {e}"))?;
                Ok(applied_from_report(&body, started.elapsed()))
            }
        }
    }
}

/// What the reloader's answer (its JSON apply report) says; counts stay 0 when the answer is
/// not that report.
fn applied_from_report(body: &str, elapsed: Duration) -> Applied {
    let report: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let count = |key: &str| report.get(key).and_then(|v| v.as_array()).map_or(0, Vec::len);
    let rejected_snippets = report
        .get("rejectedSnippets")
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|x| {
                    let index = x.get("index")?.as_u64()? as usize;
                    let line = x.get("line")?.as_str()?;
                    let message = x.get("message")?.as_str()?;
                    Some((index, format!("FRR refused `{line}`: {message}")))
                })
                .collect()
        })
        .unwrap_or_default();
    Applied {
        lines_added: count("added"),
        lines_removed: count("removed"),
        reloaded: report.get("reloaded").and_then(serde_json::Value::as_bool).unwrap_or(true),
        duration: elapsed,
        rejected_snippets,
    }
}

/// How long `systemctl restart` of FRR's unit may take (its stop and its start, each bounded
/// by the unit's own timeouts, 90 s by default).
const UNIT_RESTART_TIMEOUT: Duration = Duration::from_secs(200);

/// Restarts `unit` and waits for systemd to report it started.
async fn restart_systemd_unit(unit: &str) -> Result<(), String> {
    let run = tokio::process::Command::new("systemctl").args(["restart", unit]).kill_on_drop(true).output();
    let out = tokio::time::timeout(UNIT_RESTART_TIMEOUT, run)
        .await
        .map_err(|_| format!("restarting {unit}: systemctl did not return within {}s", UNIT_RESTART_TIMEOUT.as_secs()))?
        .map_err(|e| format!("restarting {unit}: cannot run systemctl: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(format!("restarting {unit}: systemctl {}: {}", out.status, said.trim()));
    }
    tracing::info!(unit, "FRR's unit restarted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reloaders_report_is_read() {
        let body = r#"{"added":[{"line":"a"},{"line":"b"}],"removed":[{"line":"c"}],"reloaded":true,
            "rejectedSnippets":[{"index":1,"line":"bogus","message":"% Unknown command"}]}"#;
        let applied = applied_from_report(body, Duration::from_millis(5));
        assert_eq!((applied.lines_added, applied.lines_removed, applied.reloaded), (2, 1, true));
        assert_eq!(applied.rejected_snippets, [(1, "FRR refused `bogus`: % Unknown command".to_string())]);
        // Not the report (an older reloader): nothing counted, assumed applied.
        let plain = applied_from_report("ok\n", Duration::ZERO);
        assert_eq!((plain.lines_added, plain.reloaded, plain.rejected_snippets.len()), (0, true, 0));
    }
}
