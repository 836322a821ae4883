//! Validating admission webhooks for the five kinds.
//!
//! [`review`] is a pure function: an `AdmissionReview` request and the existing cluster state
//! in, an `AdmissionReview` response out. The HTTPS server ([`crate::server`]) only moves bytes.
//!
//! # What is checked, in order (the first failing step answers)
//!
//! 1. **Envelope.** A body that is not an `admission.k8s.io/v1` `AdmissionReview` with a
//!    request and a uid is a [`MalformedRequest`] (the server answers HTTP 400). A request for a
//!    kind this endpoint does not validate, or a CREATE/UPDATE without the object (UPDATE:
//!    without the old object), is denied with code 400.
//! 2. **DELETE (and CONNECT) are always allowed**, and so are writes to subresources (status).
//! 3. **Single-object rules**: the schema constraints and CEL rules of the CRD
//!    ([`api::check::check_spec`]), with the old object on UPDATE so transition rules fire
//!    (`hostSession.localCIDR` and `gatewayIPs` are immutable through CEL `self == oldSelf`).
//!    Update-only rules CEL cannot express: an Underlay interface keeps its `type` for a given
//!    interface name, and a CNI interface keeps its `rawConfig` and `runtimeConfig`. For L2VNI,
//!    `gatewayIPs` may also not be added or removed on UPDATE (CEL only compares when both
//!    versions have the field). A RawFRRConfig must live in the operator namespace.
//! 4. **Cross-resource rules, per node, with the very planning code the node runs**
//!    ([`plan::plan_node`]). Let *before* be the existing objects with the old version of the
//!    object (CREATE: without it) and *after* the same with the candidate in its place (matched
//!    by namespace and name). For every Node that the candidate or its old version selects, both
//!    are planned. **The request is denied when some resource — the candidate or any existing
//!    one — has a `ValidationFailed` outcome on some node in *after* that it does not have in
//!    *before*** (an outcome is kind, name, reason and message). Consequences:
//!    * resources that never meet on a node never conflict (two CIDRs on disjoint node sets,
//!      several L2VNIs in one VRF: upstream false positives #222 and #223 cannot happen);
//!    * `DependencyFailed` never denies: an L2VNI naming an L3VNI that does not exist yet, or a
//!      VNI on a node without Underlay, is accepted with a warning and shows up in the node
//!      status until the dependency appears, so `kubectl apply -f dir/` works in any order;
//!    * an update that leaves an already failing resource failing the same way is allowed (with
//!      a warning): it does not make anything worse;
//!    * an update that breaks another resource (for example an Underlay losing the IPv4 tunnel
//!      endpoint an L3VNI asks for) is denied, naming the broken resource.
//!
//!    In addition, two objects of one kind with the same name in different namespaces may not
//!    select a common node: the node status and L2VNI `routingDomain` references use the name
//!    only.
//!
//!    Nodes without a usable index annotation are planned with the index the allocator will
//!    give them. **When no Node exists yet**, the cross-resource rules run once for a
//!    hypothetical node without labels and with index 0: resources that apply to every node are
//!    checked against each other, resources whose selector needs labels are not (they would
//!    not meet on such a node, and nothing is known about the future nodes).
//!
//! Every message names the node(s) and the rule. BGP passwords never appear in a response.

use std::collections::{BTreeMap, BTreeSet};

use api::{FailureReason, ResourceKind, UnderlayInterfaceType, UnderlaySpec};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{DynamicObject, Status};
use serde_json::Value;

use api::Object;

use crate::state::ClusterState;

/// Path prefix of the webhook endpoints (upstream's paths).
pub const PATH_PREFIX: &str = "/validate-openperouter-io-v1alpha1-";

/// The kinds validated, each on its own path: every planned kind.
pub const KINDS: [ResourceKind; 6] = api::KINDS;

/// Default operator namespace.
pub const DEFAULT_NAMESPACE: &str = "openperouter-system";

/// Warning attached to every allowed RawFRRConfig request.
pub const RAW_FRR_CONFIG_WARNING: &str =
    "RawFRRConfig is experimental and not supported: its text goes into FRR as is, without any check";

/// At most this many problems are spelled out in a denial.
const MAX_PROBLEMS: usize = 8;
/// At most this many warnings (besides the RawFRRConfig one).
const MAX_WARNINGS: usize = 6;
/// Warnings longer than this are cut (the API server may truncate longer ones anyway).
const MAX_WARNING_LEN: usize = 256;

/// The endpoint path of a kind.
pub fn path_for(kind: ResourceKind) -> String {
    format!("{PATH_PREFIX}{}", kind.as_str().to_ascii_lowercase())
}

/// The kind validated at an endpoint path.
pub fn kind_for_path(path: &str) -> Option<ResourceKind> {
    KINDS.into_iter().find(|k| path_for(*k) == path)
}

/// Webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The operator namespace: the only one RawFRRConfigs may live in.
    pub namespace: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig { namespace: DEFAULT_NAMESPACE.to_string() }
    }
}

/// A request body that is not a usable `AdmissionReview` (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum MalformedRequest {
    /// Not JSON, or not shaped like an AdmissionReview.
    #[error("the body is not an AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    /// Wrong apiVersion or kind.
    #[error("expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got {api_version:?} {kind:?}")]
    Version {
        /// The apiVersion received.
        api_version: String,
        /// The kind received.
        kind: String,
    },
    /// `request` is missing.
    #[error("the AdmissionReview has no request")]
    NoRequest,
    /// `request.uid` is empty.
    #[error("the AdmissionReview request has no uid")]
    NoUid,
}

/// The outcome of a review, before it is wrapped into an `AdmissionResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// HTTP-like status code of a denial (400 malformed object, 403 rule violated).
    pub code: u16,
    /// Why it is denied (empty when allowed).
    pub message: String,
    /// Warnings shown to the client.
    pub warnings: Vec<String>,
}

impl Decision {
    fn allow() -> Decision {
        Decision { allowed: true, code: 0, message: String::new(), warnings: Vec::new() }
    }

    fn bad_request(message: impl Into<String>) -> Decision {
        Decision { allowed: false, code: 400, message: message.into(), warnings: Vec::new() }
    }

    fn forbidden(message: impl Into<String>, warnings: Vec<String>) -> Decision {
        Decision { allowed: false, code: 403, message: message.into(), warnings }
    }
}

/// Reviews a raw request body (what the server receives) and returns the response body.
/// `expected` is the kind of the endpoint the body was posted to.
pub fn review_body(
    body: &[u8],
    expected: Option<ResourceKind>,
    state: &ClusterState,
    config: &WebhookConfig,
) -> Result<Vec<u8>, MalformedRequest> {
    let request: AdmissionReview<DynamicObject> = serde_json::from_slice(body)?;
    let response = review(request, expected, state, config)?;
    Ok(serde_json::to_vec(&response)?)
}

/// Reviews one `AdmissionReview` request (see the module documentation for the rules).
pub fn review(
    review: AdmissionReview<DynamicObject>,
    expected: Option<ResourceKind>,
    state: &ClusterState,
    config: &WebhookConfig,
) -> Result<AdmissionReview<DynamicObject>, MalformedRequest> {
    if review.types.api_version != "admission.k8s.io/v1" || review.types.kind != "AdmissionReview" {
        return Err(MalformedRequest::Version {
            api_version: review.types.api_version.clone(),
            kind: review.types.kind.clone(),
        });
    }
    let request: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| MalformedRequest::NoRequest)?;
    if request.uid.is_empty() {
        return Err(MalformedRequest::NoUid);
    }
    let decision = decide(&request, expected, state, config);
    let mut response = AdmissionResponse::from(&request);
    if !decision.allowed {
        let reason = if decision.code == 400 { "BadRequest" } else { "Forbidden" };
        response = response.deny(&decision.message);
        response.result = Status::failure(&decision.message, reason).with_code(decision.code);
    }
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings);
    }
    Ok(response.into_review())
}

fn kind_of(gvk: &kube::core::GroupVersionKind) -> Option<ResourceKind> {
    if gvk.group != api::GROUP || gvk.version != api::VERSION {
        return None;
    }
    KINDS.into_iter().find(|k| k.as_str() == gvk.kind)
}

/// Decides on one request (the pure core of [`review`]).
pub fn decide(
    request: &AdmissionRequest<DynamicObject>,
    expected: Option<ResourceKind>,
    state: &ClusterState,
    config: &WebhookConfig,
) -> Decision {
    let Some(kind) = kind_of(&request.kind) else {
        return Decision::bad_request(format!(
            "this webhook validates {}/{} Underlay, L3VNI, L3VPN, L2VNI, L3Passthrough and RawFRRConfig, not {}/{} {}",
            api::GROUP,
            api::VERSION,
            request.kind.group,
            request.kind.version,
            request.kind.kind
        ));
    };
    if let Some(e) = expected
        && e != kind
    {
        return Decision::bad_request(format!(
            "this endpoint validates {e}, but the request is for {kind}: check the ValidatingWebhookConfiguration paths"
        ));
    }
    if !matches!(request.operation, Operation::Create | Operation::Update) || request.sub_resource.is_some() {
        return Decision::allow();
    }
    let op = if request.operation == Operation::Create { "CREATE" } else { "UPDATE" };
    let Some(object) = &request.object else {
        return Decision::bad_request(format!("{op} request for {kind} without an object"));
    };
    let old = match (&request.operation, &request.old_object) {
        (Operation::Update, None) => {
            return Decision::bad_request(format!("UPDATE request for {kind} without the old object"));
        }
        (Operation::Update, Some(o)) => Some(o),
        _ => None,
    };
    let namespace = object.metadata.namespace.clone().or_else(|| request.namespace.clone()).unwrap_or_default();
    let name = object.metadata.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| request.name.clone());
    let label = format!("{kind} {namespace}/{name}");
    let secrets = passwords(object).into_iter().chain(old.map(passwords).unwrap_or_default()).collect::<Vec<_>>();
    let mut decision = decide_object(kind, &label, &namespace, &name, object, old, state, config);
    decision.message = scrub(&decision.message, &secrets);
    decision.warnings = decision.warnings.iter().map(|w| cut(&scrub(w, &secrets), MAX_WARNING_LEN)).collect();
    decision
}

#[allow(clippy::too_many_arguments)]
fn decide_object(
    kind: ResourceKind,
    label: &str,
    namespace: &str,
    name: &str,
    object: &DynamicObject,
    old: Option<&DynamicObject>,
    state: &ClusterState,
    config: &WebhookConfig,
) -> Decision {
    let Some(spec) = object.data.get("spec").filter(|s| !s.is_null()) else {
        return Decision::bad_request(format!("{label} has no spec"));
    };
    let old_spec = old.and_then(|o| o.data.get("spec")).filter(|s| !s.is_null());

    // Single-object rules: schema constraints and CEL (with transition rules on UPDATE).
    let violations = api::check::check_spec(kind, spec, old_spec);
    if !violations.is_empty() {
        let text = violations.iter().map(redact_violation).collect::<Vec<_>>().join("; ");
        return Decision::forbidden(format!("{label} is invalid: {text}"), Vec::new());
    }
    let candidate = match decode(kind, object) {
        Ok(c) => c,
        Err(e) => return Decision::bad_request(format!("{label} cannot be read as {kind}: {e}")),
    };
    let old_object = match old.map(|o| decode(kind, o)).transpose() {
        Ok(o) => o,
        Err(e) => return Decision::bad_request(format!("the old version of {label} cannot be read as {kind}: {e}")),
    };

    // Update-only rules CEL cannot express.
    let mut problems = Vec::new();
    match (&candidate, &old_object) {
        (Object::Underlay(new), Some(Object::Underlay(old))) => {
            problems.extend(underlay_update_rules(&old.spec, &new.spec))
        }
        (Object::L2VNI(new), Some(Object::L2VNI(old))) => {
            let norm = |g: &Option<Vec<String>>| g.clone().unwrap_or_default();
            if norm(&old.spec.gateway_ips) != norm(&new.spec.gateway_ips) {
                problems.push(format!(
                    "gatewayIPs are immutable ({:?} → {:?}): workloads use them as their default gateway; delete and recreate the L2VNI to change them",
                    norm(&old.spec.gateway_ips),
                    norm(&new.spec.gateway_ips)
                ));
            }
        }
        _ => {}
    }
    let mut warnings = Vec::new();
    if kind == ResourceKind::RawFRRConfig {
        if config.namespace.is_empty() {
            problems.push("the operator namespace is not configured, so no RawFRRConfig can be accepted".to_string());
        } else if namespace != config.namespace {
            problems.push(format!(
                "a RawFRRConfig must be created in the operator namespace {:?}, not {namespace:?}: the router reads RawFRRConfigs from that namespace only",
                config.namespace
            ));
        }
        warnings.push(RAW_FRR_CONFIG_WARNING.to_string());
    }
    if !problems.is_empty() {
        return Decision::forbidden(format!("{label} is rejected: {}", problems.join("; ")), Vec::new());
    }

    let (problems, mut cross_warnings) =
        cross_resource(kind, namespace, name, &candidate, old_object.as_ref(), state, config);
    if !problems.is_empty() {
        return Decision::forbidden(format!("{label} is rejected: {}", problems.join("; ")), cross_warnings);
    }
    warnings.append(&mut cross_warnings);
    Decision { warnings, ..Decision::allow() }
}

fn decode(kind: ResourceKind, object: &DynamicObject) -> Result<Object, String> {
    if !api::KINDS.contains(&kind) {
        return Err(format!("{kind} is not validated here"));
    }
    let value = serde_json::to_value(object).map_err(|e| e.to_string())?;
    Object::from_json(kind, value)
}

/// The identity and CNI settings of an underlay interface.
fn interfaces(spec: &UnderlaySpec) -> BTreeMap<String, (UnderlayInterfaceType, Option<&Value>, Option<&Value>)> {
    let mut out = BTreeMap::new();
    for i in &spec.interfaces {
        match (i.kind, &i.network_device, &i.cni_device) {
            (UnderlayInterfaceType::NetworkDevice, Some(nd), _) => {
                out.insert(nd.interface_name.clone(), (i.kind, None, None));
            }
            (UnderlayInterfaceType::CNIDevice, _, Some(cni)) => {
                let name = cni.interface_name.clone().unwrap_or_else(|| "net1".to_string());
                out.insert(name, (i.kind, cni.raw_config.as_ref(), cni.runtime_config.as_ref()));
            }
            _ => {}
        }
    }
    out
}

/// Underlay UPDATE rules: an interface keeps its type, and a CNI interface its configuration.
fn underlay_update_rules(old: &UnderlaySpec, new: &UnderlaySpec) -> Vec<String> {
    let before = interfaces(old);
    let after = interfaces(new);
    let mut out = Vec::new();
    for (name, (new_type, new_raw, new_runtime)) in &after {
        let Some((old_type, old_raw, old_runtime)) = before.get(name) else { continue };
        if old_type != new_type {
            out.push(format!(
                "the type of interface {name:?} is immutable ({old_type:?} → {new_type:?}): delete and recreate the Underlay to change it"
            ));
            continue;
        }
        if old_raw != new_raw {
            out.push(format!(
                "cniDevice.rawConfig of interface {name:?} is immutable: a CNI device cannot be changed in place; delete and recreate the Underlay"
            ));
        }
        if old_runtime != new_runtime {
            out.push(format!(
                "cniDevice.runtimeConfig of interface {name:?} is immutable: a CNI device cannot be changed in place; delete and recreate the Underlay"
            ));
        }
    }
    out
}

fn selects(
    selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    node: &plan::Node,
) -> bool {
    // An invalid selector fails on every node: check them all.
    plan::select::matches(selector, &node.labels).unwrap_or(true)
}

/// A per-node outcome as compared between before and after.
type Outcome = (ResourceKind, String, FailureReason, String);

/// Collects problems (deny) and warnings, each with the nodes it happens on.
#[derive(Default)]
struct Findings {
    /// (is not the candidate, kind, name, message) → nodes.
    problems: BTreeMap<(bool, ResourceKind, String, String), Vec<String>>,
    warnings: BTreeMap<(bool, ResourceKind, String, String), Vec<String>>,
}

fn where_phrase(nodes: &[String], hypothetical: bool) -> String {
    if hypothetical {
        return "on a hypothetical node without labels (no Node exists yet)".to_string();
    }
    let shown: Vec<String> = nodes.iter().take(3).map(|n| format!("{n:?}")).collect();
    match nodes.len() {
        1 => format!("on node {}", shown[0]),
        n if n <= 3 => format!("on nodes {}", shown.join(", ")),
        n => format!("on nodes {} and {} more", shown.join(", "), n - 3),
    }
}

/// How findings are worded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Reasons to deny.
    Problem,
    /// Accepted, but something will not be applied.
    Warning,
}

fn render(
    entries: BTreeMap<(bool, ResourceKind, String, String), Vec<String>>,
    hypothetical: bool,
    limit: usize,
    style: Style,
) -> Vec<String> {
    let total = entries.len();
    let mut out: Vec<String> = entries
        .into_iter()
        .take(limit)
        .map(|((other, kind, name, message), nodes)| {
            let at = where_phrase(&nodes, hypothetical);
            match (style, other) {
                (Style::Problem, false) => format!("{at}: {message}"),
                (Style::Problem, true) => format!("{at}: it would break {kind}/{name}: {message}"),
                (Style::Warning, false) => format!("not applied {at}: {message}"),
                (Style::Warning, true) => format!("{kind}/{name} is not applied {at}: {message}"),
            }
        })
        .collect();
    if total > limit {
        let what = if style == Style::Problem { "problems" } else { "warnings" };
        out.push(format!("and {} more {what}", total - limit));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn cross_resource(
    kind: ResourceKind,
    namespace: &str,
    name: &str,
    candidate: &Object,
    old: Option<&Object>,
    state: &ClusterState,
    config: &WebhookConfig,
) -> (Vec<String>, Vec<String>) {
    let mut nodes = state.plan_nodes();
    let hypothetical = nodes.is_empty();
    if hypothetical {
        nodes.push(plan::Node { name: "(none)".to_string(), index: 0, labels: BTreeMap::new() });
    }
    let relevant: Vec<&plan::Node> = nodes
        .iter()
        .filter(|n| selects(candidate.node_selector(), n) || old.is_some_and(|o| selects(o.node_selector(), n)))
        .collect();
    if relevant.is_empty() {
        return (Vec::new(), Vec::new());
    }

    // Names are unique per kind across namespaces on any node.
    let mut problems = Vec::new();
    for (other_ns, selector) in state.same_name(kind, name) {
        if other_ns == namespace {
            continue;
        }
        let shared: Vec<String> = relevant
            .iter()
            .filter(|n| selects(candidate.node_selector(), n) && selects(selector.as_ref(), n))
            .map(|n| n.name.clone())
            .collect();
        if !shared.is_empty() {
            problems.push(format!(
                "{}: {kind} {other_ns}/{name} has the same name and applies there too; names must be unique per kind across namespaces because the node status and routingDomain references use the name only",
                where_phrase(&shared, hypothetical)
            ));
        }
    }
    if !problems.is_empty() {
        return (problems, Vec::new());
    }

    let before = state.with(kind, namespace, name, old).resources(&config.namespace);
    let after = state.with(kind, namespace, name, Some(candidate)).resources(&config.namespace);
    let options = plan::Options::default();
    let mut findings = Findings::default();
    for node in relevant {
        let outcomes = |resources: &plan::Resources| -> BTreeSet<Outcome> {
            plan::plan_node(resources, node, &options)
                .failed_resources
                .into_iter()
                .map(|f| (f.kind, f.name, f.reason, f.message))
                .collect()
        };
        let was = outcomes(&before);
        let now = outcomes(&after);
        // Messages that name the node are grouped across nodes as "the node".
        let this_node = format!("node {:?}", node.name);
        for outcome in &now {
            let (k, n, reason, message) = outcome;
            let is_candidate = *k == kind && n == name;
            let is_new = !was.contains(outcome);
            let denies = *reason == FailureReason::ValidationFailed && is_new;
            let message = message.replace(&this_node, "the node");
            if denies {
                let key = (!is_candidate, *k, n.clone(), message.clone());
                findings.problems.entry(key).or_default().push(node.name.clone());
            } else if is_new || is_candidate {
                // Accepted, but it will not be applied (yet): say why.
                let key = (!is_candidate, *k, n.clone(), format!("{reason}: {message}"));
                findings.warnings.entry(key).or_default().push(node.name.clone());
            }
        }
    }
    // A rule that fails the candidate and an existing resource alike (two Underlays on a node)
    // is said once, about the candidate.
    let own: BTreeSet<(String, Vec<String>)> =
        findings.problems.iter().filter(|(k, _)| !k.0).map(|(k, nodes)| (k.3.clone(), nodes.clone())).collect();
    findings.problems.retain(|k, nodes| !k.0 || !own.contains(&(k.3.clone(), nodes.clone())));
    let problems = render(findings.problems, hypothetical, MAX_PROBLEMS, Style::Problem);
    let warnings = render(findings.warnings, hypothetical, MAX_WARNINGS, Style::Warning);
    (problems, warnings)
}

/// Rewrites the message of a violation on a password field so the value never shows.
fn redact_violation(v: &api::check::Violation) -> String {
    if v.path.ends_with(".password") {
        format!(
            "{}: invalid value (not shown: it is a password); it must be a string of at most 128 characters without whitespace",
            v.path
        )
    } else {
        v.to_string()
    }
}

/// The BGP passwords present in an object.
fn passwords(object: &DynamicObject) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(neighbors) = object.data.pointer("/spec/neighbors").and_then(Value::as_array) {
        for n in neighbors {
            if let Some(p) = n.get("password").and_then(Value::as_str)
                && !p.is_empty()
            {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// Removes any password from a text (a last line of defence: no rule message is expected to
/// carry one). Passwords shorter than 4 characters are left alone, as replacing them would
/// mangle ordinary words; field-level redaction covers them.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.chars().count() >= 4) {
        out = out.replace(s.as_str(), "<redacted>");
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for k in KINDS {
            assert_eq!(kind_for_path(&path_for(k)), Some(k));
        }
        assert_eq!(path_for(ResourceKind::L3Passthrough), "/validate-openperouter-io-v1alpha1-l3passthrough");
        assert_eq!(kind_for_path("/validate-openperouter-io-v1alpha1-l3vpn"), Some(ResourceKind::L3VPN));
        assert_eq!(kind_for_path("/validate-openperouter-io-v1alpha1-l3vpns"), None);
    }

    #[test]
    fn scrub_and_cut() {
        assert_eq!(scrub("a s3cret! b", &["s3cret!".into()]), "a <redacted> b");
        assert_eq!(scrub("a b", &["a".into()]), "a b");
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
