//! The boot lane (`openperouter lab boot-check`): host mode installed as `docs/host-mode.md`
//! tells a user, proven by booting the lab VM's Debian 13 root with systemd as PID 1.
//!
//! Four boots of the same root, each a [`crate::vm`] run with [`RunOptions::systemd`]; what a
//! boot changed in the root is saved at its end (`/run/opr-vm/upper`, as a tar archive in the
//! shared work directory) and unpacked over the root by the next one
//! ([`RunOptions::upper_from`]), so each boot starts from the disk the previous one left:
//!
//! 1. install: the binary, `dist/systemd/openperouter.service`, the configuration (the lab's
//!    PE configuration with the ToR session's password in `/etc/openperouter/secrets`), `systemctl
//!    enable` — nothing started;
//! 2. the units come up by themselves (managed FRR): order, Ready, sessions, traffic; `systemctl
//!    restart openperouter` under 100 ms probes with `ip monitor` in the router and host
//!    namespaces (0 changes, 0 lost probes); `systemctl stop` leaves forwarding alone; the
//!    journal has the agent's lines and not the password;
//! 3. the same root booted again comes up the same way; then the move to Debian's pathspace
//!    instance `frr@perouter` as the docs say;
//! 4. the pathspace variant at boot: the router namespace unit, then `frr@perouter` in it, then
//!    the agent; the same checks as boot 2.
//!
//! Real: systemd, the units from `dist/`, FRR, the kernel, the agent. Test harness: the lab
//! fabric around the node, built at boot by `opr-lab-fabric.service` before the agent, and a
//! drop-in that gives the agent the lab node's namespace as its host namespace
//! (`NetworkNamespacePath=/run/netns/b-node0`). The checks are in `boot.sh`, run inside each boot.
//! Only the Debian 13 root (FRR 10.3) carries systemd.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::vm::{Kit, RunOptions, Userland, VmError};

/// The script run by every boot.
const BOOT_SH: &str = include_str!("boot.sh");
/// The harness unit that builds the lab fabric at boot.
const FABRIC_UNIT: &str = include_str!("opr-lab-fabric.service");
/// The harness drop-in for `openperouter.service`.
const NODE_DROP_IN: &str = include_str!("lab-node.conf");
/// Gives the ToR the node session's password.
const TOR_PASSWORD_SH: &str = include_str!("tor-password.sh");

/// How to run the lane.
#[derive(Debug, Clone)]
pub struct BootCheckOptions {
    /// The `openperouter` binary installed in the guest as `/usr/local/bin/openperouter`.
    pub program: PathBuf,
    /// The repository's `dist/` directory (the units and FRR files a user installs).
    pub dist: PathBuf,
    /// The Debian 13 root (it carries systemd).
    pub root: PathBuf,
    /// Limit for each boot.
    pub timeout: Duration,
    /// Show the guest console.
    pub debug: bool,
    /// The first boot to run (1–4); a later one needs the archive the boot before it saved in
    /// the work directory (`upper-N.tar`).
    pub start_at: usize,
}

/// Why the lane could not run (a check that fails is not an error: see [`BootReport`]).
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("boot {boot} ({what}): {source}")]
    Vm {
        boot: usize,
        what: &'static str,
        #[source]
        source: VmError,
    },
}

/// What the lane saw.
#[derive(Debug, Default)]
pub struct BootReport {
    /// Per boot: what it did, its exit status (0: every check passed) and how long it took.
    pub boots: Vec<(&'static str, u8, Duration)>,
    /// The `RESULT …` lines the boots printed (boot-to-Ready, restart-to-Ready).
    pub results: Vec<String>,
}

impl BootReport {
    /// Whether every boot passed.
    pub fn passed(&self) -> bool {
        self.boots.last().is_some_and(|(what, _, _)| *what == BOOTS[BOOTS.len() - 1].0)
            && self.boots.iter().all(|(_, status, _)| *status == 0)
    }
}

/// The boots: what each does (`boot.sh` arguments) and how it is described.
const BOOTS: [(&str, &[&str]); 4] = [
    ("install (managed FRR)", &["install"]),
    ("first boot after install: managed FRR, all checks", &["check", "managed"]),
    ("second boot: managed FRR again, then move to frr@perouter", &["check", "managed", "switch"]),
    ("boot with frr@perouter (pathspace), all checks", &["check", "pathspace"]),
];

/// The lab's PE configuration with the ToR session's password read from a file, as a host-mode
/// user keeps it (`passwordSecret`, `/etc/openperouter/secrets/tor-bgp/password`).
fn pe_config() -> String {
    crate::pe::DEFAULT_PE_CONFIG.replacen(
        "      address: 192.168.11.2\n",
        "      address: 192.168.11.2\n      passwordSecret: {name: tor-bgp}\n",
        1,
    )
}

/// A password nobody logs: random, so that finding it in the journal cannot be a coincidence.
fn password() -> Result<String, BootError> {
    let mut bytes = [0u8; 12];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|source| BootError::Io { context: "reading /dev/urandom".into(), source })?;
    Ok(format!("opr{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// A writer that copies to another and keeps the lines starting with `RESULT `.
struct Tee<'a> {
    out: &'a mut (dyn Write + Send),
    line: Vec<u8>,
    results: Vec<String>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.line).into_owned();
                if let Some(r) = line.strip_prefix("RESULT ") {
                    self.results.push(r.to_string());
                }
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
        self.out.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Runs the four boots in `work` (a host directory shared read-write with the guest; the root's
/// saved changes are kept there), printing each boot's output to `out` and `err`. Stops at the
/// first boot that fails.
pub fn run(
    kit: &Kit,
    options: &BootCheckOptions,
    work: &Path,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<BootReport, BootError> {
    let io_err = |context: String| move |source| BootError::Io { context, source };
    fs::create_dir_all(work).map_err(io_err(format!("creating {}", work.display())))?;
    let secret = password()?;
    for (name, text) in [
        ("boot.sh", BOOT_SH.to_string()),
        ("opr-lab-fabric.service", FABRIC_UNIT.to_string()),
        ("lab-node.conf", NODE_DROP_IN.to_string()),
        ("tor-password.sh", TOR_PASSWORD_SH.to_string()),
        ("openpe.yaml", pe_config()),
        ("password", format!("{secret}\n")),
    ] {
        let path = work.join(name);
        fs::write(&path, text).map_err(io_err(format!("writing {}", path.display())))?;
    }
    let mut report = BootReport::default();
    for (i, (what, args)) in BOOTS.iter().enumerate().skip(options.start_at.saturating_sub(1)) {
        let n = i + 1;
        let mut command: Vec<String> = vec!["bash".into(), work.join("boot.sh").display().to_string()];
        command.push(work.display().to_string());
        command.extend(args.iter().map(|a| a.to_string()));
        let vm_options = RunOptions {
            timeout: options.timeout,
            memory_mib: 4096,
            rw_share: Some(work.to_path_buf()),
            debug: options.debug,
            cwd: Some(work.to_path_buf()),
            env: vec![
                ("BIN".into(), options.program.clone().into()),
                ("DIST".into(), options.dist.clone().into()),
                ("BOOT_N".into(), n.to_string().into()),
            ],
            userland: Userland::Root(options.root.clone()),
            binds: vec![options.dist.clone()],
            systemd: true,
            upper_from: (n > 1).then(|| work.join(format!("upper-{}.tar", n - 1))),
            ..RunOptions::default()
        };
        let _ = writeln!(out, "== boot {n} of {}: {what}", BOOTS.len());
        let started = Instant::now();
        let mut tee = Tee { out: &mut *out, line: Vec::new(), results: Vec::new() };
        let status = crate::vm::run_with_output(kit, &command, &vm_options, &mut tee, err)
            .map_err(|source| BootError::Vm { boot: n, what, source })?;
        report.results.append(&mut tee.results);
        report.boots.push((what, status, started.elapsed()));
        if status != 0 {
            break;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pe_configuration_takes_the_tor_password_from_a_file() {
        let config = pe_config();
        assert!(config.contains("address: 192.168.11.2\n      passwordSecret: {name: tor-bgp}\n"), "{config}");
    }

    #[test]
    fn results_are_collected_from_the_output() {
        let mut sink = Vec::new();
        let mut tee = Tee { out: &mut sink, line: Vec::new(), results: Vec::new() };
        tee.write_all(b"PASS x\nRESULT boot 2: Ready 3.0 s\nRES").unwrap();
        tee.write_all(b"ULT second\n").unwrap();
        assert_eq!(tee.results, vec!["boot 2: Ready 3.0 s".to_string(), "second".to_string()]);
        assert_eq!(sink, b"PASS x\nRESULT boot 2: Ready 3.0 s\nRESULT second\n");
    }
}
