//! Applying a configuration with `frr-reload.py`: the delta (`--test`), the
//! reload (`--reload`), and [`Applier`], which serialises applies to one
//! instance, keeps the previous configuration on failure and reports what
//! changed.
//!
//! # What frr-reload.py prints (FRR 8.4.4, read in its source and observed)
//!
//! `--test` prints `Lines To Delete` / `Lines To Add` sections on stdout.
//! Each entry is the command with its context, one line per level, indented
//! one space per level, e.g. `router bgp 64512` then ` no neighbor X
//! remote-as 5`; every entry repeats its context. Deleted lines are printed
//! negated (`no X`, or `X` for a line that was `no X`). It exits 1 when vtysh
//! rejects the new file (`vtysh -m -f`), with vtysh's message in its log.
//! `--reload` runs one `vtysh -c` per deleted line and one `vtysh -f` for all
//! additions, twice (a second pass re-adds what a delete took away); it
//! exits 1 when any of them failed; vtysh's errors are on stdout (`line 8:
//! Failure to communicate[13] to bgpd, line:  neighbor …`, `% Invalid
//! command…`), its log says `"…" we failed to remove this command` for
//! deletes that failed. FRR 8.4's script has no `--logfile`: we pass
//! `--stdout` (log on stderr, captured), which also works with FRR 10.
//! When the reloaded file is not `CONFDIR/frr.conf`, the script ends with
//! `vtysh write` (saving the running config to `CONFDIR/frr.conf`), which
//! is why [`Applier`] reloads the instance's own `frr.conf`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::FrrVersion;
use crate::exec::{self, ExecError};
use crate::instance::Instance;
use crate::vtysh::{Vtysh, VtyshError};
use crate::{Config, REDACTED};

/// Where Debian installs frr-reload.py (package `frr-pythontools`).
pub const FRR_RELOAD_SCRIPT: &str = "/usr/lib/frr/frr-reload.py";
/// Default deadline of one frr-reload.py run. Deletes cost one vtysh
/// process each (~25 ms): 1000 deleted lines take about 25 s.
pub const DEFAULT_RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// How to run frr-reload.py for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrrReload {
    /// The script (`/usr/lib/frr/frr-reload.py`, run through its shebang).
    pub script: PathBuf,
    /// `--bindir`: the directory of vtysh.
    pub bindir: PathBuf,
    /// `--confdir`: where `vtysh.conf` is (and `frr.conf`).
    pub confdir: PathBuf,
    /// `--rundir`: where the script writes its temporary `reload-*.txt`.
    pub rundir: PathBuf,
    /// `--vty_socket`; `None` for the packaged default.
    pub vty_socket: Option<PathBuf>,
    /// `--pathspace NAME`.
    pub pathspace: Option<String>,
    /// Words run before the script (e.g. `nsenter --uts=… --`).
    pub wrapper: Vec<OsString>,
    /// Deadline of one run; the whole process group is killed after it.
    pub timeout: Duration,
    /// Count the vtysh processes the script spawns (through a counting
    /// shim passed as `--bindir`); see [`TestOutcome::vtysh_processes`].
    pub count_vtysh: bool,
}

impl Default for FrrReload {
    /// The packaged instance: `/etc/frr`, `/var/run/frr`, `/usr/bin/vtysh`.
    fn default() -> Self {
        FrrReload {
            script: PathBuf::from(FRR_RELOAD_SCRIPT),
            bindir: PathBuf::from("/usr/bin"),
            confdir: PathBuf::from(crate::instance::FRR_CONFIG_DIR),
            rundir: PathBuf::from(crate::instance::FRR_RUN_DIR),
            vty_socket: None,
            pathspace: None,
            wrapper: Vec::new(),
            timeout: DEFAULT_RELOAD_TIMEOUT,
            count_vtysh: false,
        }
    }
}

/// One entry of a delta: a configuration line and the context blocks it is
/// in, as they appear in the configuration (deleted lines are *not*
/// negated). Passwords are redacted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeltaLine {
    /// Enclosing blocks, outermost first, e.g. `["router bgp 64512",
    /// "address-family ipv4 unicast"]`.
    pub context: Vec<String>,
    /// The line itself, e.g. `network 10.0.0.0/24` or, for a whole block,
    /// its header (`router bgp 64512 vrf red`).
    pub line: String,
}

impl fmt::Display for DeltaLine {
    /// `router bgp 64512 > address-family ipv4 unicast > network 10.0.0.0/24`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ctx in &self.context {
            write!(f, "{ctx} > ")?;
        }
        f.write_str(&self.line)
    }
}

/// What frr-reload.py would change: lines of the running configuration
/// that the file lacks, and lines of the file that are not running.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delta {
    pub removed: Vec<DeltaLine>,
    pub added: Vec<DeltaLine>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.removed {
            writeln!(f, "- {line}")?;
        }
        for line in &self.added {
            writeln!(f, "+ {line}")?;
        }
        Ok(())
    }
}

/// Result of `frr-reload.py --test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub delta: Delta,
    pub duration: Duration,
    /// vtysh processes spawned, when counting was requested.
    pub vtysh_processes: Option<usize>,
}

/// Result of a successful `frr-reload.py --reload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub duration: Duration,
    /// `Executed "…"` lines of the log: one vtysh process per deleted line.
    pub deletes_executed: usize,
    /// vtysh processes spawned, when counting was requested.
    pub vtysh_processes: Option<usize>,
}

/// Why frr-reload.py did not accept or apply a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadFailure {
    /// The configuration lines FRR refused (commands as in the file, or
    /// `context -- line` for deletes that failed).
    pub failed_lines: Vec<String>,
    /// FRR's error messages (`% Invalid command. Not an internal neighbor`).
    pub messages: Vec<String>,
    /// The script's exit status.
    pub status: String,
    /// The script's stdout and stderr (passwords redacted).
    pub output: String,
}

impl fmt::Display for ReloadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.failed_lines.is_empty() {
            write!(f, "no failing line reported ({})", self.status)?;
        } else {
            write!(f, "failing lines: {}", self.failed_lines.join(" | "))?;
        }
        if !self.messages.is_empty() {
            write!(f, "; FRR said: {}", self.messages.join(" | "))?;
        }
        Ok(())
    }
}

/// Errors of [`FrrReload`].
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// frr-reload.py or vtysh could not run, or timed out.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// `--test` failed: vtysh rejected the file (syntax) or no daemon answered.
    #[error("frr-reload.py --test rejected {}: {failure}", file.display())]
    Rejected { file: PathBuf, failure: Box<ReloadFailure> },
    /// `--reload` failed; some lines may have been applied.
    #[error("frr-reload.py --reload of {} failed: {failure}", file.display())]
    Failed { file: PathBuf, failure: Box<ReloadFailure> },
    /// The vtysh counting shim could not be set up.
    #[error("cannot set up the vtysh counter: {0}")]
    Counter(#[source] std::io::Error),
}

impl ReloadError {
    /// The failure details, for `Rejected` and `Failed`.
    pub fn failure(&self) -> Option<&ReloadFailure> {
        match self {
            ReloadError::Rejected { failure, .. } | ReloadError::Failed { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

/// A temporary `--bindir` whose `vtysh` counts its invocations.
struct VtyshCounter {
    dir: tempfile::TempDir,
}

impl VtyshCounter {
    fn new(real_bindir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::Builder::new().prefix("frr-vtysh-count-").tempdir()?;
        let count = dir.path().join("count");
        let real = real_bindir.join("vtysh");
        let script = format!(
            "#!/bin/sh\necho x >> '{}'\nexec '{}' \"$@\"\n",
            count.to_string_lossy().replace('\'', ""),
            real.to_string_lossy().replace('\'', "")
        );
        let shim = dir.path().join("vtysh");
        std::fs::write(&shim, script)?;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))?;
        Ok(VtyshCounter { dir })
    }

    fn count(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("count")).map(|t| t.lines().count()).unwrap_or(0)
    }
}

impl FrrReload {
    /// A driver for an instance with private directories: sockets and
    /// temporary files in `run_dir`, `vtysh.conf` in `config_dir`.
    pub fn for_dirs(run_dir: impl Into<PathBuf>, config_dir: impl Into<PathBuf>) -> Self {
        let run_dir = run_dir.into();
        FrrReload {
            confdir: config_dir.into(),
            rundir: run_dir.clone(),
            vty_socket: Some(run_dir),
            ..FrrReload::default()
        }
    }

    fn argv(&self, mode: &str, file: &Path, bindir: &Path) -> Vec<OsString> {
        let mut argv = self.wrapper.clone();
        argv.push(self.script.clone().into());
        argv.push(mode.into());
        argv.push("--stdout".into());
        argv.push("--bindir".into());
        argv.push(bindir.into());
        argv.push("--confdir".into());
        argv.push(self.confdir.clone().into());
        argv.push("--rundir".into());
        argv.push(self.rundir.clone().into());
        if let Some(dir) = &self.vty_socket {
            argv.push("--vty_socket".into());
            argv.push(dir.clone().into());
        }
        if let Some(name) = &self.pathspace {
            argv.push("--pathspace".into());
            argv.push(name.into());
        }
        argv.push(file.into());
        argv
    }

    async fn run(&self, mode: &str, file: &Path) -> Result<(exec::Captured, Option<usize>), ReloadError> {
        let counter =
            if self.count_vtysh { Some(VtyshCounter::new(&self.bindir).map_err(ReloadError::Counter)?) } else { None };
        let bindir = counter.as_ref().map(|c| c.dir.path().to_path_buf()).unwrap_or_else(|| self.bindir.clone());
        let out = exec::run(&self.argv(mode, file, &bindir), self.timeout).await?;
        Ok((out, counter.map(|c| c.count())))
    }

    /// `frr-reload.py --test FILE`: what a reload would change.
    pub async fn test(&self, file: &Path) -> Result<TestOutcome, ReloadError> {
        let (out, vtysh_processes) = self.run("--test", file).await?;
        if !out.status.success() {
            return Err(ReloadError::Rejected { file: file.to_path_buf(), failure: Box::new(failure_of(&out)) });
        }
        Ok(TestOutcome { delta: parse_test_output(&out.stdout), duration: out.duration, vtysh_processes })
    }

    /// `frr-reload.py --reload FILE`: applies the delta.
    pub async fn reload(&self, file: &Path) -> Result<ReloadOutcome, ReloadError> {
        let (out, vtysh_processes) = self.run("--reload", file).await?;
        if !out.status.success() {
            return Err(ReloadError::Failed { file: file.to_path_buf(), failure: Box::new(failure_of(&out)) });
        }
        let deletes_executed = out.stderr.lines().filter(|l| l.contains(" INFO: Executed \"")).count();
        Ok(ReloadOutcome { duration: out.duration, deletes_executed, vtysh_processes })
    }
}

/// Parses the stdout of `frr-reload.py --test`.
pub fn parse_test_output(stdout: &str) -> Delta {
    #[derive(PartialEq)]
    enum Section {
        None,
        Delete,
        Add,
    }
    let mut section = Section::None;
    let mut delta = Delta::default();
    // Lines of the entry being read, with their indentation.
    let mut entry: Vec<(usize, String)> = Vec::new();
    let flush = |entry: &mut Vec<(usize, String)>, section: &Section, delta: &mut Delta| {
        if let Some((_, last)) = entry.pop() {
            let context: Vec<String> = entry.drain(..).map(|(_, l)| redact_passwords(&l)).collect();
            match section {
                Section::Delete => {
                    let line = match last.strip_prefix("no ") {
                        Some(rest) => rest.to_string(),
                        None => format!("no {last}"),
                    };
                    delta.removed.push(DeltaLine { context, line: redact_passwords(&line) });
                }
                Section::Add => delta.added.push(DeltaLine { context, line: redact_passwords(&last) }),
                Section::None => {}
            }
        }
        entry.clear();
    };
    for raw in stdout.lines() {
        let line = raw.trim_end();
        if line.is_empty() || line.chars().all(|c| c == '=') {
            continue;
        }
        if line == "Lines To Delete" || line == "Lines To Add" {
            flush(&mut entry, &section, &mut delta);
            section = if line == "Lines To Delete" { Section::Delete } else { Section::Add };
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        // An entry's lines are indented 0, 1, 2…: a line that is not
        // deeper than the previous one starts the next entry.
        if entry.last().is_some_and(|(prev, _)| indent <= *prev) {
            flush(&mut entry, &section, &mut delta);
        }
        entry.push((indent, line.trim_start().to_string()));
    }
    flush(&mut entry, &section, &mut delta);
    delta
}

/// Collects the failing lines and FRR's messages from a failed run.
fn failure_of(out: &exec::Captured) -> ReloadFailure {
    // vtysh's stderr appears inside the log as a Python bytes literal.
    let text = format!("{}\n{}", out.stdout, out.stderr).replace("\\n", "\n");
    let mut failed_lines = Vec::new();
    let mut messages = Vec::new();
    for raw in text.lines() {
        let line = raw.trim().trim_start_matches("b'").trim_end_matches('\'');
        if let Some(rest) = after_line_number(line) {
            // `line 8: Failure to communicate[13] to bgpd, line:  neighbor …`
            // or `line 2: % Unknown command:  neighbor …`.
            let command = match rest.split_once(", line:") {
                Some((_, cmd)) => cmd.trim().to_string(),
                None => {
                    rest.trim_start_matches("% ").split_once(':').map(|(_, c)| c.trim()).unwrap_or(rest).to_string()
                }
            };
            failed_lines.push(redact_passwords(&command));
            if rest.starts_with('%') {
                messages.push(redact_passwords(rest));
            }
        } else if let Some(cmd) = line.split_once("\" we failed to remove this command").map(|(a, _)| a) {
            let cmd = cmd.rsplit_once(": \"").map(|(_, c)| c).unwrap_or(cmd).trim_start_matches('"');
            failed_lines.push(redact_passwords(cmd));
        } else if line.starts_with("% ") {
            messages.push(redact_passwords(line));
        } else if let Some(pos) = line.find("vtysh failed to process new configuration") {
            messages.push(redact_passwords(&line[pos..]));
        }
    }
    failed_lines.dedup();
    let mut seen = std::collections::BTreeSet::new();
    failed_lines.retain(|l| seen.insert(l.clone()));
    let mut seen = std::collections::BTreeSet::new();
    messages.retain(|l| seen.insert(l.clone()));
    ReloadFailure {
        failed_lines,
        messages,
        status: out.status.to_string(),
        output: redact_passwords(&format!("{}{}", out.stdout, out.stderr)),
    }
}

/// `rest` of `line N: rest`.
fn after_line_number(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("line ")?;
    let (number, rest) = rest.split_once(": ")?;
    number.chars().all(|c| c.is_ascii_digit()).then_some(rest)
}

/// Replaces the word after every `password` with [`REDACTED`].
pub fn redact_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("password ") {
        let (head, tail) = rest.split_at(pos + "password ".len());
        out.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ',').unwrap_or(tail.len());
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Behaviour of [`Applier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// [`Applier::apply`]: when the config has no hostname, use the one FRR
    /// prints (FRR 8.4 always prints its UTS namespace's hostname; a file
    /// without it or with another one never reaches an empty delta).
    pub fill_hostname: bool,
    /// Do not run `--reload` when `--test` reports an empty delta.
    pub skip_unchanged: bool,
    /// After a failed reload, reload the previous configuration.
    pub rollback: bool,
    /// After a reload, run `--test` again and report what is left
    /// ([`ApplyReport::residual`]); costs one more `--test` per reload.
    pub verify: bool,
    /// With `verify`: reload again while something is left, up to this
    /// many reloads in all. FRR 8.4's frr-reload.py needs two for some
    /// changes: removing `neighbor X bfd profile P` brings `neighbor X bfd`
    /// back (and keeps an empty `bfd` node), which the second reload removes.
    pub max_reloads: u8,
}

impl Default for ApplyOptions {
    /// Hostname filled in, no reload when nothing changed, rollback on
    /// failure, verified, at most two reloads.
    fn default() -> Self {
        ApplyOptions { fill_hostname: true, skip_unchanged: true, rollback: true, verify: true, max_reloads: 2 }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Lines of the previous running config that are gone.
    pub removed: Vec<DeltaLine>,
    /// Lines that were added.
    pub added: Vec<DeltaLine>,
    /// Whether `--reload` ran (it does not when the delta is empty and
    /// [`ApplyOptions::skip_unchanged`] is set).
    pub reloaded: bool,
    /// Time spent waiting for an apply in progress (serialisation).
    pub queued: Duration,
    /// Time of the apply itself (after the wait).
    pub duration: Duration,
    pub test_duration: Duration,
    pub reload_duration: Option<Duration>,
    /// Deletes executed by frr-reload.py (one vtysh process each).
    pub deletes_executed: usize,
    /// vtysh processes spawned by frr-reload.py, when counted.
    pub vtysh_processes: Option<usize>,
    /// How many times `--reload` ran (see [`ApplyOptions::max_reloads`]).
    pub reloads: u8,
    /// With [`ApplyOptions::verify`]: the delta left after the last reload
    /// (empty when FRR runs exactly the file).
    pub residual: Option<Delta>,
    /// Wall-clock start and end of the apply (after the wait).
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
}

impl ApplyReport {
    /// The report as JSON (durations in milliseconds, times in
    /// milliseconds since the Unix epoch).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let epoch_ms =
            |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let lines = |l: &[DeltaLine]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        serde_json::json!({
            "removed": lines(&self.removed),
            "added": lines(&self.added),
            "reloaded": self.reloaded,
            "queuedMs": ms(self.queued),
            "durationMs": ms(self.duration),
            "testMs": ms(self.test_duration),
            "reloadMs": self.reload_duration.map(ms),
            "deletesExecuted": self.deletes_executed,
            "reloads": self.reloads,
            "vtyshProcesses": self.vtysh_processes,
            "residual": self.residual.as_ref().map(|d| d.to_string()),
            "startedAtMs": epoch_ms(self.started_at),
            "finishedAtMs": epoch_ms(self.finished_at),
        })
    }
}

/// Why an apply failed. In every case the previous configuration stays:
/// the file is restored and, after a failed reload, reloaded (see
/// [`ApplyError::ReloadFailed::rollback`]).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The new configuration was rejected before anything was applied.
    #[error("configuration rejected, nothing applied: {0}")]
    Rejected(#[source] ReloadError),
    /// The reload failed part-way.
    #[error("reload failed ({error}); {}", match rollback {
        Some(Ok(())) => "the previous configuration was reloaded".to_string(),
        Some(Err(e)) => format!("reloading the previous configuration failed too: {e}"),
        None => "no rollback was attempted".to_string(),
    })]
    ReloadFailed {
        #[source]
        error: ReloadError,
        /// Outcome of reloading the previous configuration.
        rollback: Option<Result<(), Box<ReloadError>>>,
    },
    /// The configuration file could not be written or read.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// vtysh could not read the running configuration.
    #[error("cannot read the running configuration: {0}")]
    Vtysh(#[from] VtyshError),
}

impl ApplyError {
    /// The failing lines reported by FRR, if any.
    pub fn failed_lines(&self) -> &[String] {
        let error = match self {
            ApplyError::Rejected(e) | ApplyError::ReloadFailed { error: e, .. } => e,
            _ => return &[],
        };
        error.failure().map(|f| f.failed_lines.as_slice()).unwrap_or(&[])
    }
}

/// Where an [`Applier`] sends its commands.
#[derive(Debug, Clone)]
enum Target {
    /// A fixed frr-reload/vtysh setup (the reloader sidecar).
    Fixed { reload: FrrReload, vtysh: Vtysh },
    /// An instance: paths (and its UTS namespace) are looked up per apply.
    Instance { instance: Instance, timeout: Duration, count_vtysh: bool },
}

/// Applies configurations to one FRR instance, one at a time.
///
/// [`Applier::apply`] and [`Applier::apply_text`] stage the new text next to
/// `frr.conf`, run `--test` on it (a rejected file changes nothing), then
/// move it to `frr.conf` and `--reload` it; when the reload fails, the
/// previous `frr.conf` (or, on the first apply, the running config read
/// before) is written back and reloaded. [`Applier::apply_file`] applies a
/// file written by someone else as is (the reloader sidecar's contract).
#[derive(Debug)]
pub struct Applier {
    target: Target,
    config_path: PathBuf,
    options: ApplyOptions,
    lock: tokio::sync::Mutex<()>,
    /// The FRR release the daemons run, read on first use (`show version`).
    version: tokio::sync::OnceCell<FrrVersion>,
}

impl Applier {
    /// An applier for a fixed setup, applying `config_path`.
    pub fn new(reload: FrrReload, vtysh: Vtysh, config_path: impl Into<PathBuf>) -> Self {
        Applier {
            target: Target::Fixed { reload, vtysh },
            config_path: config_path.into(),
            options: ApplyOptions::default(),
            lock: tokio::sync::Mutex::new(()),
            version: tokio::sync::OnceCell::new(),
        }
    }

    /// An applier for an [`Instance`] (its `frr.conf`).
    pub fn for_instance(instance: &Instance) -> Self {
        Applier {
            config_path: instance.config_path(),
            target: Target::Instance {
                instance: instance.clone(),
                timeout: DEFAULT_RELOAD_TIMEOUT,
                count_vtysh: false,
            },
            options: ApplyOptions::default(),
            lock: tokio::sync::Mutex::new(()),
            version: tokio::sync::OnceCell::new(),
        }
    }

    pub fn with_options(mut self, options: ApplyOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the deadline of each frr-reload.py run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        match &mut self.target {
            Target::Fixed { reload, .. } => reload.timeout = timeout,
            Target::Instance { timeout: t, .. } => *t = timeout,
        }
        self
    }

    /// Counts the vtysh processes spawned by frr-reload.py.
    pub fn with_vtysh_count(mut self, count: bool) -> Self {
        match &mut self.target {
            Target::Fixed { reload, .. } => reload.count_vtysh = count,
            Target::Instance { count_vtysh, .. } => *count_vtysh = count,
        }
        self
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn options(&self) -> ApplyOptions {
        self.options
    }

    fn tools(&self) -> (FrrReload, Vtysh) {
        match &self.target {
            Target::Fixed { reload, vtysh } => (reload.clone(), vtysh.clone()),
            Target::Instance { instance, timeout, count_vtysh } => {
                let mut reload = instance.frr_reload();
                reload.timeout = *timeout;
                reload.count_vtysh = *count_vtysh;
                (reload, instance.vtysh())
            }
        }
    }

    /// The FRR release the daemons run (`show version`), read the first
    /// time it is needed and then kept: the applier renders for it.
    pub async fn frr_version(&self) -> Result<FrrVersion, VtyshError> {
        let version = self
            .version
            .get_or_try_init(|| async {
                let (_, vtysh) = self.tools();
                vtysh.version().await
            })
            .await?;
        Ok(*version)
    }

    /// Renders for `version` from now on instead of asking FRR (for
    /// callers that already know it). Has no effect once the version is known.
    pub fn with_frr_version(self, version: FrrVersion) -> Self {
        let _ = self.version.set(version);
        self
    }

    /// The hostname FRR prints (the first `hostname` line of the running
    /// config; FRR 8.4 prints vtysh's and, if different, the daemons').
    pub async fn running_hostname(&self) -> Result<Option<String>, VtyshError> {
        let (_, vtysh) = self.tools();
        let names = vtysh.running_hostnames().await?;
        if names.len() > 1 {
            tracing::warn!(
                ?names,
                "FRR prints several hostnames: vtysh and the daemons run in different UTS namespaces, \
                 so no configuration can have an empty delta"
            );
        }
        Ok(names.into_iter().next())
    }

    /// Renders and applies a configuration. Without a hostname (and with
    /// [`ApplyOptions::fill_hostname`]) it gets the one FRR prints. Error
    /// texts have the config's passwords scrubbed.
    pub async fn apply(&self, config: &Config) -> Result<ApplyReport, ApplyError> {
        let text = self.render(config).await?;
        self.apply_text(&text).await
    }

    /// The text [`Applier::apply`] would write for `config`: rendered for
    /// the FRR release the daemons run ([`Applier::frr_version`]).
    pub async fn render(&self, config: &Config) -> Result<String, ApplyError> {
        let version = self.frr_version().await?;
        if config.hostname.is_none() && self.options.fill_hostname {
            let mut config = config.clone();
            config.hostname = self.running_hostname().await?;
            Ok(config.render_for(version))
        } else {
            Ok(config.render_for(version))
        }
    }

    /// What `--test` reports for `config` (rendered as by
    /// [`Applier::apply`]), without applying anything.
    pub async fn delta(&self, config: &Config) -> Result<Delta, ApplyError> {
        let text = self.render(config).await?;
        self.delta_of_text(&text).await
    }

    /// What `--test` reports for `text`, without applying anything.
    pub async fn delta_of_text(&self, text: &str) -> Result<Delta, ApplyError> {
        // The staged file is shared with apply_text: one at a time.
        let _guard = self.lock.lock().await;
        let staged = self.staged_path();
        write_private(&staged, text)?;
        let (reload, _) = self.tools();
        let result = reload.test(&staged).await;
        let _ = std::fs::remove_file(&staged);
        Ok(result.map_err(ApplyError::Rejected)?.delta)
    }

    /// What `--test` reports for the current `frr.conf`.
    pub async fn delta_of_file(&self) -> Result<Delta, ApplyError> {
        let _guard = self.lock.lock().await;
        let (reload, _) = self.tools();
        Ok(reload.test(&self.config_path).await.map_err(ApplyError::Rejected)?.delta)
    }

    fn staged_path(&self) -> PathBuf {
        let mut name = self.config_path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "frr.conf".into());
        name.push(".pending");
        self.config_path.with_file_name(name)
    }

    /// Applies a complete configuration text (see the type documentation).
    pub async fn apply_text(&self, text: &str) -> Result<ApplyReport, ApplyError> {
        let waiting = Instant::now();
        let _guard = self.lock.lock().await;
        let queued = waiting.elapsed();
        let started_at = SystemTime::now();
        let started = Instant::now();
        let (reload, vtysh) = self.tools();

        let staged = self.staged_path();
        write_private(&staged, text)?;
        let test = match reload.test(&staged).await {
            Ok(test) => test,
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(ApplyError::Rejected(e));
            }
        };
        if test.delta.is_empty() && self.options.skip_unchanged {
            rename(&staged, &self.config_path)?;
            return Ok(self.report(test, None, queued, started, started_at));
        }
        // What to go back to if the reload fails.
        let previous = match std::fs::read_to_string(&self.config_path) {
            Ok(text) => text,
            Err(_) => crate::normalize_running_config(&vtysh.show_running_config().await?, false),
        };
        rename(&staged, &self.config_path)?;
        match self.reload_converging(&reload).await {
            Ok(converged) => Ok(self.report(test, Some(converged), queued, started, started_at)),
            Err(error) => {
                tracing::warn!(%error, "reload failed; restoring the previous configuration");
                let rollback = if self.options.rollback {
                    write_private(&self.config_path, &previous)?;
                    Some(reload.reload(&self.config_path).await.map(|_| ()).map_err(Box::new))
                } else {
                    None
                };
                Err(ApplyError::ReloadFailed { error, rollback })
            }
        }
    }

    /// Applies the file at the config path as it is: `--test`, then
    /// `--reload` (no staging, no rollback: the file belongs to the caller).
    pub async fn apply_file(&self) -> Result<ApplyReport, ApplyError> {
        let waiting = Instant::now();
        let _guard = self.lock.lock().await;
        let queued = waiting.elapsed();
        let started_at = SystemTime::now();
        let started = Instant::now();
        let (reload, _) = self.tools();
        let test = reload.test(&self.config_path).await.map_err(ApplyError::Rejected)?;
        if test.delta.is_empty() && self.options.skip_unchanged {
            return Ok(self.report(test, None, queued, started, started_at));
        }
        let converged = self
            .reload_converging(&reload)
            .await
            .map_err(|error| ApplyError::ReloadFailed { error, rollback: None })?;
        Ok(self.report(test, Some(converged), queued, started, started_at))
    }

    /// `--reload` the config file; with [`ApplyOptions::verify`], `--test`
    /// it again and reload while something is left (up to
    /// [`ApplyOptions::max_reloads`]). A failing verification `--test` is
    /// reported as a failed reload.
    async fn reload_converging(&self, reload: &FrrReload) -> Result<Converged, ReloadError> {
        let mut total = Converged::default();
        loop {
            let outcome = reload.reload(&self.config_path).await?;
            total.reloads += 1;
            total.duration += outcome.duration;
            total.deletes_executed += outcome.deletes_executed;
            total.add_vtysh(outcome.vtysh_processes);
            if !self.options.verify {
                return Ok(total);
            }
            let check = reload.test(&self.config_path).await.map_err(|e| match e {
                ReloadError::Rejected { file, failure } => ReloadError::Failed { file, failure },
                other => other,
            })?;
            total.duration += check.duration;
            total.add_vtysh(check.vtysh_processes);
            let done = check.delta.is_empty() || total.reloads >= self.options.max_reloads.max(1);
            if !check.delta.is_empty() {
                tracing::info!(left = %check.delta, reloads = total.reloads, "frr-reload.py left a delta");
            }
            total.residual = Some(check.delta);
            if done {
                return Ok(total);
            }
        }
    }

    fn report(
        &self,
        test: TestOutcome,
        reload: Option<Converged>,
        queued: Duration,
        started: Instant,
        started_at: SystemTime,
    ) -> ApplyReport {
        let vtysh_processes = match (test.vtysh_processes, reload.as_ref().and_then(|r| r.vtysh_processes)) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        let residual = match &reload {
            Some(r) => r.residual.clone(),
            // Nothing reloaded: the --test just run is the verification.
            None if self.options.verify => Some(Delta::default()),
            None => None,
        };
        ApplyReport {
            removed: test.delta.removed,
            added: test.delta.added,
            reloaded: reload.is_some(),
            queued,
            duration: started.elapsed(),
            test_duration: test.duration,
            reload_duration: reload.as_ref().map(|r| r.duration),
            deletes_executed: reload.as_ref().map(|r| r.deletes_executed).unwrap_or(0),
            reloads: reload.as_ref().map(|r| r.reloads).unwrap_or(0),
            vtysh_processes,
            residual,
            started_at,
            finished_at: SystemTime::now(),
        }
    }
}

/// Sum of the reloads (and verification runs) of one apply.
#[derive(Debug, Default)]
struct Converged {
    reloads: u8,
    duration: Duration,
    deletes_executed: usize,
    vtysh_processes: Option<usize>,
    residual: Option<Delta>,
}

impl Converged {
    fn add_vtysh(&mut self, count: Option<usize>) {
        if let Some(n) = count {
            self.vtysh_processes = Some(self.vtysh_processes.unwrap_or(0) + n);
        }
    }
}

/// Writes a file readable by its owner only (it may hold BGP passwords),
/// through a temporary file and a rename.
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

fn rename(from: &Path, to: &Path) -> Result<(), ApplyError> {
    std::fs::rename(from, to).map_err(|source| ApplyError::Io {
        what: "cannot replace",
        path: to.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_OUTPUT: &str = "\nLines To Delete\n===============\nno hostname vm\nip forwarding\nrouter bgp 64512\n no neighbor 10.0.0.2 remote-as 64512\nno router bgp 64512 vrf red\n\nLines To Add\n============\nrouter bgp 64512\nrouter bgp 64512\n no bgp ebgp-requires-policy\nrouter bgp 64512\n address-family ipv4 unicast\nrouter bgp 64512\n address-family ipv4 unicast\n  neighbor 10.0.0.1 activate\nrouter bgp 64512\n neighbor 10.0.0.3 password s3cret\n";

    #[test]
    fn parses_test_output_into_entries() {
        let delta = parse_test_output(TEST_OUTPUT);
        let removed: Vec<String> = delta.removed.iter().map(ToString::to_string).collect();
        assert_eq!(
            removed,
            [
                "hostname vm",
                "no ip forwarding",
                "router bgp 64512 > neighbor 10.0.0.2 remote-as 64512",
                "router bgp 64512 vrf red"
            ]
        );
        let added: Vec<String> = delta.added.iter().map(ToString::to_string).collect();
        assert_eq!(
            added,
            [
                "router bgp 64512",
                "router bgp 64512 > no bgp ebgp-requires-policy",
                "router bgp 64512 > address-family ipv4 unicast",
                "router bgp 64512 > address-family ipv4 unicast > neighbor 10.0.0.1 activate",
                "router bgp 64512 > neighbor 10.0.0.3 password <redacted>",
            ]
        );
        assert_eq!(delta.added[3].context, ["router bgp 64512", "address-family ipv4 unicast"]);
    }

    #[test]
    fn empty_output_is_an_empty_delta() {
        assert!(parse_test_output("").is_empty());
        assert!(parse_test_output("\n\n").is_empty());
    }

    fn captured(stdout: &str, stderr: &str) -> exec::Captured {
        use std::os::unix::process::ExitStatusExt as _;
        exec::Captured {
            status: std::process::ExitStatus::from_raw(256),
            stdout: stdout.into(),
            stderr: stderr.into(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn failure_names_the_lines_frr_refused() {
        let out = captured(
            "% Invalid command. Not an internal neighbor\nline 8: Failure to communicate[13] to bgpd, line:   neighbor 10.0.0.1 route-reflector-client\n\n",
            "2026-11-26 09:46:58,558  INFO: Executed \"router bgp 64512  no neighbor 10.0.0.2 remote-as 64512\"\n\
             2026-11-26 09:46:58,600 ERROR: \"router bgp 1 -- no neighbor 1.2.3.4 password x\" we failed to remove this command\n",
        );
        let f = failure_of(&out);
        assert_eq!(
            f.failed_lines,
            ["neighbor 10.0.0.1 route-reflector-client", "router bgp 1 -- no neighbor 1.2.3.4 password <redacted>"]
        );
        assert_eq!(f.messages, ["% Invalid command. Not an internal neighbor"]);
        assert!(!f.output.contains("password x"));
    }

    #[test]
    fn failure_of_rejected_syntax() {
        let out = captured(
            "\nLines To Delete\n===============\nno router bgp 64512\n",
            "2026-11-26 09:46:58,179 \u{1b}[91m  ERROR\u{1b}[0m: vtysh failed to process new configuration: vtysh (mark file) exited with status 2:\nb'line 2: % Unknown command:  neighbor 10.0.0.1 remote-az 64513\\n\\n'\n",
        );
        let f = failure_of(&out);
        assert_eq!(f.failed_lines, ["neighbor 10.0.0.1 remote-az 64513"]);
        assert!(f.messages.iter().any(|m| m.contains("Unknown command")), "{:?}", f.messages);
        assert!(f.to_string().contains("remote-az"));
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_passwords("neighbor 1.1.1.1 password abc"), "neighbor 1.1.1.1 password <redacted>");
        assert_eq!(redact_passwords("'a password x', 'b'"), "'a password <redacted>', 'b'");
        assert_eq!(redact_passwords("no secrets"), "no secrets");
    }

    #[test]
    fn argv_for_private_dirs() {
        let r = FrrReload::for_dirs("/run/i", "/etc/i");
        let argv: Vec<String> = r
            .argv("--test", Path::new("/etc/i/frr.conf"), &r.bindir)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            argv.join(" "),
            "/usr/lib/frr/frr-reload.py --test --stdout --bindir /usr/bin --confdir /etc/i --rundir /run/i --vty_socket /run/i /etc/i/frr.conf"
        );
    }
}
