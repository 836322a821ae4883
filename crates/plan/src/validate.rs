//! Node selection and every cross-resource rule, producing the validated view of a node.
//!
//! Rule order follows the upstream reconciler so outcomes match what its users know:
//! Underlay first (any failure stops everything), then L3VNIs, L2VNIs, per-VRF subnet overlap,
//! passthrough, host-session pools. Differences, each deliberate:
//! * several L2VNIs in one VRF are fine, and resources that never meet on a node never conflict
//!   (upstream webhook false positives #222/#223 cannot happen: everything here is per node);
//! * a host-session pool overlap fails the later resource only, instead of the whole node;
//! * a subnet overlap inside a VRF fails the two overlapping resources, not every resource of
//!   the VRF;
//! * resources that need an Underlay or a tunnel endpoint that the node lacks are reported as
//!   `DependencyFailed` instead of being dropped silently;
//! * L3VNIs and L3VPNs may be used side by side in different VRFs (upstream's first SRv6 release
//!   dropped all of both); an L3VPN on a node without SRv6 is `DependencyFailed` there, after
//!   its own checks (import route targets, route target syntax);
//! * `encapBehavior: H.Encaps.Red` fails the Underlay: FRR 10.3 has no command for it;
//! * L3VPN host-session pools take part in the host pool overlap check (they are connected routes
//!   in the host namespace too), and in the per-VRF subnet check with the gateways of the L2VNIs
//!   routed through them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use api::{
    BridgeLifecycle, FailureReason, HostMasterType, HostSession, L2VNI, L3Passthrough, L3VNI, L3VPN, Neighbor,
    PeerType, ResourceKind, RoutingDomainType, Srv6EncapBehavior, UnderlayAddressFamily, UnderlaySpec,
};
use ipnet::{IpNet, Ipv4Net};

use crate::ipam;
use crate::valid::*;
use crate::{Node, Outcomes, Resources, select};

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// Selects the resources of one kind for the node, reporting invalid selectors; incumbents
/// first, then by name.
fn selected<'a, T>(
    items: &'a [T],
    kind: ResourceKind,
    node: &Node,
    outcomes: &mut Outcomes,
    incumbents: &BTreeSet<(ResourceKind, String)>,
    parts: impl Fn(&T) -> (String, Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>),
) -> Vec<&'a T> {
    let mut out: Vec<(String, &T)> = Vec::new();
    for item in items {
        let (name, selector) = parts(item);
        match select::matches(selector, &node.labels) {
            Ok(true) => out.push((name, item)),
            Ok(false) => {}
            Err(message) => outcomes.fail(kind, &name, FailureReason::ValidationFailed, message),
        }
    }
    out.sort_by_key(|(name, _)| (!incumbents.contains(&(kind, name.clone())), name.clone()));
    out.into_iter().map(|(_, t)| t).collect()
}

/// Validates everything selected for `node`. `None` means the Underlay failed (change nothing).
pub(crate) fn validate(resources: &Resources, node: &Node, outcomes: &mut Outcomes) -> Option<Valid> {
    for rejected in &resources.rejected {
        if select::matches(rejected.node_selector.as_ref(), &node.labels).unwrap_or(true) {
            outcomes.failed.push(rejected.failed_resource());
        }
    }

    let underlays =
        selected(&resources.objects.underlays, ResourceKind::Underlay, node, outcomes, &resources.incumbents, |u| {
            (name_of(&u.metadata), u.spec.node_selector.as_ref())
        });
    let l3vnis = selected(&resources.objects.l3vnis, ResourceKind::L3VNI, node, outcomes, &resources.incumbents, |u| {
        (name_of(&u.metadata), u.spec.node_selector.as_ref())
    });
    let l3vpns = selected(&resources.objects.l3vpns, ResourceKind::L3VPN, node, outcomes, &resources.incumbents, |u| {
        (name_of(&u.metadata), u.spec.node_selector.as_ref())
    });
    let l2vnis = selected(&resources.objects.l2vnis, ResourceKind::L2VNI, node, outcomes, &resources.incumbents, |u| {
        (name_of(&u.metadata), u.spec.node_selector.as_ref())
    });
    let passthroughs = selected(
        &resources.objects.passthroughs,
        ResourceKind::L3Passthrough,
        node,
        outcomes,
        &resources.incumbents,
        |u| (name_of(&u.metadata), u.spec.node_selector.as_ref()),
    );
    let raws = selected(
        &resources.objects.raw_configs,
        ResourceKind::RawFRRConfig,
        node,
        outcomes,
        &resources.incumbents,
        |u| (name_of(&u.metadata), u.spec.node_selector.as_ref()),
    );
    let underlay_rejected = outcomes.failed.iter().any(|f| f.kind == ResourceKind::Underlay);

    // --- Underlay: any failure leaves the node untouched.
    if underlays.len() > 1 {
        for u in &underlays {
            outcomes.fail(
                ResourceKind::Underlay,
                &name_of(&u.metadata),
                FailureReason::ValidationFailed,
                format!("can't have more than one underlay per node (node {:?} is selected by several)", node.name),
            );
        }
        return None;
    }
    if underlay_rejected {
        return None;
    }
    let underlay = match underlays.first() {
        Some(u) => {
            let name = name_of(&u.metadata);
            let v = match validate_underlay(&u.spec, node.index) {
                Ok(v) => v,
                Err(message) => {
                    outcomes.fail(ResourceKind::Underlay, &name, FailureReason::ValidationFailed, message);
                    return None;
                }
            };
            match secret_passwords(u, resources.passwords.as_ref()) {
                Ok(secret_passwords) => Some(ValidUnderlay { name, secret_passwords, ..v }),
                Err(message) => {
                    outcomes.fail(ResourceKind::Underlay, &name, FailureReason::DependencyFailed, message);
                    return None;
                }
            }
        }
        None => None,
    };

    let mut valid = Valid { underlay, ..Valid::default() };

    // --- L3VNIs.
    let mut vni_owner: BTreeMap<u32, String> = BTreeMap::new();
    let mut vrf_owner: BTreeMap<String, String> = BTreeMap::new();
    for l3 in l3vnis {
        let name = name_of(&l3.metadata);
        match validate_l3vni(l3, valid.underlay.as_ref(), node, &vni_owner, &vrf_owner) {
            Ok(v) => {
                vni_owner.insert(v.vni, format!("L3VNI/{name}"));
                vrf_owner.insert(l3.spec.vrf.clone(), name.clone());
                valid.l3vnis.push(v);
            }
            Err((reason, message)) => outcomes.fail(ResourceKind::L3VNI, &name, reason, message),
        }
    }

    // --- L3VPNs: in VRFs of their own, numbered apart from the VNIs.
    let mut vpn_vrf_owner: BTreeMap<String, String> = BTreeMap::new();
    for vpn in l3vpns {
        let name = name_of(&vpn.metadata);
        match validate_l3vpn(vpn, valid.underlay.as_ref(), node, &vni_owner, &vrf_owner, &vpn_vrf_owner) {
            Ok(v) => {
                vni_owner.insert(v.rd, format!("L3VPN/{name}"));
                vpn_vrf_owner.insert(vpn.spec.vrf.clone(), name.clone());
                valid.l3vpns.push(v);
            }
            Err((reason, message)) => outcomes.fail(ResourceKind::L3VPN, &name, reason, message),
        }
    }

    // --- L2VNIs.
    for l2 in l2vnis {
        let name = name_of(&l2.metadata);
        match validate_l2vni(l2, &valid, &vni_owner, resources) {
            Ok(v) => {
                vni_owner.insert(v.vni, format!("L2VNI/{name}"));
                valid.l2vnis.push(v);
            }
            Err((reason, message)) => outcomes.fail(ResourceKind::L2VNI, &name, reason, message),
        }
    }

    check_vrf_subnets(&mut valid, outcomes);

    // --- Passthrough.
    if passthroughs.len() > 1 {
        for p in &passthroughs {
            outcomes.fail(
                ResourceKind::L3Passthrough,
                &name_of(&p.metadata),
                FailureReason::ValidationFailed,
                format!(
                    "can't have more than one l3passthrough per node (node {:?} is selected by several)",
                    node.name
                ),
            );
        }
    } else if let Some(p) = passthroughs.first() {
        let name = name_of(&p.metadata);
        match validate_passthrough(p, valid.underlay.as_ref(), node) {
            Ok(v) => valid.passthrough = Some(v),
            Err((reason, message)) => outcomes.fail(ResourceKind::L3Passthrough, &name, reason, message),
        }
    }

    check_host_session_pools(&mut valid, outcomes);

    // --- Raw snippets, stable by priority then name.
    let mut raw: Vec<(i32, String, String)> =
        raws.iter().map(|r| (r.spec.priority.unwrap_or(0), name_of(&r.metadata), r.spec.raw_config.clone())).collect();
    raw.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    valid.raw = raw.into_iter().map(|(_, n, t)| (n, t)).collect();

    // L2VNIs whose L3VNI or L3VPN was dropped by a later rule.
    let vrfs: BTreeSet<&str> = valid
        .l3vnis
        .iter()
        .map(|v| v.resource.spec.vrf.as_str())
        .chain(valid.l3vpns.iter().map(|v| v.resource.spec.vrf.as_str()))
        .collect();
    let (keep, orphaned): (Vec<_>, Vec<_>) =
        valid.l2vnis.drain(..).partition(|l2| l2.vrf.as_deref().is_none_or(|v| vrfs.contains(v)));
    for l2 in orphaned {
        outcomes.fail(
            ResourceKind::L2VNI,
            &l2.name,
            FailureReason::DependencyFailed,
            format!("its routing domain VRF {:?} failed validation", l2.vrf.unwrap_or_default()),
        );
    }
    valid.l2vnis = keep;
    // Incumbents went first so they win conflicts; the plan itself is listed by name.
    valid.l3vnis.sort_by(|a, b| a.name.cmp(&b.name));
    valid.l3vpns.sort_by(|a, b| a.name.cmp(&b.name));
    valid.l2vnis.sort_by(|a, b| a.name.cmp(&b.name));
    Some(valid)
}

fn parse_net(s: &str, what: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>().map_err(|e| format!("{what} {s:?} is not a CIDR: {e}"))
}

/// The Underlay rules (upstream `ValidateUnderlays` plus IPAM fit and unsupported features).
/// The longest password the kernel's TCP MD5 signature option takes.
const MAX_PASSWORD_LEN: usize = 80;

/// The passwords the Underlay's neighbors take from Secrets, in neighbor order. A neighbor whose
/// Secret could not be read, or holds no usable password, fails the Underlay (the node keeps what
/// it runs): planning it without its password would bring up an unauthenticated session. The
/// messages never carry a value.
fn secret_passwords(
    u: &api::Underlay,
    passwords: Option<&crate::Passwords>,
) -> Result<Vec<Option<frr::Secret>>, String> {
    let mut out = Vec::with_capacity(u.spec.neighbors.len());
    for n in &u.spec.neighbors {
        let (Some(reference), Some(passwords)) = (api::PasswordRef::of(u, n), passwords) else {
            out.push(None);
            continue;
        };
        let who = n.address.as_deref().or(n.interface.as_deref()).or(n.listen_range.as_deref()).unwrap_or("?");
        let secret = match passwords.get(&reference) {
            Some(Ok(secret)) => secret,
            Some(Err(why)) => return Err(format!("neighbor {who}: passwordSecret: {reference}: {why}")),
            None => return Err(format!("neighbor {who}: passwordSecret: {reference} was not read")),
        };
        let value = secret.expose();
        let problem = if value.is_empty() {
            Some("is empty".to_string())
        } else if value.chars().count() > MAX_PASSWORD_LEN {
            Some(format!("is longer than {MAX_PASSWORD_LEN} characters"))
        } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Some("contains whitespace or control characters".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!(
                "neighbor {who}: passwordSecret: the password in {reference} {problem} (value not shown)"
            ));
        }
        out.push(Some(secret.clone()));
    }
    Ok(out)
}

fn validate_underlay(spec: &UnderlaySpec, index: u32) -> Result<ValidUnderlay, String> {
    let isis_net = match &spec.isis {
        Some(isis) => Some(ipam::isis_net(&isis.base_net, index)?),
        None => None,
    };
    let srv6_locator = match &spec.srv6 {
        None => None,
        Some(_) if spec.isis.is_none() => return Err("SRv6 can only be configured if isis is set".into()),
        Some(srv6) => {
            if srv6.encap_behavior == Some(Srv6EncapBehavior::HEncapsRed) {
                return Err("encapBehavior H.Encaps.Red is not supported yet by this router (FRR 10.3 has no \
                            encap-behavior command); use H.Encaps"
                    .into());
            }
            let base: ipnet::Ipv6Net =
                srv6.locator.base_prefix.parse().map_err(|_| {
                    format!("srv6.locator.basePrefix {:?} must be an IPv6 CIDR", srv6.locator.base_prefix)
                })?;
            Some(ipam::srv6_locator(&base, index)?)
        }
    };
    let mut names = BTreeSet::new();
    for iface in &spec.interfaces {
        let name = match (&iface.network_device, &iface.cni_device) {
            (Some(nd), _) => nd.interface_name.as_str(),
            (None, Some(c)) => {
                let raw = c.raw_config.as_ref().ok_or("invalid interfaces: a CNIDevice needs rawConfig")?;
                cni::ConfList::parse(raw).map_err(|e| format!("invalid interfaces: invalid CNI config: {e}"))?;
                if c.runtime_config.as_ref().is_some_and(|r| !r.is_object()) {
                    return Err("invalid interfaces: CNI runtimeConfig must be an object".into());
                }
                c.interface_name.as_deref().unwrap_or(api::DEFAULT_CNI_IFNAME)
            }
            (None, None) => continue,
        };
        if !names.insert(name) {
            return Err(format!("invalid interfaces: duplicate interface {name:?}"));
        }
    }
    let mut addresses = BTreeSet::new();
    let mut ifaces = BTreeSet::new();
    let mut ranges: Vec<IpNet> = Vec::new();
    for n in &spec.neighbors {
        if let Some(a) = &n.address {
            let ip: IpAddr = a.parse().map_err(|_| format!("neighbor address {a:?} is not an IP address"))?;
            if !addresses.insert(ip) {
                return Err(format!("duplicate neighbor address {a}: each address may be used by one neighbor only"));
            }
        }
        if let Some(i) = &n.interface
            && !ifaces.insert(i.as_str())
        {
            return Err(format!("duplicate neighbor interface {i:?}: only one peer is allowed per interface"));
        }
        if let Some(r) = &n.listen_range {
            let net = parse_net(r, "listenRange")?.trunc();
            if let Some(other) = ranges.iter().find(|o| o.contains(&net.network()) || net.contains(&o.network())) {
                return Err(format!("listenRange {net} overlaps with listenRange {other}"));
            }
            ranges.push(net);
        }
    }
    let rid_cidr: Ipv4Net = spec
        .router_id_cidr()
        .parse()
        .map_err(|_| format!("routerIDCIDR {:?} must be an IPv4 CIDR", spec.router_id_cidr()))?;
    let router_id = ipam::router_id(&rid_cidr.trunc(), index).map_err(|e| e.to_string())?;
    let (mut vtep_v4, mut vtep_v6) = (None, None);
    if let Some(te) = &spec.tunnel_endpoint {
        if te.cidrs.is_empty() {
            return Err("tunnel endpoint CIDRs must be specified".into());
        }
        for c in &te.cidrs {
            let net = parse_net(c, "tunnel endpoint")?;
            let vtep = ipam::vtep(&net.trunc(), index).map_err(|e| e.to_string())?;
            let slot = if vtep.is_ipv4() { &mut vtep_v4 } else { &mut vtep_v6 };
            if slot.is_some() {
                return Err(format!("invalid tunnel endpoint CIDRs {:?}: at most one per family", te.cidrs));
            }
            *slot = Some(vtep);
        }
    }
    if srv6_locator.is_some() && vtep_v6.is_none() {
        let cidrs = spec.tunnel_endpoint.as_ref().map(|t| t.cidrs.clone()).unwrap_or_default();
        return Err(format!(
            "invalid tunnel endpoint CIDRs {cidrs:?}: with SRv6, no IPv6 CIDR found (SRv6 needs an IPv6 source address)"
        ));
    }
    Ok(ValidUnderlay {
        name: String::new(),
        spec: spec.clone(),
        router_id,
        vtep_v4,
        vtep_v6,
        isis_net,
        srv6_locator,
        secret_passwords: Vec::new(),
    })
}

/// Route target syntax (`ASN:NN` or `IPv4:NN`) with the upstream range rules.
pub(crate) fn validate_route_target(rt: &str) -> Result<(), String> {
    let Some((admin, assigned)) = rt.split_once(':') else {
        return Err(format!("route target {rt:?} must look like ASN:NN or A.B.C.D:NN"));
    };
    let nn: u64 = assigned.parse().map_err(|_| format!("route target {rt:?}: {assigned:?} is not a number"))?;
    if admin.contains('.') {
        if admin.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!("route target {rt:?}: {admin:?} is not a valid IPv4 address"));
        }
        if nn > 65535 {
            return Err(format!("route target {rt:?}: with an IPv4 administrator the number must be at most 65535"));
        }
        return Ok(());
    }
    let asn: u64 = admin.parse().map_err(|_| format!("route target {rt:?}: {admin:?} is not an AS number"))?;
    if asn > u64::from(u32::MAX) {
        return Err(format!("route target {rt:?}: AS number {asn} is larger than 4294967295"));
    }
    let limit = if asn > 65535 { 65535 } else { u64::from(u32::MAX) };
    if nn > limit {
        return Err(format!("route target {rt:?}: with AS {asn} the number must be at most {limit}"));
    }
    Ok(())
}

type Failure = (FailureReason, String);

fn dependency(msg: impl Into<String>) -> Failure {
    (FailureReason::DependencyFailed, msg.into())
}

fn invalid(msg: impl Into<String>) -> Failure {
    (FailureReason::ValidationFailed, msg.into())
}

fn pick_vtep(
    underlay: Option<&ValidUnderlay>,
    family: Option<UnderlayAddressFamily>,
    node: &str,
) -> Result<IpAddr, Failure> {
    let Some(u) = underlay else {
        return Err(dependency(format!("no Underlay selects node {node:?}")));
    };
    if !u.has_tunnel_endpoint() {
        return Err(dependency(format!(
            "Underlay/{} has no tunnelEndpoint: VNIs need one to get a VTEP address",
            u.name
        )));
    }
    match family {
        None => Ok(u.vtep_v4.or(u.vtep_v6).expect("has_tunnel_endpoint checked above")),
        Some(UnderlayAddressFamily::IPv4) => u.vtep_v4.ok_or_else(|| {
            invalid(format!("underlayAddressFamily is IPv4 but Underlay/{} has no IPv4 tunnel endpoint CIDR", u.name))
        }),
        Some(UnderlayAddressFamily::IPv6) => u.vtep_v6.ok_or_else(|| {
            invalid(format!("underlayAddressFamily is IPv6 but Underlay/{} has no IPv6 tunnel endpoint CIDR", u.name))
        }),
    }
}

fn session_ips(session: &HostSession, index: u32) -> Result<SessionIps, Failure> {
    let mut ips = SessionIps::default();
    if let Some(c) = &session.local_cidr.ipv4 {
        let net = parse_net(c, "localCIDR.ipv4").map_err(invalid)?;
        ips.v4 = Some(ipam::veth_ips(&net, index).map_err(|e| invalid(e.to_string()))?);
    }
    if let Some(c) = &session.local_cidr.ipv6 {
        let net = parse_net(c, "localCIDR.ipv6").map_err(invalid)?;
        ips.v6 = Some(ipam::veth_ips(&net, index).map_err(|e| invalid(e.to_string()))?);
    }
    if ips.v4.is_none() && ips.v6.is_none() {
        return Err(invalid("host session needs at least one localCIDR"));
    }
    Ok(ips)
}

fn validate_l3vni(
    l3: &L3VNI,
    underlay: Option<&ValidUnderlay>,
    node: &Node,
    vni_owner: &BTreeMap<u32, String>,
    vrf_owner: &BTreeMap<String, String>,
) -> Result<ValidL3Vni, Failure> {
    let spec = &l3.spec;
    let vni = u32::try_from(spec.vni).map_err(|_| invalid(format!("vni {} is out of range", spec.vni)))?;
    for rt in spec.import_rts.iter().flatten().chain(spec.export_rts.iter().flatten()) {
        validate_route_target(rt).map_err(|e| invalid(format!("invalid route targets: {e}")))?;
    }
    if let Some(owner) = vni_owner.get(&vni) {
        return Err(invalid(format!("duplicate vni {vni}: already used by {owner}")));
    }
    if let Some(owner) = vrf_owner.get(&spec.vrf) {
        return Err(invalid(format!("more than one L3VNI detected in VRF {:?} (L3VNI/{owner} has it)", spec.vrf)));
    }
    let port = u16::try_from(spec.vxlan_port()).map_err(|_| invalid("vxlanPort must be between 1 and 65535"))?;
    let vtep = pick_vtep(underlay, spec.underlay_address_family, &node.name)?;
    let session = match &spec.host_session {
        Some(s) => Some(session_ips(s, node.index)?),
        None => None,
    };
    Ok(ValidL3Vni { resource: l3.clone(), name: name_of(&l3.metadata), vni, vtep, port, session })
}

fn validate_l3vpn(
    vpn: &L3VPN,
    underlay: Option<&ValidUnderlay>,
    node: &Node,
    vni_owner: &BTreeMap<u32, String>,
    l3vni_vrfs: &BTreeMap<String, String>,
    vpn_vrfs: &BTreeMap<String, String>,
) -> Result<ValidL3Vpn, Failure> {
    let spec = &vpn.spec;
    if spec.import_rts.is_empty() {
        return Err(invalid(
            "invalid configuration for importRTs, must provide at least one explicit import Route Target",
        ));
    }
    for rt in spec.import_rts.iter().chain(spec.export_rts.iter().flatten()) {
        validate_route_target(rt).map_err(|e| invalid(format!("invalid route targets: {e}")))?;
    }
    let Some(u) = underlay else {
        return Err(dependency(format!("no Underlay selects node {:?}", node.name)));
    };
    if u.srv6_locator.is_none() {
        return Err(dependency(format!(
            "cannot specify L3VPN configuration without an underlay with SRV6 configuration on node {:?} \
             (Underlay/{} has no srv6)",
            node.name, u.name
        )));
    }
    let rd = u32::try_from(spec.rd_assigned_number)
        .map_err(|_| invalid(format!("rdAssignedNumber {} is out of range", spec.rd_assigned_number)))?;
    if let Some(owner) = vni_owner.get(&rd) {
        return Err(invalid(format!("duplicate rdAssignedNumber {rd}: already used by {owner}")));
    }
    if let Some(owner) = l3vni_vrfs.get(&spec.vrf) {
        return Err(invalid(format!("VRF {:?} is already used by L3VNI/{owner}", spec.vrf)));
    }
    if let Some(owner) = vpn_vrfs.get(&spec.vrf) {
        return Err(invalid(format!("more than one L3VPN detected in VRF {:?} (L3VPN/{owner} has it)", spec.vrf)));
    }
    let session = match &spec.host_session {
        Some(s) => Some(session_ips(s, node.index)?),
        None => None,
    };
    let export_rts = match &spec.export_rts {
        Some(rts) if !rts.is_empty() => rts.clone(),
        _ => vec![format!("{}:{rd}", u.spec.asn)],
    };
    Ok(ValidL3Vpn {
        resource: vpn.clone(),
        name: name_of(&vpn.metadata),
        rd,
        import_rts: spec.import_rts.clone(),
        export_rts,
        session,
    })
}

fn validate_l2vni(
    l2: &L2VNI,
    valid: &Valid,
    vni_owner: &BTreeMap<u32, String>,
    resources: &Resources,
) -> Result<ValidL2Vni, Failure> {
    let spec = &l2.spec;
    let vni = u32::try_from(spec.vni).map_err(|_| invalid(format!("vni {} is out of range", spec.vni)))?;
    for rt in spec.import_rts.iter().flatten().chain(spec.export_rts.iter().flatten()) {
        validate_route_target(rt).map_err(|e| invalid(format!("invalid route targets: {e}")))?;
    }
    if let Some(owner) = vni_owner.get(&vni) {
        return Err(invalid(format!("duplicate vni {vni}: already used by {owner}")));
    }
    let host_bridge = match &spec.host_master {
        None => HostBridge::None,
        Some(m) if m.kind == HostMasterType::OVSBridge => match &m.ovs_bridge {
            Some(b) if b.lifecycle == BridgeLifecycle::Managed => HostBridge::OvsManaged,
            Some(b) => HostBridge::OvsExternal(b.name.clone().unwrap_or_default()),
            None => return Err(invalid("hostMaster type OVSBridge requires the ovsBridge field")),
        },
        Some(m) => match &m.linux_bridge {
            Some(b) if b.lifecycle == BridgeLifecycle::Managed => HostBridge::Managed,
            Some(b) => HostBridge::External(b.name.clone().unwrap_or_default()),
            None => return Err(invalid("hostMaster type LinuxBridge requires the linuxBridge field")),
        },
    };
    let mut gateways: Vec<IpNet> = Vec::new();
    for g in spec.gateway_ips.iter().flatten() {
        gateways.push(parse_net(g, "gatewayIP").map_err(invalid)?);
    }
    let families: BTreeSet<bool> = gateways.iter().map(|g| g.addr().is_ipv4()).collect();
    if gateways.len() > 2 || families.len() != gateways.len() {
        return Err(invalid(format!(
            "gatewayIPs {:?} must be one CIDR or one IPv4 plus one IPv6 CIDR",
            spec.gateway_ips.clone().unwrap_or_default()
        )));
    }
    let vrf = match &spec.routing_domain {
        None => None,
        Some(rd) => {
            let (kind, target) = match rd.kind {
                RoutingDomainType::L3VNI => (ResourceKind::L3VNI, rd.l3vni.as_ref()),
                RoutingDomainType::L3VPN => (ResourceKind::L3VPN, rd.l3vpn.as_ref()),
            };
            let target = target.map(|r| r.name.clone()).unwrap_or_default();
            let vrf = match kind {
                ResourceKind::L3VNI => valid.l3vnis.iter().find(|v| v.name == target).map(|v| &v.resource.spec.vrf),
                _ => valid.l3vpns.iter().find(|v| v.name == target).map(|v| &v.resource.spec.vrf),
            };
            match vrf {
                Some(vrf) => Some(vrf.clone()),
                None => {
                    let exists = match kind {
                        ResourceKind::L3VNI => {
                            resources.objects.l3vnis.iter().any(|r| r.metadata.name.as_deref() == Some(&target))
                        }
                        _ => resources.objects.l3vpns.iter().any(|r| r.metadata.name.as_deref() == Some(&target)),
                    } || resources.rejected.iter().any(|r| r.kind == kind && r.name == target);
                    let why = if exists { "is invalid or not selected for this node" } else { "does not exist" };
                    return Err(dependency(format!("routing domain {kind}/{target} {why}")));
                }
            }
        }
    };
    let underlay = valid.underlay.as_ref();
    let vtep = pick_vtep(underlay, spec.underlay_address_family, "this node")?;
    let port = u16::try_from(spec.vxlan_port()).map_err(|_| invalid("vxlanPort must be between 1 and 65535"))?;
    Ok(ValidL2Vni {
        name: name_of(&l2.metadata),
        vni,
        vtep,
        port,
        vrf,
        gateways,
        host_bridge,
        import_rts: spec.import_rts.clone().unwrap_or_default(),
        export_rts: spec.export_rts.clone().unwrap_or_default(),
    })
}

fn validate_passthrough(
    p: &L3Passthrough,
    underlay: Option<&ValidUnderlay>,
    node: &Node,
) -> Result<ValidPassthrough, Failure> {
    if underlay.is_none() {
        return Err(dependency(format!("no Underlay selects node {:?}", node.name)));
    }
    let ips = session_ips(&p.spec.host_session, node.index)?;
    Ok(ValidPassthrough { name: name_of(&p.metadata), session: p.spec.host_session.clone(), ips })
}

/// Inside a VRF, the L3VNI host pool and the L2VNI gateway subnets must not overlap.
fn check_vrf_subnets(valid: &mut Valid, outcomes: &mut Outcomes) {
    // Each routing domain: its VRF and the router-side host-session subnets of its owner.
    let domains: Vec<(ResourceKind, &str, &str, Vec<IpNet>)> = valid
        .l3vnis
        .iter()
        .map(|l3| (ResourceKind::L3VNI, l3.name.as_str(), l3.resource.spec.vrf.as_str(), &l3.session))
        .chain(
            valid
                .l3vpns
                .iter()
                .map(|v| (ResourceKind::L3VPN, v.name.as_str(), v.resource.spec.vrf.as_str(), &v.session)),
        )
        .map(|(kind, name, vrf, session)| {
            (kind, name, vrf, session.iter().flat_map(|s| s.pairs()).map(|p| p.router.trunc()).collect())
        })
        .collect();
    let mut drop: BTreeSet<(ResourceKind, String)> = BTreeSet::new();
    for (kind, name, vrf, own) in &domains {
        let mut members: Vec<(ResourceKind, &str, IpNet)> = own.iter().map(|n| (*kind, *name, *n)).collect();
        for l2 in valid.l2vnis.iter().filter(|l2| l2.vrf.as_deref() == Some(*vrf)) {
            for g in &l2.gateways {
                members.push((ResourceKind::L2VNI, &l2.name, g.trunc()));
            }
        }
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if a.1 == b.1 && a.0 == b.0 {
                    continue;
                }
                if a.2.contains(&b.2.network()) || b.2.contains(&a.2.network()) {
                    let message = format!(
                        "subnet overlap in VRF {vrf:?}: {} ({}/{}) overlaps with {} ({}/{})",
                        a.2, a.0, a.1, b.2, b.0, b.1
                    );
                    for (kind, name) in [(a.0, a.1), (b.0, b.1)] {
                        if drop.insert((kind, name.to_string())) {
                            outcomes.fail(kind, name, FailureReason::ValidationFailed, message.clone());
                        }
                    }
                }
            }
        }
    }
    valid.l3vnis.retain(|v| !drop.contains(&(ResourceKind::L3VNI, v.name.clone())));
    valid.l3vpns.retain(|v| !drop.contains(&(ResourceKind::L3VPN, v.name.clone())));
    valid.l2vnis.retain(|v| !drop.contains(&(ResourceKind::L2VNI, v.name.clone())));
}

/// Host-session pools of all L3VNIs, L3VPNs and the passthrough must not overlap (per family):
/// they all end up as connected routes in the host namespace.
fn check_host_session_pools(valid: &mut Valid, outcomes: &mut Outcomes) {
    let mut seen: Vec<(String, IpNet)> = Vec::new();
    valid.l3vnis.retain(|l3| {
        l3.session.as_ref().is_none_or(|s| claim_pools(ResourceKind::L3VNI, &l3.name, s, &mut seen, outcomes))
    });
    valid.l3vpns.retain(|vpn| {
        vpn.session.as_ref().is_none_or(|s| claim_pools(ResourceKind::L3VPN, &vpn.name, s, &mut seen, outcomes))
    });
    if let Some(p) = &valid.passthrough
        && !claim_pools(ResourceKind::L3Passthrough, &p.name, &p.ips, &mut seen, outcomes)
    {
        valid.passthrough = None;
    }
}

/// Claims the router-side pools of `kind/name`'s host session unless one overlaps a pool already
/// claimed; then it is that resource's failure and `false`.
fn claim_pools(
    kind: ResourceKind,
    name: &str,
    session: &SessionIps,
    seen: &mut Vec<(String, IpNet)>,
    outcomes: &mut Outcomes,
) -> bool {
    let pools: Vec<IpNet> = session.pairs().map(|p| p.router.trunc()).collect();
    if let Some(message) = overlap_message(seen, &pools) {
        outcomes.fail(kind, name, FailureReason::ValidationFailed, message);
        return false;
    }
    seen.extend(pools.into_iter().map(|p| (format!("{kind}/{name}"), p)));
    true
}

fn overlap_message(seen: &[(String, IpNet)], pools: &[IpNet]) -> Option<String> {
    for pool in pools {
        for (owner, other) in seen {
            if pool.contains(&other.network()) || other.contains(&pool.network()) {
                return Some(format!("host session localCIDR {pool} overlaps with {other} of {owner}"));
            }
        }
    }
    None
}

/// True when `n` is an eBGP session from `local_asn`.
pub(crate) fn is_ebgp(asn: Option<i64>, peer_type: Option<PeerType>, local_asn: i64) -> bool {
    match (asn, peer_type) {
        (Some(a), _) => a != local_asn,
        (None, Some(PeerType::Internal)) => false,
        _ => true,
    }
}

/// The neighbor's identity as FRR names it: address, listen range (peer-group) or interface.
pub(crate) fn neighbor_id(n: &Neighbor) -> String {
    n.address.clone().or_else(|| n.listen_range.clone()).or_else(|| n.interface.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::validate_route_target;

    #[test]
    fn route_targets() {
        for ok in ["64512:100", "65535:4294967295", "4200000000:65535", "10.0.0.1:65535"] {
            assert_eq!(validate_route_target(ok), Ok(()), "{ok}");
        }
        for bad in ["64512", "x:1", "64512:x", "4200000000:65536", "10.0.0.1:65536", "999.1.2.3:1", "4294967296:1"] {
            assert!(validate_route_target(bad).is_err(), "{bad}");
        }
        assert!(validate_route_target("999.1.2.3:1").unwrap_err().contains("not a valid IPv4 address"));
    }
}
