//! What an apply reports: [`ApplyReport`] when FRR runs the target, [`ApplyError`] (with the
//! [`FailedLine`]s and the [`Rollback`]) when it does not, and the [`RejectedSnippet`]s left out.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::delta::{DeltaLine, SessionReset};
use crate::vty::VtyError;

/// A `raw` snippet FRR refused, left out of the applied configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSnippet {
    /// Its index in [`Config::raw`].
    pub index: usize,
    /// The line FRR refused (passwords redacted).
    pub line: String,
    /// What FRR said about it.
    pub message: String,
}

impl fmt::Display for RejectedSnippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FRR refused `{}`: {}", self.line, self.message)
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// Lines of the running configuration that are gone.
    pub removed: Vec<DeltaLine>,
    /// Lines that were added.
    pub added: Vec<DeltaLine>,
    /// Whether commands were sent to FRR.
    pub reloaded: bool,
    /// Commands sent, over all passes.
    pub commands: usize,
    /// Scripts sent: 0 (nothing to do), 1, or 2 when the first left something to do.
    pub passes: u8,
    /// Whether the running configuration was read (false: the target was the one applied
    /// last, FRR had not restarted and the drift check was not due).
    pub read_running: bool,
    /// `raw` snippets FRR refused: the rest was applied without them.
    pub rejected_snippets: Vec<RejectedSnippet>,
    /// BGP sessions the change reset (bgpd applies an address family or a transport setting of
    /// a running neighbor only so).
    pub session_resets: Vec<SessionReset>,
    /// Time spent waiting for an apply in progress (serialisation).
    pub queued: Duration,
    /// Time of the apply itself (after the wait).
    pub duration: Duration,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
}

impl ApplyReport {
    /// The report as JSON (durations in milliseconds, times in milliseconds since the epoch).
    pub fn to_json(&self) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let epoch_ms =
            |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let lines = |l: &[DeltaLine]| l.iter().map(ToString::to_string).collect::<Vec<_>>();
        serde_json::json!({
            "removed": lines(&self.removed),
            "added": lines(&self.added),
            "reloaded": self.reloaded,
            "commands": self.commands,
            "passes": self.passes,
            "readRunning": self.read_running,
            "rejectedSnippets": self.rejected_snippets.iter().map(|r| serde_json::json!({
                "index": r.index, "line": r.line, "message": r.message,
            })).collect::<Vec<_>>(),
            "sessionResets": self.session_resets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "queuedMs": ms(self.queued),
            "durationMs": ms(self.duration),
            "startedAtMs": epoch_ms(self.started_at),
            "finishedAtMs": epoch_ms(self.finished_at),
        })
    }
}

/// A line FRR did not end up running as the target says, and what FRR said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedLine {
    /// The line with its blocks (`router bgp 64512 > neighbor 1.2.3.4 remote-as 5`); `no X`
    /// for a line that should have gone. Passwords redacted.
    pub line: String,
    /// The bare line (without its blocks), as in the target.
    pub bare: String,
    /// FRR's message for it, when vtysh printed one.
    pub message: Option<String>,
}

impl fmt::Display for FailedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "`{}` ({m})", self.line),
            None => write!(f, "`{}` (FRR printed no error for it)", self.line),
        }
    }
}

/// What put back the previous configuration after a failed apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// The configuration that ran before the apply runs again.
    Restored,
    /// Putting it back failed too.
    Failed(String),
    /// Not tried ([`ApplyOptions::rollback`] is off).
    NotAttempted,
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollback::Restored => f.write_str("the previous configuration was restored"),
            Rollback::Failed(e) => write!(f, "restoring the previous configuration failed too: {e}"),
            Rollback::NotAttempted => f.write_str("the previous configuration was not restored"),
        }
    }
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// FRR did not take some lines, even after a retry.
    #[error("FRR did not take {}: {}; {rollback}", count(lines.len()), lines.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    NotApplied { lines: Vec<FailedLine>, rollback: Rollback },
    /// The configuration file could not be written or read.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The daemons could not be reached or did not answer.
    #[error("cannot talk to FRR: {0}")]
    Vty(#[from] VtyError),
}

fn count(n: usize) -> String {
    if n == 1 { "1 line".to_string() } else { format!("{n} lines") }
}

impl ApplyError {
    /// The lines FRR did not take, with their blocks.
    pub fn failed_lines(&self) -> Vec<String> {
        match self {
            ApplyError::NotApplied { lines, .. } => lines.iter().map(|l| l.line.clone()).collect(),
            _ => Vec::new(),
        }
    }
}
