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
//! where to send it. A change goes in steps ([`Change::steps`]): within a step each daemon gets
//! its commands in order, the daemons working side by side (zebra creating VRFs while bgpd
//! creates their BGP instances); a step starts once every daemon is done with the one before,
//! so that what one daemon must do before another (zebra's `no vni` before bgpd's `no router
//! bgp … vrf`) stays in order. Each step is a batch, as `vtysh -f` makes one
//! (`XFRR_start_configuration` … `XFRR_end_configuration`): bgpd starts new sessions only once
//! the batch is in, mgmtd commits it as one transaction.
//!
//! FRR ≥ 10 runs mgmtd, which configures some daemons (its backends: zebra, staticd) itself;
//! they refuse the commands mgmtd holds, except staticd, which still takes `vrf NAME` on its
//! own vty — and crashes when that VRF races the transaction mgmtd pushes (10.3, seen live).
//! So with mgmtd running, its backends get no `vrf` block directly.
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
use crate::mgmtd;

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
    #[error("{daemon}: the configuration datastores stayed locked by another session for {}s (holders: {holders})", after.as_secs())]
    Locked { daemon: String, after: Duration, holders: String },
}

/// How long [`Session::configure`] waits for mgmtd's datastores held by another session.
pub const LOCK_WAIT: Duration = Duration::from_secs(15);

/// How long [`Session::configure`] waits, before taking mgmtd's datastores, for mgmtd to be
/// idle: the back ends it configures connected, and no configuration transaction running.
pub const SETTLE_WAIT: Duration = Duration::from_secs(20);

/// How long mgmtd must stay idle before the first step of a session that asked for it
/// ([`Session::settle_first`]).
pub const SETTLE_WINDOW: Duration = Duration::from_millis(500);

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
    /// mgmtd configures this daemon (FRR ≥ 10): it gets no `vrf` block directly.
    under_mgmtd: bool,
    /// In a batch (between `XFRR_start_configuration` and `XFRR_end_configuration`).
    batching: bool,
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
        let mut daemon = Daemon {
            name: name.to_string(),
            stream,
            at: Vec::new(),
            unknown: Vec::new(),
            under_mgmtd: false,
            batching: false,
            timeout,
        };
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

    /// mgmtd's configuration mode with its candidate and running datastores locked for this
    /// session. Another session may hold them for a moment (a `vtysh -b` loading a file): the
    /// lock is asked for again each second, [`LOCK_WAIT`] long. Then the error names the
    /// sessions that hold them, as mgmtd lists them.
    async fn lock_datastores(&mut self) -> Result<(), VtyError> {
        let started = std::time::Instant::now();
        loop {
            let reply = self.exec("configure terminal file-lock").await?;
            if reply.ok() {
                return Ok(());
            }
            if !reply.output.contains("locked by another session") {
                return Err(VtyError::Refused {
                    daemon: self.name.clone(),
                    command: "configure terminal file-lock".into(),
                    output: reply.output.trim().to_string(),
                });
            }
            if started.elapsed() >= LOCK_WAIT {
                let listed = self.exec("show mgmt frontend-adapter all").await?;
                let holders = mgmtd::lock_holders(&listed.output);
                let holders = if holders.is_empty() { "no session listed".to_string() } else { holders.join("; ") };
                let transactions = self.exec("show mgmt transaction all").await?;
                let running = mgmtd::describe_transactions(&mgmtd::config_transactions(&transactions.output));
                return Err(VtyError::Locked {
                    daemon: self.name.clone(),
                    after: started.elapsed(),
                    holders: format!("{holders}; {running}"),
                });
            }
            tracing::debug!(daemon = %self.name, said = %first_message_line(&reply.output), "datastore locked, asking again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Waits, at most [`SETTLE_WAIT`], until mgmtd lists every back end of `backends` as
    /// connected and runs no configuration transaction, and has stayed so for `window` (a back
    /// end that has just connected gets its initial configuration 50 ms later, in a
    /// transaction of mgmtd's own). A commit that races a back end's start can fail ("Backend
    /// daemon disconnected while processing commit!"), and FRR 10.3's mgmtd can then keep its
    /// datastores locked for minutes. Past the wait, goes on (the lock then says what holds it).
    async fn settle(&mut self, backends: &[String], window: Duration) -> Result<(), VtyError> {
        let started = std::time::Instant::now();
        let mut settled_at: Option<std::time::Instant> = None;
        loop {
            let listed = self.exec("show mgmt backend-adapter all").await?;
            let connected = mgmtd::backends(&listed.output);
            let missing: Vec<&str> = backends.iter().filter(|b| !connected.contains(b)).map(String::as_str).collect();
            let transactions = self.exec("show mgmt transaction all").await?;
            let running = mgmtd::config_transactions(&transactions.output);
            if missing.is_empty() && running.is_empty() {
                let since = *settled_at.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= window {
                    if started.elapsed() > window + Duration::from_millis(500) {
                        tracing::info!(waited = ?started.elapsed(), "mgmtd settled: its back ends are connected, no transaction runs");
                    }
                    return Ok(());
                }
            } else {
                settled_at = None;
                if started.elapsed() >= SETTLE_WAIT {
                    tracing::warn!(
                        missing = ?missing,
                        running = %mgmtd::describe_transactions(&running),
                        "mgmtd did not settle within {}s: configuring anyway",
                        SETTLE_WAIT.as_secs()
                    );
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Moves into the command's blocks (leaving the ones it is in that the command is not in)
    /// and sends it, unless the daemon does not know one of the blocks.
    async fn run(&mut self, command: &Command) -> Result<Outcome, VtyError> {
        let path = &command.context;
        if self.under_mgmtd && touches_vrf_block(command) {
            return Ok(Outcome::Outside(Reply { status: CMD_ERR_NO_MATCH, output: String::new() }));
        }
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
    daemons: Vec<Daemon>,
    /// How long mgmtd must stay idle before the next step takes its lock (see
    /// [`Session::settle_first`]); 0 once it has.
    settle_window: Duration,
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
        let mut session = Session { daemons, settle_window: Duration::ZERO };
        session.mark_mgmtd_backends().await?;
        Ok(session)
    }

    /// Before its first step, this session waits until mgmtd has been idle for [`SETTLE_WINDOW`]
    /// (for an FRR that has just started, or whose daemons restarted: their back ends may be
    /// getting their initial configuration). Otherwise a step only checks mgmtd is idle.
    pub fn settle_first(&mut self) {
        self.settle_window = SETTLE_WINDOW;
    }

    /// With mgmtd running, marks the daemons it configures: the ones it lists as its backends,
    /// and zebra and staticd (its backends since FRR 10) even while they are not connected.
    async fn mark_mgmtd_backends(&mut self) -> Result<(), VtyError> {
        let Some(mgmtd) = self.daemons.iter_mut().find(|d| d.name == "mgmtd") else {
            return Ok(());
        };
        let listed = mgmtd.exec("show mgmt backend-adapter all").await?;
        let mut backends: Vec<String> = vec!["zebra".into(), "staticd".into()];
        if listed.ok() {
            backends.extend(mgmtd::backends(&listed.output));
        }
        for daemon in &mut self.daemons {
            daemon.under_mgmtd = backends.contains(&daemon.name);
        }
        Ok(())
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

    /// For each of `lines` (bare lines, without their blocks), the daemons whose running
    /// configuration holds it: what says where a line FRR did not take lives (or lacks).
    pub async fn daemons_holding(&mut self, lines: &[&str]) -> Result<Vec<(String, Vec<String>)>, VtyError> {
        let replies = join_all(self.daemons.iter_mut().map(|d| async move {
            let reply = d.expect("show running-config").await?;
            Ok::<_, VtyError>((d.name.clone(), crate::normalize_running_config(&reply.output, false)))
        }))
        .await;
        let mut texts = Vec::with_capacity(replies.len());
        for reply in replies {
            texts.push(reply?);
        }
        Ok(lines
            .iter()
            .map(|line| {
                let holders = texts
                    .iter()
                    .filter(|(_, text)| text.lines().any(|l| l.trim() == line.trim()))
                    .map(|(name, _)| name.clone())
                    .collect();
                (line.to_string(), holders)
            })
            .collect())
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
    /// blocks; returns the commands no daemon took. Step by step ([`Change::steps`]): within a
    /// step each daemon gets its commands in order, the daemons side by side, and mgmtd commits
    /// them as one transaction; the next step starts when every daemon is done. Leaves
    /// configuration mode at the end.
    pub async fn configure(&mut self, change: &Change) -> Result<Vec<Refusal>, VtyError> {
        let mut refused = Vec::new();
        let mut first = 0;
        for step in change.in_steps() {
            self.enter().await?;
            let result = self.side_by_side(step, first).await;
            self.leave(result.map(|r| refused.extend(r))).await?;
            first += step.len();
        }
        Ok(refused)
    }

    /// Configuration mode on every daemon, in a batch as `vtysh -f` makes one: each daemon is
    /// told where the batch starts and ends (`XFRR_start_configuration`, `…_end_…`). bgpd
    /// then starts new sessions only once the whole batch is in (so that a restarted bgpd does
    /// not end graceful restart before it has its networks and policies back); mgmtd commits the
    /// batch as one transaction, under the configuration lock it needs for that.
    async fn enter(&mut self) -> Result<(), VtyError> {
        // The back ends mgmtd configures that run here (their vty sockets answered).
        let backends: Vec<String> =
            self.daemons.iter().filter(|d| d.under_mgmtd && d.name != "mgmtd").map(|d| d.name.clone()).collect();
        let backends = &backends;
        let window = std::mem::take(&mut self.settle_window);
        let results = join_all(self.daemons.iter_mut().map(|d| async move {
            if d.name == "mgmtd" {
                d.settle(backends, window).await?;
                d.lock_datastores().await?;
                d.expect("XFRR_start_configuration").await?;
                d.batching = true;
            } else {
                d.expect("configure terminal").await?;
                d.batching = d.exec("XFRR_start_configuration").await?.ok();
            }
            Ok(())
        }))
        .await;
        results.into_iter().collect()
    }

    /// Ends the batch and goes back to enable mode on every daemon, whatever happened before
    /// (`result`). A batch mgmtd could not commit fails the step.
    async fn leave(&mut self, result: Result<(), VtyError>) -> Result<(), VtyError> {
        let mut result = result;
        for daemon in &mut self.daemons {
            daemon.at.clear();
            daemon.unknown.clear();
            if std::mem::take(&mut daemon.batching) {
                match daemon.exec("XFRR_end_configuration").await {
                    // mgmtd commits here: a failed commit fails the batch.
                    Ok(reply) if !reply.ok() && result.is_ok() && daemon.name == "mgmtd" => {
                        result = Err(VtyError::Refused {
                            daemon: daemon.name.clone(),
                            command: "commit".into(),
                            output: redact_passwords(reply.output.trim()),
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if result.is_ok() {
                            result = Err(e);
                        }
                    }
                }
            }
            if let Err(e) = daemon.exec("end").await
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    async fn side_by_side(&mut self, commands: &[Command], first_index: usize) -> Result<Vec<Refusal>, VtyError> {
        let per_daemon = join_all(self.daemons.iter_mut().map(|d| async move {
            let started = std::time::Instant::now();
            let mut answers = Vec::with_capacity(commands.len());
            for command in commands {
                answers.push(d.run(command).await?);
            }
            let sent = answers.iter().filter(|a| matches!(a, Outcome::Sent(_))).count();
            tracing::debug!(daemon = %d.name, sent, took = ?started.elapsed(), "sent side by side");
            Ok::<_, VtyError>(answers)
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let mut refused = Vec::new();
        for offset in 0..commands.len() {
            let answers: Vec<Outcome> = per_daemon.iter().map(|a| a[offset].clone()).collect();
            if let Some(message) = refusal(&answers) {
                refused.push(Refusal { index: first_index + offset, message });
            }
        }
        Ok(refused)
    }
}

/// Whether a command is, or is in, a `vrf` block (or deletes one).
fn touches_vrf_block(command: &Command) -> bool {
    let is_vrf = |line: &str| line.starts_with("vrf ") || line.starts_with("no vrf ");
    command.context.iter().any(|c| is_vrf(c)) || is_vrf(&command.text)
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
    fn vrf_blocks_are_recognised_in_context_and_text() {
        let cmd = |context: &[&str], text: &str| Command {
            context: context.iter().map(|c| c.to_string()).collect(),
            text: text.into(),
            enters: false,
        };
        assert!(touches_vrf_block(&cmd(&[], "vrf red")));
        assert!(touches_vrf_block(&cmd(&["vrf red"], "vni 100")));
        assert!(touches_vrf_block(&cmd(&[], "no vrf red")));
        assert!(!touches_vrf_block(&cmd(&["router bgp 1 vrf red"], "neighbor x remote-as 1")));
        assert!(!touches_vrf_block(&cmd(&[], "router bgp 1 vrf red")));
    }

    #[test]
    fn a_refused_block_explains_its_lines() {
        let answers = [Outcome::Outside(reply(4, "% Command incomplete: router bgp"))];
        assert_eq!(refusal(&answers).as_deref(), Some("% Command incomplete: router bgp"));
    }
}
