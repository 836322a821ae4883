//! The API permissions each component needs: the contract between the code and the RBAC
//! objects shipped in `config/rbac/` (a test checks that the shipped roles grant at least
//! these, and the component's role nothing beyond what is listed here).

/// Where a permission is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Cluster-wide (ClusterRole + ClusterRoleBinding).
    Cluster,
    /// In the operator namespace (Role + RoleBinding).
    Namespace,
}

/// One API permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Resource (plural, with `/subresource` when needed).
    pub resource: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Scope.
    pub scope: Scope,
}

const fn p(group: &'static str, resource: &'static str, verbs: &'static [&'static str], scope: Scope) -> Permission {
    Permission { group, resource, verbs, scope }
}

const G: &str = api::GROUP;
const WATCH: &[&str] = &["list", "watch"];
const READ: &[&str] = &["get", "list", "watch"];

/// `openperouter webhook`: reflectors of the five kinds (RawFRRConfig in its namespace) and
/// of Node metadata.
pub const WEBHOOK: &[Permission] = &[
    p(G, "underlays", WATCH, Scope::Cluster),
    p(G, "l3vnis", WATCH, Scope::Cluster),
    p(G, "l3vpns", WATCH, Scope::Cluster),
    p(G, "l2vnis", WATCH, Scope::Cluster),
    p(G, "l3passthroughs", WATCH, Scope::Cluster),
    p(G, "rawfrrconfigs", WATCH, Scope::Namespace),
    p("", "nodes", WATCH, Scope::Cluster),
];

/// `openperouter nodemarker`: Node metadata watch/list, annotation patches, its Lease.
pub const NODEMARKER: &[Permission] = &[
    p("", "nodes", &["list", "watch", "patch"], Scope::Cluster),
    p("coordination.k8s.io", "leases", &["get", "create", "update"], Scope::Namespace),
];

/// `openperouter controller` (the per-node agent, issue 7 item 1): reads every kind and its
/// Node, watches the router pods of its node, reads the Secrets its neighbors name (in its
/// own namespace), writes RouterNodeConfigurationStatus and
/// Events. Kept here so the shipped RBAC and the controller code share one list.
pub const CONTROLLER: &[Permission] = &[
    p(G, "underlays", READ, Scope::Cluster),
    p(G, "l3vnis", READ, Scope::Cluster),
    p(G, "l3vpns", READ, Scope::Cluster),
    p(G, "l2vnis", READ, Scope::Cluster),
    p(G, "l3passthroughs", READ, Scope::Cluster),
    p(G, "rawfrrconfigs", READ, Scope::Namespace),
    p(G, "routernodeconfigurationstatuses", &["get", "list", "watch", "create", "update", "patch"], Scope::Namespace),
    p(G, "routernodeconfigurationstatuses/status", &["get", "update", "patch"], Scope::Namespace),
    p("", "nodes", READ, Scope::Cluster),
    p("", "pods", READ, Scope::Namespace),
    p("", "secrets", &["get"], Scope::Namespace),
    p("events.k8s.io", "events", &["create", "patch"], Scope::Cluster),
];

/// What `openperouter controller` needs on top of [`CONTROLLER`] with readiness gating on
/// (`--readiness-taint`: the Node's taints; `--readiness-condition`: its status conditions).
pub const CONTROLLER_READINESS_GATING: &[Permission] =
    &[p("", "nodes", &["patch"], Scope::Cluster), p("", "nodes/status", &["patch"], Scope::Cluster)];
