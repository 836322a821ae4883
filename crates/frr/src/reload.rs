//! Driving `frr-reload.py`: the delta it sees (`--test`) and its reload
//! (`--reload`). The product applies configurations with its own
//! [`crate::Applier`]; frr-reload.py stays as the independent oracle of the
//! tests and the baseline of the benchmark.
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
//! `vtysh write` (saving the running config to `CONFDIR/frr.conf`): point it
//! at the instance's own `frr.conf`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::delta::{Delta, DeltaLine, redact_passwords};
use crate::exec::{self, ExecError};

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
            confdir: PathBuf::from(crate::layout::FRR_CONFIG_DIR),
            rundir: PathBuf::from(crate::layout::FRR_RUN_DIR),
            vty_socket: None,
            pathspace: None,
            wrapper: Vec::new(),
            timeout: DEFAULT_RELOAD_TIMEOUT,
            count_vtysh: false,
        }
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

    async fn run(&self, mode: &str, file: &Path) -> Result<(exec::Captured, Option<usize>, Duration), ReloadError> {
        let counter =
            if self.count_vtysh { Some(VtyshCounter::new(&self.bindir).map_err(ReloadError::Counter)?) } else { None };
        let bindir = counter.as_ref().map(|c| c.dir.path().to_path_buf()).unwrap_or_else(|| self.bindir.clone());
        let started = std::time::Instant::now();
        let out = exec::run(&self.argv(mode, file, &bindir), self.timeout).await?;
        Ok((out, counter.map(|c| c.count()), started.elapsed()))
    }

    /// `frr-reload.py --test FILE`: what a reload would change.
    pub async fn test(&self, file: &Path) -> Result<TestOutcome, ReloadError> {
        let (out, vtysh_processes, duration) = self.run("--test", file).await?;
        if !out.status.success() {
            return Err(ReloadError::Rejected { file: file.to_path_buf(), failure: Box::new(failure_of(&out)) });
        }
        Ok(TestOutcome { delta: parse_test_output(&out.stdout), duration, vtysh_processes })
    }

    /// `frr-reload.py --reload FILE`: applies the delta.
    pub async fn reload(&self, file: &Path) -> Result<ReloadOutcome, ReloadError> {
        let (out, vtysh_processes, duration) = self.run("--reload", file).await?;
        if !out.status.success() {
            return Err(ReloadError::Failed { file: file.to_path_buf(), failure: Box::new(failure_of(&out)) });
        }
        let deletes_executed = out.stderr.lines().filter(|l| l.contains(" INFO: Executed \"")).count();
        Ok(ReloadOutcome { duration, deletes_executed, vtysh_processes })
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
        exec::Captured { status: std::process::ExitStatus::from_raw(256), stdout: stdout.into(), stderr: stderr.into() }
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
