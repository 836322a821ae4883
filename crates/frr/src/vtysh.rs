//! Talking to a running FRR instance through `vtysh`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::exec::{self, ExecError};

/// Default deadline of one vtysh invocation.
pub const DEFAULT_VTYSH_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach one FRR instance with vtysh: the program, the directory of
/// the daemons' vty sockets, the directory of `vtysh.conf`/`frr.conf`, and an
/// optional command prefix (e.g. `nsenter --uts=…` for instances that run in
/// their own UTS namespace, so that vtysh prints their hostname).
///
/// vtysh only needs the unix sockets: it can run in any network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vtysh {
    /// The vtysh binary (`/usr/bin/vtysh`).
    pub program: PathBuf,
    /// `--vty_socket DIR`; `None` for the packaged default (`/var/run/frr`).
    pub vty_socket: Option<PathBuf>,
    /// `--config_dir DIR`; `None` for the packaged default (`/etc/frr`).
    pub config_dir: Option<PathBuf>,
    /// `-N NAME` (Debian pathspace).
    pub pathspace: Option<String>,
    /// Words run before vtysh, e.g. `["nsenter", "--uts=/proc/42/ns/uts", "--"]`.
    pub wrapper: Vec<OsString>,
    /// Deadline of one invocation.
    pub timeout: Duration,
}

impl Default for Vtysh {
    /// The packaged instance: `/usr/bin/vtysh` with its default paths.
    fn default() -> Self {
        Vtysh {
            program: PathBuf::from("/usr/bin/vtysh"),
            vty_socket: None,
            config_dir: None,
            pathspace: None,
            wrapper: Vec::new(),
            timeout: DEFAULT_VTYSH_TIMEOUT,
        }
    }
}

/// Why a vtysh command gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum VtyshError {
    /// vtysh could not be started or timed out.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// vtysh exited with an error (no daemon reachable, unknown command…).
    #[error("vtysh -c {command:?} failed ({status}): {output}")]
    Failed { command: String, status: String, output: String },
    /// The output of a `… json` command is not the expected JSON.
    #[error("vtysh -c {command:?} printed unexpected JSON: {source}")]
    Json {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Vtysh {
    /// A vtysh for daemons whose vty sockets are in `dir`, with `vtysh.conf`
    /// in `config_dir`.
    pub fn for_dirs(vty_socket: impl Into<PathBuf>, config_dir: impl Into<PathBuf>) -> Self {
        Vtysh { vty_socket: Some(vty_socket.into()), config_dir: Some(config_dir.into()), ..Vtysh::default() }
    }

    /// The same vtysh with another deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command line up to (and including) vtysh's path options.
    pub fn base_argv(&self) -> Vec<OsString> {
        let mut argv = self.wrapper.clone();
        argv.push(self.program.clone().into());
        if let Some(dir) = &self.vty_socket {
            argv.push("--vty_socket".into());
            argv.push(dir.clone().into());
        }
        if let Some(dir) = &self.config_dir {
            argv.push("--config_dir".into());
            argv.push(dir.clone().into());
        }
        if let Some(name) = &self.pathspace {
            argv.push("-N".into());
            argv.push(name.into());
        }
        argv
    }

    /// Runs `vtysh -c C1 -c C2 …` and returns its standard output.
    pub async fn exec(&self, commands: &[&str]) -> Result<String, VtyshError> {
        let mut argv = self.base_argv();
        for command in commands {
            argv.push("-c".into());
            argv.push((*command).into());
        }
        let out = exec::run(&argv, self.timeout).await?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            let mut output = out.stdout;
            output.push_str(&out.stderr);
            Err(VtyshError::Failed {
                command: commands.join(" ; "),
                status: out.status.to_string(),
                output: output.trim().to_string(),
            })
        }
    }

    /// `show running-config`, as vtysh prints it.
    pub async fn show_running_config(&self) -> Result<String, VtyshError> {
        self.exec(&["show running-config"]).await
    }

    /// The daemons vtysh reaches (`show daemons`), e.g. `["zebra", "bgpd",
    /// "watchfrr", "staticd", "bfdd"]`.
    pub async fn show_daemons(&self) -> Result<Vec<String>, VtyshError> {
        let text = self.exec(&["show daemons"]).await?;
        Ok(text.split_whitespace().map(str::to_string).collect())
    }

    /// Runs a `… json` command and deserialises its output.
    pub async fn json<T: DeserializeOwned>(&self, command: &str) -> Result<T, VtyshError> {
        let text = self.exec(&[command]).await?;
        parse_json(command, &text)
    }

    /// Runs a `… json` command and returns the raw JSON text.
    pub async fn json_text(&self, command: &str) -> Result<String, VtyshError> {
        self.exec(&[command]).await
    }
}

/// Deserialises vtysh's JSON output; an empty output (some FRR versions
/// print nothing when there is nothing to show) counts as `{}`.
pub(crate) fn parse_json<T: DeserializeOwned>(command: &str, text: &str) -> Result<T, VtyshError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text).map_err(|source| VtyshError::Json { command: command.to_string(), source })
}

/// The values of the `hostname X` lines of a configuration text.
pub fn hostnames_in(config_text: &str) -> Vec<String> {
    config_text
        .lines()
        .filter_map(|l| l.strip_prefix("hostname "))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_has_paths_in_order() {
        let mut v = Vtysh::for_dirs("/run/x", "/etc/x");
        v.wrapper = vec!["nsenter".into(), "--uts=/proc/1/ns/uts".into(), "--".into()];
        let argv: Vec<String> = v.base_argv().iter().map(|s| s.to_string_lossy().into_owned()).collect();
        assert_eq!(
            argv,
            [
                "nsenter",
                "--uts=/proc/1/ns/uts",
                "--",
                "/usr/bin/vtysh",
                "--vty_socket",
                "/run/x",
                "--config_dir",
                "/etc/x"
            ]
        );
    }

    #[test]
    fn hostnames_are_read_from_config_text() {
        let text = "frr version 8.4.4\nhostname a\nno ip forwarding\nhostname b\n!\n";
        assert_eq!(hostnames_in(text), ["a", "b"]);
        assert!(hostnames_in("!\n").is_empty());
    }

    #[test]
    fn empty_json_output_is_an_empty_object() {
        let v: serde_json::Value = parse_json("show x json", "  \n").unwrap();
        assert_eq!(v, serde_json::json!({}));
        assert!(parse_json::<serde_json::Value>("show x json", "% Unknown").is_err());
    }
}
