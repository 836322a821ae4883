//! Why a reconcile stopped short. Per-resource failures are not errors of the reconcile: they
//! are outcomes in the status (`failedResources`), and the rest is applied. These are the
//! failures of a whole step; the loops retry them soon, backing off.

/// A step of the reconcile that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The configuration could not be read: nothing was changed.
    #[error("configuration not readable, nothing changed: {0}")]
    Input(String),
    /// The node to plan for could not be decided (no index yet, …): nothing was changed.
    #[error("{0}")]
    Node(String),
    /// The router namespace could not be made or opened.
    #[error("router namespace {netns}: {message}")]
    Namespace {
        /// Its name.
        netns: String,
        /// What went wrong.
        message: String,
    },
    /// FRR could not be started or refused the configuration (the kernel step was skipped).
    #[error("{0}")]
    Frr(String),
    /// The kernel state could not be read or applied at all.
    #[error("kernel state: {0}")]
    Kernel(String),
}

impl ReconcileError {
    /// The inputs themselves are at fault (not the system): `inputError` in the status.
    pub fn is_input(&self) -> bool {
        matches!(self, ReconcileError::Input(_) | ReconcileError::Node(_))
    }
}
