//! Underlay interfaces made by CNI plugins, run the way the CNI specification (1.0) says a
//! runtime runs them: a network configuration list executed plugin by plugin with `ADD`,
//! checked with `CHECK`, removed with `DEL` in reverse order, each plugin given its
//! configuration on stdin and the `CNI_*` variables, the runtime's capability arguments
//! (`runtimeConfig`) passed only to plugins that declare them.
//!
//! * [`config`]: a configuration list as data (a single plugin configuration is a list of one),
//!   what each plugin reads on stdin; pure, and all there is without feature `runtime`.
//! * [`exec`]: running one plugin: its binary found in the plugin directories, the environment,
//!   a timeout, its result or its error.
//! * [`runtime`]: attachments (`ensure`, `remove`) and the result cache, which stores the
//!   configuration an attachment was made with next to its result, so that a changed
//!   configuration first deletes what the old one made (with the old one) and a removed
//!   attachment leaves no cache behind: a delete-and-recreate with another configuration never
//!   finds a stale entry.

pub mod config;
#[cfg(feature = "runtime")]
pub mod exec;
#[cfg(feature = "runtime")]
pub mod runtime;

pub use config::{ConfList, ConfigError};
#[cfg(feature = "runtime")]
pub use exec::{Command, ExecError, PluginError};
#[cfg(feature = "runtime")]
pub use runtime::{Attachment, CniError, Ensured, Pending, PendingAction, Runtime, Wanted};

/// Where the plugins are looked for unless told otherwise: the router's own copies, the usual
/// place, Debian's `containernetworking-plugins`.
pub const DEFAULT_PLUGIN_DIRS: [&str; 3] = ["/opt/openperouter/cni/bin", "/opt/cni/bin", "/usr/lib/cni"];
