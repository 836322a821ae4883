//! Dry-run syntax check with `vtysh -C`.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The vtysh program used by [`check_syntax`], looked up in `PATH`.
pub const VTYSH: &str = "vtysh";

/// Why a configuration did not pass [`check_syntax`].
#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    /// vtysh parsed the file and rejected some lines. `output` is what vtysh
    /// printed (stdout then stderr), e.g.
    /// `line 2: % Unknown command[25]:  neighbor 1.2.3.4 remote-az 5`.
    #[error("vtysh rejected the configuration ({status}):\n{output}")]
    Rejected { status: String, output: String },
    /// vtysh could not be run, or the temporary file could not be written.
    #[error("cannot run vtysh: {0}")]
    Io(#[from] std::io::Error),
}

impl SyntaxError {
    /// vtysh's output for [`SyntaxError::Rejected`].
    pub fn output(&self) -> Option<&str> {
        match self {
            SyntaxError::Rejected { output, .. } => Some(output),
            SyntaxError::Io(_) => None,
        }
    }

    /// Replaces every occurrence of the given secrets in the output.
    pub(crate) fn scrub(self, secrets: &[&str]) -> Self {
        match self {
            SyntaxError::Rejected { status, mut output } => {
                for secret in secrets.iter().filter(|s| !s.is_empty()) {
                    output = output.replace(secret, crate::REDACTED);
                }
                SyntaxError::Rejected { status, output }
            }
            io => io,
        }
    }
}

/// Checks `config_text` with `vtysh -C -f FILE` (dry run: parsed against
/// vtysh's command tree, no daemon needed, nothing applied). This catches
/// unknown, incomplete and ambiguous commands and commands in the wrong
/// node; it cannot catch semantic errors that only the daemons detect (e.g.
/// `route-reflector-client` on an eBGP peer).
///
/// The text may contain secrets: so may the error. Prefer
/// [`Config::check_syntax`](crate::Config::check_syntax), which scrubs them.
pub fn check_syntax(config_text: &str) -> Result<(), SyntaxError> {
    check_syntax_with(Path::new(VTYSH), config_text)
}

/// [`check_syntax`] with an explicit vtysh program.
pub fn check_syntax_with(vtysh: &Path, config_text: &str) -> Result<(), SyntaxError> {
    let mut file = tempfile::Builder::new().prefix("frr-syntax-").suffix(".conf").tempfile()?;
    file.write_all(config_text.as_bytes())?;
    file.flush()?;
    let output = Command::new(vtysh).arg("-C").arg("-f").arg(file.path()).output()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    // vtysh -C exits 0 when every line parsed and 2 (with the failing lines
    // on its output) otherwise.
    if output.status.success() {
        Ok(())
    } else {
        Err(SyntaxError::Rejected { status: output.status.to_string(), output: text })
    }
}

/// The first line vtysh refused, from the output of `vtysh -C -f` or `vtysh -f`
/// (`line 2: % Unknown command[25]:  neighbor 1.2.3.4 remote-az 5`): the line
/// and vtysh's message (`% Unknown command[25]`), passwords redacted.
pub fn refused_line(output: &str) -> Option<(String, String)> {
    output.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("line ")?;
        let (number, what) = rest.split_once(": ")?;
        number.parse::<usize>().ok()?;
        let (message, line) = match what.split_once(":  ") {
            Some((m, line)) => (m.trim(), line.trim()),
            None => (what.trim(), ""),
        };
        Some((crate::delta::redact_passwords(line), crate::delta::redact_passwords(&plain_message(message))))
    })
}

/// vtysh's message without the number of the parser node it stopped at (`% Unknown
/// command[25]` → `% Unknown command`): that number differs between FRR builds.
pub(crate) fn plain_message(message: &str) -> String {
    match (message.find('['), message.ends_with(']')) {
        (Some(open), true) if message[open + 1..message.len() - 1].chars().all(|c| c.is_ascii_digit()) => {
            message[..open].to_string()
        }
        _ => message.to_string(),
    }
}

/// Whether an executable `vtysh` is found in `PATH`.
pub fn vtysh_available() -> bool {
    find_in_path(OsStr::new(VTYSH)).is_some()
}

fn find_in_path(program: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_line_is_read_from_vtysh_output() {
        let out = "% a note\nline 2: % Unknown command[25]:  neighbor 1.2.3.4 password x\n";
        assert_eq!(
            refused_line(out),
            Some(("neighbor 1.2.3.4 password <redacted>".to_string(), "% Unknown command".to_string()))
        );
        assert_eq!(refused_line("nothing wrong\n"), None);
    }

    fn skip() -> bool {
        if vtysh_available() {
            return false;
        }
        eprintln!("!!!!!!!! SKIPPED: vtysh not found in PATH, syntax check not exercised !!!!!!!!");
        true
    }

    #[test]
    fn accepts_valid_config() {
        if skip() {
            return;
        }
        let text = "router bgp 64512\n neighbor 10.0.0.1 remote-as external\n address-family ipv4 unicast\n  neighbor 10.0.0.1 activate\n exit-address-family\nexit\n";
        check_syntax(text).unwrap();
    }

    #[test]
    fn reports_failing_lines() {
        if skip() {
            return;
        }
        let text = "router bgp 64512\n neighbor 10.0.0.1 remote-az 5\n bogus line\nexit\n";
        let err = check_syntax(text).unwrap_err();
        let output = err.output().unwrap();
        assert!(output.contains("remote-az"), "{output}");
        assert!(output.contains("bogus line"), "{output}");
        assert!(err.to_string().contains("remote-az"));
    }

    #[test]
    fn config_check_scrubs_secrets() {
        if skip() {
            return;
        }
        let mut bgp = crate::BgpInstance::new(64512, None);
        let mut n =
            crate::Neighbor::new(crate::PeerTarget::Address("10.0.0.1".parse().unwrap()), crate::RemoteAs::External);
        // A password with a space is not a single WORD: vtysh rejects it.
        n.password = Some(crate::Secret::new("hunter2 x"));
        bgp.neighbors.push(n);
        let config = crate::Config { bgp: vec![bgp], ..crate::Config::default() };
        let err = config.check_syntax().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("password <redacted>"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn missing_vtysh_is_an_io_error() {
        let err = check_syntax_with(Path::new("/nonexistent/vtysh"), "!\n").unwrap_err();
        assert!(matches!(err, SyntaxError::Io(_)), "{err:?}");
    }
}
