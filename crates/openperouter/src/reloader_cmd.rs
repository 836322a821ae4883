//! `openperouter reloader`: the sidecar that applies `frr.conf` on request
//! (see `frr::reloader` for the HTTP contract).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use frr::reloader::{HealthCheck, Reloader};
use frr::{Applier, ApplyOptions, Vtysh};

/// Options of `openperouter reloader`.
#[derive(Args, Debug)]
pub struct ReloaderArgs {
    /// Unix socket to serve `POST /` on (removed first if stale, and on exit).
    #[arg(long)]
    socket: PathBuf,
    /// The FRR configuration file to apply (written by the controller).
    #[arg(long)]
    frr_config: PathBuf,
    /// TCP address of the health endpoints `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:9080")]
    health_address: SocketAddr,
    /// Seconds `vtysh -c 'show daemons'` may take in a health check.
    #[arg(long, default_value_t = 10)]
    vtysh_timeout: u64,
    /// Daemons `show daemons` must list for the health checks to pass.
    #[arg(long, value_delimiter = ',', default_value = "zebra,bgpd,staticd,bfdd,watchfrr")]
    required_daemons: Vec<String>,
    /// Seconds one exchange of an apply with a daemon (one command, or reading its running
    /// configuration) may take.
    #[arg(long, default_value_t = 120)]
    reload_timeout: u64,
    /// Directory of FRR's vty sockets (default: FRR's own, /var/run/frr).
    #[arg(long)]
    vty_socket: Option<PathBuf>,
    /// FRR's config directory (`vtysh.conf`).
    #[arg(long, default_value = "/etc/frr")]
    frr_confdir: PathBuf,
    /// FRR's run directory: its daemons' pid files tell the applier when FRR restarted.
    #[arg(long, default_value = "/var/run/frr")]
    frr_rundir: PathBuf,
    /// Directory of the vtysh binary.
    #[arg(long, default_value = "/usr/bin")]
    vtysh_bindir: PathBuf,
    /// Seconds an unchanged configuration is trusted to be running before FRR's running
    /// configuration is read again to look for drift.
    #[arg(long, default_value_t = 60)]
    drift_check: u64,
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: ReloaderArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ReloaderArgs) -> Result<()> {
    let vtysh = Vtysh {
        program: args.vtysh_bindir.join("vtysh"),
        vty_socket: args.vty_socket.clone(),
        config_dir: Some(args.frr_confdir.clone()),
        ..Vtysh::default()
    };
    // The file is the controller's: applied as is (no hostname filling).
    let options = ApplyOptions {
        fill_hostname: false,
        timeout: Duration::from_secs(args.reload_timeout),
        drift_check: Duration::from_secs(args.drift_check),
        ..ApplyOptions::default()
    };
    let applier = Arc::new(
        Applier::new(vtysh.clone(), &args.frr_config).with_options(options).with_run_dir(args.frr_rundir.clone()),
    );
    let health = HealthCheck {
        vtysh: vtysh.with_timeout(Duration::from_secs(args.vtysh_timeout)),
        required: args.required_daemons.clone(),
    };
    let server = Reloader::bind(&args.socket, Some(args.health_address), applier, health)
        .await
        .with_context(|| format!("reloader on {}", args.socket.display()))?;
    eprintln!(
        "reloader: POST / on {} applies {}; health on http://{}/healthz",
        args.socket.display(),
        args.frr_config.display(),
        server.health_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    server
        .run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm.recv() => {}
            }
        })
        .await?;
    Ok(())
}
