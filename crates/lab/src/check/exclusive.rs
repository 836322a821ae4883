//! A lock shared by the labs of one machine, for a scenario that uses something the machine has
//! only once: a file created exclusively in the labs' run root, holding the owner's pid, removed on
//! drop; one whose owner process is gone is taken over.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Held while the scenario runs; released on drop.
pub(super) struct Exclusive(PathBuf);

/// How long a timed drill waits for another lab's: the churn drill takes about 450 s in CI.
const TIMED_DRILL_WAIT: Duration = Duration::from_secs(900);

/// The lock of the drills that judge a recovery time (FRR killed, router namespace replaced)
/// and of the configuration churn drill, for labs side by side in one machine (the e2e suite):
/// a recovery timed while another lab churns on the same CPUs measures that load, not the
/// agent. `lab_dir` is the lab's run directory; the lock is in the run root above it.
pub(super) async fn timed_drill(lab_dir: &Path) -> Result<Option<Exclusive>, String> {
    let Some(root) = lab_dir.parent() else { return Ok(None) };
    Exclusive::acquire(&root.join("timed-drills.lock"), TIMED_DRILL_WAIT)
        .await
        .map(Some)
        .map_err(|e| format!("waiting for another lab's timed drill: {e}"))
}

impl Exclusive {
    /// Waits (polling every 200 ms, up to `timeout`) until `path` can be created.
    pub(super) async fn acquire(path: &Path, timeout: Duration) -> Result<Exclusive, String> {
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Exclusive(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                    if owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if start.elapsed() > timeout {
                        return Err(format!("{} still held by pid {owner:?} after {timeout:?}", path.display()));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_dead_owner_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let first = Exclusive::acquire(&path, Duration::from_secs(5)).await.unwrap();
        let busy = Exclusive::acquire(&path, Duration::from_millis(300)).await;
        assert!(busy.is_err(), "a second holder waits and gives up");
        drop(first);
        assert!(!path.exists(), "released on drop");
        let again = Exclusive::acquire(&path, Duration::from_millis(300)).await.unwrap();
        drop(again);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(&path, format!("{dead}\n")).unwrap();
        let taken = Exclusive::acquire(&path, Duration::from_millis(300)).await;
        assert!(taken.is_ok(), "a lock whose owner is gone is taken over");
    }
}
