//! `openperouter`: the command-line entry point. It parses arguments and prints; the logic lives
//! in the library crates.

mod host_cmd;
mod k8s_cmd;
mod lab_boot;
mod lab_cmd;
mod lab_vm;
mod output;
mod reloader_cmd;
mod status_cluster;
mod status_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_HELP: &str = "\
Exit status:
  0  success (for validate: every resource is valid on the node)
  1  some resources are invalid on the node (validate, plan), or nothing can be rendered
     because the Underlay is invalid (render)
  2  the input cannot be read: missing file, malformed YAML, unknown kind or field, wrong type";

/// A Provider Edge router for Kubernetes nodes and Linux hosts: EVPN/VXLAN towards the fabric,
/// a veth and a BGP session (or a layer-2 segment) towards the host.
#[derive(Parser, Debug)]
#[command(name = "openperouter", version, after_help = EXIT_HELP)]
struct Cli {
    /// Log level of this program (its logs go to stderr).
    #[arg(long, global = true, default_value = "warn", value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the FRR configuration a node would run.
    #[command(after_help = EXIT_HELP)]
    Render(NodeArgs),
    /// Show everything a node would build: kernel objects per namespace, the FRR configuration
    /// and the per-resource outcome.
    #[command(after_help = EXIT_HELP)]
    Plan {
        #[command(flatten)]
        node: NodeArgs,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Instead of the plan, print the kernel operations applying it would run against the
        /// live router namespace of this name (read-only; root).
        #[arg(long, value_name = "ROUTER_NETNS")]
        diff: Option<String>,
        /// With --diff: the host namespace, by name or path (default: this process's).
        #[arg(long, requires = "diff")]
        host_netns: Option<String>,
        /// With --diff: the directory of the node's FRR vty sockets, to print the FRR lines the
        /// applier would delete and add (default: the host agent's managed FRR,
        /// /var/run/openperouter/frr/ROUTER_NETNS, else the pathspace /var/run/frr/ROUTER_NETNS).
        #[arg(long, requires = "diff", value_name = "DIR")]
        frr_vty: Option<PathBuf>,
        /// With --diff: the Open vSwitch database, to print the steps for L2VNIs with an
        /// OVSBridge host master (read-only; not asked when nothing is on Open vSwitch and the
        /// socket does not exist).
        #[arg(long, requires = "diff", value_name = "SOCKET", default_value = dataplane::ovs::DEFAULT_SOCKET)]
        ovs_socket: String,
        /// With --diff: the CNI cache of the node's agent, to print the CNI steps for
        /// `CNIDevice` underlay interfaces (read-only: no plugin runs).
        #[arg(long, requires = "diff", value_name = "DIR", default_value = agent::config::DEFAULT_CNI_CACHE_DIR)]
        cni_cache_dir: PathBuf,
    },
    /// Check that every resource is valid for a node.
    #[command(after_help = EXIT_HELP)]
    Validate(NodeArgs),
    /// Print the CustomResourceDefinitions of every kind.
    Crds,
    /// Serve the admission webhooks over HTTPS (certificate files reloaded when they change).
    Webhook(k8s_cmd::WebhookArgs),
    /// Give every Node an index in the annotation openpe.io/nodeindex (leader-elected with a
    /// coordination.k8s.io Lease).
    Nodemarker(k8s_cmd::NodemarkerArgs),
    /// The per-node controller (DaemonSet): apply the cluster's configuration for this node
    /// (router namespace, FRR through the reloader socket, kernel) and report it in
    /// RouterNodeConfigurationStatus.
    Controller(k8s_cmd::ControllerArgs),
    /// Serve FRR config reloads on a unix socket (the router pod's sidecar): `POST /` applies
    /// the config file with the incremental applier; `/healthz` and `/readyz` on TCP check FRR's
    /// daemons.
    Reloader(reloader_cmd::ReloaderArgs),
    /// Run the node agent on a Linux host: apply static files and/or manifests from a
    /// directory to the router namespace, FRR and the host, and keep them applied.
    Host(host_cmd::HostArgs),
    /// The node at a glance, from a running agent: per VNI kernel, FRR and host-session state,
    /// BGP sessions, failed resources. Exits 1 when the node is not Ready.
    Status(status_cmd::StatusArgs),
    /// The one-machine test-bed.
    #[command(subcommand)]
    Lab(LabCommand),
}

#[derive(Subcommand, Debug)]
enum LabCommand {
    /// Run a command as root in a VM booting a stock Debian kernel (VRF, dummy and 802.1Q
    /// devices available); exits with the command's status.
    Vm(lab_vm::VmArgs),
    /// Build the fabric lab (spine, leaves with external hosts, ToR, switch, N nodes; FRR in
    /// every routing namespace) and wait until every fabric BGP session is Established.
    Up(lab_cmd::UpArgs),
    /// Show the lab: namespaces, FRR daemons, BGP sessions. Exits 1 when anything is unhealthy.
    Status(lab_cmd::StatusArgs),
    /// Remove everything a lab made: FRR processes, namespaces, run directory (idempotent).
    Down(lab_cmd::DownArgs),
    /// Run the scenarios (sessions, routes, pod traffic, L2 stretch, resilience…) against a lab
    /// with PEs; prints a pass/fail table with timings, exits 1 when any fails.
    Check(lab_cmd::CheckArgs),
    /// Boot the VM's Debian 13 root with systemd as PID 1, host mode installed as
    /// docs/host-mode.md says, and check it comes up by itself (managed FRR, then frr@perouter).
    BootCheck(lab_boot::BootCheckArgs),
    /// Install a GoBGP node speaker's learned routes into the node's kernel (run by `lab up`).
    #[command(hide = true)]
    GobgpFib(lab_cmd::GobgpFibArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// Tables for humans.
    Text,
    /// Machine-readable JSON.
    Json,
}

/// Inputs and node identity shared by render, plan and validate.
#[derive(Args, Debug)]
struct NodeArgs {
    /// Manifests, static `openpe_*.yaml` files, `node-config.yaml`, or directories of them.
    #[arg(short = 'f', long = "file", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Node index (default: from node-config.yaml, else 0).
    #[arg(long)]
    node_index: Option<u32>,
    /// Node name (default: from node-config.yaml, else the host name).
    #[arg(long)]
    node_name: Option<String>,
    /// Node labels matched against nodeSelectors, as k=v,k=v (kubernetes.io/hostname is set to
    /// the node name unless given).
    #[arg(long, value_delimiter = ',')]
    node_labels: Vec<String>,
    /// Read the neighbors' `passwordSecret {name, key}` from the files `DIR/<name>/<key>`, as host
    /// mode does (default: not read; such neighbors are planned without their password).
    #[arg(long, value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
}

/// An error that maps to an exit status.
enum Failure {
    /// Input could not be read (exit 2).
    Input(anyhow::Error),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

/// The name kubectl gives a plugin: `kubectl openperouter ARGS` runs `kubectl-openperouter ARGS`.
const KUBECTL_PLUGIN: &str = "kubectl-openperouter";

/// The command line, read as a kubectl plugin when the program is called by the plugin's name:
/// `status` then means every node of the cluster.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called = args.first().map(std::path::Path::new).and_then(|p| p.file_name()).map(|n| n.to_os_string());
    if called.as_deref() == Some(std::ffi::OsStr::new(KUBECTL_PLUGIN)) {
        args[0] = "kubectl openperouter".into();
        if args.get(1).is_some_and(|a| a == "status") && !args.iter().any(|a| a == "--cluster" || a == "--agent") {
            args.insert(2, "--cluster".into());
        }
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(arguments());
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colours only on a terminal: a log file or the journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Input(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Reloader(args) => reloader_cmd::run(args).map(|()| ExitCode::SUCCESS).map_err(Failure::Other),
        Command::Host(args) => host_cmd::run(args).map_err(Failure::Other),
        Command::Status(args) => status_cmd::run(args).map_err(Failure::Other),
        Command::Lab(LabCommand::Vm(args)) => lab_vm::run(args).map_err(Failure::Other),
        Command::Lab(LabCommand::Up(args)) => lab_cmd::up(args).map_err(Failure::Other),
        Command::Lab(LabCommand::Status(args)) => lab_cmd::status(args).map_err(Failure::Other),
        Command::Lab(LabCommand::Down(args)) => lab_cmd::down(args).map_err(Failure::Other),
        Command::Lab(LabCommand::Check(args)) => lab_cmd::check(args).map_err(Failure::Other),
        Command::Lab(LabCommand::BootCheck(args)) => lab_boot::run(args).map_err(Failure::Other),
        Command::Lab(LabCommand::GobgpFib(args)) => lab_cmd::gobgp_fib(args).map_err(Failure::Other),
        Command::Webhook(args) => k8s_cmd::run_webhook(args).map_err(Failure::Other),
        Command::Nodemarker(args) => k8s_cmd::run_nodemarker(args).map_err(Failure::Other),
        Command::Controller(args) => k8s_cmd::run_controller(args).map_err(Failure::Other),
        Command::Crds => {
            let yaml = api::crds::to_yaml().map_err(|e| Failure::Other(anyhow!("rendering CRDs: {e}")))?;
            print!("{yaml}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Render(args) => {
            let (plan, _) = plan_from(&args)?;
            match &plan.frr {
                Some(config) => {
                    print!("{}", config.render());
                    for f in &plan.failed_resources {
                        tracing::warn!("{f}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    for f in &plan.failed_resources {
                        eprintln!("{f}");
                    }
                    Err(Failure::Other(anyhow!(
                        "nothing to render for node {:?}: the Underlay is invalid, so the node would keep its current configuration",
                        plan.node.name
                    )))
                }
            }
        }
        Command::Plan { node, output, diff: Some(router), host_netns, frr_vty, ovs_socket, cni_cache_dir } => {
            let (plan, _) = plan_from(&node)?;
            let (Some(kernel), Some(frr_config)) = (&plan.kernel, &plan.frr) else {
                return Err(Failure::Other(anyhow!("the Underlay is invalid: applying would change nothing")));
            };
            let diff = dataplane::diff_live(kernel, &router, host_netns.as_deref())
                .map_err(|e| Failure::Other(anyhow!("reading the live kernel state: {e}")))?;
            let frr = frr_diff(frr_config, &router, frr_vty);
            let ovs = dataplane::ovs::diff_live(&dataplane::ovs::Ovsdb::new(&ovs_socket, None), &kernel.ovs_ports);
            let cni = agent::cni_step::pending_for(&cni_cache_dir, &plan.node.name, &router, &plan.cni);
            match output {
                OutputFormat::Text => {
                    if diff.is_empty() {
                        println!("nothing to do: the kernel already matches the plan");
                    } else {
                        print!("{diff}");
                    }
                    match &frr {
                        Ok((dir, delta)) if delta.is_empty() => {
                            println!("FRR ({}): nothing to do, it runs the plan's configuration", dir.display())
                        }
                        Ok((dir, delta)) => {
                            println!(
                                "FRR ({}): {} line(s) to delete, {} to add",
                                dir.display(),
                                delta.removed.len(),
                                delta.added.len()
                            );
                            print!("{delta}");
                        }
                        Err(note) => println!("FRR: not compared: {note}"),
                    }
                    match &ovs {
                        Ok(None) => {}
                        Ok(Some(d)) if d.ops.is_empty() && d.problems.is_empty() => {
                            println!("Open vSwitch ({ovs_socket}): nothing to do")
                        }
                        Ok(Some(d)) => {
                            println!("Open vSwitch ({ovs_socket}):");
                            for op in &d.ops {
                                println!("{op}");
                            }
                            for p in &d.problems {
                                println!("! {p}");
                            }
                        }
                        Err(e) => println!("Open vSwitch: not compared: {e}"),
                    }
                    if !plan.cni.is_empty() || !cni.is_empty() {
                        if cni.is_empty() {
                            println!("CNI ({}): nothing to do", cni_cache_dir.display());
                        } else {
                            println!("CNI ({}):", cni_cache_dir.display());
                            for step in &cni {
                                println!("{step}");
                            }
                        }
                    }
                }
                OutputFormat::Json => {
                    let lines = |l: &[frr::DeltaLine]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
                    let frr = match &frr {
                        Ok((dir, delta)) => serde_json::json!({
                            "vtyDir": dir, "removed": lines(&delta.removed), "added": lines(&delta.added),
                        }),
                        Err(note) => serde_json::json!({ "note": note }),
                    };
                    let ovs = match &ovs {
                        Ok(d) => serde_json::json!(d),
                        Err(e) => serde_json::json!({ "note": e.to_string() }),
                    };
                    let cni: Vec<String> = cni.iter().map(ToString::to_string).collect();
                    let both = serde_json::json!({ "kernel": diff, "frr": frr, "ovs": ovs, "cni": cni });
                    println!("{}", serde_json::to_string_pretty(&both).map_err(|e| Failure::Other(e.into()))?)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { node, output, diff: None, .. } => {
            let (plan, _) = plan_from(&node)?;
            match output {
                OutputFormat::Text => print!("{}", output::plan_text(&plan)),
                OutputFormat::Json => {
                    let json = output::plan_json(&plan).map_err(|e| Failure::Other(e.into()))?;
                    println!("{json}");
                }
            }
            Ok(if plan.failed_resources.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Validate(args) => {
            let (mut plan, count) = plan_from(&args)?;
            let note = check_snippets(&mut plan);
            if let Some(note) = &note {
                println!("note: {note}");
            }
            if plan.failed_resources.is_empty() {
                println!(
                    "OK: {count} resource(s) read, {} apply to node {:?} (index {}), all valid",
                    plan.applied.len(),
                    plan.node.name,
                    plan.node.index
                );
                Ok(ExitCode::SUCCESS)
            } else {
                for f in &plan.failed_resources {
                    println!("{f}");
                }
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// The FRR lines the applier would delete and add on the node's FRR (read-only), with the
/// socket directory it read; or why it could not compare.
fn frr_diff(
    config: &frr::Config,
    router: &str,
    vty: Option<PathBuf>,
) -> std::result::Result<(PathBuf, frr::Delta), String> {
    let candidates = match vty {
        Some(dir) => vec![dir],
        None => vec![
            PathBuf::from("/var/run/openperouter/frr").join(router),
            PathBuf::from(frr::instance::FRR_RUN_DIR).join(router),
        ],
    };
    let Some(dir) = candidates.iter().find(|d| d.join("zebra.vty").exists()).cloned() else {
        let tried: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
        return Err(format!("no FRR vty sockets in {} (pass --frr-vty DIR)", tried.join(" or ")));
    };
    let vtysh = frr::Vtysh { vty_socket: Some(dir.clone()), ..frr::Vtysh::default() };
    // Read-only: the applier's configuration path is never written by `delta`.
    let applier = frr::Applier::new(vtysh, dir.join("frr.conf.unused"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let delta = runtime.block_on(applier.delta(config)).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((dir, delta))
}

/// Checks every RawFRRConfig snippet of `plan` with FRR's own parser (`vtysh -C`), adding the
/// ones it refuses to the plan's failures; returns a note when they could not be checked.
fn check_snippets(plan: &mut plan::NodePlan) -> Option<String> {
    let snippets: Vec<(String, String)> = match &plan.frr {
        Some(frr) => plan.raw_names.iter().cloned().zip(frr.raw.iter().cloned()).collect(),
        None => Vec::new(),
    };
    if snippets.is_empty() {
        return None;
    }
    if !frr::vtysh_available() {
        return Some(format!(
            "{} RawFRRConfig snippet(s) not checked with FRR's parser: vtysh (FRR) is not installed here",
            snippets.len()
        ));
    }
    for (name, text) in snippets {
        let message = match frr::check_syntax(&text) {
            Ok(()) => continue,
            Err(frr::SyntaxError::Rejected { output, .. }) => match frr::refused_line(&output) {
                Some((line, said)) => format!("FRR's parser refused `{line}`: {said}"),
                None => "FRR's parser refused it without naming a line".to_string(),
            },
            Err(e) => return Some(format!("RawFRRConfig snippets not checked with FRR's parser: {e}")),
        };
        plan.applied.retain(|a| !(a.kind == api::ResourceKind::RawFRRConfig && a.name == name));
        plan.failed_resources.push(api::FailedResource::new(
            api::ResourceKind::RawFRRConfig,
            &name,
            api::FailureReason::ValidationFailed,
            message,
        ));
    }
    None
}

/// Loads the inputs and plans the node they describe.
fn plan_from(args: &NodeArgs) -> Result<(plan::NodePlan, usize), Failure> {
    let loaded = api::load::load_paths(&args.files).map_err(|e| Failure::Input(e.into()))?;
    let node = node_from(args, &loaded).map_err(Failure::Input)?;
    tracing::info!(node = %node.name, index = node.index, resources = loaded.resource_count(), "planning");
    let mut resources = plan::Resources::from(&loaded);
    let refs = resources.objects.password_refs();
    match &args.secrets_dir {
        Some(dir) => resources.passwords = Some(agent::secrets::from_dir(dir, refs)),
        None if !refs.is_empty() => eprintln!(
            "note: {} neighbor password(s) come from Secrets and were not read (--secrets-dir reads them as host mode does)",
            refs.len()
        ),
        None => {}
    }
    Ok((plan::plan_node(&resources, &node, &plan::Options::default()), loaded.resource_count()))
}

fn node_from(args: &NodeArgs, loaded: &api::load::Loaded) -> Result<plan::Node> {
    let identity = agent::NodeIdentity::from_flags(args.node_name.clone(), args.node_index, &args.node_labels)
        .map_err(anyhow::Error::msg)?;
    identity.resolve(loaded, agent::WithoutIndex::Zero).map_err(anyhow::Error::msg)
}
