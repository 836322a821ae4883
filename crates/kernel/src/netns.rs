//! Named network namespaces (`/run/netns/<name>`, the iproute2 convention) and running code
//! inside a namespace without ever leaving a shared thread in it.
//!
//! Every namespace switch happens on a short-lived `std::thread` spawned for that purpose: the
//! thread enters the namespace, does its work (open a netlink socket, touch `/proc/sys/net`,
//! `unshare` a new namespace) and exits. No caller thread (and so no async worker) ever changes
//! namespace, and a panic or early return cannot leave one behind. Nothing forks.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::netlink::Socket;

/// Where named namespaces are bind-mounted (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// An open network namespace. Holding it keeps the namespace alive; dropping it closes the
/// file descriptor (a deleted namespace disappears once nothing holds it).
#[derive(Debug)]
pub struct NetNs {
    name: Option<String>,
    path: PathBuf,
    fd: OwnedFd,
}

/// What can go wrong with a namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A namespace name that `ip netns` would not accept either.
    #[error("network namespace name {name:?} is invalid: use a plain file name without '/'")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// Creating a namespace that exists.
    #[error("network namespace {name} already exists ({NETNS_RUN_DIR}/{name}): open it instead")]
    Exists {
        /// The name.
        name: String,
    },
    /// Opening a namespace that does not exist.
    #[error("network namespace {} does not exist: create it first (the agent does, or `ip netns add`)", path.display())]
    NotFound {
        /// Its path.
        path: PathBuf,
    },
    /// A namespace operation failed.
    #[error("network namespace {}: cannot {action}: {source} (this needs root, CAP_SYS_ADMIN)", path.display())]
    Io {
        /// Its path.
        path: PathBuf,
        /// What was attempted.
        action: &'static str,
        /// The system error.
        source: io::Error,
    },
}

fn check_name(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') || name.len() > 255 {
        return Err(NetnsError::InvalidName { name: name.to_string() });
    }
    Ok(())
}

fn ns_error(path: &Path, action: &'static str, source: impl Into<io::Error>) -> NetnsError {
    NetnsError::Io { path: path.to_path_buf(), action, source: source.into() }
}

impl NetNs {
    /// The path of a named namespace.
    pub fn path_of(name: &str) -> PathBuf {
        Path::new(NETNS_RUN_DIR).join(name)
    }

    /// Whether a named namespace exists.
    pub fn exists(name: &str) -> bool {
        check_name(name).is_ok() && Self::path_of(name).exists()
    }

    /// Opens an existing named namespace.
    pub fn open(name: &str) -> Result<NetNs, NetnsError> {
        check_name(name)?;
        let mut ns = Self::open_path(Self::path_of(name))?;
        ns.name = Some(name.to_string());
        Ok(ns)
    }

    /// Opens the namespace behind a path (`/run/netns/x`, `/proc/<pid>/ns/net`, …).
    pub fn open_path(path: impl AsRef<Path>) -> Result<NetNs, NetnsError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                NetnsError::NotFound { path: path.to_path_buf() }
            } else {
                ns_error(path, "open", e)
            }
        })?;
        Ok(NetNs { name: None, path: path.to_path_buf(), fd: file.into() })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<NetNs, NetnsError> {
        Self::open_path("/proc/thread-self/ns/net")
    }

    /// Opens a named namespace, creating it (with `lo` up) when it does not exist.
    pub fn ensure(name: &str) -> Result<NetNs, NetnsError> {
        match Self::open(name) {
            Err(NetnsError::NotFound { .. }) => match Self::create(name) {
                Err(NetnsError::Exists { .. }) => Self::open(name),
                other => other,
            },
            other => other,
        }
    }

    /// Creates a named namespace like `ip netns add` does, and sets its `lo` up.
    ///
    /// `/run/netns` is made a shared mount first (bind-mounted onto itself when it is not a
    /// mount point yet), so namespaces created later propagate into other mount namespaces.
    pub fn create(name: &str) -> Result<NetNs, NetnsError> {
        let path = mount_point(name)?;
        let target = path.clone();
        let made = std::thread::scope(|s| {
            s.spawn(move || -> Result<(), NetnsError> {
                // This thread exists only to own the new namespace while it is bind-mounted.
                nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ns_error(&target, "unshare", e))?;
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                let own = format!("/proc/self/task/{tid}/ns/net");
                nix::mount::mount(Some(own.as_str()), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .map_err(|e| ns_error(&target, "bind-mount", e))?;
                let mut sock = Socket::open().map_err(|e| ns_error(&target, "open netlink", e))?;
                sock.set_up_by_name("lo")
                    .map_err(|e| ns_error(&target, "set lo up", io::Error::other(e.to_string())))?;
                Ok(())
            })
            .join()
        });
        let made =
            made.unwrap_or_else(|_| Err(ns_error(&path, "create", io::Error::other("creating thread panicked"))));
        if let Err(e) = made {
            let _ = nix::mount::umount2(&path, MntFlags::MNT_DETACH);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Self::open(name)
    }

    /// Names this namespace `name` (`/run/netns/<name>`), as `ip netns attach` does: for a
    /// namespace that lives on after its name was deleted, because something (FRR, this handle)
    /// still holds it. Its interfaces, addresses and routes are all still there.
    pub fn attach(&self, name: &str) -> Result<NetNs, NetnsError> {
        let path = mount_point(name)?;
        let source = fd_path(&self.fd);
        if let Err(e) = nix::mount::mount(Some(&source), &path, None::<&str>, MsFlags::MS_BIND, None::<&str>) {
            let _ = fs::remove_file(&path);
            return Err(ns_error(&path, "bind-mount", e));
        }
        Self::open(name)
    }

    /// Deletes a named namespace: unmounts and removes `/run/netns/<name>`. Its interfaces go
    /// away once no process and no open descriptor holds the namespace any more.
    pub fn delete(name: &str) -> Result<(), NetnsError> {
        check_name(name)?;
        let path = Self::path_of(name);
        if !path.exists() {
            return Err(NetnsError::NotFound { path });
        }
        match nix::mount::umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => return Err(ns_error(&path, "unmount", e)),
        }
        fs::remove_file(&path).map_err(|e| ns_error(&path, "remove", e))
    }

    /// The names in `/run/netns`, sorted.
    pub fn list() -> Vec<String> {
        let Ok(dir) = fs::read_dir(NETNS_RUN_DIR) else { return Vec::new() };
        let mut names: Vec<String> = dir.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        names.sort();
        names
    }

    /// Runs `f` on a fresh thread inside a new anonymous namespace, which vanishes when `f`
    /// returns unless `f` kept a socket or file of it (a probe of what the kernel can do).
    pub fn scratch<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        let path = Path::new("(scratch)");
        std::thread::scope(|s| {
            s.spawn(move || -> Result<T, NetnsError> {
                nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ns_error(path, "unshare", e))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(ns_error(path, "run code in", io::Error::other("the worker thread panicked"))))
        })
    }

    /// The name, for a named namespace.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How to refer to it in messages: the name, else the path.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.path.display().to_string())
    }

    /// Whether two handles refer to the same namespace.
    pub fn same_as(&self, other: &NetNs) -> bool {
        match (fs::metadata(fd_path(&self.fd)), fs::metadata(fd_path(&other.fd))) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }

    /// Runs `f` on a fresh thread that has entered this namespace, and returns its result.
    /// The thread ends with `f`, so no other code ever runs in the namespace by accident.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
        let fd = self.fd.as_fd();
        let path = &self.path;
        std::thread::scope(|s| {
            s.spawn(move || -> Result<T, NetnsError> {
                nix::sched::setns(fd, CloneFlags::CLONE_NEWNET).map_err(|e| ns_error(path, "enter", e))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(ns_error(path, "run code in", io::Error::other("the worker thread panicked"))))
        })
    }

    /// Makes `cmd` run its program inside this namespace: the child enters it between fork and
    /// exec, so the parent never does.
    pub fn enter_on_exec(&self, cmd: &mut std::process::Command) -> Result<(), NetnsError> {
        use std::os::unix::process::CommandExt;
        let fd = self.fd.try_clone().map_err(|e| ns_error(&self.path, "duplicate the descriptor of", e))?;
        // SAFETY: the closure runs in the forked child before exec and only calls setns(2), an
        // async-signal-safe system call, on a descriptor opened before the fork; it allocates
        // nothing and takes no lock.
        unsafe {
            cmd.pre_exec(move || nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET).map_err(io::Error::from));
        }
        Ok(())
    }

    /// The descriptor, for requests that name a namespace by fd (`IFLA_NET_NS_FD`).
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Makes the empty file a named namespace is bind-mounted onto (`/run/netns/<name>`), in a
/// shared `/run/netns`; [`NetnsError::Exists`] when the name is taken.
fn mount_point(name: &str) -> Result<PathBuf, NetnsError> {
    check_name(name)?;
    let dir = Path::new(NETNS_RUN_DIR);
    fs::create_dir_all(dir).map_err(|e| ns_error(dir, "create the directory", e))?;
    make_shared(dir)?;
    let path = NetNs::path_of(name);
    match OpenOptions::new().write(true).create_new(true).mode(0o000).open(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(NetnsError::Exists { name: name.to_string() }),
        Err(e) => Err(ns_error(&path, "create the mount point", e)),
    }
}

/// Makes `dir` a shared mount, bind-mounting it onto itself first when it is not a mount point.
fn make_shared(dir: &Path) -> Result<(), NetnsError> {
    let shared =
        || nix::mount::mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match shared() {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            let c = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|e| ns_error(dir, "bind-mount", e))?;
            nix::mount::mount(Some(c.as_c_str()), dir, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| ns_error(dir, "bind-mount onto itself", e))?;
            shared().map_err(|e| ns_error(dir, "make shared", e))
        }
        Err(e) => Err(ns_error(dir, "make shared", e)),
    }
}
