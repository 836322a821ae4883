//! Which FRR this is: the release a running instance reports, or the one
//! installed on the machine.
//!
//! Two FRR lines are supported: Debian 12's 8.4.4 and Debian 13's 10.3.
//! The differences that matter to the renderer, the instance code and the
//! state readers are decided by [`FrrVersion`] comparisons, each written
//! down next to the code that handles it and listed in `docs/frr-versions.md`.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

/// An FRR release, `MAJOR.MINOR[.PATCH]` (FRR's own numbering; Debian's
/// package revision is not part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrrVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl FrrVersion {
    /// Debian 12 (bookworm): the line the renderer was first written for.
    pub const FRR_8_4: FrrVersion = FrrVersion::new(8, 4, 4);
    /// Debian 13 (trixie).
    pub const FRR_10_3: FrrVersion = FrrVersion::new(10, 3, 0);
    /// The version [`Config::render`](crate::Config::render) renders for
    /// when it is not told one.
    pub const DEFAULT: FrrVersion = FrrVersion::FRR_8_4;

    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        FrrVersion { major, minor, patch }
    }

    /// At least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// The version in the output of `vtysh -c 'show version'`
    /// (`FRRouting 10.3 (host) on Linux(…).`) or of `DAEMON --version`
    /// (`zebra version 8.4.4`): the first word that parses as a version
    /// after `FRRouting` or `version`.
    pub fn from_output(text: &str) -> Option<FrrVersion> {
        let words: Vec<&str> = text.split_whitespace().collect();
        words.windows(2).filter(|w| w[0] == "FRRouting" || w[0] == "version").find_map(|w| w[1].parse().ok())
    }

    /// The version of the FRR installed in `sbin_dir` (`/usr/lib/frr`), from
    /// `zebra --version`; `None` when there is no zebra there or its output
    /// has no version.
    pub fn installed(sbin_dir: &Path) -> Option<FrrVersion> {
        let output = Command::new(sbin_dir.join("zebra")).arg("--version").output().ok()?;
        FrrVersion::from_output(&String::from_utf8_lossy(&output.stdout))
    }
}

impl Default for FrrVersion {
    fn default() -> Self {
        FrrVersion::DEFAULT
    }
}

impl fmt::Display for FrrVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// A text that is not an FRR version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an FRR version (expected MAJOR.MINOR[.PATCH], e.g. 10.3 or 8.4.4)")]
pub struct BadVersion(pub String);

impl FromStr for FrrVersion {
    type Err = BadVersion;

    /// `10.3`, `8.4.4`, `10.3.1`; a suffix after the numbers (`10.4-dev`,
    /// `8.4.4-1`) is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(s.to_string());
        let core = s.split(|c: char| !(c.is_ascii_digit() || c == '.')).next().unwrap_or("");
        let mut parts = core.split('.').filter(|p| !p.is_empty()).map(|p| p.parse::<u32>().map_err(|_| bad()));
        let major = parts.next().ok_or_else(bad)??;
        let minor = parts.next().ok_or_else(bad)??;
        let patch = parts.next().transpose()?.unwrap_or(0);
        Ok(FrrVersion { major, minor, patch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_show_version_of_both_lines() {
        let v10 = "FRRouting 10.3 (leaf-1) on Linux(6.12.38+deb13-amd64).\nCopyright 1996-2005 …\n";
        assert_eq!(FrrVersion::from_output(v10), Some(FrrVersion::FRR_10_3));
        let v8 = "FRRouting 8.4.4 (worker) on Linux(6.1.0-13-amd64).\n";
        assert_eq!(FrrVersion::from_output(v8), Some(FrrVersion::FRR_8_4));
    }

    #[test]
    fn parses_daemon_version_flag() {
        assert_eq!(FrrVersion::from_output("zebra version 10.3\nCopyright"), Some(FrrVersion::new(10, 3, 0)));
        assert_eq!(FrrVersion::from_output("zebra version 8.4.4"), Some(FrrVersion::new(8, 4, 4)));
        assert_eq!(FrrVersion::from_output("no version here"), None);
    }

    #[test]
    fn parses_suffixes_and_rejects_garbage() {
        assert_eq!("10.4-dev".parse(), Ok(FrrVersion::new(10, 4, 0)));
        assert_eq!("8.4.4-1".parse(), Ok(FrrVersion::new(8, 4, 4)));
        assert!("10".parse::<FrrVersion>().is_err());
        assert!("x.y".parse::<FrrVersion>().is_err());
    }

    #[test]
    fn orders_and_prints() {
        assert!(FrrVersion::FRR_10_3 > FrrVersion::FRR_8_4);
        assert!(FrrVersion::FRR_10_3.at_least(9, 0));
        assert!(!FrrVersion::FRR_8_4.at_least(9, 0));
        assert_eq!(FrrVersion::FRR_8_4.to_string(), "8.4.4");
        assert_eq!(FrrVersion::FRR_10_3.to_string(), "10.3");
    }
}
