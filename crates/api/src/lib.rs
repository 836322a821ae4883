//! The `network.openperouter.io/v1alpha1` API.
//!
//! * [`types`]: the custom resources, their schema and CEL rules ([`overlays`]: L3VNI, L3VPN and
//!   L2VNI; [`isis_srv6`]: the Underlay's
//!   IS-IS and SRv6 settings);
//! * [`check`]: local evaluation of the schema constraints and CEL rules (what the API server
//!   would enforce), so host mode and the CLI reject the same inputs;
//! * [`load`]: reading Kubernetes manifests and upstream's static host-mode files;
//! * [`objects`]: the resources of every planned kind held together ([`Objects`], [`Object`]);
//! * [`crds`]: the CustomResourceDefinitions generated from the types.

pub mod check;
pub mod crds;
pub mod isis_srv6;
pub mod load;
pub mod objects;
pub mod overlays;
pub mod types;

pub use isis_srv6::*;
pub use objects::{KINDS, Object, Objects, PasswordRef};
pub use overlays::*;
pub use types::*;
