//! FRR's daemons reached directly on their vty sockets (`<run dir>/<daemon>.vty`), the way
//! vtysh reaches them, without starting a process.
//!
//! The protocol: a command is its text followed by a NUL byte; the daemon answers with the
//! command's output followed by three NUL bytes and the command's status (`CMD_SUCCESS` = 0,
//! `CMD_ERR_NO_MATCH` = 2 for a command it does not know…). A new connection starts in view
//! mode: `enable` first.
//!
//! [`Session::configure`] sends commands in their blocks to every daemon and keeps, for each
//! daemon, the blocks it is in: a daemon that does not know a block header (zebra and `router
//! bgp`) gets none of the block's lines. A command is taken when at least one daemon takes it
//! — the daemons that own a command are the ones that know it, which is how vtysh chooses
//! where to send it. Deletions go one at a time to all daemons: what one daemon does before
//! another (zebra's `no vni` before bgpd's `no router bgp … vrf`) stays in order. Additions go
//! to each daemon in order, the daemons working side by side (zebra creating VRFs while bgpd
//! creates their BGP instances).
//!
//! [`Session::running_config`] asks every daemon for its running configuration and joins them
//! ([`crate::tree::union`]), as `show running-config` in vtysh does.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

use crate::delta::{Change, Command, redact_passwords};

/// The command succeeded.
pub const CMD_SUCCESS: u8 = 0;
/// The daemon does not know the command (in the block it is in).
pub const CMD_ERR_NO_MATCH: u8 = 2;

/// A daemon's answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u8,
    pub output: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status == CMD_SUCCESS
    }
}

/// Why a vty session could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum VtyError {
    #[error("cannot list the vty sockets in {}: {source}", dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no FRR daemon answers on a vty socket in {}", dir.display())]
    NoDaemon { dir: PathBuf },
    #[error("{daemon}: vty socket: {source}")]
    Io {
        daemon: String,
        #[source]
        source: io::Error,
    },
    #[error("{daemon} closed its vty socket")]
    Closed { daemon: String },
    #[error("{daemon} did not answer `{command}` within {}s", after.as_secs_f32())]
    Timeout { daemon: String, command: String, after: Duration },
    #[error("{daemon} refused `{command}`: {output}")]
    Refused { daemon: String, command: String, output: String },
}

/// A command of [`Session::configure`] no daemon took, with what the daemons said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Index of the command in the list given.
    pub index: usize,
    /// FRR's message (`% Unknown command: …` when no daemon knows it).
    pub message: String,
}

/// What one daemon did with one command.
#[derive(Debug, Clone)]
enum Outcome {
    /// The daemon does not know one of the command's blocks: the command was not sent to it.
    Outside(Reply),
    Sent(Reply),
}

/// One connection to one daemon, and the blocks it is in while configuring.
struct Daemon {
    name: String,
    stream: UnixStream,
    at: Vec<String>,
    /// Blocks (full paths) the daemon refused to enter, with its answer.
    unknown: Vec<(Vec<String>, Reply)>,
    timeout: Duration,
}

impl Daemon {
    async fn connect(name: &str, path: &Path, timeout: Duration) -> Result<Option<Daemon>, VtyError> {
        let stream = match tokio::time::timeout(timeout, UnixStream::connect(path)).await {
            Ok(Ok(stream)) => stream,
            // A socket left by a daemon that is not running (watchfrr restarts it).
            Ok(Err(e)) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) => {
                tracing::debug!(daemon = name, error = %e, "vty socket does not answer");
                return Ok(None);
            }
            Ok(Err(source)) => return Err(VtyError::Io { daemon: name.to_string(), source }),
            Err(_) => {
                return Err(VtyError::Timeout { daemon: name.to_string(), command: "connect".into(), after: timeout });
            }
        };
        let mut daemon = Daemon { name: name.to_string(), stream, at: Vec::new(), unknown: Vec::new(), timeout };
        daemon.expect("enable").await?;
        Ok(Some(daemon))
    }

    /// Sends one command and reads its answer.
    async fn exec(&mut self, command: &str) -> Result<Reply, VtyError> {
        let io = |name: &str, source| VtyError::Io { daemon: name.to_string(), source };
        let exchange = async {
            let mut request = Vec::with_capacity(command.len() + 1);
            request.extend_from_slice(command.as_bytes());
            request.push(0);
            self.stream.write_all(&request).await.map_err(|e| io(&self.name, e))?;
            let mut answer: Vec<u8> = Vec::with_capacity(256);
            loop {
                if answer.capacity() - answer.len() < 4096 {
                    answer.reserve(answer.len().max(4096));
                }
                let n = self.stream.read_buf(&mut answer).await.map_err(|e| io(&self.name, e))?;
                if n == 0 {
                    return Err(VtyError::Closed { daemon: self.name.clone() });
                }
                let len = answer.len();
                if len >= 4 && answer[len - 4..len - 1] == [0, 0, 0] {
                    let status = answer[len - 1];
                    answer.truncate(len - 4);
                    return Ok(Reply { status, output: String::from_utf8_lossy(&answer).into_owned() });
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(VtyError::Timeout {
                daemon: self.name.clone(),
                command: redact_passwords(command),
                after: self.timeout,
            }),
        }
    }

    /// Sends a command that must succeed.
    async fn expect(&mut self, command: &str) -> Result<Reply, VtyError> {
        let reply = self.exec(command).await?;
        if reply.ok() {
            Ok(reply)
        } else {
            Err(VtyError::Refused {
                daemon: self.name.clone(),
                command: command.to_string(),
                output: reply.output.trim().to_string(),
            })
        }
    }

    /// Moves into the command's blocks (leaving the ones it is in that the command is not in)
    /// and sends it, unless the daemon does not know one of the blocks.
    async fn run(&mut self, command: &Command) -> Result<Outcome, VtyError> {
        let path = &command.context;
        if let Some((_, reply)) = self.unknown.iter().find(|(p, _)| path.starts_with(p)) {
            return Ok(Outcome::Outside(reply.clone()));
        }
        let common = self.at.iter().zip(path).take_while(|(a, b)| a == b).count();
        while self.at.len() > common {
            self.exec("exit").await?;
            self.at.pop();
        }
        for header in &path[common..] {
            let reply = self.exec(header).await?;
            if !reply.ok() {
                let mut unknown = self.at.clone();
                unknown.push(header.clone());
                self.unknown.push((unknown, reply.clone()));
                return Ok(Outcome::Outside(reply));
            }
            self.at.push(header.clone());
        }
        let reply = self.exec(&command.text).await?;
        if command.enters {
            let mut block = self.at.clone();
            block.push(command.text.clone());
            if reply.ok() {
                self.at = block;
            } else {
                self.unknown.push((block, reply.clone()));
            }
        }
        Ok(Outcome::Sent(reply))
    }
}

/// Connections to all the daemons of one FRR.
pub struct Session {
    dir: PathBuf,
    daemons: Vec<Daemon>,
}

impl Session {
    /// Connects to every daemon with a vty socket in `dir` (watchfrr aside: it holds no routing
    /// configuration). `timeout` bounds each exchange.
    pub async fn open(dir: &Path, timeout: Duration) -> Result<Session, VtyError> {
        let entries = std::fs::read_dir(dir).map_err(|source| VtyError::Dir { dir: dir.to_path_buf(), source })?;
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".vty").map(str::to_string))
            .filter(|name| name != "watchfrr")
            .collect();
        // zebra first, as vtysh: its lines lead the joined configuration.
        names.sort_by_key(|n| (n != "zebra", n.clone()));
        let mut daemons = Vec::new();
        for name in names {
            if let Some(daemon) = Daemon::connect(&name, &dir.join(format!("{name}.vty")), timeout).await? {
                daemons.push(daemon);
            }
        }
        if daemons.is_empty() {
            return Err(VtyError::NoDaemon { dir: dir.to_path_buf() });
        }
        Ok(Session { dir: dir.to_path_buf(), daemons })
    }

    /// The daemons connected, in the order they are asked.
    pub fn daemons(&self) -> Vec<&str> {
        self.daemons.iter().map(|d| d.name.as_str()).collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs a command on the first daemon that knows it (`show version`).
    pub async fn ask(&mut self, command: &str) -> Result<Reply, VtyError> {
        let mut last = None;
        for daemon in &mut self.daemons {
            let reply = daemon.exec(command).await?;
            if reply.status != CMD_ERR_NO_MATCH {
                return Ok(reply);
            }
            last = Some(reply);
        }
        Ok(last.expect("a session has at least one daemon"))
    }

    /// The running configuration of all the daemons joined, normalised
    /// ([`crate::normalize_running_config`]).
    pub async fn running_config(&mut self) -> Result<String, VtyError> {
        let replies = join_all(self.daemons.iter_mut().map(|d| d.expect("show running-config"))).await;
        let mut forests = Vec::with_capacity(replies.len());
        for reply in replies {
            let text = crate::normalize_running_config(&reply?.output, false);
            forests.push(crate::tree::parse(&text));
        }
        let joined = crate::tree::render(&crate::tree::union(forests));
        Ok(crate::normalize_running_config(&joined, false))
    }

    /// Sends `change`'s commands in configuration mode, each one to every daemon that knows its
    /// blocks; returns the commands no daemon took. The first [`Change::lockstep`] commands go
    /// one at a time to all daemons, so that each daemon has done one before any daemon gets the
    /// next; the others go to each daemon in order but to the daemons side by side. Leaves
    /// configuration mode at the end.
    pub async fn configure(&mut self, change: &Change) -> Result<Vec<Refusal>, VtyError> {
        for result in join_all(self.daemons.iter_mut().map(|d| d.expect("configure terminal"))).await {
            result?;
        }
        let mut result = self.send(change).await;
        // Back to enable mode on every daemon, whatever happened.
        for daemon in &mut self.daemons {
            daemon.at.clear();
            daemon.unknown.clear();
            if let Err(e) = daemon.exec("end").await
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    async fn send(&mut self, change: &Change) -> Result<Vec<Refusal>, VtyError> {
        let lockstep = change.lockstep.min(change.commands.len());
        let (ordered, free) = change.commands.split_at(lockstep);
        let mut refused = Vec::new();
        for (index, command) in ordered.iter().enumerate() {
            let outcomes = join_all(self.daemons.iter_mut().map(|d| d.run(command))).await;
            let answers = outcomes.into_iter().collect::<Result<Vec<_>, _>>()?;
            if let Some(message) = refusal(&answers) {
                refused.push(Refusal { index, message });
            }
        }
        let per_daemon = join_all(self.daemons.iter_mut().map(|d| async move {
            let mut answers = Vec::with_capacity(free.len());
            for command in free {
                answers.push(d.run(command).await?);
            }
            Ok::<_, VtyError>(answers)
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        for (offset, _) in free.iter().enumerate() {
            let answers: Vec<Outcome> = per_daemon.iter().map(|a| a[offset].clone()).collect();
            if let Some(message) = refusal(&answers) {
                refused.push(Refusal { index: lockstep + offset, message });
            }
        }
        Ok(refused)
    }
}

/// FRR's message for a command no daemon took; `None` when one took it.
fn refusal(answers: &[Outcome]) -> Option<String> {
    if answers.iter().any(|a| matches!(a, Outcome::Sent(r) if r.ok())) {
        return None;
    }
    // The words of a daemon that knew the command (or its block) and refused it, else "unknown".
    let said = |r: &Reply| (r.status != CMD_ERR_NO_MATCH && !r.output.trim().is_empty()).then(|| r.output.clone());
    let sent = answers.iter().find_map(|a| match a {
        Outcome::Sent(r) => said(r),
        Outcome::Outside(_) => None,
    });
    let outside = answers.iter().find_map(|a| match a {
        Outcome::Outside(r) => said(r),
        Outcome::Sent(_) => None,
    });
    let message = match (sent, outside) {
        (Some(m), _) | (None, Some(m)) => first_message_line(&m),
        (None, None) => "% Unknown command".to_string(),
    };
    Some(redact_passwords(&crate::syntax::plain_message(&message)))
}

/// The first non-empty line of a daemon's answer.
fn first_message_line(output: &str) -> String {
    output.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u8, output: &str) -> Reply {
        Reply { status, output: output.into() }
    }

    #[test]
    fn a_command_one_daemon_takes_is_taken() {
        let answers = [Outcome::Sent(reply(2, "% Unknown command: x")), Outcome::Sent(reply(0, ""))];
        assert_eq!(refusal(&answers), None);
    }

    #[test]
    fn the_owners_words_win_over_unknown_command() {
        let answers = [
            Outcome::Sent(reply(2, "% Unknown command: neighbor 1.2.3.4 remote-as internal")),
            Outcome::Sent(reply(13, "% Invalid command. Not an internal neighbor\n")),
        ];
        assert_eq!(refusal(&answers).as_deref(), Some("% Invalid command. Not an internal neighbor"));
        let nobody = [Outcome::Sent(reply(2, "")), Outcome::Outside(reply(2, ""))];
        assert_eq!(refusal(&nobody).as_deref(), Some("% Unknown command"));
    }

    #[test]
    fn a_refused_block_explains_its_lines() {
        let answers = [Outcome::Outside(reply(4, "% Command incomplete: router bgp"))];
        assert_eq!(refusal(&answers).as_deref(), Some("% Command incomplete: router bgp"));
    }
}
