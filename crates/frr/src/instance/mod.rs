//! Running an FRR instance (zebra, bgpd, staticd, bfdd, and mgmtd on FRR ≥ 9,
//! under watchfrr) in a
//! network namespace, with its own run and config directories, so that many
//! instances coexist on one machine (host mode runs one, the lab many).
//!
//! # How an instance runs
//!
//! [`Instance::start`] writes a small control script into the run directory
//! and starts `watchfrr -d` inside the network namespace (`nsenter --net`),
//! optionally in a fresh UTS namespace with the instance's own hostname
//! (`unshare --uts`). watchfrr finds every daemon down and runs the script's
//! `restart all`: mgmtd first when the installed FRR has one (FRR ≥ 9: it
//! holds the configuration of staticd and the other daemons that are its
//! back ends), then zebra (FRR's `-d` returns once the daemon is ready, so
//! its socket exists), then the other daemons in parallel, then
//! `vtysh -b`, which loads `frr.conf` from the config directory when there is
//! one (the last applied configuration). watchfrr's `-d` returns once every
//! daemon answers on its vty socket; `start` then waits for the script to
//! finish. Later, watchfrr restarts a crashed daemon through the same script
//! (`restart bgpd`), which reloads `frr.conf` into it; the daemon's pid file
//! changes, which [`Instance::generation`] and [`RestartWatcher`] detect.
//!
//! Why watchfrr and not our own supervisor: it is FRR's own, field-proven
//! supervisor (it is what the packaged service and the router pod run), it
//! survives restarts of our agent, it is what `show daemons` must list for
//! the reloader's health check, and it handles FRR's phased zebra restart.
//! Daemons get every path explicitly (`-i`, `-z`, `--vty_socket`,
//! `--bfdctl`, `-f /dev/null`), so nothing is read from or written to the
//! packaged `/etc/frr` and `/var/run/frr`. FRR drops privileges to `frr`,
//! so the run directory is created owned by `frr`.
//!
//! [`stop_all`] stops many instances at once: SIGTERM to every watchfrr (so
//! that nothing gets restarted), then SIGTERM to every daemon of every
//! instance at the same time (a graceful stop takes 1.5-2 s per daemon), then
//! SIGKILL to whatever is left after the deadline. Every pid is checked
//! against `/proc/PID/cmdline` (program and run directory) before it is
//! signalled, so a stale pid file never hits an unrelated process. The run
//! directory's runtime files are removed, and the directory too when empty.
//!
//! Lifecycle calls are blocking (they spawn with `std::process` and poll with
//! short sleeps, so that they also work in `Drop` guards); from async code
//! call them in `spawn_blocking`. [`Instance`] is cheap to clone.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::FrrVersion;
pub use crate::daemons::{DEFAULT_DAEMONS, MGMTD, needed_daemons};
use crate::daemons::{STARTED_ALONE, takes_config_file};
use crate::layout::{find_in_path, is_executable};
#[cfg(feature = "testing")]
use crate::reload::FrrReload;
use crate::vtysh::Vtysh;

mod launch;
mod procs;

use procs::{booting, lookup_ids, process_matches, process_start_ticks, read_pid, signal_and_wait};

pub use crate::layout::{FRR_CONFIG_DIR, FRR_RUN_DIR, FRR_SBIN_DIR};

const CTL_SCRIPT: &str = "frr-ctl.sh";
const BOOTED_MARKER: &str = "frr-ctl.booted";
/// Present while the control script loads `frr.conf` into restarted daemons.
const BOOTING_MARKER: &str = "frr-ctl.booting";
const POLL: Duration = Duration::from_millis(20);

/// The network namespace an instance runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsRef {
    /// The namespace of the calling process.
    Current,
    /// A named namespace, `/run/netns/NAME` (as made by `ip netns add`).
    Name(String),
    /// Any namespace file, e.g. `/proc/PID/ns/net`.
    Path(PathBuf),
}

impl NetnsRef {
    /// The namespace file to enter, if any.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            NetnsRef::Current => None,
            NetnsRef::Name(name) => Some(Path::new("/run/netns").join(name)),
            NetnsRef::Path(path) => Some(path.clone()),
        }
    }
}

/// Everything that defines an FRR instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// A name for messages; also watchfrr's `-N` (Debian pathspace).
    pub name: String,
    /// Where the daemons run.
    pub netns: NetnsRef,
    /// Pid files, vty sockets, zebra's API socket, logs, the control script.
    pub run_dir: PathBuf,
    /// `vtysh.conf` and `frr.conf` (the applied configuration).
    pub config_dir: PathBuf,
    /// Pass `-N NAME` to the daemons too (Debian's pathspace layout, so
    /// that `vtysh -N NAME` and `frrinit.sh … NAME` find the instance).
    pub pathspace: Option<String>,
    /// The daemons ([`needed_daemons`] by default); they are started
    /// mgmtd first, then zebra, then the others. watchfrr is always added.
    pub daemons: Vec<String>,
    /// Run in a fresh UTS namespace with this hostname (FRR 8.4 prints the
    /// hostname of its UTS namespace in `show running-config`). vtysh and
    /// frr-reload.py are then run in that namespace too ([`Instance::vtysh`]).
    pub hostname: Option<String>,
    /// Where the daemons and watchfrr are (`/usr/lib/frr`).
    pub sbin_dir: PathBuf,
    /// The release installed in `sbin_dir` (its daemons' options differ
    /// between lines); [`FrrVersion::DEFAULT`] when it cannot be read.
    pub version: FrrVersion,
    /// The vtysh binary (`/usr/bin/vtysh`).
    pub vtysh_program: PathBuf,
    /// The user and group FRR drops privileges to; they own the run dir.
    pub user: String,
    pub group: String,
    /// Extra options per daemon (e.g. zebra's `-s 90000000` netlink buffer).
    pub daemon_args: BTreeMap<String, Vec<String>>,
    /// How long [`Instance::start`] waits for every daemon to answer.
    pub start_timeout: Duration,
    /// How long [`stop_all`] waits for a graceful exit before SIGKILL.
    pub stop_timeout: Duration,
    /// Keep the daemons' log files when stopping (otherwise the run
    /// directory is removed entirely when it only holds our files).
    pub keep_logs: bool,
}

impl InstanceSpec {
    /// An instance with private directories: runtime files in `run_dir`,
    /// configuration in `config_dir` (they may be the same directory).
    pub fn private(
        name: impl Into<String>,
        netns: NetnsRef,
        run_dir: impl Into<PathBuf>,
        config_dir: impl Into<PathBuf>,
    ) -> Self {
        let mut daemon_args = BTreeMap::new();
        daemon_args.insert("zebra".to_string(), vec!["-s".to_string(), "90000000".to_string()]);
        InstanceSpec {
            name: name.into(),
            netns,
            run_dir: run_dir.into(),
            config_dir: config_dir.into(),
            pathspace: None,
            daemons: needed_daemons(Path::new(FRR_SBIN_DIR)),
            hostname: None,
            sbin_dir: PathBuf::from(FRR_SBIN_DIR),
            version: FrrVersion::installed(Path::new(FRR_SBIN_DIR)).unwrap_or_default(),
            vtysh_program: PathBuf::from("/usr/bin/vtysh"),
            user: "frr".to_string(),
            group: "frr".to_string(),
            daemon_args,
            start_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(10),
            keep_logs: false,
        }
    }

    /// Debian's pathspace layout for instance `name`: `/var/run/frr/NAME`
    /// and `/etc/frr/NAME`, daemons started with `-N NAME`.
    pub fn pathspace(name: impl Into<String>, netns: NetnsRef) -> Self {
        let name = name.into();
        let mut spec = InstanceSpec::private(
            name.clone(),
            netns,
            Path::new(FRR_RUN_DIR).join(&name),
            Path::new(FRR_CONFIG_DIR).join(&name),
        );
        spec.pathspace = Some(name);
        spec
    }

    /// The `-N` the daemons get: the Debian pathspace, or, when mgmtd runs,
    /// the instance name. FRR 10.3 puts mgmtd's sockets (`mgmtd_fe.sock`,
    /// `mgmtd_be.sock`) in its run-state directory, `/var/run/frr[/NAME]`,
    /// which only `-N` changes (`--vty_socket` does not): without a
    /// pathspace of their own, every instance's back ends would meet in
    /// `/var/run/frr`.
    fn daemon_pathspace(&self) -> Option<String> {
        match &self.pathspace {
            Some(ns) => Some(ns.clone()),
            None if self.daemons.iter().any(|d| d == MGMTD) => Some(self.name.clone()),
            None => None,
        }
    }

    /// The run-state directory the daemons use for what `--vty_socket`
    /// does not move (mgmtd's sockets): `/var/run/frr/NAME`, when the daemons
    /// get `-N NAME` and that is not the run directory already.
    fn state_dir(&self) -> Option<PathBuf> {
        let dir = Path::new(FRR_RUN_DIR).join(self.daemon_pathspace()?);
        (dir != self.run_dir).then_some(dir)
    }

    /// The daemons watched by watchfrr in start order: mgmtd (when listed),
    /// zebra, then the others as listed.
    fn ordered_daemons(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for first in STARTED_ALONE {
            out.extend(self.daemons.iter().filter(|d| d == first).cloned());
        }
        out.extend(self.daemons.iter().filter(|d| !STARTED_ALONE.contains(&d.as_str()) && *d != "watchfrr").cloned());
        out.dedup();
        out
    }
}

/// Why an instance could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// A file or directory operation failed.
    #[error("FRR instance {instance}: {what} {}: {source}", path.display())]
    Io {
        instance: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The spec cannot work (missing binary, bad path, unknown user…).
    #[error("FRR instance {instance}: {reason}")]
    Invalid { instance: String, reason: String },
    /// watchfrr (or a daemon) of this instance is already running.
    #[error("FRR instance {instance} is already running (pid {pid}); stop it first")]
    AlreadyRunning { instance: String, pid: u32 },
    /// The daemons did not come up; whatever started was stopped again.
    #[error("FRR instance {instance} did not start: {reason}\n{logs}")]
    StartFailed { instance: String, reason: String, logs: String },
    /// Some processes survived SIGKILL.
    #[error("FRR instance {instance}: processes {pids:?} survived SIGKILL")]
    StopFailed { instance: String, pids: Vec<u32> },
}

/// The state of one daemon, from its pid file and `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    /// The pid file names a live process of this daemon and instance.
    Running { pid: u32 },
    /// No pid file.
    Stopped,
    /// The pid file names a process that is gone (or is something else).
    Stale { pid: u32 },
}

/// [`Instance::status`]: watchfrr and every daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// `(name, state)`, watchfrr first.
    pub daemons: Vec<(String, DaemonState)>,
}

impl InstanceStatus {
    /// Every daemon (watchfrr included) is running.
    pub fn all_running(&self) -> bool {
        self.daemons.iter().all(|(_, s)| matches!(s, DaemonState::Running { .. }))
    }

    /// No daemon is running.
    pub fn all_stopped(&self) -> bool {
        !self.daemons.iter().any(|(_, s)| matches!(s, DaemonState::Running { .. }))
    }

    /// The state of one daemon.
    pub fn state(&self, daemon: &str) -> Option<DaemonState> {
        self.daemons.iter().find(|(d, _)| d == daemon).map(|(_, s)| *s)
    }
}

/// Identity of one process incarnation: a restarted daemon gets a new
/// pid file (new inode) and a new process (new pid or start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incarnation {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    /// Inode of the pid file.
    pub pid_file_inode: u64,
}

/// Which process incarnation runs each daemon; compare two generations to
/// detect a restart ([`Generation::restarted_since`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Generation {
    /// Daemon name → incarnation (`None`: not running).
    pub daemons: BTreeMap<String, Option<Incarnation>>,
}

impl Generation {
    /// The daemons whose incarnation differs from `earlier` (restarted,
    /// stopped or started).
    pub fn restarted_since(&self, earlier: &Generation) -> Vec<String> {
        let mut names: Vec<&String> = self.daemons.keys().chain(earlier.daemons.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.daemons.get(*n).copied().flatten() != earlier.daemons.get(*n).copied().flatten())
            .cloned()
            .collect()
    }

    /// Every daemon has a live process.
    pub fn complete(&self) -> bool {
        self.daemons.values().all(Option::is_some)
    }
}

/// One FRR instance (see the module documentation). The state lives on
/// disk (pid files), so clones and other processes see the same instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    spec: InstanceSpec,
}

impl Instance {
    pub fn new(spec: InstanceSpec) -> Self {
        Instance { spec }
    }

    pub fn spec(&self) -> &InstanceSpec {
        &self.spec
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// `frr.conf` in the config directory: what `vtysh -b` loads at start
    /// and what the applier writes.
    pub fn config_path(&self) -> PathBuf {
        self.spec.config_dir.join("frr.conf")
    }

    fn pid_file(&self, daemon: &str) -> PathBuf {
        self.spec.run_dir.join(format!("{daemon}.pid"))
    }

    /// watchfrr then the daemons.
    fn all_daemons(&self) -> Vec<String> {
        let mut all = vec!["watchfrr".to_string()];
        all.extend(self.spec.ordered_daemons());
        all
    }

    /// vtysh for this instance (inside its UTS namespace when it has its
    /// own hostname, so that the hostname vtysh prints is the daemons').
    pub fn vtysh(&self) -> Vtysh {
        Vtysh {
            program: self.spec.vtysh_program.clone(),
            vty_socket: Some(self.spec.run_dir.clone()),
            config_dir: Some(self.spec.config_dir.clone()),
            pathspace: None,
            wrapper: self.uts_wrapper(),
            ..Vtysh::default()
        }
    }

    /// An frr-reload.py driver for this instance (the tests' oracle).
    #[cfg(feature = "testing")]
    pub fn frr_reload(&self) -> FrrReload {
        let mut reload = FrrReload::for_dirs(&self.spec.run_dir, &self.spec.config_dir);
        reload.wrapper = self.uts_wrapper();
        if let Some(bindir) = self.spec.vtysh_program.parent() {
            reload.bindir = bindir.to_path_buf();
        }
        reload
    }

    /// `nsenter --uts=/proc/PID/ns/uts --` for instances with their own
    /// hostname (PID: any live process of the instance).
    fn uts_wrapper(&self) -> Vec<OsString> {
        if self.spec.hostname.is_none() {
            return Vec::new();
        }
        let live = self.all_daemons().iter().find_map(|d| match self.daemon_state(d) {
            DaemonState::Running { pid } => Some(pid),
            _ => None,
        });
        match live {
            Some(pid) => vec!["nsenter".into(), format!("--uts=/proc/{pid}/ns/uts").into(), "--".into()],
            None => Vec::new(),
        }
    }

    /// The state of every daemon, watchfrr first.
    pub fn status(&self) -> InstanceStatus {
        InstanceStatus { daemons: self.all_daemons().into_iter().map(|d| (d.clone(), self.daemon_state(&d))).collect() }
    }

    fn daemon_state(&self, daemon: &str) -> DaemonState {
        match self.incarnation(daemon) {
            Some(inc) => DaemonState::Running { pid: inc.pid },
            None => match read_pid(&self.pid_file(daemon)) {
                Some(pid) => DaemonState::Stale { pid },
                None => DaemonState::Stopped,
            },
        }
    }

    /// The live process behind a daemon's pid file, checked against
    /// `/proc/PID/cmdline`.
    fn incarnation(&self, daemon: &str) -> Option<Incarnation> {
        let pid_file = self.pid_file(daemon);
        let inode = std::fs::metadata(&pid_file).ok()?.ino();
        let pid = read_pid(&pid_file)?;
        if !process_matches(pid, daemon, &self.spec.run_dir) {
            return None;
        }
        Some(Incarnation { pid, start_ticks: process_start_ticks(pid)?, pid_file_inode: inode })
    }

    /// Whether the control script is loading `frr.conf` into restarted daemons (their
    /// configuration is incomplete until it is done). The marker holds the script's pid: one
    /// whose script is gone is stale (watchfrr kills a restart command that overruns its
    /// timeout, before the script can remove it), and waiting on it would wait forever.
    pub fn booting(&self) -> bool {
        booting(&self.spec.run_dir.join(BOOTING_MARKER))
    }

    /// Which incarnation runs each daemon (watchfrr excluded: it is not
    /// restarted and a restart of it changes nothing in FRR's state).
    pub fn generation(&self) -> Generation {
        Generation {
            daemons: self.spec.ordered_daemons().into_iter().map(|d| (d.clone(), self.incarnation(&d))).collect(),
        }
    }

    /// A watcher that reports restarts of this instance's daemons.
    pub fn watch_restarts(&self, poll: Duration) -> RestartWatcher {
        RestartWatcher { instance: self.clone(), last: self.generation(), poll }
    }

    /// Starts the instance; see [`start_all`].
    pub fn start(&self) -> Result<Generation, InstanceError> {
        start_all(&[self]).pop().unwrap_or_else(|| Err(self.invalid("start_all returned no result")))
    }

    /// Stops the instance; see [`stop_all`].
    pub fn stop(&self) -> Result<(), InstanceError> {
        stop_all(&[self]).pop().unwrap_or(Ok(()))
    }

    /// The last lines of the instance's logs (watchfrr, control script,
    /// daemons), for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        let mut names = vec!["frr-ctl".to_string()];
        names.extend(self.all_daemons());
        for name in names {
            let path = self.spec.run_dir.join(format!("{name}.log"));
            if let Ok(text) = std::fs::read_to_string(&path) {
                let all: Vec<&str> = text.lines().collect();
                let _ = writeln!(out, "--- {}", path.display());
                for line in &all[all.len().saturating_sub(lines)..] {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }

    fn invalid(&self, reason: impl Into<String>) -> InstanceError {
        InstanceError::Invalid { instance: self.spec.name.clone(), reason: reason.into() }
    }

    fn io(&self, what: &'static str, path: &Path, source: io::Error) -> InstanceError {
        InstanceError::Io { instance: self.spec.name.clone(), what, path: path.to_path_buf(), source }
    }

    /// Removes the runtime files of a stopped instance, and the run
    /// directory when nothing else is left in it.
    fn clean_run_dir(&self) {
        let run = &self.spec.run_dir;
        let mut names = vec![
            CTL_SCRIPT.to_string(),
            BOOTED_MARKER.to_string(),
            BOOTING_MARKER.to_string(),
            "zserv.api".to_string(),
            "bfdd.sock".to_string(),
            // FRR 10.3's mgmtd (in the run directory of pathspace instances).
            "mgmtd_fe.sock".to_string(),
            "mgmtd_be.sock".to_string(),
            "watchfrr.started".to_string(),
            // The control script's lock and its `restart all` marker.
            "frr-ctl.exit.lock".to_string(),
            "frr-ctl.starting".to_string(),
        ];
        for daemon in self.all_daemons() {
            names.push(format!("{daemon}.pid"));
            names.push(format!("{daemon}.vty"));
            if !self.spec.keep_logs {
                names.push(format!("{daemon}.log"));
            }
        }
        if !self.spec.keep_logs {
            names.push("frr-ctl.log".to_string());
        }
        for name in names {
            let _ = std::fs::remove_file(run.join(name));
        }
        // frr-reload.py leaves nothing (it removes its reload-*.txt files);
        // a crashed one may: those are ours too.
        if let Ok(entries) = std::fs::read_dir(run) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("reload-") && name.ends_with(".txt") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        if run != &self.spec.config_dir {
            let _ = std::fs::remove_dir(run);
        }
        if let Some(state) = self.spec.state_dir() {
            for name in ["mgmtd_fe.sock", "mgmtd_be.sock", "bfdd.sock", "watchfrr.started"] {
                let _ = std::fs::remove_file(state.join(name));
            }
            let _ = std::fs::remove_dir(state);
        }
    }
}

/// Polls an instance's pid files and reports daemon restarts, so that an
/// agent can re-apply its configuration (a daemon restarted by watchfrr
/// reloads `frr.conf`, but the agent may want to check or re-apply).
#[derive(Debug)]
pub struct RestartWatcher {
    instance: Instance,
    last: Generation,
    poll: Duration,
}

/// A restart seen by [`RestartWatcher::changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// The daemons whose process changed.
    pub daemons: Vec<String>,
    /// The new generation (some daemons may still be down).
    pub generation: Generation,
}

impl RestartWatcher {
    /// The generation last reported (or seen at creation).
    pub fn current(&self) -> &Generation {
        &self.last
    }

    /// Waits until some daemon's incarnation differs from the last one
    /// reported. Daemons that went away are reported too (as the new
    /// generation's `None`).
    pub async fn changed(&mut self) -> Restart {
        loop {
            tokio::time::sleep(self.poll).await;
            let now = self.instance.generation();
            let daemons = now.restarted_since(&self.last);
            if !daemons.is_empty() {
                self.last = now.clone();
                return Restart { daemons, generation: now };
            }
        }
    }
}

/// Starts several instances in parallel: every watchfrr is launched, then
/// each is waited for (see the module documentation). An instance that does
/// not come up within its `start_timeout` is stopped again and reported with
/// its logs. Results are in the order of `instances`.
pub fn start_all(instances: &[&Instance]) -> Vec<Result<Generation, InstanceError>> {
    let mut launched = Vec::new();
    for inst in instances {
        let child = inst.prepare().and_then(|argv| {
            let (program, args) = argv.split_first().ok_or_else(|| inst.invalid("empty watchfrr command line"))?;
            Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| inst.invalid(format!("cannot run {}: {e}", program.to_string_lossy())))
        });
        launched.push((inst, child, Instant::now()));
    }
    let mut results = Vec::new();
    for (inst, child, started) in launched {
        let result = match child {
            // Not launched (e.g. already running): nothing to clean up.
            Err(e) => Err(e),
            Ok(child) => {
                let result = wait_started(inst, child, started);
                if result.is_err() {
                    // Leave nothing half-started behind.
                    let _ = inst.stop();
                }
                result
            }
        };
        results.push(result);
    }
    results
}

fn wait_started(
    inst: &Instance,
    mut child: std::process::Child,
    started: Instant,
) -> Result<Generation, InstanceError> {
    let deadline = started + inst.spec.start_timeout;
    let fail = |reason: String| InstanceError::StartFailed {
        instance: inst.spec.name.clone(),
        reason,
        logs: inst.log_tail(15),
    };
    // watchfrr -d returns once every daemon answers on its vty socket.
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return Err(fail(format!("watchfrr exited with {status}: {}", stderr.trim())));
            }
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("not every daemon answered within {:?}", inst.spec.start_timeout)));
            }
            Ok(None) => sleep(POLL),
            Err(e) => return Err(fail(format!("cannot wait for watchfrr: {e}"))),
        }
    }
    // Then the control script loads frr.conf (vtysh -b) and says so.
    let marker = inst.spec.run_dir.join(BOOTED_MARKER);
    while !marker.exists() {
        if Instant::now() > deadline {
            return Err(fail("the start script did not finish loading frr.conf".to_string()));
        }
        sleep(POLL);
    }
    let generation = inst.generation();
    let status = inst.status();
    if !status.all_running() || !generation.complete() {
        return Err(fail(format!("not every daemon is running: {:?}", status.daemons)));
    }
    tracing::info!(instance = %inst.spec.name, elapsed = ?started.elapsed(), "FRR instance started");
    Ok(generation)
}

/// Stops several instances at once (see the module documentation). Results
/// are in the order of `instances`; stopping an instance that is not
/// running is not an error (its leftovers are cleaned).
pub fn stop_all(instances: &[&Instance]) -> Vec<Result<(), InstanceError>> {
    // Phase 1: watchfrr, so that it restarts nothing.
    let watchfrrs: Vec<(usize, u32)> = instances
        .iter()
        .enumerate()
        .filter_map(|(i, inst)| inst.incarnation("watchfrr").map(|inc| (i, inc.pid)))
        .collect();
    signal_and_wait(&watchfrrs, Duration::from_secs(5));
    // Phase 2: every daemon of every instance at once, found by pid file
    // and by scanning /proc (a daemon stuck before writing its pid file, the
    // control script), always matched on the instance's run directory.
    let mut daemons: Vec<(usize, u32)> = instances
        .iter()
        .enumerate()
        .flat_map(|(i, inst)| {
            inst.spec.ordered_daemons().into_iter().filter_map(move |d| inst.incarnation(&d).map(|inc| (i, inc.pid)))
        })
        .collect();
    for (i, inst) in instances.iter().enumerate() {
        for pid in inst.stray_processes() {
            if !daemons.contains(&(i, pid)) {
                daemons.push((i, pid));
            }
        }
    }
    let timeout = instances.iter().map(|i| i.spec.stop_timeout).max().unwrap_or(Duration::from_secs(10));
    let survivors = signal_and_wait(&daemons, timeout);
    instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let left: Vec<u32> = survivors.iter().filter(|(j, _)| *j == i).map(|(_, pid)| *pid).collect();
            if left.is_empty() {
                inst.clean_run_dir();
                tracing::info!(instance = %inst.spec.name, "FRR instance stopped");
                Ok(())
            } else {
                Err(InstanceError::StopFailed { instance: inst.spec.name.clone(), pids: left })
            }
        })
        .collect()
}

/// Why an instance with this spec cannot run on this machine, if it cannot:
/// not root, or a binary is missing.
pub fn missing_prerequisite(spec: &InstanceSpec) -> Option<String> {
    if !kernel::procs::is_root() {
        return Some("not running as root (FRR daemons and namespaces need it)".to_string());
    }
    let mut needed: Vec<PathBuf> = spec.ordered_daemons().iter().map(|d| spec.sbin_dir.join(d)).collect();
    needed.push(spec.sbin_dir.join("watchfrr"));
    needed.push(spec.vtysh_program.clone());
    for path in needed {
        if !is_executable(&path) {
            return Some(format!("{} is missing (apt-get install frr)", path.display()));
        }
    }
    // flock: the control script spaces the ends of watchfrr's jobs with it.
    let mut tools = vec!["sh", "flock"];
    if spec.netns.path().is_some() || spec.hostname.is_some() {
        tools.push("nsenter");
    }
    if spec.hostname.is_some() {
        tools.push("unshare");
        tools.push("hostname");
    }
    for tool in tools {
        if find_in_path(tool).is_none() {
            return Some(format!("{tool} not found in PATH"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An FRR 8.4 instance (no mgmtd), whatever FRR this machine has.
    pub(super) fn spec() -> InstanceSpec {
        let mut spec = InstanceSpec::private("t1", NetnsRef::Name("ns1".into()), "/run/t1", "/etc/t1");
        spec.daemons = DEFAULT_DAEMONS.iter().map(|d| d.to_string()).collect();
        spec.version = FrrVersion::FRR_8_4;
        spec
    }

    #[test]
    fn frr_10_daemons_get_no_options_they_refuse() {
        let mut spec = spec();
        spec.version = FrrVersion::FRR_10_3;
        spec.daemons = needed_daemons(Path::new("/nonexistent"));
        spec.daemons.insert(0, MGMTD.to_string());
        let script = Instance::new(spec).control_script();
        let line = |d: &str| script.lines().find(|l| l.starts_with(&format!("  {d})"))).unwrap().to_string();
        assert!(!line("staticd").contains(" -f "), "{script}");
        assert!(!line("mgmtd").contains(" -f "), "{script}");
        assert!(line("bgpd").contains(" -f /dev/null"), "{script}");
        assert!(!line("bfdd").contains("--bfdctl"), "{script}");
        let old = Instance::new(super::tests::spec()).control_script();
        assert!(old.contains("  staticd) /usr/lib/frr/staticd -d -i /run/t1/staticd.pid"), "{old}");
        assert!(old.lines().any(|l| l.starts_with("  staticd)") && l.contains(" -f /dev/null")), "{old}");
    }

    #[test]
    fn pathspace_layout_matches_debian() {
        let spec = InstanceSpec::pathspace("perouter", NetnsRef::Name("perouter".into()));
        assert_eq!(spec.run_dir, Path::new("/var/run/frr/perouter"));
        assert_eq!(spec.config_dir, Path::new("/etc/frr/perouter"));
        let script = Instance::new(spec).control_script();
        assert!(script.contains("/usr/lib/frr/bgpd -d -N perouter -i /var/run/frr/perouter/bgpd.pid"), "{script}");
    }

    #[test]
    fn generations_report_changed_daemons() {
        let inc = |pid| Some(Incarnation { pid, start_ticks: 1, pid_file_inode: 2 });
        let a = Generation { daemons: [("zebra".to_string(), inc(1)), ("bgpd".to_string(), inc(2))].into() };
        let mut b = a.clone();
        assert!(b.restarted_since(&a).is_empty());
        b.daemons.insert("bgpd".to_string(), inc(3));
        assert_eq!(b.restarted_since(&a), ["bgpd"]);
        b.daemons.insert("zebra".to_string(), None);
        assert_eq!(b.restarted_since(&a), ["bgpd", "zebra"]);
        assert!(!b.complete());
    }

    #[test]
    fn unknown_pid_is_not_a_daemon() {
        assert!(!process_matches(u32::MAX, "zebra", Path::new("/run/x")));
        // This test process is not zebra.
        assert!(!process_matches(std::process::id(), "zebra", Path::new("/")));
    }
}
