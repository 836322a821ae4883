//! `openperouter reloader`: the sidecar that applies `frr.conf` on request
//! (see `frr::reloader` for the HTTP contract).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use frr::reloader::{HealthCheck, Reloader};
use frr::{Applier, ApplyOptions, FrrReload, Vtysh};

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
    /// Seconds one frr-reload.py run (`--test` or `--reload`) may take.
    #[arg(long, default_value_t = 120)]
    reload_timeout: u64,
    /// Directory of FRR's vty sockets (default: FRR's own, /var/run/frr).
    #[arg(long)]
    vty_socket: Option<PathBuf>,
    /// FRR's config directory (vtysh.conf), frr-reload.py's `--confdir`.
    #[arg(long, default_value = "/etc/frr")]
    frr_confdir: PathBuf,
    /// Where frr-reload.py writes its temporary files.
    #[arg(long, default_value = "/var/run/frr")]
    frr_rundir: PathBuf,
    /// Directory of the vtysh binary.
    #[arg(long, default_value = "/usr/bin")]
    vtysh_bindir: PathBuf,
    /// The frr-reload.py script.
    #[arg(long, default_value = frr::reload::FRR_RELOAD_SCRIPT)]
    frr_reload: PathBuf,
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
    let reload = FrrReload {
        script: args.frr_reload.clone(),
        bindir: args.vtysh_bindir.clone(),
        confdir: args.frr_confdir.clone(),
        rundir: args.frr_rundir.clone(),
        vty_socket: args.vty_socket.clone(),
        timeout: Duration::from_secs(args.reload_timeout),
        ..FrrReload::default()
    };
    // The file is the controller's: applied as is (no hostname filling).
    let options = ApplyOptions { fill_hostname: false, ..ApplyOptions::default() };
    let applier = Arc::new(Applier::new(reload, vtysh.clone(), &args.frr_config).with_options(options));
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
