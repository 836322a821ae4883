//! [`Applier`]: brings a running FRR to a target configuration, incrementally and verified,
//! over one session on the daemons' vty sockets ([`crate::vty`]): no process is started.
//!
//! One apply:
//!
//! 1. **Nothing to do, nothing spawned.** The applier remembers the target it last brought FRR
//!    to and what FRR then ran. When the new target is the same, FRR has not restarted (its pid
//!    files and vty sockets are unchanged: [`Identity`]) and the last read of the running
//!    configuration is younger than [`ApplyOptions::drift_check`], the apply ends there.
//!    Otherwise one `show running-config` tells where FRR is (so drift is found at least once
//!    per `drift_check`).
//! 2. **The change** from the running configuration to the target ([`crate::delta::diff`]),
//!    sent command by command over the vty session, each to the daemons that know it.
//! 3. **Verified.** `show running-config` must now equal the target. If it does not, the change
//!    left is sent once more; if something is still missing or extra, the apply fails with
//!    those exact lines and FRR's messages for them, and the configuration that ran before the
//!    apply is put back.
//! 4. **Saved.** The target is written to the configuration file (mode 0600), so that FRR
//!    started again loads it.
//!
//! A [`Config`] whose `raw` snippets FRR rejects is applied without them
//! ([`ApplyReport::rejected_snippets`] says which and why); a rejected snippet is remembered
//! and left out of later applies without trying it again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::apply_report::{ApplyError, ApplyReport, FailedLine, RejectedSnippet, Rollback};
use crate::delta::{self, Change, DeltaLine};
use crate::instance::Instance;
use crate::vty::{self, Session};
use crate::vtysh::Vtysh;
use crate::{Config, FrrVersion};

/// Behaviour of [`Applier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// When the config has no hostname, use the one FRR prints (FRR prints its UTS namespace's
    /// hostname; a target without it would never equal the running configuration).
    pub fill_hostname: bool,
    /// After a failed apply, put back the configuration that ran before.
    pub rollback: bool,
    /// How long what the applier remembers of FRR is trusted: an apply of an unchanged target
    /// within this time spawns nothing; after it, one `show running-config` looks for drift.
    pub drift_check: Duration,
    /// Deadline of one exchange with a daemon (one command, or reading its configuration).
    pub timeout: Duration,
}

impl Default for ApplyOptions {
    /// Hostname filled in, rollback on failure, a drift check at most every 60 s.
    fn default() -> Self {
        ApplyOptions {
            fill_hostname: true,
            rollback: true,
            drift_check: Duration::from_secs(60),
            timeout: DEFAULT_APPLY_TIMEOUT,
        }
    }
}

/// Default deadline of one exchange of the applier with a daemon.
pub const DEFAULT_APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// How FRR is reached.
#[derive(Debug, Clone)]
enum Target {
    Fixed(Vtysh),
    Instance(Box<Instance>),
}

/// The daemons' pid files and vty sockets (name, inode, modification time): they change when
/// a daemon restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(Vec<(String, u64, i64, i64)>);

impl Identity {
    /// Reads the identity of the FRR whose sockets are in `run_dir`; `None` when the directory
    /// cannot be read or holds nothing of FRR.
    pub fn read(run_dir: &Path) -> Option<Identity> {
        use std::os::unix::fs::MetadataExt as _;
        let mut items = Vec::new();
        for entry in std::fs::read_dir(run_dir).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".pid") || name.ends_with(".vty")) {
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                items.push((name, meta.ino(), meta.mtime(), meta.mtime_nsec()));
            }
        }
        items.sort();
        (!items.is_empty()).then_some(Identity(items))
    }
}

/// What the applier remembers of its last successful apply.
#[derive(Debug, Clone)]
struct Memory {
    target: String,
    /// What FRR ran right after (normalised): the starting point of the next change while
    /// the memory is trusted.
    running: String,
    identity: Identity,
    read_at: Instant,
    hostname: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    memory: Option<Memory>,
    /// Snippet texts FRR refused, with the refusal.
    rejected: BTreeMap<String, (String, String)>,
}

/// Applies configurations to one FRR, one at a time.
#[derive(Debug)]
pub struct Applier {
    target: Target,
    /// Where FRR's pid files are, when not next to its vty sockets.
    run_dir: Option<PathBuf>,
    config_path: PathBuf,
    options: ApplyOptions,
    state: tokio::sync::Mutex<State>,
    version: tokio::sync::OnceCell<FrrVersion>,
}

impl Applier {
    /// An applier for the FRR `vtysh` reaches; `config_path` is the file FRR loads at start.
    pub fn new(vtysh: Vtysh, config_path: impl Into<PathBuf>) -> Self {
        Self::with_target(Target::Fixed(vtysh), config_path.into())
    }

    /// An applier for an [`Instance`] (its `frr.conf`).
    pub fn for_instance(instance: &Instance) -> Self {
        Self::with_target(Target::Instance(Box::new(instance.clone())), instance.config_path())
    }

    fn with_target(target: Target, config_path: PathBuf) -> Self {
        Applier {
            target,
            run_dir: None,
            config_path,
            options: ApplyOptions::default(),
            state: tokio::sync::Mutex::new(State::default()),
            version: tokio::sync::OnceCell::new(),
        }
    }

    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// FRR's run directory (its pid files), when it is not the vty socket directory.
    pub fn with_run_dir(mut self, dir: PathBuf) -> Self {
        self.run_dir = Some(dir);
        self
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn options(&self) -> ApplyOptions {
        self.options
    }

    /// Where the FRR's pid files and vty sockets are.
    fn run_dir(&self) -> PathBuf {
        match &self.run_dir {
            Some(dir) => dir.clone(),
            None => self.vty_dir(),
        }
    }

    /// Where the daemons' vty sockets are.
    fn vty_dir(&self) -> PathBuf {
        match &self.target {
            Target::Instance(i) => i.spec().run_dir.clone(),
            Target::Fixed(v) => {
                let base = v.vty_socket.clone().unwrap_or_else(|| PathBuf::from(crate::layout::FRR_RUN_DIR));
                match (&v.vty_socket, &v.pathspace) {
                    (None, Some(name)) => base.join(name),
                    _ => base,
                }
            }
        }
    }

    /// A session on the daemons' vty sockets.
    async fn session(&self) -> Result<Session, ApplyError> {
        Ok(Session::open(&self.vty_dir(), self.options.timeout).await?)
    }

    /// The FRR version (asked once).
    pub async fn frr_version(&self) -> Result<FrrVersion, ApplyError> {
        let version = self
            .version
            .get_or_try_init(|| async {
                let reply = self.session().await?.ask("show version").await?;
                FrrVersion::from_output(&reply.output).ok_or_else(|| {
                    ApplyError::Vty(vty::VtyError::Refused {
                        daemon: "FRR".into(),
                        command: "show version".into(),
                        output: format!("no FRR version in: {}", reply.output.trim()),
                    })
                })
            })
            .await?;
        Ok(*version)
    }

    /// Skips asking FRR for its version.
    pub fn with_frr_version(self, version: FrrVersion) -> Self {
        let _ = self.version.set(version);
        self
    }

    /// The hostname FRR prints in its running configuration.
    pub async fn running_hostname(&self) -> Result<Option<String>, ApplyError> {
        let running = self.session().await?.running_config().await?;
        Ok(crate::vtysh::hostnames_in(&running).into_iter().next())
    }

    /// The text `config` renders to for this FRR, with the hostname FRR prints when the config
    /// has none (and [`ApplyOptions::fill_hostname`] is on).
    pub async fn render(&self, config: &Config) -> Result<String, ApplyError> {
        let hostname = if config.hostname.is_none() && self.options.fill_hostname {
            let remembered = self.state.lock().await.memory.as_ref().and_then(|m| m.hostname.clone());
            match remembered {
                Some(h) => Some(h),
                None => self.running_hostname().await?,
            }
        } else {
            None
        };
        self.render_with(config, hostname).await
    }

    async fn render_with(&self, config: &Config, hostname: Option<String>) -> Result<String, ApplyError> {
        let version = self.frr_version().await?;
        if config.hostname.is_none() && self.options.fill_hostname && hostname.is_some() {
            let mut config = config.clone();
            config.hostname = hostname;
            Ok(config.render_for(version))
        } else {
            Ok(config.render_for(version))
        }
    }

    /// The running configuration of all the daemons, normalised.
    async fn read_running(&self, session: &mut Session) -> Result<String, ApplyError> {
        Ok(session.running_config().await?)
    }

    /// The change from the running configuration to `config` (reads FRR, changes nothing).
    pub async fn delta(&self, config: &Config) -> Result<delta::Delta, ApplyError> {
        let text = self.render(config).await?;
        self.delta_of_text(&text).await
    }

    /// The change from the running configuration to `text` (reads FRR, changes nothing).
    pub async fn delta_of_text(&self, text: &str) -> Result<delta::Delta, ApplyError> {
        let running = self.read_running(&mut self.session().await?).await?;
        Ok(delta::diff(&settle_hostnames(&running, text), text).delta)
    }

    /// Applies `config`, leaving out (and reporting) the `raw` snippets FRR refuses.
    pub async fn apply(&self, config: &Config) -> Result<ApplyReport, ApplyError> {
        let waiting = Instant::now();
        let mut state = self.state.lock().await;
        let queued = waiting.elapsed();
        // Snippets refused before stay out without being tried again.
        let mut rejected: Vec<RejectedSnippet> = Vec::new();
        let mut config = config.clone();
        let mut kept_index: Vec<usize> = Vec::new();
        let raw = std::mem::take(&mut config.raw);
        for (index, text) in raw.into_iter().enumerate() {
            match state.rejected.get(&text) {
                Some((line, message)) => {
                    rejected.push(RejectedSnippet { index, line: line.clone(), message: message.clone() })
                }
                None => {
                    kept_index.push(index);
                    config.raw.push(text);
                }
            }
        }
        let first = self.converge(&mut state, &config, queued).await;
        let mut report = match first {
            Err(ApplyError::NotApplied { lines, rollback }) if !config.raw.is_empty() => {
                let refused = self.snippets_holding(&config, &lines).await?;
                if refused.is_empty() {
                    return Err(ApplyError::NotApplied { lines, rollback });
                }
                let mut without = config.clone();
                without.raw.clear();
                for (pos, text) in config.raw.iter().enumerate() {
                    match refused.get(&pos) {
                        Some((line, message)) => {
                            tracing::warn!(snippet = kept_index[pos], %line, %message, "FRR refused a raw snippet: applying without it");
                            state.rejected.insert(text.clone(), (line.clone(), message.clone()));
                            rejected.push(RejectedSnippet {
                                index: kept_index[pos],
                                line: line.clone(),
                                message: message.clone(),
                            });
                        }
                        None => without.raw.push(text.clone()),
                    }
                }
                self.converge(&mut state, &without, queued).await?
            }
            other => other?,
        };
        rejected.sort_by_key(|r| r.index);
        report.rejected_snippets = rejected;
        Ok(report)
    }

    /// For each snippet of `config` that holds one of the failed lines not in the rest of the
    /// configuration: that line and FRR's message.
    async fn snippets_holding(
        &self,
        config: &Config,
        lines: &[FailedLine],
    ) -> Result<BTreeMap<usize, (String, String)>, ApplyError> {
        let mut base = config.clone();
        base.raw.clear();
        let base_text = base.render_for(self.frr_version().await?);
        let base_lines: std::collections::BTreeSet<&str> = base_text.lines().map(str::trim).collect();
        let mut found = BTreeMap::new();
        for failed in lines {
            if base_lines.contains(failed.bare.as_str()) {
                continue;
            }
            for (pos, snippet) in config.raw.iter().enumerate() {
                if snippet.lines().any(|l| l.trim() == failed.bare) {
                    let message = failed.message.clone().unwrap_or_else(|| "FRR did not keep this line".to_string());
                    found.entry(pos).or_insert((failed.line.clone(), message));
                }
            }
        }
        Ok(found)
    }

    /// Applies a configuration text as it is (no hostname filling).
    pub async fn apply_text(&self, text: &str) -> Result<ApplyReport, ApplyError> {
        let waiting = Instant::now();
        let mut state = self.state.lock().await;
        let queued = waiting.elapsed();
        self.converge_text(&mut state, text.to_string(), None, queued).await
    }

    /// Applies the configuration file (what the reloader sidecar does: the controller wrote it).
    pub async fn apply_file(&self) -> Result<ApplyReport, ApplyError> {
        let text = std::fs::read_to_string(&self.config_path).map_err(|source| ApplyError::Io {
            what: "cannot read",
            path: self.config_path.clone(),
            source,
        })?;
        let waiting = Instant::now();
        let mut state = self.state.lock().await;
        let queued = waiting.elapsed();
        self.converge_text(&mut state, text, None, queued).await
    }

    async fn converge(&self, state: &mut State, config: &Config, queued: Duration) -> Result<ApplyReport, ApplyError> {
        let fill = config.hostname.is_none() && self.options.fill_hostname;
        let hostname = match (&state.memory, fill) {
            (Some(m), true) if self.trusted(m) => m.hostname.clone(),
            _ => None,
        };
        if !fill || hostname.is_some() {
            let text = self.render_with(config, hostname.clone()).await?;
            return self.converge_text(state, text, hostname, queued).await;
        }
        // The hostname has to be read: read the running configuration once for both.
        let started_at = SystemTime::now();
        let started = Instant::now();
        let mut session = self.session().await?;
        let running = self.read_running(&mut session).await?;
        let hostname = crate::vtysh::hostnames_in(&running).into_iter().next();
        let text = self.render_with(config, hostname.clone()).await?;
        self.converge_from(state, &mut session, text, hostname, running, Pass { queued, started, started_at }).await
    }

    fn trusted(&self, m: &Memory) -> bool {
        m.read_at.elapsed() < self.options.drift_check && Identity::read(&self.run_dir()).as_ref() == Some(&m.identity)
    }

    async fn converge_text(
        &self,
        state: &mut State,
        text: String,
        hostname: Option<String>,
        queued: Duration,
    ) -> Result<ApplyReport, ApplyError> {
        let started_at = SystemTime::now();
        let started = Instant::now();
        if let Some(m) = &state.memory
            && m.target == text
            && self.trusted(m)
        {
            return Ok(ApplyReport {
                removed: Vec::new(),
                added: Vec::new(),
                reloaded: false,
                commands: 0,
                passes: 0,
                read_running: false,
                rejected_snippets: Vec::new(),
                session_resets: Vec::new(),
                queued,
                duration: started.elapsed(),
                started_at,
                finished_at: SystemTime::now(),
            });
        }
        let mut session = self.session().await?;
        // A trusted memory saves reading FRR before the change; the verification reads it after.
        let remembered = state.memory.as_ref().filter(|m| self.trusted(m)).map(|m| m.running.clone());
        let running = match remembered {
            Some(running) => running,
            None => self.read_running(&mut session).await?,
        };
        let hostname = hostname.or_else(|| crate::vtysh::hostnames_in(&running).into_iter().next());
        self.converge_from(state, &mut session, text, hostname, running, Pass { queued, started, started_at }).await
    }

    async fn converge_from(
        &self,
        state: &mut State,
        session: &mut Session,
        target: String,
        hostname: Option<String>,
        before: String,
        pass: Pass,
    ) -> Result<ApplyReport, ApplyError> {
        let Pass { queued, started, started_at } = pass;
        let before = settle_hostnames(&before, &target);
        let first = delta::diff(&before, &target);
        let session_resets = delta::session_resets(&first);
        for reset in &session_resets {
            tracing::warn!(
                neighbor = %reset.neighbor, instance = %reset.instance, reason = %reset.reason,
                "this change resets the BGP session: its routes are withdrawn until the session is back"
            );
        }
        // An FRR this applier has not configured as it runs now (just started, or a daemon
        // restarted): mgmtd's back ends may still be getting their initial configuration.
        let known =
            state.memory.as_ref().is_some_and(|m| Identity::read(&self.run_dir()).as_ref() == Some(&m.identity));
        if !known {
            session.settle_first();
        }
        let mut commands = 0;
        let mut passes = 0;
        let mut refused: Vec<(String, String)> = Vec::new();
        let mut running = before.clone();
        let mut left = first.clone();
        while !left.is_empty() && passes < 2 {
            let refusals = session.configure(&left).await?;
            commands += left.commands.len();
            passes += 1;
            for r in refusals {
                refused.push((left.commands[r.index].text.clone(), r.message));
            }
            running = settle_hostnames(&self.read_running(session).await?, &target);
            left = delta::diff(&running, &target);
        }
        if !left.is_empty() {
            let lines = failed_lines(&left, &refused);
            // Which daemons hold each line left (a line to remove that one daemon kept, a line
            // to add that only some took): the next failure says where FRR differs.
            let bare: Vec<&str> = lines.iter().map(|l| l.bare.as_str()).collect();
            match session.daemons_holding(&bare).await {
                Ok(held) => {
                    for (line, daemons) in held {
                        let line = delta::redact_passwords(&line);
                        tracing::warn!(%line, held_by = ?daemons, "a line FRR did not take: the daemons that hold it");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot tell which daemons hold the lines FRR did not take"),
            }
            let rollback = if self.options.rollback {
                self.put_back(session, &running, &before).await
            } else {
                Rollback::NotAttempted
            };
            tracing::warn!(lines = lines.len(), %rollback, "FRR did not take the configuration");
            // What runs now is not what was remembered: read FRR again next time.
            state.memory = None;
            return Err(ApplyError::NotApplied { lines, rollback });
        }
        if !refused.is_empty() {
            tracing::debug!(?refused, "FRR refused commands, but runs the target");
        }
        if std::fs::read_to_string(&self.config_path).ok().as_deref() != Some(target.as_str()) {
            write_private(&self.config_path, &target)?;
        }
        state.memory = Identity::read(&self.run_dir()).map(|identity| Memory {
            target,
            running,
            identity,
            read_at: Instant::now(),
            hostname,
        });
        Ok(ApplyReport {
            removed: first.delta.removed,
            added: first.delta.added,
            reloaded: passes > 0,
            commands,
            passes,
            read_running: true,
            rejected_snippets: Vec::new(),
            session_resets,
            queued,
            duration: started.elapsed(),
            started_at,
            finished_at: SystemTime::now(),
        })
    }

    /// Brings FRR from `running` back to `previous`.
    async fn put_back(&self, session: &mut Session, running: &str, previous: &str) -> Rollback {
        let change = delta::diff(running, previous);
        if change.is_empty() {
            return Rollback::Restored;
        }
        if let Err(e) = session.configure(&change).await {
            return Rollback::Failed(e.to_string());
        }
        match self.read_running(session).await {
            Ok(now) if delta::same(&now, previous) => Rollback::Restored,
            Ok(now) => Rollback::Failed(format!("still different: {}", delta::diff(&now, previous).delta)),
            Err(e) => Rollback::Failed(e.to_string()),
        }
    }
}

/// `running` without the `hostname` lines the target lacks, when FRR prints several: vtysh
/// then runs in another UTS namespace than the daemons and prints its own hostname too, a line
/// no command removes (see the crate documentation).
fn settle_hostnames(running: &str, target: &str) -> String {
    let names = crate::vtysh::hostnames_in(running);
    if names.len() < 2 {
        return running.to_string();
    }
    let wanted: Vec<String> = crate::vtysh::hostnames_in(target);
    running
        .lines()
        .filter(|l| match l.strip_prefix("hostname ") {
            Some(name) => wanted.iter().any(|w| w == name.trim()),
            None => true,
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Times carried from the start of an apply.
struct Pass {
    queued: Duration,
    started: Instant,
    started_at: SystemTime,
}

/// The lines of `left` (what is still to do after the retry), with what FRR said about them.
fn failed_lines(left: &Change, refused: &[(String, String)]) -> Vec<FailedLine> {
    let message_for = |bare: &str, negated: bool| {
        let wanted = if negated { delta::negate(bare) } else { bare.to_string() };
        refused.iter().rev().find(|(text, _)| *text == wanted).map(|(_, m)| m.clone())
    };
    let mut lines = Vec::new();
    // A block that is missing only because its lines are is not a failure of its own.
    let holds_others = |l: &DeltaLine| {
        left.delta.added.iter().any(|o| {
            o.context.len() > l.context.len()
                && o.context[..l.context.len()] == l.context[..]
                && o.context[l.context.len()] == l.line
        })
    };
    for l in left.delta.added.iter().filter(|l| !holds_others(l)) {
        lines.push(FailedLine { line: l.to_string(), bare: l.line.clone(), message: message_for(&l.line, false) });
    }
    for l in &left.delta.removed {
        let shown = DeltaLine { context: l.context.clone(), line: delta::negate(&l.line) };
        lines.push(FailedLine { line: shown.to_string(), bare: l.line.clone(), message: message_for(&l.line, true) });
    }
    lines
}

fn write_private(path: &Path, text: &str) -> Result<(), ApplyError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |what, source| ApplyError::Io { what, path: path.to_path_buf(), source };
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("cannot write", e))?;
    file.write_all(text.as_bytes()).map_err(|e| io("cannot write", e))?;
    file.sync_all().map_err(|e| io("cannot write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("cannot replace", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_lines_name_the_line_its_blocks_and_frrs_words() {
        let left =
            delta::diff("router bgp 1\n no bgp x\nexit\n", "router bgp 1\n neighbor 1.2.3.4 remote-az 5\nexit\n");
        let lines = failed_lines(&left, &[("neighbor 1.2.3.4 remote-az 5".into(), "% Unknown command".into())]);
        let shown: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "`router bgp 1 > neighbor 1.2.3.4 remote-az 5` (% Unknown command)",
                "`router bgp 1 > bgp x` (FRR printed no error for it)"
            ]
        );
        let err = ApplyError::NotApplied { lines, rollback: Rollback::Restored };
        assert!(err.to_string().starts_with("FRR did not take 2 lines: `router bgp 1 > neighbor"), "{err}");
        assert!(err.to_string().ends_with("the previous configuration was restored"), "{err}");
    }

    #[test]
    fn a_second_hostname_frr_cannot_drop_is_ignored() {
        let running = "hostname vm\nhostname pe\n!\nrouter bgp 1\nexit\n";
        assert_eq!(settle_hostnames(running, "hostname pe\n"), "hostname pe\n!\nrouter bgp 1\nexit\n");
        // One hostname is FRR's own: a target with another one changes it.
        assert_eq!(settle_hostnames("hostname vm\n", "hostname pe\n"), "hostname vm\n");
    }

    #[test]
    fn identity_follows_pid_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Identity::read(dir.path()), None);
        std::fs::write(dir.path().join("bgpd.pid"), "10\n").unwrap();
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        let a = Identity::read(dir.path()).unwrap();
        assert_eq!(a.0.len(), 1);
        // A daemon that restarts writes its pid file anew.
        std::fs::remove_file(dir.path().join("bgpd.pid")).unwrap();
        std::fs::write(dir.path().join("bgpd.pid"), "11\n").unwrap();
        assert_ne!(Identity::read(dir.path()), Some(a));
    }
}
