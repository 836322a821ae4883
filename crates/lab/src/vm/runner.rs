//! Boots the kit's kernel under qemu (TCG) and runs one command in it.
//!
//! Host side of one run:
//! * a private run directory (in the host's temp dir) holds `config` and `cmd.sh` for the guest's
//!   init (it reads them over the 9p root share), the qemu
//!   console log, and two unix sockets qemu connects to, one per guest output port;
//! * qemu gets `-kernel vmlinux -initrd initramfs.cpio.gz` with `opr.run=<run dir>` on the
//!   kernel command line, the host root as a read-only 9p share, optionally one read-write share,
//!   and a virtio-serial device with the ports `opr.stdout` and `opr.stderr`;
//! * two threads forward those ports to the caller until the per-run nonce trailer
//!   ([`super::stream`]); the guest then powers off. A run that outlives its timeout is killed.
//!
//! qemu runs under `setpriv --pdeathsig KILL` (util-linux), so it dies with the thread that
//! started it even if this process is killed; every other exit path kills and reaps it.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::kit::{Kit, KitError, which};
use super::stream::Scanner;
use super::userland::Userland;

/// Default limit for one run (boot included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long the guest may take to power off after reporting the command's status.
const POWEROFF_GRACE: Duration = Duration::from_secs(10);
/// The line init prints on the console right before it starts the command.
const STARTED_LINE: &str = "opr-vm: command started";
/// Guest directories that are fresh tmpfs mounts, so the host's contents are not visible there.
/// (`/tmp` is not one: a checkout under the host's /tmp must stay visible; guest writes there
/// land in the throw-away overlay like everywhere else.)
const GUEST_TMPFS: &[&str] = &["/run", "/dev/shm"];

/// How to run a command in the VM.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Limit for the whole run, boot included. On expiry qemu is killed and [`VmError::Timeout`]
    /// is returned.
    pub timeout: Duration,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
    /// A host directory mounted read-write at the same path in the guest. Everything else the
    /// command writes is thrown away with the VM.
    pub rw_share: Option<PathBuf>,
    /// Print the guest console (kernel and init messages) to stderr while running.
    pub debug: bool,
    /// Working directory of the command (default: this process's). It must be visible in the
    /// guest: not under /run or /dev/shm unless it is inside `rw_share`.
    pub cwd: Option<PathBuf>,
    /// Environment of the command, on top of PATH (this process's), HOME=/root, USER=root,
    /// LOGNAME=root, SHELL=/bin/sh and LANG=C.UTF-8. Nothing else is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// The guest's root file system: the host's own, or a prepared one (FRR 10).
    pub userland: Userland,
    /// With another userland: host directories to show at their own paths (read-only, under
    /// the throw-away overlay), on top of the working directory, this program's directory,
    /// the source tree it was built from and `/tmp`, which are always shown.
    pub binds: Vec<PathBuf>,
    /// Boot the userland with systemd as PID 1 and run the command as a oneshot unit of that
    /// boot (see `init.sh`); only with a prepared root that carries systemd (Debian 13).
    pub systemd: bool,
    /// A tar archive (host path) unpacked into the overlay's upper layer before the root is
    /// mounted: the changes an earlier boot saved from `/run/opr-vm/upper` (systemd boots show
    /// the upper layer there), so that a root can be booted again.
    pub upper_from: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: DEFAULT_TIMEOUT,
            memory_mib: 2048,
            cpus: 2,
            rw_share: None,
            debug: false,
            cwd: None,
            env: Vec::new(),
            userland: Userland::Host,
            binds: Vec::new(),
            systemd: false,
            upper_from: None,
        }
    }
}

/// Why a command could not be run to completion in the VM. A command that ran and failed is not
/// an error: its status is returned.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("VM kit: {0}")]
    Kit(#[from] KitError),
    #[error("no command given")]
    EmptyCommand,
    #[error("already inside the lab VM: run the command directly")]
    Nested,
    #[error("invalid environment variable name {0:?}")]
    EnvName(String),
    #[error("working directory {path}: {reason}")]
    Cwd { path: PathBuf, reason: String },
    #[error("read-write share {path}: {reason}")]
    RwShare { path: PathBuf, reason: String },
    #[error("host directory {path} cannot be shown in the guest: {reason}")]
    Bind { path: PathBuf, reason: String },
    #[error("{0}")]
    Boot(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the VM timed out after {}s {}; qemu was killed.{}",
        .after.as_secs(),
        if *.command_started { "while the command was running" } else { "before the command started (boot or guest setup hung)" },
        console_note(.console)
    )]
    Timeout { after: Duration, command_started: bool, console: String },
    #[error(
        "the VM stopped ({qemu}) before the command reported its exit status.{}{}",
        qemu_note(.qemu_stderr),
        console_note(.console)
    )]
    NoStatus { qemu: String, qemu_stderr: String, console: String },
}

fn console_note(console: &str) -> String {
    if console.trim().is_empty() {
        " The guest console is empty.".to_string()
    } else {
        format!(" Last lines of the guest console:\n{console}")
    }
}

fn qemu_note(stderr: &str) -> String {
    let said: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if said.is_empty() { String::new() } else { format!(" qemu said: {}.", said.join(" / ")) }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> VmError {
    let context = context.into();
    move |source| VmError::Io { context, source }
}

/// Whether this process runs inside the lab VM (its kernel command line names a run directory).
pub fn inside_vm() -> bool {
    fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.split_whitespace().any(|w| w.starts_with("opr.run=")))
}

/// Runs `command` (program and arguments, not a shell line: use `sh -c '…'` for shell syntax)
/// as root in the VM, streaming its stdout and stderr to this process's, and returns its exit
/// status (0–255; 128+N when killed by signal N).
pub fn run<S: AsRef<OsStr>>(kit: &Kit, command: &[S], options: &RunOptions) -> Result<u8, VmError> {
    run_with_output(kit, command, options, &mut io::stdout(), &mut io::stderr())
}

/// Like [`run`], writing the command's output to the given writers as it arrives.
pub fn run_with_output<S: AsRef<OsStr>>(
    kit: &Kit,
    command: &[S],
    options: &RunOptions,
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
) -> Result<u8, VmError> {
    let started = Instant::now();
    if command.is_empty() {
        return Err(VmError::EmptyCommand);
    }
    if inside_vm() {
        return Err(VmError::Nested);
    }
    let rw_share = match &options.rw_share {
        Some(path) => Some(check_rw_share(path)?),
        None => None,
    };
    let cwd = match &options.cwd {
        Some(cwd) => cwd.clone(),
        None => std::env::current_dir().map_err(io_err("reading the current directory"))?,
    };
    let cwd = check_cwd(&cwd, rw_share.as_deref())?;
    for (name, _) in &options.env {
        let name = name.to_string_lossy();
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(VmError::EnvName(name.into_owned()));
        }
    }

    if options.systemd && options.userland == Userland::Host {
        return Err(VmError::Boot("a systemd boot needs the Debian 13 root (--frr 10), not the host's".into()));
    }
    let upper_from = match &options.upper_from {
        Some(p) if !p.is_file() => {
            return Err(VmError::Boot(format!("{}: no such archive to unpack into the root", p.display())));
        }
        Some(p) => Some(p.canonicalize().map_err(io_err(format!("resolving {}", p.display())))?),
        None => None,
    };
    let nonce = format!("OPR-VM-END-{}:", random_hex()?);
    let run_dir = RunDir::create(&nonce)?;
    let binds = match &options.userland {
        Userland::Host => Vec::new(),
        Userland::Root(_) => guest_binds(&cwd, &options.binds)?,
    };
    let mut config = guest_config(kit, &nonce, rw_share.as_deref(), &options.userland, &binds);
    config.extend_from_slice(&boot_config(options.systemd, upper_from.as_deref()));
    fs::write(run_dir.path.join("config"), config).map_err(io_err("writing the run's config"))?;
    fs::write(run_dir.path.join("cmd.sh"), command_script(command, &cwd, &options.env))
        .map_err(io_err("writing the run's cmd.sh"))?;
    let out_sock = run_dir.path.join("out.sock");
    let err_sock = run_dir.path.join("err.sock");
    let out_listener = listen(&out_sock)?;
    let err_listener = listen(&err_sock)?;
    let console_log = run_dir.path.join("console.log");

    let mut qemu = qemu_command(kit, options, &run_dir.path, rw_share.as_deref(), &console_log);
    trace(options, started, "starting qemu");
    let child = qemu.spawn().map_err(io_err(format!("starting {}", kit.qemu().display())))?;
    let mut child = ChildGuard(child);
    let qemu_stderr_pipe = child.0.stderr.take();
    let qemu_stderr = Mutex::new(String::new());
    let finished = AtomicBool::new(false);
    let trailers = AtomicUsize::new(0);

    let outcome = std::thread::scope(|scope| {
        if let Some(pipe) = qemu_stderr_pipe {
            let qemu_stderr = &qemu_stderr;
            scope.spawn(move || {
                let mut lines = io::BufReader::new(pipe);
                let mut line = Vec::new();
                while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    let text = String::from_utf8_lossy(&line);
                    eprintln!("qemu: {}", text.trim_end());
                    if let Ok(mut all) = qemu_stderr.lock() {
                        all.push_str(&text);
                    }
                    line.clear();
                }
            });
        }
        if options.debug {
            let (finished, console_log) = (&finished, &console_log);
            scope.spawn(move || tail_console(console_log, finished));
        }
        let result: Result<Outcome, VmError> = (|| {
            let deadline = started + options.timeout;
            let (out_conn, err_conn) = match accept_both(&out_listener, &err_listener, &mut child.0, deadline)? {
                Accepted::Both(out, err) => (out, err),
                Accepted::QemuExited(status) => return Ok(Outcome::NoStatus(describe(&status))),
                Accepted::TimedOut => return Ok(Outcome::TimedOut),
            };
            let nonce = nonce.as_str();
            let trailers = &trailers;
            trace(options, started, "qemu connected the output ports");
            let out_reader = scope.spawn(move || forward(out_conn, nonce, stdout, trailers));
            let err_reader = scope.spawn(move || forward(err_conn, nonce, stderr, trailers));
            let exited = wait(&mut child.0, deadline, trailers, || trace(options, started, "status reported"))?;
            trace(options, started, "qemu exited");
            // qemu is gone (or killed, and reaped), so both sockets are closed and the readers finish.
            let out_status = out_reader.join().unwrap_or(None);
            let err_status = err_reader.join().unwrap_or(None);
            Ok(match (exited, out_status.or(err_status)) {
                (Some(_), Some(status)) => Outcome::Status(status),
                (Some(qemu), None) => Outcome::NoStatus(describe(&qemu)),
                (None, _) => Outcome::TimedOut,
            })
        })();
        child.kill();
        finished.store(true, Ordering::SeqCst);
        result
    });
    let qemu_stderr = qemu_stderr.into_inner().unwrap_or_default();
    match outcome? {
        Outcome::Status(status) => Ok(status),
        Outcome::NoStatus(qemu) => Err(VmError::NoStatus { qemu, qemu_stderr, console: console_tail(&console_log) }),
        Outcome::TimedOut => {
            let command_started = fs::read_to_string(&console_log).is_ok_and(|c| c.contains(STARTED_LINE));
            Err(VmError::Timeout { after: options.timeout, command_started, console: console_tail(&console_log) })
        }
    }
}

/// How a run ended.
enum Outcome {
    /// The command's exit status, from the guest.
    Status(u8),
    /// qemu (whose exit is described) stopped without the guest reporting a status.
    NoStatus(String),
    /// The run outlived its timeout; qemu was killed.
    TimedOut,
}

enum Accepted {
    Both(UnixStream, UnixStream),
    QemuExited(ExitStatus),
    TimedOut,
}

/// In debug mode, prints a host-side timeline entry.
fn trace(options: &RunOptions, started: Instant, what: &str) {
    if options.debug {
        eprintln!("lab vm: [{:.2} s] {what}", started.elapsed().as_secs_f64());
    }
}

fn describe(status: &ExitStatus) -> String {
    format!("qemu {status}")
}

/// Accepts qemu's connections to both output sockets (it connects while starting up).
fn accept_both(
    out: &UnixListener,
    err: &UnixListener,
    child: &mut Child,
    deadline: Instant,
) -> Result<Accepted, VmError> {
    let mut out_conn = None;
    let mut err_conn = None;
    loop {
        for (listener, conn) in [(out, &mut out_conn), (err, &mut err_conn)] {
            if conn.is_none() {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).map_err(io_err("configuring an output socket"))?;
                        *conn = Some(stream);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(io_err("accepting qemu's connection")(e)),
                }
            }
        }
        if out_conn.is_some()
            && err_conn.is_some()
            && let (Some(out), Some(err)) = (out_conn.take(), err_conn.take())
        {
            return Ok(Accepted::Both(out, err));
        }
        if let Some(status) = child.try_wait().map_err(io_err("waiting for qemu"))? {
            return Ok(Accepted::QemuExited(status));
        }
        if Instant::now() >= deadline {
            return Ok(Accepted::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for qemu to exit and returns its status; kills it once the guest has reported the
/// command's status on both ports but does not power off within the grace period, or (returning
/// `None`) at the deadline.
fn wait(
    child: &mut Child,
    deadline: Instant,
    trailers: &AtomicUsize,
    on_report: impl Fn(),
) -> Result<Option<ExitStatus>, VmError> {
    let mut reported_at = None;
    loop {
        if let Some(status) = child.try_wait().map_err(io_err("waiting for qemu"))? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if trailers.load(Ordering::SeqCst) >= 2 {
            let at = *reported_at.get_or_insert_with(|| {
                on_report();
                now
            });
            if now.duration_since(at) > POWEROFF_GRACE {
                let _ = child.kill();
                let status = child.wait().map_err(io_err("waiting for qemu"))?;
                return Ok(Some(status));
            }
        } else if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A writer that stops writing after its first error (say, the caller's stdout was closed) but
/// keeps accepting data, so the guest's output is still drained.
struct Lenient<'a> {
    inner: &'a mut (dyn Write + Send),
    failed: bool,
}

impl Write for Lenient<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.failed && self.inner.write_all(buf).is_err() {
            self.failed = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.failed && self.inner.flush().is_err() {
            self.failed = true;
        }
        Ok(())
    }
}

/// Forwards one guest port to `sink` until qemu closes it; returns the status in its trailer.
fn forward(mut conn: UnixStream, nonce: &str, sink: &mut (dyn Write + Send), trailers: &AtomicUsize) -> Option<u8> {
    let mut sink = Lenient { inner: sink, failed: false };
    let mut scanner = Scanner::new(nonce);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let before = scanner.status().is_some();
        // Lenient never fails, so neither does the scanner.
        let _ = scanner.push(&buf[..n], &mut sink);
        if !before && scanner.status().is_some() {
            trailers.fetch_add(1, Ordering::SeqCst);
        }
    }
    let _ = scanner.finish(&mut sink);
    scanner.status()
}

/// Copies the console log to stderr as it grows, until `finished`.
fn tail_console(path: &Path, finished: &AtomicBool) {
    let mut offset = 0usize;
    loop {
        let done = finished.load(Ordering::SeqCst);
        if let Ok(data) = fs::read(path)
            && data.len() > offset
        {
            let mut err = io::stderr().lock();
            let _ = err.write_all(&data[offset..]);
            let _ = err.flush();
            offset = data.len();
        }
        if done {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last lines of the console log, cleaned of carriage returns.
fn console_tail(path: &Path) -> String {
    let text = fs::read(path).map(|d| String::from_utf8_lossy(&d).replace('\r', "")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(25)..].iter().map(|l| format!("  | {l}\n")).collect()
}

struct ChildGuard(Child);

impl ChildGuard {
    fn kill(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The per-run directory, removed on drop.
struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Removes run directories left behind by processes that no longer exist (killed runners).
    fn remove_stale(parent: &Path) {
        let Ok(entries) = fs::read_dir(parent) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("opr-vm-")).and_then(|n| n.split('-').next())
            else {
                continue;
            };
            if pid.parse::<u32>().is_ok_and(|p| !kernel::procs::is_running(p)) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn create(nonce: &str) -> Result<RunDir, VmError> {
        let hex = nonce.rsplit('-').next().unwrap_or(nonce);
        let tag: String = hex.chars().filter(char::is_ascii_hexdigit).take(12).collect();
        let parent = std::env::temp_dir();
        Self::remove_stale(&parent);
        let path = parent.join(format!("opr-vm-{}-{tag}", std::process::id()));
        if path.as_os_str().as_bytes().iter().any(|b| b.is_ascii_whitespace()) {
            return Err(VmError::Io {
                context: format!("run directory {}", path.display()),
                source: io::Error::other(
                    "its path contains whitespace (it goes on the kernel command line): set TMPDIR",
                ),
            });
        }
        fs::create_dir(&path).map_err(io_err(format!("creating {}", path.display())))?;
        Ok(RunDir { path })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn listen(path: &Path) -> Result<UnixListener, VmError> {
    let listener = UnixListener::bind(path).map_err(io_err(format!("listening on {}", path.display())))?;
    listener.set_nonblocking(true).map_err(io_err("configuring an output socket"))?;
    Ok(listener)
}

fn random_hex() -> Result<String, VmError> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io_err("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn check_rw_share(path: &Path) -> Result<PathBuf, VmError> {
    let reason = |r: &str| VmError::RwShare { path: path.to_path_buf(), reason: r.to_string() };
    let canonical = path.canonicalize().map_err(|e| reason(&e.to_string()))?;
    if !canonical.is_dir() {
        return Err(reason("not a directory"));
    }
    if canonical == Path::new("/") {
        return Err(reason("the root cannot be shared read-write"));
    }
    Ok(canonical)
}

fn check_cwd(cwd: &Path, rw_share: Option<&Path>) -> Result<PathBuf, VmError> {
    let canonical = cwd.canonicalize().map_err(|e| VmError::Cwd { path: cwd.to_path_buf(), reason: e.to_string() })?;
    let hidden = GUEST_TMPFS.iter().find(|t| canonical.starts_with(t));
    if let Some(tmpfs) = hidden
        && !rw_share.is_some_and(|rw| canonical.starts_with(rw))
    {
        return Err(VmError::Cwd {
            path: canonical.clone(),
            reason: format!(
                "{tmpfs} is a fresh tmpfs inside the VM, so this directory does not exist there; run from elsewhere or share it with --rw"
            ),
        });
    }
    Ok(canonical)
}

/// Single-quotes bytes for sh.
fn sh_quote(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in raw {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The host's real `lib/modules` directory (`/usr/lib/modules` on merged-/usr systems).
fn host_module_root() -> PathBuf {
    Path::new("/lib").canonicalize().unwrap_or_else(|_| PathBuf::from("/lib")).join("modules")
}

/// The host directories shown in a guest with another userland: the working directory, this
/// program's directory, the source tree this crate was built from (when it exists), `/tmp` and
/// the caller's; canonical, without whitespace, none inside another.
fn guest_binds(cwd: &Path, extra: &[PathBuf]) -> Result<Vec<PathBuf>, VmError> {
    let mut wanted = vec![cwd.to_path_buf(), PathBuf::from("/tmp")];
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        wanted.push(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if workspace.join("Cargo.toml").is_file() {
        wanted.push(workspace);
    }
    let mut binds = Vec::new();
    for (i, path) in wanted.iter().chain(extra).enumerate() {
        let bind_err = |reason: String| VmError::Bind { path: path.clone(), reason };
        let canonical = match path.canonicalize() {
            Ok(c) => c,
            // The implicit ones may be absent (an installed binary has no source tree).
            Err(_) if i < wanted.len() => continue,
            Err(e) => return Err(bind_err(e.to_string())),
        };
        if canonical.as_os_str().as_bytes().iter().any(u8::is_ascii_whitespace) {
            return Err(bind_err("its path contains whitespace".into()));
        }
        if !canonical.is_dir() {
            return Err(bind_err("not a directory".into()));
        }
        if canonical == Path::new("/") {
            return Err(bind_err("the whole host root cannot be shown over another userland".into()));
        }
        binds.push(canonical);
    }
    binds.sort();
    binds.dedup();
    let outer: Vec<PathBuf> = binds.clone();
    binds.retain(|b| !outer.iter().any(|o| o != b && b.starts_with(o)));
    Ok(binds)
}

fn guest_config(kit: &Kit, nonce: &str, rw_share: Option<&Path>, userland: &Userland, binds: &[PathBuf]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut assign = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&sh_quote(value));
        out.push(b'\n');
    };
    assign("NONCE", nonce.as_bytes());
    assign("KVER", kit.kernel_release().as_bytes());
    assign("KIT_MODULES", kit.modules_dir().as_os_str().as_bytes());
    assign("RW", rw_share.map(|p| p.as_os_str().as_bytes()).unwrap_or(b""));
    match userland {
        Userland::Host => {
            assign("MODDIR", host_module_root().as_os_str().as_bytes());
            assign("ROOT", b"");
        }
        Userland::Root(root) => {
            // Debian 13 merges /usr: its /lib is a link to usr/lib.
            assign("MODDIR", b"/usr/lib/modules");
            assign("ROOT", root.as_os_str().as_bytes());
        }
    }
    let joined: Vec<&[u8]> = binds.iter().map(|b| b.as_os_str().as_bytes()).collect();
    assign("BINDS", &joined.join(&b' '));
    out
}

/// The boot mode's lines of the guest's `config`: `BOOT` and `UPPER_FROM`.
fn boot_config(systemd: bool, upper_from: Option<&Path>) -> Vec<u8> {
    let mut out = b"BOOT=".to_vec();
    out.extend_from_slice(if systemd { b"systemd" } else { b"''" });
    out.extend_from_slice(b"\nUPPER_FROM=");
    out.extend_from_slice(&sh_quote(upper_from.map(|p| p.as_os_str().as_bytes()).unwrap_or(b"")));
    out.push(b'\n');
    out
}

fn command_script<S: AsRef<OsStr>>(command: &[S], cwd: &Path, env: &[(OsString, OsString)]) -> Vec<u8> {
    let mut out = b"# The command of one lab VM run (generated by lab::vm), run by the host's /bin/sh.\n".to_vec();
    let path = std::env::var_os("PATH").filter(|p| !p.is_empty());
    for (name, value) in path
        .iter()
        .map(|p| (OsStr::new("PATH"), p.as_os_str()))
        .chain(env.iter().map(|(n, v)| (n.as_os_str(), v.as_os_str())))
    {
        out.extend_from_slice(b"export ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
        out.extend_from_slice(&sh_quote(value.as_bytes()));
        out.push(b'\n');
    }
    let cwd_quoted = sh_quote(cwd.as_os_str().as_bytes());
    out.extend_from_slice(b"cd ");
    out.extend_from_slice(&cwd_quoted);
    out.extend_from_slice(
        b" || { echo \"lab vm: cannot enter the working directory inside the VM\" >&2; exit 125; }\nexec",
    );
    for arg in command {
        out.push(b' ');
        out.extend_from_slice(&sh_quote(arg.as_ref().as_bytes()));
    }
    out.push(b'\n');
    out
}

/// Escapes a value for qemu's option syntax (commas are doubled).
fn qemu_value(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

fn qemu_command(kit: &Kit, options: &RunOptions, run_dir: &Path, rw_share: Option<&Path>, console: &Path) -> Command {
    let qemu = kit.qemu();
    let mut cmd = match which("setpriv") {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(&qemu);
            cmd
        }
        None => Command::new(&qemu),
    };
    // Boot-time savings under TCG (this is a throw-away test VM): acpi=noirq skips ACPI
    // interrupt-link setup (the virtio devices use MSI-X), cryptomgr.notests the crypto
    // self-tests, rodata=off the W+X page-table walk, i8042.* the PS/2 probing; tsc=reliable keeps
    // the TSC (synchronous across vCPUs under TCG) as clocksource instead of the slow HPET;
    // mitigations=off drops speculative-execution workarounds.
    let mut append = format!(
        "console=ttyS0 panic=-1 acpi=noirq cryptomgr.notests rodata=off i8042.noaux i8042.nokbd i8042.nopnp \
         tsc=reliable mitigations=off opr.run={}",
        run_dir.display()
    );
    append.push_str(if options.debug { " loglevel=7 opr.debug" } else { " quiet loglevel=3" });
    cmd.env("QEMU_MODULE_DIR", kit.qemu_module_dir())
        .args(["-machine", "pc", "-accel", "tcg,thread=multi", "-cpu", "max"])
        .args(["-m", &format!("{}M", options.memory_mib), "-smp", &options.cpus.to_string()])
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
        // qboot instead of SeaBIOS: it hands over to the kernel in about 0.1 s instead of 0.4 s.
        .arg("-bios")
        .arg(kit.firmware())
        .arg("-kernel")
        .arg(kit.vmlinux())
        .arg("-initrd")
        .arg(kit.initramfs())
        .args(["-append", &append])
        .args(["-chardev", &format!("file,id=console,path={}", qemu_value(console)), "-serial", "chardev:console"])
        .args(["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"]);
    if let Some(rw) = rw_share {
        cmd.args([
            "-virtfs",
            &format!("local,path={},mount_tag=oprrw,security_model=none,multidevs=remap", qemu_value(rw)),
        ]);
    }
    cmd.args(["-device", "virtio-serial-pci,id=vser"]);
    for (id, name, sock) in [("oprout", "opr.stdout", "out.sock"), ("oprerr", "opr.stderr", "err.sock")] {
        cmd.args(["-chardev", &format!("socket,id={id},path={}", qemu_value(&run_dir.join(sock)))]);
        cmd.args(["-device", &format!("virtserialport,bus=vser.0,chardev={id},name={name}")]);
    }
    for dir in kit.firmware_dirs() {
        cmd.arg("-L").arg(dir);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote(b"a b"), b"'a b'");
        assert_eq!(sh_quote(b"it's"), b"'it'\\''s'");
    }

    #[test]
    fn script_keeps_arguments_apart() {
        let script =
            command_script(&["printf", "%s\\n", "a b", "it's"], Path::new("/work/x y"), &[("K".into(), "v'1".into())]);
        let script = String::from_utf8(script).unwrap();
        assert!(script.contains("export K='v'\\''1'\n"), "{script}");
        assert!(script.contains("cd '/work/x y' ||"), "{script}");
        assert!(script.ends_with("exec 'printf' '%s\\n' 'a b' 'it'\\''s'\n"), "{script}");
    }

    #[test]
    fn boot_config_names_the_mode_and_the_archive() {
        assert_eq!(boot_config(false, None), b"BOOT=''\nUPPER_FROM=''\n");
        assert_eq!(boot_config(true, Some(Path::new("/tmp/a b.tar"))), b"BOOT=systemd\nUPPER_FROM='/tmp/a b.tar'\n");
    }

    #[test]
    fn cwd_under_guest_tmpfs_is_refused_unless_shared() {
        let dir = Path::new("/run");
        assert!(matches!(check_cwd(dir, None), Err(VmError::Cwd { .. })));
        assert!(check_cwd(dir, Some(dir)).is_ok());
        assert!(check_cwd(Path::new("/tmp"), None).is_ok(), "the host's /tmp is visible in the guest");
        assert!(check_cwd(Path::new("/"), None).is_ok());
    }
}
