//! The BGP speaker on each lab node, in the node's host namespace: the program users run next to
//! the PE, peering with its host-session addresses (red `192.169.10.1`, blue `192.169.11.1`,
//! passthrough `192.169.30.1`) as AS 64515, announcing the node's pod prefix and learning the
//! VPN routes. Selectable per node:
//!
//! | kind | as run by | routes into the node's kernel | queried with |
//! |---|---|---|---|
//! | [`SpeakerKind::Frr`] | FRR-K8s, MetalLB | zebra | `vtysh … json` |
//! | [`SpeakerKind::Bird`] | Calico | BIRD's kernel protocol | `birdc` (text) |
//! | [`SpeakerKind::Gobgp`] | Cilium, kube-vip | the lab's installer ([`fib`]) | `gobgp -j` |
//!
//! FRR runs as one of the lab's FRR instances (`<lab dir>/node<i>/run|etc`). BIRD and GoBGP are
//! started by the lab like those, with private files in `<lab dir>/node<i>/` (configuration,
//! control socket, pid file, log), and stopped by pid; every command line names that directory,
//! so `lab down`'s sweep of processes under the lab directory finds any that escaped.
//!
//! [`Speaker`] is the one place `lab check` and `lab status` ask for sessions and routes,
//! whatever the kind.

pub mod bird;
pub mod fib;
pub mod gobgp;
pub mod kind;

pub use kind::{SpeakerKind, kind_of, parse_list};

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use frr::state::BgpNeighbor;
use serde_json::Value;

use crate::fabric::{LabSpec, node_host_ns, pod_prefix};

/// A route in a speaker's table with the next hop of every path (none when the speaker
/// originates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerRoute {
    pub prefix: String,
    pub next_hops: Vec<String>,
}

/// Why a speaker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpeakerError {
    #[error("node{index}: {what} {}: {source}", path.display())]
    Io {
        index: u32,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("node{index}: {message}")]
    Failed { index: u32, message: String },
}

/// The speaker of one node.
#[derive(Debug, Clone)]
pub struct Speaker {
    pub kind: SpeakerKind,
    pub index: u32,
    /// The node's host namespace.
    pub ns: String,
    /// `<lab dir>/node<i>`.
    pub dir: PathBuf,
    /// The FRR instance, for [`SpeakerKind::Frr`].
    frr: Option<frr::instance::Instance>,
}

/// How long a query may take (a busy VM under emulation is slow).
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

impl Speaker {
    /// Node `index`'s speaker in the lab `spec` whose files are under `lab_dir`; `frr` is its
    /// FRR instance when it runs FRR.
    pub fn new(spec: &LabSpec, lab_dir: &Path, index: u32, frr: Option<frr::instance::Instance>) -> Speaker {
        Speaker {
            kind: kind_of(&spec.speakers, index),
            index,
            ns: node_host_ns(&spec.prefix, index),
            dir: lab_dir.join(format!("node{index}")),
            frr,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The unix socket of GoBGP's API, as `gobgp --target` takes it.
    pub fn gobgp_target(&self) -> String {
        format!("unix://{}", self.file("gobgpd.sock").display())
    }

    fn frr_vtysh(&self) -> Result<frr::Vtysh, String> {
        self.frr
            .as_ref()
            .map(|i| i.vtysh().with_timeout(QUERY_TIMEOUT))
            .ok_or_else(|| format!("node{}: no FRR instance", self.index))
    }

    /// Runs a query CLI (they reach the daemons through their unix sockets, from any namespace).
    async fn cli(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).kill_on_drop(true);
        let out = tokio::time::timeout(QUERY_TIMEOUT, cmd.output())
            .await
            .map_err(|_| format!("node{}: {program} {} timed out", self.index, args.join(" ")))?
            .map_err(|e| format!("node{}: cannot run {program}: {e}", self.index))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!(
                "node{}: {program} {}: {}{}",
                self.index,
                args.join(" "),
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    async fn birdc(&self, command: &[&str]) -> Result<String, String> {
        let socket = self.file("bird.ctl");
        let mut args = vec!["-s", socket.to_str().unwrap_or_default()];
        args.extend(command);
        let text = self.cli("birdc", &args).await?;
        // birdc exits 0 even when the daemon is gone; its first line says so.
        if text.contains("Unable to connect") {
            return Err(format!("node{}: BIRD does not answer: {}", self.index, text.trim()));
        }
        Ok(text)
    }

    async fn gobgp(&self, command: &[&str]) -> Result<String, String> {
        let target = self.gobgp_target();
        let mut args = vec!["--target", target.as_str(), "-j"];
        args.extend(command);
        self.cli("gobgp", &args).await
    }

    /// The speaker's BGP sessions.
    pub async fn neighbors(&self) -> Result<Vec<BgpNeighbor>, String> {
        match self.kind {
            SpeakerKind::Frr => {
                frr::state::bgp_neighbors(&self.frr_vtysh()?).await.map_err(|e| format!("node{}: {e}", self.index))
            }
            SpeakerKind::Bird => Ok(bird::parse_protocols(&self.birdc(&["show", "protocols", "all"]).await?)),
            SpeakerKind::Gobgp => gobgp::parse_neighbors(&self.gobgp(&["neighbor"]).await?),
        }
    }

    /// The speaker's IPv4 unicast routes, with every path's next hop.
    pub async fn routes(&self) -> Result<Vec<SpeakerRoute>, String> {
        match self.kind {
            SpeakerKind::Frr => {
                let v: Value = self
                    .frr_vtysh()?
                    .json("show bgp ipv4 json")
                    .await
                    .map_err(|e| format!("node{}: {e}", self.index))?;
                Ok(frr_routes(&v))
            }
            SpeakerKind::Bird => Ok(bird::parse_routes(&self.birdc(&["show", "route"]).await?)),
            SpeakerKind::Gobgp => gobgp::parse_rib(&self.gobgp(&["global", "rib", "-a", "ipv4"]).await?),
        }
    }

    /// The next hops of `prefix` in the speaker's table (empty when it has no such route).
    pub async fn next_hops(&self, prefix: &str) -> Result<Vec<String>, String> {
        Ok(self.routes().await?.into_iter().find(|r| r.prefix == prefix).map(|r| r.next_hops).unwrap_or_default())
    }

    /// The pids of the speaker's own processes that run (BIRD; GoBGP and its route installer),
    /// `(what, pid)`; FRR's daemons are the lab's FRR instances and are not listed here.
    pub fn processes(&self) -> Vec<(&'static str, Option<u32>)> {
        self.daemons().iter().map(|d| (*d, running_pid(&self.file(&format!("{d}.pid"))))).collect()
    }

    fn daemons(&self) -> &'static [&'static str] {
        match self.kind {
            SpeakerKind::Frr => &[],
            SpeakerKind::Bird => &["bird"],
            SpeakerKind::Gobgp => &["gobgpd", "gobgp-fib"],
        }
    }

    /// Writes the configuration and starts the daemon(s) of a BIRD or GoBGP node (nothing for
    /// FRR, which starts with the lab's FRR instances). `program` is this `openperouter`
    /// binary, which runs GoBGP's route installer. Blocking (waits for GoBGP's API).
    pub fn start(&self, program: Option<&Path>) -> Result<(), SpeakerError> {
        let index = self.index;
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| SpeakerError::Io { index, what, path, source }
        };
        if self.kind == SpeakerKind::Frr {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        let file = |n: &str| self.file(n).to_string_lossy().into_owned();
        match self.kind {
            SpeakerKind::Frr => {}
            SpeakerKind::Bird => {
                let conf = self.file("bird.conf");
                std::fs::write(&conf, bird::config(index, &file("bird.log"))).map_err(io("cannot write", &conf))?;
                // -f: in the foreground, so the pid we get is BIRD's.
                let argv = ["-f", "-c", &file("bird.conf"), "-s", &file("bird.ctl"), "-P", &file("bird.run.pid")];
                self.spawn("bird", Path::new("bird"), &argv)?;
            }
            SpeakerKind::Gobgp => {
                let conf = self.file("gobgpd.toml");
                std::fs::write(&conf, gobgp::config(index)).map_err(io("cannot write", &conf))?;
                let target = self.gobgp_target();
                let argv = ["-f", &file("gobgpd.toml"), "--api-hosts", &target, "--pprof-disable", "-p"];
                self.spawn("gobgpd", Path::new("gobgpd"), &argv)?;
                self.announce_pods()?;
                let program = program.ok_or_else(|| SpeakerError::Failed {
                    index,
                    message: "a GoBGP node needs the openperouter program for its route installer".into(),
                })?;
                self.spawn("gobgp-fib", program, &["lab", "gobgp-fib", "--target", &target])?;
            }
        }
        Ok(())
    }

    /// Adds the pod prefix to GoBGP's RIB through its API (as Cilium's agent does), waiting for
    /// the API to come up.
    fn announce_pods(&self) -> Result<(), SpeakerError> {
        let target = self.gobgp_target();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new("gobgp")
                .args(["--target", &target, "global", "rib", "add", "-a", "ipv4", &pod_prefix(self.index)])
                .output();
            let problem = match out {
                Ok(o) if o.status.success() => return Ok(()),
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => format!("cannot run gobgp: {e}"),
            };
            if running_pid(&self.file("gobgpd.pid")).is_none() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.file("gobgpd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(SpeakerError::Failed {
                    index: self.index,
                    message: format!(
                        "GoBGP did not take the pod prefix: {problem}\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Starts `program argv…` in the node's host namespace with its output in `<what>.log` and
    /// its pid in `<what>.pid`; it outlives this process.
    fn spawn(&self, what: &str, program: &Path, argv: &[&str]) -> Result<u32, SpeakerError> {
        let index = self.index;
        let io = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| SpeakerError::Io { index, what, path, source }
        };
        let log_path = self.file(&format!("{what}.out"));
        let log = std::fs::File::create(&log_path).map_err(io("cannot create", &log_path))?;
        let err_log = log.try_clone().map_err(io("cannot duplicate", &log_path))?;
        let mut cmd = Command::new(program);
        cmd.args(argv).stdin(Stdio::null()).stdout(log).stderr(err_log).process_group(0);
        let ns_path = kernel::NetNs::path_of(&self.ns);
        kernel::NetNs::open(&self.ns)
            .and_then(|ns| ns.enter_on_exec(&mut cmd))
            .map_err(|e| io("cannot enter", &ns_path)(std::io::Error::other(e.to_string())))?;
        let child = cmd.spawn().map_err(io("cannot start", program))?;
        let pid = child.id();
        // Not waited for: it outlives this process (`stop` ends it by pid).
        drop(child);
        let pid_path = self.file(&format!("{what}.pid"));
        std::fs::write(&pid_path, format!("{pid}\n")).map_err(io("cannot write", &pid_path))?;
        Ok(pid)
    }

    /// Stops the speaker's own processes (route installer first), SIGTERM then SIGKILL after
    /// 5 s; returns the pids that ran. Blocking.
    pub fn stop(&self) -> Vec<u32> {
        let mut stopped = Vec::new();
        for what in self.daemons().iter().rev() {
            let pid_file = self.file(&format!("{what}.pid"));
            if let Some(pid) = running_pid(&pid_file) {
                stop_pid(pid);
                stopped.push(pid);
            }
        }
        stopped
    }
}

/// `show bgp ipv4 json` → routes with every path's next hop.
fn frr_routes(v: &Value) -> Vec<SpeakerRoute> {
    v.get("routes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(prefix, paths)| SpeakerRoute {
            prefix: prefix.clone(),
            next_hops: paths
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p.get("nexthops").and_then(Value::as_array).cloned().unwrap_or_default())
                .filter_map(|n| n.get("ip").and_then(Value::as_str).map(str::to_string))
                .filter(|ip| ip != "0.0.0.0")
                .collect(),
        })
        .collect()
}

use kernel::procs::running_pid;

fn stop_pid(pid: u32) {
    kernel::procs::stop(&[pid], Duration::from_secs(5));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_give_one_kind_per_node_or_one_for_all() {
        assert_eq!(parse_list("bird,gobgp", 2).unwrap(), vec![SpeakerKind::Bird, SpeakerKind::Gobgp]);
        let all = parse_list("gobgp", 3).unwrap();
        assert!((0..3).all(|i| kind_of(&all, i) == SpeakerKind::Gobgp));
        assert_eq!(kind_of(&[], 5), SpeakerKind::Frr);
        assert_eq!(kind_of(&[SpeakerKind::Bird, SpeakerKind::Frr], 1), SpeakerKind::Frr);
        let e = parse_list("frr,bird,gobgp", 2).unwrap_err();
        assert!(e.contains("3 speakers given for 2 nodes"), "{e}");
        let e = parse_list("frr,calico", 2).unwrap_err();
        assert!(e.contains("unknown speaker \"calico\"") && e.contains("frr, bird, gobgp"), "{e}");
        for k in SpeakerKind::ALL {
            assert_eq!(k.to_string().parse::<SpeakerKind>(), Ok(k));
        }
    }

    #[test]
    fn frr_routes_skip_the_locally_originated_next_hop() {
        let v: Value = serde_json::from_str(
            r#"{"routes":{"10.244.0.0/24":[{"nexthops":[{"ip":"0.0.0.0"}]}],
                "192.168.20.0/24":[{"nexthops":[{"ip":"192.169.10.1"}]},{"nexthops":[{"ip":"192.169.30.1"}]}]}}"#,
        )
        .unwrap();
        let mut r = frr_routes(&v);
        r.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        assert!(r[0].next_hops.is_empty());
        assert_eq!(r[1].next_hops, vec!["192.169.10.1".to_string(), "192.169.30.1".to_string()]);
    }
}
