//! Named network namespaces (`/run/netns/NAME`, as `ip netns add` makes them) without forking, and
//! work inside a namespace on a dedicated thread.
//!
//! A thread's network namespace is changed with `setns`/`unshare`, which only affects the calling
//! thread. Everything here that switches namespace does so on a fresh `std::thread` that does its
//! work and exits, so no thread of a pool (tokio's workers and blocking pool included) is ever
//! left in the wrong namespace. Sockets keep the namespace they were created in, so a netlink
//! socket opened on such a thread talks to that namespace from anywhere; `/proc/sys/net` files
//! opened there are that namespace's sysctls.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

/// Where named namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

/// A namespace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {name}: {what}: {source}")]
    Io {
        name: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("network namespace {0} already exists")]
    Exists(String),
    #[error("network namespace {name}: the worker thread panicked")]
    Panicked { name: String },
}

fn io_err(name: &str, what: &'static str, source: impl Into<io::Error>) -> NetnsError {
    NetnsError::Io { name: name.to_string(), what, source: source.into() }
}

/// The file of a named namespace.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Whether a named namespace exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// The names in `/run/netns`.
pub fn list() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else { return Vec::new() };
    let mut names: Vec<String> = dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    names
}

/// Makes `/run/netns` a shared mount point (as iproute2 does), so that namespace bind mounts
/// propagate to every mount namespace.
fn prepare_dir() -> Result<(), NetnsError> {
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| io_err(NETNS_DIR, "cannot create the directory", e))?;
    let shared = || mount(None::<&str>, NETNS_DIR, Some("none"), MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself first.
            mount(Some(NETNS_DIR), NETNS_DIR, Some("none"), MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| io_err(NETNS_DIR, "cannot bind-mount", e))?;
            shared().map_err(|e| io_err(NETNS_DIR, "cannot make shared", e))
        }
        Err(e) => Err(io_err(NETNS_DIR, "cannot make shared", e)),
    }
}

/// Runs `f` on a fresh thread that has entered the namespace file `ns` (or a fresh anonymous
/// namespace when `ns` is `None`); the thread exits afterwards.
fn on_thread<T, F>(label: &str, ns: Option<PathBuf>, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetnsError> + Send + 'static,
{
    let name = label.to_string();
    let worker_name = name.clone();
    let handle = std::thread::Builder::new()
        .name(format!("netns-{label}"))
        .spawn(move || -> Result<T, NetnsError> {
            match ns {
                Some(path) => {
                    let file = File::open(&path).map_err(|e| io_err(&worker_name, "cannot open", e))?;
                    setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| io_err(&worker_name, "setns", e))?;
                }
                None => unshare(CloneFlags::CLONE_NEWNET).map_err(|e| io_err(&worker_name, "unshare", e))?,
            }
            f()
        })
        .map_err(|e| io_err(&name, "cannot spawn a thread", e))?;
    handle.join().map_err(|_| NetnsError::Panicked { name })?
}

/// Runs `f` inside the named namespace, on a dedicated thread (blocking the caller until done).
pub fn run_in<T, F>(name: &str, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetnsError> + Send + 'static,
{
    on_thread(name, Some(path(name)), f)
}

/// Runs `f` inside a fresh anonymous namespace that vanishes when `f` returns (unless `f` kept a
/// socket or file of it).
pub fn run_in_scratch<T, F>(f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetnsError> + Send + 'static,
{
    on_thread("scratch", None, f)
}

/// Creates the named namespace (like `ip netns add NAME`) and runs `f` inside it, on a dedicated
/// thread. Fails with [`NetnsError::Exists`] when the name is taken; on failure nothing is left.
pub fn create<T, F>(name: &str, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetnsError> + Send + 'static,
{
    prepare_dir()?;
    let file = path(name);
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&file) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(NetnsError::Exists(name.to_string())),
        Err(e) => return Err(io_err(name, "cannot create the mount point", e)),
    }
    let owned = name.to_string();
    let target = file.clone();
    let result = on_thread(name, None, move || {
        // The thread's own namespace file, bound onto /run/netns/NAME, keeps it alive.
        let tid = nix::unistd::gettid();
        let own = format!("/proc/self/task/{tid}/ns/net");
        mount(Some(own.as_str()), &target, Some("none"), MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| io_err(&owned, "cannot bind-mount the namespace", e))?;
        f()
    });
    if result.is_err() {
        let _ = delete(name);
    }
    result
}

/// Deletes a named namespace (like `ip netns delete NAME`); a missing one is not an error. The
/// namespace goes away once no process or socket uses it any more.
pub fn delete(name: &str) -> Result<(), NetnsError> {
    let file = path(name);
    match umount2(&file, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(io_err(name, "cannot unmount", e)),
    }
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(name, "cannot remove", e)),
    }
}

/// Writes a sysctl of the calling thread's network namespace (`net.ipv4.ip_forward` →
/// `/proc/sys/net/ipv4/ip_forward`). Call it from inside [`run_in`] or [`create`].
pub fn write_sysctl(ns: &str, key: &str, value: &str) -> Result<(), NetnsError> {
    let file = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::fs::write(&file, value).map_err(|e| NetnsError::Io {
        name: ns.to_string(),
        what: "cannot write a sysctl",
        source: io::Error::new(e.kind(), format!("{key}={value}: {e}")),
    })
}

/// Opens a netlink route connection on the calling thread (so in its namespace), registers it
/// with the tokio runtime `rt` and spawns its driver there.
pub fn netlink_here(ns: &str, rt: &tokio::runtime::Handle) -> Result<rtnetlink::Handle, NetnsError> {
    let _entered = rt.enter();
    let (connection, handle, _) = rtnetlink::new_connection().map_err(|e| io_err(ns, "cannot open netlink", e))?;
    rt.spawn(connection);
    Ok(handle)
}

/// A netlink handle bound to the named namespace.
pub fn netlink_in(name: &str, rt: &tokio::runtime::Handle) -> Result<rtnetlink::Handle, NetnsError> {
    let rt = rt.clone();
    let owned = name.to_string();
    run_in(name, move || netlink_here(&owned, &rt))
}
