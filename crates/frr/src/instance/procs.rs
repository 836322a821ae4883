//! The processes of an instance as `/proc` and its pid files show them: reading pids, telling
//! an instance's daemon from an unrelated process, signalling and waiting.

use super::*;

impl Instance {
    /// Processes of this instance found in /proc rather than through pid
    /// files: daemons or watchfrr whose arguments name the run directory,
    /// and the control script.
    pub(super) fn stray_processes(&self) -> Vec<u32> {
        let script = self.spec.run_dir.join(CTL_SCRIPT).to_string_lossy().into_owned();
        let names = self.all_daemons();
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
            .filter(|pid| *pid != std::process::id())
            .filter(|pid| {
                names.iter().any(|d| process_matches(*pid, d, &self.spec.run_dir))
                    || std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|raw| raw.split(|b| *b == 0).any(|a| a == script.as_bytes()))
            })
            .collect()
    }
}

/// SIGTERM to every pid, wait up to `timeout`, SIGKILL the rest and wait a
/// little more; returns the processes still alive.
pub(super) fn signal_and_wait(pids: &[(usize, u32)], timeout: Duration) -> Vec<(usize, u32)> {
    use rustix::process::{Pid, Signal, kill_process};
    let send = |pid: u32, sig: Signal| {
        if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(p, sig);
        }
    };
    for (_, pid) in pids {
        send(*pid, Signal::TERM);
    }
    let alive = |list: &[(usize, u32)]| -> Vec<(usize, u32)> {
        list.iter()
            .copied()
            .filter(|(_, pid)| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(*pid))
            .collect()
    };
    let deadline = Instant::now() + timeout;
    let mut left = alive(pids);
    while !left.is_empty() && Instant::now() < deadline {
        sleep(POLL);
        left = alive(&left);
    }
    if left.is_empty() {
        return left;
    }
    for (_, pid) in &left {
        send(*pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !left.is_empty() && Instant::now() < deadline {
        sleep(POLL);
        left = alive(&left);
    }
    left
}

pub(super) fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` runs `daemon` (by program name) of the instance whose run
/// directory is `run_dir` (the directory appears in its arguments).
pub(super) fn process_matches(pid: u32, daemon: &str, run_dir: &Path) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<String> = raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let Some(program) = args.first() else { return false };
    let program_ok = Path::new(program).file_name().is_some_and(|n| n == daemon);
    let run = run_dir.to_string_lossy();
    let inside = format!("{}/", run.trim_end_matches('/'));
    program_ok && args.iter().any(|a| a.as_str() == run || a.contains(&inside)) && !is_zombie(pid)
}

/// Fields after the command name of `/proc/PID/stat`.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn is_zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s == "Z"))
}

pub(super) fn process_start_ticks(pid: u32) -> Option<u64> {
    // Field 22 of /proc/PID/stat; fields after ")" start at field 3.
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
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
