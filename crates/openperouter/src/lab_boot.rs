//! `openperouter lab boot-check`: host mode booted under systemd in the lab VM. The logic lives in
//! `lab::boot`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use lab::boot::BootCheckOptions;
use lab::vm::{FrrLine, KitOptions, Userland};

const HELP: &str = "\
Four boots of the VM's Debian 13 root (FRR 10.3) with systemd as PID 1, each starting from what
the previous one left on the root: 1. install host mode as docs/host-mode.md says (managed FRR),
enabled, nothing started; 2. the units come up by themselves: order, Ready, BGP sessions, traffic,
`systemctl restart openperouter` with no kernel change and no lost probe, `systemctl stop`
leaving forwarding alone, the journal with the agent's lines and without the BGP password; 3. the
same again, then the move to Debian's frr@perouter; 4. the pathspace variant at boot, all checks.
The lab fabric around the node is test harness (a unit built before the agent). Prints
boot-to-Ready per boot. Exit status 0 when every check of every boot passed, 1 otherwise.";

/// Arguments of `openperouter lab boot-check`.
#[derive(Args, Debug)]
#[command(after_help = HELP)]
pub struct BootCheckArgs {
    /// Kill a boot after S seconds.
    #[arg(long, value_name = "S", default_value_t = 900)]
    pub timeout: u64,
    /// Keep the work directory (the saved root changes, upper-N.tar) in DIR instead of a
    /// temporary one removed at the end.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Show the guest console (kernel, init and systemd messages).
    #[arg(long)]
    pub debug: bool,
    /// Start at boot N (2–4), from the root the boot before it saved in --work-dir.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4), requires = "work_dir")]
    pub start_at: u8,
}

/// Runs `openperouter lab boot-check`.
pub fn run(args: BootCheckArgs) -> Result<ExitCode> {
    let program = std::env::current_exe().context("finding this program's path")?;
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dist");
    let dist = dist.canonicalize().with_context(|| {
        format!("the repository's dist/ directory ({}) is needed: run this from a built checkout", dist.display())
    })?;
    let kit = lab::vm::prepare(&KitOptions { dir: lab::vm::default_kit_dir(), verbose: true })
        .context("preparing the VM kit")?;
    let Userland::Root(root) =
        Userland::for_frr(FrrLine::V10, kit.dir(), true).context("preparing the Debian 13 root")?
    else {
        bail!("the Debian 13 root was not prepared");
    };
    let (work, temporary) = match args.work_dir {
        Some(dir) => (dir, false),
        None => (std::env::temp_dir().join(format!("opr-boot-{}", std::process::id())), true),
    };
    let options = BootCheckOptions {
        program,
        dist,
        root,
        timeout: Duration::from_secs(args.timeout),
        debug: args.debug,
        start_at: usize::from(args.start_at),
    };
    let result = lab::boot::run(&kit, &options, &work, &mut std::io::stdout(), &mut std::io::stderr());
    if temporary {
        let _ = std::fs::remove_dir_all(&work);
    }
    let report = result?;
    println!("\nlab boot-check:");
    for (i, (what, status, took)) in report.boots.iter().enumerate() {
        let verdict = if *status == 0 { "PASS" } else { "FAIL" };
        println!("  {verdict} boot {}: {what} ({:.0} s)", i + usize::from(args.start_at), took.as_secs_f64());
    }
    for r in &report.results {
        println!("  {r}");
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
