//! Processes as `/proc` shows them: pid files, whether a pid still runs (a zombie does not),
//! command lines, finding processes by their arguments, and stopping them (TERM, a grace period,
//! then KILL).

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;
use nix::sys::signal::kill;
use nix::unistd::Pid;

const POLL: Duration = Duration::from_millis(20);

/// The pid written in a pid file.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Fields of `/proc/PID/stat` after the command name (the first is the state).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z"))
}

/// The pid of a pid file when that process runs.
pub fn running_pid(pid_file: &Path) -> Option<u32> {
    read_pid(pid_file).filter(|p| is_running(*p))
}

/// When the process started, in clock ticks since boot (field 22 of `/proc/PID/stat`): with the
/// pid, it tells a process from a later one that reused the pid.
pub fn start_ticks(pid: u32) -> Option<u64> {
    // Fields after ")" start at field 3.
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// The arguments of `pid` (`argv[0]` first).
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args: Vec<String> = raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if args.last().is_some_and(String::is_empty) {
        args.pop();
    }
    Some(args)
}

/// The running processes (this one excepted) whose arguments satisfy `wanted`.
pub fn find(wanted: impl Fn(&[String]) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| cmdline(*pid).is_some_and(|args| wanted(&args)) && is_running(*pid))
        .collect();
    pids.sort_unstable();
    pids
}

/// The running processes with an argument that names a path under `dir`.
pub fn under(dir: &Path) -> Vec<u32> {
    let needle = format!("{}/", dir.display().to_string().trim_end_matches('/'));
    find(|args| args.iter().any(|a| a.contains(&needle)))
}

/// Hands the heap's free memory back to the system. glibc keeps it in its free lists after a
/// burst of allocations, such as reading the state of thousands of links, so a process that did
/// one stays that large; a no-op with another allocator library.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it only trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes every allocation of 128 KiB or more a mapping of its own, returned to the system when
/// it is freed. glibc starts with that threshold but raises it each time such a block is freed,
/// up to 32 MiB: after one reconcile at scale the large buffers of the next (netlink dumps, FRR's
/// configuration text) are carved from the heap, where the small blocks that outlive them pin
/// the pages (the scale bench: 2.7 MB of anonymous memory at 1000 L2VNIs). A no-op with another
/// allocator library.
pub fn map_large_allocations_apart() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointer; setting the threshold also fixes it (no dynamic raise).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Sends `signal` to `pid` (a pid that does not fit or no longer exists is ignored).
pub fn signal(pid: u32, signal: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(raw), signal);
    }
}

/// SIGKILL to every process of the process group `pgid` (a helper and whatever it started).
pub fn kill_group(pgid: u32) {
    if let Ok(raw) = i32::try_from(pgid) {
        let _ = nix::sys::signal::killpg(Pid::from_raw(raw), Signal::SIGKILL);
    }
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Waits up to `timeout` for every pid to stop running; returns those still running.
pub fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    let mut left: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
    while !left.is_empty() && Instant::now() < deadline {
        sleep(POLL);
        left.retain(|p| is_running(*p));
    }
    left
}

/// SIGTERM to every pid, up to `grace` for them to end, then SIGKILL to the rest and up to 5 s
/// more; returns the pids still running after all that.
pub fn stop(pids: &[u32], grace: Duration) -> Vec<u32> {
    for pid in pids {
        signal(*pid, Signal::SIGTERM);
    }
    let left = wait_gone(pids, grace);
    if left.is_empty() {
        return left;
    }
    for pid in &left {
        signal(*pid, Signal::SIGKILL);
    }
    wait_gone(&left, Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn this_process_runs_and_its_command_line_is_read() {
        let me = std::process::id();
        assert!(is_running(me));
        assert!(start_ticks(me).is_some());
        let args = cmdline(me).unwrap();
        assert!(!args.is_empty());
        assert!(!find(|_| true).contains(&me), "find leaves this process out");
        assert!(!is_running(u32::MAX));
    }

    #[test]
    fn a_child_is_found_by_its_arguments_and_stopped() {
        let dir = std::env::temp_dir().join(format!("kernel-procs-{}", std::process::id()));
        let marker = dir.join("marker").display().to_string();
        // The marker is the child's argv[0].
        let mut child = std::process::Command::new("sleep").arg0(&marker).arg("30").spawn().unwrap();
        let pid = child.id();
        let found = wait_until(|| under(&dir).contains(&pid));
        assert!(found, "the child naming {marker} is found");
        // The child is ours and unreaped: after SIGTERM it is a zombie, which counts as stopped.
        assert!(stop(&[pid], Duration::from_secs(5)).is_empty());
        let _ = child.wait();
        assert!(!under(&dir).contains(&pid));
    }

    /// Once a large mapped block was freed, glibc would carve the next 256 KiB block from the
    /// heap; with the threshold fixed it is a mapping of its own (one more in `hblks`).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn large_blocks_stay_mappings_after_a_larger_one_was_freed() {
        map_large_allocations_apart();
        drop(std::hint::black_box(vec![1u8; 4 << 20]));
        // SAFETY: mallinfo2 takes no argument and only reads the allocator's counters.
        let before = unsafe { libc::mallinfo2() }.hblks;
        let block = std::hint::black_box(vec![1u8; 256 << 10]);
        // SAFETY: as above.
        let after = unsafe { libc::mallinfo2() }.hblks;
        drop(block);
        assert_eq!(after, before + 1, "the 256 KiB block came from the heap");
    }

    fn wait_until(f: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            sleep(POLL);
        }
        false
    }
}
