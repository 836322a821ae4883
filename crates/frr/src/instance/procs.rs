//! The processes of an instance as `/proc` and its pid files show them: reading pids, telling
//! an instance's daemon from an unrelated process, signalling and waiting.

use kernel::procs;

use super::*;

impl Instance {
    /// Processes of this instance found in /proc rather than through pid
    /// files: daemons or watchfrr whose arguments name the run directory,
    /// and the control script.
    pub(super) fn stray_processes(&self) -> Vec<u32> {
        let script = self.spec.run_dir.join(CTL_SCRIPT).to_string_lossy().into_owned();
        let names = self.all_daemons();
        procs::find(|args| names.iter().any(|d| args_match(args, d, &self.spec.run_dir)) || args.contains(&script))
    }
}

/// SIGTERM to every pid, wait up to `timeout`, SIGKILL the rest and wait a
/// little more; returns the processes still alive (with the index they came with).
pub(super) fn signal_and_wait(pids: &[(usize, u32)], timeout: Duration) -> Vec<(usize, u32)> {
    let only: Vec<u32> = pids.iter().map(|(_, pid)| *pid).collect();
    let left = procs::stop(&only, timeout);
    pids.iter().copied().filter(|(_, pid)| left.contains(pid)).collect()
}

pub(super) use kernel::procs::{read_pid, start_ticks as process_start_ticks};

/// Whether `pid` runs `daemon` (by program name) of the instance whose run
/// directory is `run_dir` (the directory appears in its arguments).
pub(super) fn process_matches(pid: u32, daemon: &str, run_dir: &Path) -> bool {
    procs::cmdline(pid).is_some_and(|args| args_match(&args, daemon, run_dir)) && procs::is_running(pid)
}

fn args_match(args: &[String], daemon: &str, run_dir: &Path) -> bool {
    let Some(program) = args.first() else { return false };
    let program_ok = Path::new(program).file_name().is_some_and(|n| n == daemon);
    let run = run_dir.to_string_lossy();
    let inside = format!("{}/", run.trim_end_matches('/'));
    program_ok && args.iter().any(|a| a.as_str() == run || a.contains(&inside))
}

/// uid and gid of a user and group, from /etc/passwd and /etc/group.
pub(super) fn lookup_ids(user: &str, group: &str) -> Result<(u32, u32), String> {
    let find = |file: &str, name: &str| -> Result<u32, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(2).and_then(|id| id.parse().ok()))
            .ok_or_else(|| format!("{name} not found in {file} (is FRR installed?)"))
    };
    Ok((find("/etc/passwd", user)?, find("/etc/group", group)?))
}

/// Whether the booting marker at `marker` is there and its writer still runs (a marker without
/// a pid yet counts as booting).
pub(super) fn booting(marker: &Path) -> bool {
    if !marker.exists() {
        return false;
    }
    match read_pid(marker) {
        Some(pid) => Path::new(&format!("/proc/{pid}")).exists(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booting_marker_whose_script_is_gone_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join(BOOTING_MARKER);
        assert!(!booting(&marker), "no marker");
        std::fs::write(&marker, format!("{}\n", std::process::id())).unwrap();
        assert!(booting(&marker), "its writer runs");
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(&marker, format!("{dead}\n")).unwrap();
        assert!(!booting(&marker), "its writer is gone");
        std::fs::write(&marker, "").unwrap();
        assert!(booting(&marker), "being written");
    }
}
