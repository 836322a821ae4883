//! `openperouter lab up|status|down`: the fabric lab (spine, two EVPN leaves with external hosts,
//! a ToR, a switch and N nodes, each a namespace; FRR in every routing namespace). The logic
//! lives in `lab::control`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use lab::fabric::LabSpec;
use lab::vm::{KitOptions, RunOptions, VmError};
use lab::{LabError, LabOptions};

const UP_HELP: &str = "\
The lab is a set of network namespaces named <NAME>-spine, <NAME>-leafA, <NAME>-leafB, <NAME>-tor,
<NAME>-switch, <NAME>-host*, <NAME>-node<i> (the node's host, with a BGP speaker) and
<NAME>-node<i>-pe (empty: reserved for the node's PE router), with FRR in every routing namespace
and its files in /run/openperouter-lab/<NAME>. `up` refuses to run when a lab of that name exists;
on failure it removes everything it made.

The leaves' tenant VRFs need a kernel with VRF devices. Without one, use --vm (the whole job in a
VM booting a stock kernel: up, status, your command if any, down; nothing persists after the VM)
or --no-vrf (the fabric without tenant VRFs, on this kernel).

Examples:
  openperouter lab up --no-vrf && openperouter lab status && openperouter lab down
  openperouter lab up --vm -- ip netns exec opr-leafA ip -br link";

/// Arguments of `openperouter lab up`.
#[derive(Args, Debug)]
#[command(after_help = UP_HELP)]
pub struct UpArgs {
    /// Lab name: prefixes every namespace and the run directory (letters and digits).
    #[arg(long, default_value = "opr")]
    pub name: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub nodes: u32,
    /// Leaves without tenant VRFs (red/blue host links in the default VRF): works on kernels
    /// without VRF devices.
    #[arg(long)]
    pub no_vrf: bool,
    /// Do it all inside a VM booting a stock kernel (with VRFs): up, status, CMD, down; exits
    /// with the first failure's status.
    #[arg(long)]
    pub vm: bool,
    /// With --vm: the FRR line of the VM's userland (fabric routers and PEs alike): 10 is
    /// Debian 13's FRR 10.3, 8 Debian 12's FRR 8.4. Without --vm, the lab runs the installed FRR.
    #[arg(long, value_name = "LINE", default_value_t = lab::vm::DEFAULT_FRR_LINE, requires = "vm")]
    pub frr: lab::vm::FrrLine,
    /// Seconds to wait for every fabric BGP session (and, with --vm, for the whole VM run ×4).
    #[arg(long, value_name = "S", default_value_t = 90)]
    pub timeout: u64,
    /// Leave the nodes' router namespaces empty: no node agents, no PEs.
    #[arg(long)]
    pub no_pe: bool,
    /// The fabric: evpn (leaves with L3VNIs over EVPN/VXLAN), srv6 (the same plus IS-IS on
    /// the ToR and an SRv6 leaf, leafS, with a host in VRF red, which the PEs carry as an
    /// L3VPN over SRv6: needs FRR 10; the PEs get examples/lab-srv6/openpe.yaml), or ipv6
    /// (evpn on an IPv6-only underlay: node0 peers with the ToR over IPv6, node1 unnumbered).
    #[arg(long, value_enum, default_value_t = Fabric::Evpn)]
    pub fabric: Fabric,
    /// The nodes' BGP speakers, one per node in order or one for all: frr (as FRR-K8s and
    /// MetalLB run it), bird (BIRD 2, as Calico runs it), gobgp (as Cilium and kube-vip run it:
    /// no listener; the lab installs its learned routes into the node's kernel, as a CNI would).
    #[arg(long, value_name = "KIND,…", default_value = "frr")]
    pub speakers: String,
    /// The PE configuration every node's agent gets (default: the built-in copy of
    /// examples/lab/openpe.yaml).
    #[arg(long, value_name = "FILE", conflicts_with = "no_pe")]
    pub pe_config: Option<PathBuf>,
    /// With --vm: a command to run in the VM while the lab is up (after `status`); this
    /// program's directory is first in its PATH, so `openperouter lab check` works.
    #[arg(last = true, value_name = "CMD", requires = "vm")]
    pub command: Vec<OsString>,
}

/// The lab's fabric (`lab up --fabric`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fabric {
    /// EVPN/VXLAN leaves only.
    Evpn,
    /// EVPN/VXLAN leaves and an SRv6 leaf with IS-IS.
    Srv6,
    /// EVPN/VXLAN leaves on an IPv6-only underlay: IPv6 fabric sessions, node0 numbered,
    /// node1 unnumbered.
    Ipv6,
}

/// Arguments of `openperouter lab status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Lab name.
    #[arg(long, default_value = "opr")]
    pub name: String,
}

/// Arguments of `openperouter lab check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Lab name.
    #[arg(long, default_value = "opr")]
    pub name: String,
    /// Run only the scenarios whose name contains this text (repeatable; the others are reported as
    /// SKIP), e.g. `--only CNI` or `--only "underlay sessions"`.
    #[arg(long, value_name = "TEXT")]
    pub only: Vec<String>,
    /// Leave out the scenarios whose name contains this text (repeatable), e.g. `--skip churn`.
    #[arg(long, value_name = "TEXT")]
    pub skip: Vec<String>,
}

/// Arguments of `openperouter lab down`.
#[derive(Args, Debug)]
pub struct DownArgs {
    /// Lab name.
    #[arg(long, default_value = "opr")]
    pub name: String,
    /// Node count, only used when the lab's run directory is gone (node namespaces of the lab's
    /// name are found in /run/netns anyway).
    #[arg(long, default_value_t = 2)]
    pub nodes: u32,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `openperouter lab up`.
pub fn up(args: UpArgs) -> Result<ExitCode> {
    if args.vm {
        return up_in_vm(&args);
    }
    let speakers =
        lab::speaker::parse_list(&args.speakers, args.nodes).map_err(|e| anyhow::anyhow!("--speakers: {e}"))?;
    let spec = LabSpec {
        prefix: args.name.clone(),
        nodes: args.nodes,
        vrf: !args.no_vrf,
        speakers,
        srv6: args.fabric == Fabric::Srv6,
        ipv6: args.fabric == Fabric::Ipv6,
    };
    let mut options = LabOptions::new(spec);
    options.wait_timeout = Duration::from_secs(args.timeout);
    options.program = Some(std::env::current_exe().context("finding this program's path")?);
    if !args.no_pe {
        if args.no_vrf {
            anyhow::bail!("the PEs need VRFs: use --no-pe together with --no-vrf");
        }
        let config = match &args.pe_config {
            Some(p) => Some(std::fs::canonicalize(p).with_context(|| format!("--pe-config {}", p.display()))?),
            None => None,
        };
        let program = std::env::current_exe().context("finding this program's path")?;
        options.pe = Some(lab::pe::PeOptions { config, program });
    }
    let start = Instant::now();
    println!(
        "lab {}: {} nodes, tenant VRFs {}, PEs {}",
        args.name,
        args.nodes,
        if args.no_vrf { "off" } else { "red/blue" },
        if args.no_pe { "off (empty router namespaces)" } else { "one node agent per node" }
    );
    let mut progress = |line: &str| println!("  {line}");
    let result = runtime()?.block_on(lab::up(&options, &mut progress));
    match result {
        Ok(_) => {
            println!(
                "lab {} is up in {:.1} s; see `openperouter lab status --name {}`",
                args.name,
                start.elapsed().as_secs_f64(),
                args.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ LabError::NoVrf { .. }) => Err(anyhow::Error::new(e)),
        Err(e) => Err(anyhow::Error::new(e).context(format!("lab {} did not come up", args.name))),
    }
}

/// `openperouter lab status`: exit status 0 when healthy, 1 otherwise.
pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let lab = lab::Lab::open(&args.name, Path::new(lab::DEFAULT_RUN_ROOT))?;
    let status = runtime()?.block_on(lab::status(&lab));
    print!("{status}");
    Ok(if status.healthy() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `openperouter lab check`: runs the scenarios, prints the table; exit status 1 when any fails.
pub fn check(args: CheckArgs) -> Result<ExitCode> {
    let lab = lab::Lab::open(&args.name, Path::new(lab::DEFAULT_RUN_ROOT))?;
    println!("lab {}: checking {} nodes", args.name, lab.options.spec.nodes);
    let mut progress = |o: &lab::check::Outcome| {
        let v = match o.verdict {
            lab::check::Verdict::Pass => "PASS",
            lab::check::Verdict::Fail => "FAIL",
            lab::check::Verdict::Skip => "SKIP",
        };
        println!("  {v} {} ({:.1} s)", o.name, o.took.as_secs_f64());
    };
    let report = runtime()?.block_on(lab::check::run(&lab, &args.only, &args.skip, &mut progress));
    println!();
    print!("{report}");
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Arguments of `openperouter lab gobgp-fib` (started by `lab up` on GoBGP nodes).
#[derive(Args, Debug)]
pub struct GobgpFibArgs {
    /// GoBGP's API, as `gobgp --target` takes it (`unix:///…/gobgpd.sock`).
    #[arg(long)]
    pub target: String,
}

/// `openperouter lab gobgp-fib`: installs GoBGP's learned routes into this namespace's kernel
/// until killed (see `lab::speaker::fib`).
pub fn gobgp_fib(args: GobgpFibArgs) -> Result<ExitCode> {
    lab::speaker::fib::run(&args.target, Duration::from_secs(1)).map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

/// `openperouter lab down`.
pub fn down(args: DownArgs) -> Result<ExitCode> {
    let report = lab::down(&args.name, Path::new(lab::DEFAULT_RUN_ROOT), args.nodes)?;
    if report.removed_anything() {
        println!(
            "lab {}: stopped {} FRR instances{}{}, removed {} namespaces{}{}",
            args.name,
            report.instances,
            if report.speakers.is_empty() {
                String::new()
            } else {
                format!(" and {} BIRD/GoBGP speaker processes", report.speakers.len())
            },
            if report.ovs.is_empty() { String::new() } else { format!(", {} Open vSwitch daemons", report.ovs.len()) },
            report.namespaces.len(),
            if report.stray_processes.is_empty() {
                String::new()
            } else {
                format!(", killed stray processes {:?}", report.stray_processes)
            },
            report.run_dir.map(|d| format!(" and {}", d.display())).unwrap_or_default()
        );
    } else {
        println!("lab {}: nothing to remove", args.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// Quotes a word for sh.
fn sh_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=+,@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `lab up --vm`: one VM boot runs `up`, `status`, the user's command and `down`.
fn up_in_vm(args: &UpArgs) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    let exe = sh_quote(&exe.to_string_lossy());
    let name = sh_quote(&args.name);
    lab::speaker::parse_list(&args.speakers, args.nodes).map_err(|e| anyhow::anyhow!("--speakers: {e}"))?;
    let mut vrf = if args.no_vrf { " --no-vrf".to_string() } else { String::new() };
    vrf.push_str(&format!(" --speakers {}", sh_quote(&args.speakers)));
    if args.no_pe {
        vrf.push_str(" --no-pe");
    }
    if args.fabric == Fabric::Srv6 {
        if args.frr != lab::vm::FrrLine::V10 {
            anyhow::bail!("--fabric srv6 needs FRR 10 (SRv6 micro-SIDs): use --frr 10");
        }
        vrf.push_str(" --fabric srv6");
    }
    if args.fabric == Fabric::Ipv6 {
        vrf.push_str(" --fabric ipv6");
    }
    if let Some(p) = &args.pe_config {
        let p = std::fs::canonicalize(p).with_context(|| format!("--pe-config {}", p.display()))?;
        vrf.push_str(&format!(" --pe-config {}", sh_quote(&p.to_string_lossy())));
    }
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let user = if args.command.is_empty() {
        String::new()
    } else {
        let words: Vec<String> = args.command.iter().map(|w| sh_quote(&w.to_string_lossy())).collect();
        format!(
            " && {{ echo '== lab: running the command'; PATH={}:\"$PATH\" {}; }}",
            sh_quote(&bin_dir),
            words.join(" ")
        )
    };
    let script = format!(
        "{exe} lab up --name {name} --nodes {nodes} --timeout {t}{vrf} && {exe} lab status --name {name}{user}; \
         rc=$?; {exe} lab down --name {name} || {{ [ $rc -ne 0 ] || rc=1; }}; exit $rc",
        nodes = args.nodes,
        t = args.timeout,
    );
    let kit = lab::vm::prepare(&KitOptions { dir: lab::vm::default_kit_dir(), verbose: true })
        .context("preparing the VM kit")?;
    let userland = lab::vm::Userland::for_frr(args.frr, kit.dir(), true).context("preparing the VM's userland")?;
    let cwd = std::env::current_dir().ok().filter(|d| !d.starts_with("/run") && !d.starts_with("/dev/shm"));
    let options = RunOptions {
        timeout: Duration::from_secs(args.timeout.saturating_mul(4).max(120)),
        cwd: Some(cwd.unwrap_or_else(|| PathBuf::from("/"))),
        env: std::env::var_os("RUST_LOG").map(|v| (OsString::from("RUST_LOG"), v)).into_iter().collect(),
        // Eight FRR instances, two node agents and the checks' processes.
        memory_mib: 4096,
        userland,
        ..RunOptions::default()
    };
    eprintln!(
        "== lab: booting a VM (guest kernel {}, FRR {} userland) for up, status and down",
        kit.kernel_release(),
        args.frr
    );
    match lab::vm::run(&kit, &["sh", "-c", &script], &options) {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(VmError::Timeout { .. }) => {
            eprintln!("error: the VM timed out");
            Ok(ExitCode::from(124))
        }
        Err(e) => Err(anyhow::Error::new(e).context("running the lab in the VM")),
    }
}
