//! Per-namespace sysctls under `/proc/sys`, read and written from a thread inside the namespace
//! (`/proc/sys/net` shows the namespace of the thread that opens it).

use std::io;
use std::path::PathBuf;

use crate::netns::NetNs;
use crate::{Error, Side};

fn path_of(key: &str) -> Result<PathBuf, Error> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !key.contains('\0');
    if !ok {
        return Err(Error::InvalidSysctl { key: key.to_string() });
    }
    Ok(PathBuf::from("/proc/sys").join(key))
}

/// Reads sysctls; `None` for those that do not exist.
pub(crate) fn read(ns: &NetNs, side: Side, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
    let paths = keys.iter().map(|k| path_of(k)).collect::<Result<Vec<_>, _>>()?;
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let values = ns.run(|| {
        paths
            .iter()
            .map(|p| match std::fs::read_to_string(p) {
                Ok(v) => Ok(Some(v.trim().to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err((p.clone(), e)),
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    values.map_err(|(p, source)| Error::Sysctl {
        key: p.strip_prefix("/proc/sys").unwrap_or(&p).display().to_string(),
        side,
        source,
    })
}

/// Writes one sysctl.
pub(crate) fn write(ns: &NetNs, side: Side, key: &str, value: &str) -> Result<(), Error> {
    let path = path_of(key)?;
    ns.run(|| std::fs::write(&path, value))?.map_err(|source| Error::Sysctl { key: key.to_string(), side, source })
}
