//! Loads every representative config into real FRR daemons and checks that
//! the canonical rendering is what FRR prints back.
//!
//! Needs root and FRR 8.4 (zebra, bgpd, staticd, bfdd, vtysh,
//! frr-reload.py), `ip` and `unshare`; otherwise the test is skipped with a
//! loud message. Each config gets fresh daemons in its own uniquely named
//! network namespace and UTS namespace (so that the hostname FRR prints is
//! the config's), with private pid/socket paths in a temporary directory.
//! Everything is torn down by a guard, even on failure: all daemons get
//! SIGTERM at once, then are waited for (SIGKILL after a deadline), then the
//! namespaces are deleted.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use frr::Config;

const FRR_DIR: &str = "/usr/lib/frr";
const DAEMONS: &[&str] = &["zebra", "bgpd", "staticd", "bfdd"];
const DEFAULT_HOSTNAME: &str = "frr-live";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Why the live test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !is_root() {
        return Some("not running as root".into());
    }
    for daemon in DAEMONS {
        let path = Path::new(FRR_DIR).join(daemon);
        if !path.is_file() {
            return Some(format!("{} not found", path.display()));
        }
    }
    if !Path::new(FRR_DIR).join("frr-reload.py").is_file() {
        return Some("frr-reload.py not found".into());
    }
    for program in ["vtysh", "ip", "unshare", "timeout", "chown"] {
        if !in_path(program) {
            return Some(format!("{program} not found in PATH"));
        }
    }
    None
}

/// One set of FRR daemons in its own network namespace.
struct Instance {
    netns: String,
    hostname: String,
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
}

impl Instance {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn socket_dir(&self) -> &str {
        // The temporary directory path is valid UTF-8: it is made of the
        // ASCII prefix below and the system temp dir.
        self.dir.path().to_str().unwrap_or_default()
    }

    /// `args` run inside the instance's network namespace and in a fresh UTS
    /// namespace whose hostname is the instance's hostname.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, "unshare", "--uts", "sh", "-c"])
            .arg(r#"hostname "$0" && exec "$@""#)
            .arg(&self.hostname)
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut full = vec!["timeout", "120"];
        full.extend_from_slice(args);
        match self.command(&full).stdin(Stdio::null()).output() {
            Ok(output) => output,
            Err(err) => panic!("cannot run {args:?}: {err}"),
        }
    }

    fn vtysh(&self, args: &[&str]) -> Output {
        let mut full = vec!["vtysh", "--vty_socket", self.socket_dir()];
        full.extend_from_slice(args);
        self.run(&full)
    }
}

/// All instances; its Drop tears everything down.
#[derive(Default)]
struct Fleet {
    instances: Vec<Instance>,
}

impl Fleet {
    fn start(&mut self, index: usize, hostname: &str) -> Result<&Instance, String> {
        let netns = format!("frrlive-{}-{index}", std::process::id());
        let dir = tempfile::Builder::new().prefix("frr-live-").tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let status =
            Command::new("ip").args(["netns", "add", &netns]).status().map_err(|e| format!("ip netns add: {e}"))?;
        if !status.success() {
            return Err(format!("ip netns add {netns} failed: {status}"));
        }
        // From here on the guard owns the namespace.
        self.instances.push(Instance { netns, hostname: hostname.to_string(), dir, daemons: Vec::new() });
        let last = self.instances.len() - 1;
        let inst = &mut self.instances[last];

        let setup = inst
            .command(&[
                "sh",
                "-c",
                "ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward \
                 && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding",
            ])
            .status()
            .map_err(|e| format!("netns setup: {e}"))?;
        if !setup.success() {
            return Err(format!("netns setup failed: {setup}"));
        }
        std::fs::write(inst.path("vtysh.conf"), "service integrated-vtysh-config\n")
            .map_err(|e| format!("vtysh.conf: {e}"))?;
        let chown = Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(inst.dir.path())
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !chown.success() {
            return Err(format!("chown frr:frr failed: {chown}"));
        }

        for daemon in DAEMONS {
            let binary = Path::new(FRR_DIR).join(daemon);
            let log = File::create(inst.path(&format!("{daemon}.log"))).map_err(|e| format!("log file: {e}"))?;
            let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
            let pid_file = inst.path(&format!("{daemon}.pid"));
            let zserv = inst.path("zserv.api");
            let child = inst
                .command(&[])
                .arg(&binary)
                .arg("-i")
                .arg(&pid_file)
                .arg("-z")
                .arg(&zserv)
                .args(["--vty_socket", inst.socket_dir(), "-P", "0", "-f", "/dev/null"])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(|e| format!("spawn {daemon}: {e}"))?;
            inst.daemons.push(child);
            // Clients need zebra's API socket, vtysh the daemon's vty socket.
            let mut wait_for = vec![inst.path(&format!("{daemon}.vty"))];
            if *daemon == "zebra" {
                wait_for.push(zserv);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while !wait_for.iter().all(|p| p.exists()) {
                if let Some(child) = inst.daemons.last_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    let log = std::fs::read_to_string(inst.path(&format!("{daemon}.log"))).unwrap_or_default();
                    return Err(format!("{daemon} exited early ({status}):\n{log}"));
                }
                if Instant::now() > deadline {
                    return Err(format!("{daemon} did not create {wait_for:?}"));
                }
                sleep(Duration::from_millis(20));
            }
        }
        Ok(&self.instances[last])
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // SIGTERM every daemon at once: each graceful stop takes ~1.5 s.
        let pids: Vec<String> =
            self.instances.iter().flat_map(|i| i.daemons.iter()).map(|c| c.id().to_string()).collect();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-TERM").args(&pids).status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for child in self.instances.iter_mut().flat_map(|i| i.daemons.iter_mut()) {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => sleep(Duration::from_millis(20)),
                }
            }
        }
        for inst in &self.instances {
            let _ = Command::new("ip").args(["netns", "delete", &inst.netns]).status();
        }
        // The temporary directories are removed by their own Drop.
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lines `frr-reload.py --test` wants to add or delete.
fn reload_delta(stdout: &str, config: &Config) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && *l != "Lines To Delete" && *l != "Lines To Add")
        .filter(|l| !l.starts_with("===="))
        // Without a configured hostname, frr-reload offers to remove FRR's
        // (the system's) hostname: that is expected.
        .filter(|l| config.hostname.is_some() || !(l.starts_with("hostname ") || l.starts_with("no hostname ")))
        .map(str::to_string)
        .collect()
}

fn first_difference(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let index = exp.iter().zip(act.iter()).position(|(a, b)| a != b).unwrap_or(exp.len().min(act.len()));
    format!("first difference at line {}: expected {:?}, FRR printed {:?}", index + 1, exp.get(index), act.get(index))
}

fn check(inst: &Instance, name: &str, config: &Config) -> Result<(), String> {
    let file = inst.path("frr.conf");
    std::fs::write(&file, config.render()).map_err(|e| format!("write: {e}"))?;
    let file = file.to_string_lossy().into_owned();

    let load = inst.vtysh(&["-f", &file]);
    if !load.status.success() {
        return Err(format!(
            "{name}: vtysh -f failed ({}):\n{}{}",
            load.status,
            text(&load.stdout),
            text(&load.stderr)
        ));
    }

    let show = inst.vtysh(&["-c", "show running-config"]);
    if !show.status.success() {
        return Err(format!("{name}: show running-config failed: {}", text(&show.stderr)));
    }
    let running = config.normalize_running(&text(&show.stdout));
    let expected = config.render();
    if running != expected {
        return Err(format!(
            "{name}: show running-config differs from render(); {}\n--- render() ---\n{}--- FRR (normalised) ---\n{}--- FRR (raw) ---\n{}",
            first_difference(&expected, &running),
            config.render_redacted(),
            running,
            text(&show.stdout),
        ));
    }

    let reload = inst.run(&[
        &format!("{FRR_DIR}/frr-reload.py"),
        "--test",
        "--vty_socket",
        inst.socket_dir(),
        "--confdir",
        inst.socket_dir(),
        "--rundir",
        inst.socket_dir(),
        "--bindir",
        "/usr/bin",
        &file,
    ]);
    let stdout = text(&reload.stdout);
    if !reload.status.success() {
        return Err(format!(
            "{name}: frr-reload.py --test failed ({}):\n{stdout}{}",
            reload.status,
            text(&reload.stderr)
        ));
    }
    let delta = reload_delta(&stdout, config);
    if !delta.is_empty() {
        return Err(format!("{name}: frr-reload.py --test wants changes:\n{}", delta.join("\n")));
    }
    Ok(())
}

#[test]
fn frr_prints_back_the_canonical_rendering() {
    if let Some(reason) = missing_prerequisite() {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED live FRR test: {reason}\n\
             !!! The canonical form was NOT verified against real FRR daemons.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    }
    let configs = common::representative();
    let mut fleet = Fleet::default();
    let mut failures = Vec::new();
    let mut started = Vec::new();
    for (index, (name, config)) in configs.iter().enumerate() {
        let hostname = config.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME);
        match fleet.start(index, hostname) {
            Ok(_) => started.push((index, *name, config)),
            Err(err) => failures.push(format!("{name}: cannot start FRR: {err}")),
        }
    }
    for (index, name, config) in started {
        let inst = fleet.instances.iter().find(|i| i.netns.ends_with(&format!("-{index}")));
        match inst {
            Some(inst) => {
                if let Err(err) = check(inst, name, config) {
                    failures.push(err);
                }
            }
            None => failures.push(format!("{name}: instance lost")),
        }
    }
    let checked = configs.len();
    drop(fleet);
    assert!(failures.is_empty(), "{} of {checked} configs failed:\n\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("live FRR: {checked} configs loaded, printed back canonically, empty reload delta");
}
