//! `openperouter lab vm`: runs one command as root inside a VM that boots a stock Debian kernel
//! under qemu, for what this machine's kernel lacks (VRF, dummy and 802.1Q devices). The VM sees
//! the host's whole filesystem read-only (writes go to a throw-away overlay), runs the command in
//! the current directory and exits with its status. The logic lives in `lab::vm`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use lab::vm::{FrrLine, KitOptions, RunOptions, Userland, VmError};

/// Exit status when the VM timed out (as timeout(1) does).
const EXIT_TIMEOUT: u8 = 124;

const VM_HELP: &str = "\
Inside the VM: / is the userland's root (--frr 10: a Debian 13 root with FRR 10.3, showing the
working directory, this program's directory, its source tree, /tmp and every --bind at their own
paths; --frr 8: the host's root), read-only, under a tmpfs overlay (writes vanish with the VM);
/run and /dev/shm are empty; /lib/modules has the guest kernel's modules, so `ip link add x
type vrf` just works. The command runs as root in the current directory with stdin from /dev/null,
PATH from this shell, HOME=/root and nothing else from this environment (add variables with --env).
The first run downloads and unpacks the kernel and qemu (about 10 s, 550 MB; see --kit-dir). Each
run boots a VM (about 2.3 s on an idle machine) and each process started inside costs about 0.1 s:
batch work per boot.

Exit status: the command's; 124 if the VM timed out; 1 if the VM could not run it.

Example: openperouter lab vm -- sh -c 'ip link add red type vrf table 10 && ip -d link show red'";

/// Arguments of `openperouter lab vm`.
#[derive(Args, Debug)]
#[command(after_help = VM_HELP)]
pub struct VmArgs {
    /// Kill the VM after S seconds, boot included.
    #[arg(long, value_name = "S", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Mount host directory DIR read-write at the same path in the VM (for results).
    #[arg(long, value_name = "DIR")]
    pub rw: Option<PathBuf>,
    /// Only prepare the VM kit (kernel, qemu, initramfs) and print where it is.
    #[arg(long, conflicts_with = "command")]
    pub prepare_only: bool,
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(256..))]
    pub memory: u32,
    /// Guest CPUs.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub cpus: u32,
    /// Set a variable in the command's environment (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Show the guest console (kernel and init messages) and a host-side timeline on stderr.
    #[arg(long)]
    pub debug: bool,
    /// The VM kit's directory [default: $OPR_VMKIT_DIR, else <workspace>/target/vmkit].
    #[arg(long, value_name = "DIR")]
    pub kit_dir: Option<PathBuf>,
    /// The guest's userland by its FRR line: 10 is a Debian 13 root (FRR 10.3; built in the kit
    /// directory on first use, about 1 min), 8 the host's own root (Debian 12, FRR 8.4).
    #[arg(long, value_name = "LINE", default_value_t = lab::vm::DEFAULT_FRR_LINE)]
    pub frr: FrrLine,
    /// With --frr 10: also show host directory DIR at its own path in the guest (repeatable).
    /// The working directory, this program's directory, its source tree and /tmp always are.
    #[arg(long, value_name = "DIR")]
    pub bind: Vec<PathBuf>,
    /// Boot the Debian 13 root (--frr 10) with systemd as PID 1 and run the command as a oneshot
    /// unit of that boot (the VM powers off when it ends). /run/opr-vm/upper shows what the
    /// boot changed in the root (save it to a --rw directory with tar to boot it again).
    #[arg(long)]
    pub systemd: bool,
    /// Unpack this tar archive (saved from /run/opr-vm/upper by an earlier boot) over the root
    /// before booting.
    #[arg(long, value_name = "TAR")]
    pub upper_from: Option<PathBuf>,
    /// The command and its arguments, after `--` (not a shell line: use sh -c '…' for that).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Runs `openperouter lab vm`.
pub fn run(args: VmArgs) -> Result<ExitCode> {
    if !args.prepare_only && args.command.is_empty() {
        bail!("no command given: openperouter lab vm [OPTIONS] -- CMD [ARGS]...");
    }
    let mut env = Vec::new();
    for pair in &args.env {
        let (name, value) = pair.split_once('=').with_context(|| format!("--env {pair:?} is not NAME=VALUE"))?;
        env.push((OsString::from(name), OsString::from(value)));
    }
    let kit_options = KitOptions { dir: args.kit_dir.unwrap_or_else(lab::vm::default_kit_dir), verbose: true };
    let kit = lab::vm::prepare(&kit_options).context("preparing the VM kit")?;
    let userland = Userland::for_frr(args.frr, kit.dir(), true).context("preparing the VM's userland")?;
    if args.prepare_only {
        let root = match &userland {
            Userland::Host => "the host's root".to_string(),
            Userland::Root(dir) => dir.display().to_string(),
        };
        println!(
            "VM kit ready in {} (guest kernel {}; userland for FRR {}: {root})",
            kit.dir().display(),
            kit.kernel_release(),
            args.frr
        );
        return Ok(ExitCode::SUCCESS);
    }
    let options = RunOptions {
        timeout: Duration::from_secs(args.timeout),
        memory_mib: args.memory,
        cpus: args.cpus,
        rw_share: args.rw,
        debug: args.debug,
        cwd: None,
        env,
        userland,
        binds: args.bind,
        systemd: args.systemd,
        upper_from: args.upper_from,
    };
    match lab::vm::run(&kit, &args.command, &options) {
        Ok(status) => Ok(ExitCode::from(status)),
        Err(e @ VmError::Timeout { .. }) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_TIMEOUT))
        }
        Err(e) => Err(e.into()),
    }
}
