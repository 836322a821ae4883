//! The VM runner against a real VM (stock Debian kernel under qemu TCG). Each boot costs about
//! 3-4 s, so every test batches its assertions into one boot.
//!
//! These tests need the VM kit (prepared on first use: `apt-get download` of the kernel and qemu,
//! plus the host tools `.ci/run` installs). When the kit cannot be prepared they fail under CI
//! (`CI=true`) and are skipped loudly elsewhere.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab::vm::{self, Kit, RunOptions, VmError};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The kit, or `None` (after saying why) when it cannot be prepared outside CI.
fn kit() -> Option<Kit> {
    match Kit::prepare_default() {
        Ok(kit) => Some(kit),
        Err(e) if in_ci() => panic!("the VM kit cannot be prepared, and CI must run the VM tests: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: the VM kit cannot be prepared here ({e}); these tests need it and fail under CI=true");
            None
        }
    }
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn options() -> RunOptions {
    RunOptions { cwd: Some(crate_dir().to_path_buf()), timeout: Duration::from_secs(300), ..RunOptions::default() }
}

/// Runs `script` with `sh -c` in the VM, capturing its output.
fn run_sh(kit: &Kit, script: &str, options: &RunOptions) -> (Result<u8, VmError>, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = vm::run_with_output(kit, &["sh", "-c", script], options, &mut out, &mut err);
    let (out, err) = (String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned());
    eprintln!("--- guest stdout:\n{out}--- guest stderr:\n{err}---");
    (result, out, err)
}

#[test]
fn vrf_inside_rw_share_and_discarded_writes() {
    let Some(kit) = kit() else { return };
    let rw = tempfile::tempdir().unwrap();
    let rw_path = rw.path().canonicalize().unwrap();
    let junk = "/etc/opr-vm-test-junk";
    assert!(!Path::new(junk).exists(), "{junk} exists on the host before the test");
    let script = format!(
        r#"set -e
ip link add opr-vrf-test type vrf table 10
ip -d link show opr-vrf-test
echo "kernel=$(uname -r)"
echo "cwd=$(pwd)"
echo "var=$OPR_TEST_VAR"
echo "user=$(id -u)"
echo from-guest > '{rw}/result.txt'
echo junk > {junk}
test -f {junk}
"#,
        rw = rw_path.display()
    );
    let options = RunOptions {
        rw_share: Some(rw_path.clone()),
        env: vec![("OPR_TEST_VAR".into(), "it's set".into())],
        ..options()
    };
    let (result, out, _) = run_sh(&kit, &script, &options);
    assert_eq!(result.unwrap(), 0, "the script failed in the VM");
    assert!(out.contains("vrf table 10"), "VRF not created in the VM");
    assert!(out.contains(&format!("kernel={}\n", kit.kernel_release())));
    assert!(out.contains(&format!("cwd={}\n", crate_dir().canonicalize().unwrap().display())));
    assert!(out.contains("var=it's set\n"));
    assert!(out.contains("user=0\n"));
    assert_eq!(std::fs::read_to_string(rw_path.join("result.txt")).unwrap(), "from-guest\n", "rw share");
    assert!(!Path::new(junk).exists(), "a write outside the rw share reached the host");

    // The same command on the host fails where the host kernel has no VRF support (this
    // machine's): no vrf module loaded or loadable. A private network namespace keeps the host
    // untouched on a kernel that does have it.
    let host = std::process::Command::new("unshare")
        .args(["--net", "ip", "link", "add", "opr-vrf-test", "type", "vrf", "table", "10"])
        .output()
        .unwrap();
    let loadable =
        std::process::Command::new("modprobe").args(["-n", "vrf"]).output().is_ok_and(|o| o.status.success());
    if Path::new("/sys/module/vrf").exists() || loadable {
        eprintln!("NOTE: this host's kernel supports VRF itself, so the 'fails outside the VM' half does not apply");
    } else {
        assert!(!host.status.success(), "the host kernel has no vrf module, yet a VRF was created outside the VM");
        eprintln!("outside the VM, as expected: {}", String::from_utf8_lossy(&host.stderr).trim());
    }
}

#[test]
fn exit_status_and_exact_output() {
    let Some(kit) = kit() else { return };
    let script = "echo out-1; echo err-1 >&2; echo out-2; printf 'no-newline'; printf 'err-2' >&2; exit 3";
    let (result, out, err) = run_sh(&kit, script, &options());
    assert_eq!(result.unwrap(), 3);
    assert_eq!(out, "out-1\nout-2\nno-newline");
    assert_eq!(err, "err-1\nerr-2");
}

/// Chunks of output with their arrival times.
type Chunks = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// A writer that records when each chunk arrives.
#[derive(Clone, Default)]
struct Timed(Chunks);

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().push((Instant::now(), buf.to_vec()));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn output_streams_while_running_and_status_seven() {
    let Some(kit) = kit() else { return };
    let (out, err) = (Timed::default(), Timed::default());
    let command = ["sh", "-c", "echo first; echo first-err >&2; sleep 3; echo second; exit 7"];
    let status = vm::run_with_output(&kit, &command, &options(), &mut out.clone(), &mut err.clone());
    let done = Instant::now();
    assert_eq!(status.unwrap(), 7);
    let arrival = |timed: &Timed, text: &str| {
        let chunks = timed.0.lock().unwrap();
        let mut seen = Vec::new();
        for (at, chunk) in chunks.iter() {
            seen.extend_from_slice(chunk);
            if String::from_utf8_lossy(&seen).contains(text) {
                return *at;
            }
        }
        panic!("{text:?} never arrived; got {:?}", String::from_utf8_lossy(&seen));
    };
    let first = arrival(&out, "first\n");
    let first_err = arrival(&err, "first-err\n");
    let second = arrival(&out, "second\n");
    assert!(second.duration_since(first) >= Duration::from_secs(2), "stdout was not streamed");
    assert!(done.duration_since(first_err) >= Duration::from_secs(2), "stderr was not streamed");
}

#[test]
fn hung_command_times_out() {
    let Some(kit) = kit() else { return };
    let options = RunOptions { timeout: Duration::from_secs(20), ..options() };
    let started = Instant::now();
    let (result, out, _) = run_sh(&kit, "echo started; exec sleep 600", &options);
    let elapsed = started.elapsed();
    match result {
        Err(e @ VmError::Timeout { command_started: true, .. }) => {
            let message = e.to_string();
            assert!(message.contains("timed out after 20s while the command was running"), "{message}");
        }
        other => panic!("expected a timeout while the command ran, got {other:?}"),
    }
    assert_eq!(out, "started\n");
    assert!(elapsed < Duration::from_secs(30), "the timeout took {elapsed:?}");
}

#[test]
fn debian13_userland_runs_frr10_and_shows_the_command_directories() {
    let Some(kit) = kit() else { return };
    let root = match vm::prepare_debian13(kit.dir(), true) {
        Ok(root) => root,
        Err(e) if in_ci() => panic!("the Debian 13 root cannot be built, and CI must run the FRR 10 tests: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: the Debian 13 root cannot be built here ({e}); it is built under CI=true");
            return;
        }
    };
    let marker = format!("/tmp/opr-vm-userland-{}", std::process::id());
    std::fs::write(&marker, "from the host\n").unwrap();
    let script = format!(
        r#"set -e
echo "debian=$(cat /etc/debian_version)"
/usr/lib/frr/zebra --version | head -n 1
echo "cwd=$(pwd)"
test -f Cargo.toml && echo "cargo-toml=yes"
echo "marker=$(cat {marker})"
echo guest > {marker}
ip link add opr-vrf-u type vrf table 11 && echo "vrf=yes"
"#
    );
    let options = RunOptions { userland: vm::Userland::Root(root), ..options() };
    let (result, out, _) = run_sh(&kit, &script, &options);
    let after = std::fs::read_to_string(&marker).unwrap();
    std::fs::remove_file(&marker).ok();
    assert_eq!(after, "from the host\n", "the guest's write to /tmp must vanish with the VM");
    assert_eq!(result.unwrap(), 0);
    assert!(out.contains("debian=13."), "{out}");
    assert!(out.contains("zebra version 10."), "{out}");
    assert!(out.contains(&format!("cwd={}", crate_dir().display())), "{out}");
    assert!(out.contains("cargo-toml=yes") && out.contains("marker=from the host") && out.contains("vrf=yes"), "{out}");
}
