//! The bodies of the fuzz targets: each parser that reads foreign input, called the way the
//! product calls it. The libFuzzer project in `fuzz/` (its own workspace) calls these, and so
//! does the corpus replay (`tests/corpus.rs`), so the two cannot drift apart.
//!
//! | target | input | parsers |
//! |---|---|---|
//! | [`manifests`] | a YAML file | `api::load` (manifests and static files), then `plan::plan_node` and the renderer |
//! | [`node_config`] | `node-config.yaml` | `api::load`'s node settings and their rules |
//! | [`frr_config`] | `show running-config` | normalising, the block tree, deltas, refused lines, versions |
//! | [`frr_state`] | `show … json` | every reader of `frr::state` |
//! | [`netlink`] | a `recv` buffer | `kernel::netlink::messages`, acks and errors, `kernel::read`, the datapath observer |
//! | [`admission`] | a webhook request body | `k8s::admission::review_body` against a small cluster |
//!
//! Each body panics only on a bug: a panic in a parser, or a broken property that is stated
//! next to it. Errors are the expected answer to most inputs.

pub mod admission;
pub mod frr_config;
pub mod frr_state;
pub mod manifests;
pub mod netlink;
pub mod node_config;

/// A target's body: one input, a panic on a bug.
pub type Body = fn(&[u8]);

/// The targets, by the name of their corpus directory (`fuzz/corpus/<name>`), with their body.
pub const TARGETS: &[(&str, Body)] = &[
    ("manifests", manifests::run),
    ("node_config", node_config::run),
    ("frr_config", frr_config::run),
    ("frr_state", frr_state::run),
    ("netlink", netlink::run),
    ("admission", admission::run),
];
