//! Per-namespace sysctls (`kernel::sysctl`, run from a thread inside the namespace).

use kernel::NetNs;
use kernel::sysctl;

use crate::{Error, Side};

/// Reads sysctls; `None` for those that do not exist.
pub(crate) fn read(ns: &NetNs, side: Side, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values = ns.run(|| keys.iter().map(|k| sysctl::read(k)).collect::<Result<Vec<_>, _>>())?;
    values.map_err(|source| Error::Sysctl { side, source })
}

/// Writes one sysctl.
pub(crate) fn write(ns: &NetNs, side: Side, key: &str, value: &str) -> Result<(), Error> {
    ns.run(|| sysctl::write(key, value))?.map_err(|source| Error::Sysctl { side, source })
}
