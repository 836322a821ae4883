//! The fabric lab's life cycle: [`up`] builds the [`Topology`] (namespaces and links with
//! netlink, one FRR instance per routing namespace, started in parallel) and waits for every
//! fabric BGP session; [`status`] reads it back; [`down`] removes everything it made.
//!
//! # What a lab owns
//!
//! * the namespaces of its topology (`<prefix>-spine`, `<prefix>-leafA`, …, `<prefix>-node<i>`,
//!   `<prefix>-node<i>-pe`), with every link and address inside them;
//! * its run directory `<run root>/<prefix>` ([`DEFAULT_RUN_ROOT`] is `/run/openperouter-lab`:
//!   a tmpfs, gone at reboot like the namespaces; inside the VM it is the guest's own `/run`),
//!   holding `lab.conf` (the lab's settings, written before anything is built) and one directory
//!   per FRR instance (`<short>/run`: pid files, sockets, logs; `<short>/etc`: `frr.conf`);
//! * each node's Open vSwitch daemons (`node<i>-ovs/` in the run directory, stopped by their pid
//!   files; see [`crate::ovs`]);
//! * the FRR processes started from those directories (found by pid file and by a `/proc` scan
//!   for command lines naming the run directory).
//!
//! [`down`] removes exactly those, whatever state `up` left them in, and is idempotent. Nothing
//! else on the machine is touched.

//!
//! Files: `lab.rs` (the lab as data: options, names, its FRR instances and speakers, errors),
//! `up.rs` (building and starting), `sessions.rs` (BGP sessions and waiting for them),
//! `status.rs` (reading the lab back), `down.rs` (removing it).

mod down;
mod lab;
mod sessions;
mod status;
mod up;

pub use down::{DownReport, down, processes_under};
pub use lab::{DEFAULT_RUN_ROOT, Lab, LabError, LabOptions, check_name};
pub use sessions::{Session, sessions, wait_established, wait_pe_sessions};
pub use status::{LabStatus, NamespaceStatus, SpeakerStatus, status};
pub use up::{attach_pods, kernel_has_vrf, missing_prerequisite, up};
