//! Running helper programs (vtysh, frr-reload.py) with a deadline.
//!
//! Every program runs in its own process group, so that a timeout kills the
//! whole tree (frr-reload.py spawns one vtysh per deleted line) and not only
//! the direct child.

use std::ffi::OsString;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::Command;

/// What a finished program printed.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Why a helper program did not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started (missing binary, permissions).
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// The program did not finish in time; its whole process group was killed.
    #[error("{program} did not finish within {}s and was killed", after.as_secs_f32())]
    Timeout { program: String, after: Duration },
}

/// The program name of a command line, for messages.
pub(crate) fn program_name(argv: &[OsString]) -> String {
    argv.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Runs `argv` (program first) with stdin closed, capturing its output, and
/// kills its process group when `timeout` expires.
pub(crate) async fn run(argv: &[OsString], timeout: Duration) -> Result<Captured, ExecError> {
    let program = program_name(argv);
    let Some((first, rest)) = argv.split_first() else {
        return Err(ExecError::Spawn {
            program,
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty command line"),
        });
    };
    let mut cmd = Command::new(first);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let child = cmd.spawn().map_err(|source| ExecError::Spawn { program: program.clone(), source })?;
    let pgid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => {
            let duration = started.elapsed();
            tracing::debug!(%program, args = argv.len() - 1, ?duration, status = %output.status, "helper finished");
            Ok(Captured {
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
        Ok(Err(source)) => Err(ExecError::Spawn { program, source }),
        Err(_) => {
            // The child itself is killed by kill_on_drop; its descendants
            // share its process group (it is the group leader).
            if let Some(pgid) = pgid {
                kernel::procs::kill_group(pgid);
            }
            Err(ExecError::Timeout { program, after: timeout })
        }
    }
}
