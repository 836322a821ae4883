//! Running one CNI plugin: its binary found in the plugin directories, the `CNI_*` variables,
//! its configuration on stdin, a deadline, and its answer (a result, or the error it printed).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Check,
    Del,
}

impl Command {
    /// `CNI_COMMAND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Check => "CHECK",
            Command::Del => "DEL",
        }
    }
}

/// The error a plugin reported (`{"code", "msg", "details"}` on stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub code: u64,
    pub msg: String,
    pub details: String,
}

/// Why running a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("CNI plugin {plugin:?} not found in {dirs}")]
    NotFound { plugin: String, dirs: String },
    #[error("CNI plugin {plugin}: cannot run it: {source}")]
    Spawn {
        plugin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("CNI plugin {plugin} {command}: no answer within {timeout:?} (killed)")]
    Timeout { plugin: String, command: &'static str, timeout: Duration },
    #[error("CNI plugin {plugin} {command} failed (code {}): {}{}", .error.code, .error.msg, details(&.error.details))]
    Plugin { plugin: String, command: &'static str, error: PluginError },
    #[error("CNI plugin {plugin} {command}: exit status {status} without an error object: {output}")]
    Exit { plugin: String, command: &'static str, status: String, output: String },
    #[error("CNI plugin {plugin} {command}: its result is not JSON: {output}")]
    BadResult { plugin: String, command: &'static str, output: String },
}

fn details(d: &str) -> String {
    if d.is_empty() { String::new() } else { format!(" ({d})") }
}

/// The binary of plugin `name`: the first directory that has it.
pub fn find(name: &str, dirs: &[PathBuf]) -> Result<PathBuf, ExecError> {
    let plain = !name.is_empty() && !name.contains('/') && name != "." && name != "..";
    dirs.iter().map(|d| d.join(name)).find(|p| plain && p.is_file()).ok_or_else(|| ExecError::NotFound {
        plugin: name.to_string(),
        dirs: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":"),
    })
}

/// Where and for what a plugin runs.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub command: Command,
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
    pub plugin_dirs: &'a [PathBuf],
    pub timeout: Duration,
    /// The namespace the plugin runs in (where a macvlan's or ipvlan's parent NIC is); the
    /// caller's when `None`.
    pub host_netns: Option<&'a Path>,
}

/// Runs plugin `name` with `stdin`; its result (`Value::Null` when it printed nothing, as `DEL`
/// and `CHECK` do).
pub fn run(name: &str, stdin: &Value, how: &Invocation<'_>) -> Result<Value, ExecError> {
    let binary = find(name, how.plugin_dirs)?;
    let path = std::env::join_paths(how.plugin_dirs).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cmd = std::process::Command::new(&binary);
    if let Some(ns) = how.host_netns {
        kernel::NetNs::open_path(ns)
            .and_then(|h| h.enter_on_exec(&mut cmd))
            .map_err(|e| ExecError::Spawn { plugin: name.to_string(), source: std::io::Error::other(e.to_string()) })?;
    }
    let mut child = cmd
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", how.command.as_str())
        .env("CNI_CONTAINERID", how.container_id)
        .env("CNI_NETNS", how.netns)
        .env("CNI_IFNAME", how.ifname)
        .env("CNI_ARGS", "")
        .env("CNI_PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ExecError::Spawn { plugin: name.to_string(), source })?;
    if let Some(mut input) = child.stdin.take() {
        // A plugin that exits before reading all of it is judged by its answer below.
        let _ = input.write_all(stdin.to_string().as_bytes());
    }
    let deadline = Instant::now() + how.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::Timeout {
                    plugin: name.to_string(),
                    command: how.command.as_str(),
                    timeout: how.timeout,
                });
            }
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let parsed: Option<Value> = serde_json::from_str(out.trim()).ok();
    let command = how.command.as_str();
    if !status.success() {
        if let Some(e) = parsed.as_ref().and_then(plugin_error) {
            return Err(ExecError::Plugin { plugin: name.to_string(), command, error: e });
        }
        let output = format!("{}{}", out.trim(), err.trim());
        return Err(ExecError::Exit { plugin: name.to_string(), command, status: status.to_string(), output });
    }
    match (out.trim().is_empty(), parsed) {
        (true, _) => Ok(Value::Null),
        (false, Some(v)) => Ok(v),
        (false, None) => Err(ExecError::BadResult { plugin: name.to_string(), command, output: out }),
    }
}

fn plugin_error(v: &Value) -> Option<PluginError> {
    let code = v.get("code")?.as_u64()?;
    Some(PluginError {
        code,
        msg: v.get("msg").and_then(Value::as_str).unwrap_or_default().to_string(),
        details: v.get("details").and_then(Value::as_str).unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_are_found_by_plain_name_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("macvlan"), "").expect("write");
        let dirs = vec![PathBuf::from("/nonexistent"), dir.path().to_path_buf()];
        assert_eq!(find("macvlan", &dirs).expect("found"), dir.path().join("macvlan"));
        for bad in ["ipvlan", "../macvlan", "", "."] {
            let e = find(bad, &dirs).expect_err("not found").to_string();
            assert!(e.contains("not found in /nonexistent:"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_are_read_from_the_plugin_answer() {
        let e = plugin_error(&serde_json::json!({"cniVersion": "1.0.0", "code": 7, "msg": "bad", "details": "why"}));
        assert_eq!(e, Some(PluginError { code: 7, msg: "bad".into(), details: "why".into() }));
        assert_eq!(plugin_error(&serde_json::json!({"ips": []})), None);
    }
}
