//! Sysctls under `/proc/sys`, named one way everywhere: the path below `/proc/sys` with `/`
//! between the parts (`net/ipv4/conf/eth0.10/forwarding`), so that an interface name with a dot
//! stays one part. `/proc/sys/net` shows the network namespace of the thread that opens it: call
//! these from inside [`NetNs::run`](crate::NetNs::run).

use std::io;
use std::path::PathBuf;

/// A key that is not a plain relative path under `/proc/sys`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sysctl key {0:?} is not a relative path under /proc/sys (parts separated by '/')")]
pub struct InvalidKey(pub String);

/// The file of a key.
pub fn path(key: &str) -> Result<PathBuf, InvalidKey> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !key.contains('\0');
    if !ok {
        return Err(InvalidKey(key.to_string()));
    }
    Ok(PathBuf::from("/proc/sys").join(key))
}

/// What went wrong reading or writing a sysctl.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is malformed.
    #[error(transparent)]
    Key(#[from] InvalidKey),
    /// The file could not be read or written.
    #[error("sysctl {key}: {source}")]
    Io {
        /// The key.
        key: String,
        /// The system error.
        source: io::Error,
    },
}

/// Reads a sysctl of the calling thread's namespace; `None` when it does not exist.
pub fn read(key: &str) -> Result<Option<String>, SysctlError> {
    match std::fs::read_to_string(path(key)?) {
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SysctlError::Io { key: key.to_string(), source }),
    }
}

/// Writes a sysctl of the calling thread's namespace.
pub fn write(key: &str, value: &str) -> Result<(), SysctlError> {
    std::fs::write(path(key)?, value).map_err(|source| SysctlError::Io { key: key.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_paths_and_dots_stay_in_their_part() {
        assert_eq!(
            path("net/ipv4/conf/eth0.10/forwarding").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.10/forwarding")
        );
        for bad in ["", "/net/ipv4", "net//ipv4", "net/../kernel", "net/./x", "a\0b"] {
            assert_eq!(path(bad), Err(InvalidKey(bad.to_string())), "{bad:?}");
        }
    }

    #[test]
    fn reading_a_missing_key_is_none() {
        assert_eq!(read("net/ipv4/conf/no-such-link-here/forwarding").unwrap(), None);
    }
}
