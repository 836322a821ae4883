//! How the product and its lab reach the Linux kernel, in one place.
//!
//! * [`NetNs`] (`netns.rs`): named network namespaces (`/run/netns/NAME`, as `ip netns add`
//!   makes them) created, opened and deleted without forking; code runs inside one on a
//!   short-lived thread, so no caller thread ever changes namespace.
//! * [`Socket`] (`netlink.rs`): a small synchronous `NETLINK_ROUTE` client; replies are read as
//!   borrowed byte slices. A socket stays bound to the namespace of the thread that opened it.
//! * [`rtnl`]: typed requests (create, change and delete links; add and remove addresses; add
//!   routes), each a value turned into one message; [`read`](Socket::links): links, addresses,
//!   routes and neighbours as small owned values, for code that asks rather than reconciles
//!   (each reply's payload decoded by a pure `read::parse_*`, fuzzed like [`netlink::messages`]).
//! * [`sysctl`]: `/proc/sys` with one key convention (`net/ipv4/conf/eth0.10/forwarding`).
//! * [`procs`]: processes in `/proc`: pid files, running or not, command lines, finding and
//!   stopping them.
//!
//! Why our own netlink code rather than `rtnetlink` / `netlink-packet-route`: reconciling is a
//! sequential one-shot transaction (no async needed), observing thousands of links must take
//! milliseconds (replies are scanned in place), and the handful of message shapes we send do
//! not move with that crate family's frequent breaking releases.

pub mod netlink;
mod netns;
pub mod procs;
pub mod read;
pub mod rtnl;
pub mod sysctl;

pub use netlink::{KernelError, Msg, NlError, Socket};
pub use netns::{NETNS_RUN_DIR, NetNs, NetnsError};
pub use read::{LinkEntry, Neighbour, RouteEntry};
