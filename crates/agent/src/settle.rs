//! After the kernel step: make sure the routing daemons learned the interface addresses the plan
//! put in place, and announce again the ones they missed.
//!
//! FRR 8.4's zebra drops an address announced before it has processed the creation of its
//! interface (see `Datapath::announce_addresses`), and a BGP session over that interface then
//! waits for a next hop forever.
//!
//! * Router side, when FRR can be asked: what FRR lacks of the planned router-side addresses is
//!   announced again until FRR holds them all (a few seconds at most, then a warning: the next
//!   reconcile tries again).
//! * Host side: the addresses this reconcile added are announced once more a second after they
//!   were made, for a host BGP speaker with the same race (it cannot be asked).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dataplane::{Action, Datapath, HostNetwork, Report, Side, is_link_local};
use frr::target::Target;
use ipnet::IpNet;

/// What the router-side repair did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Addresses announced again.
    pub announced: usize,
    /// FRR still lacked some when the repair gave up: the next reconcile checks again.
    pub unsettled: bool,
}

/// Runs both repairs. The router side is checked only when this reconcile created, moved or
/// addressed router-side links, or when the last check left FRR lacking addresses (`unsettled`):
/// reading every interface back from zebra costs seconds at a thousand VNIs, and a reconcile
/// that changed nothing there cannot have raced zebra.
pub async fn settle_addresses(
    datapath: &mut Datapath,
    frr: Option<&Target>,
    desired: &HostNetwork,
    report: &Report,
    unsettled: bool,
) -> Settled {
    let done = Instant::now();
    let settled = match frr {
        Some(target) if unsettled || router_links_changed(report) => router_side(datapath, target, desired).await,
        _ => Settled::default(),
    };
    host_side(datapath, report, done).await;
    settled
}

/// Whether `report` ran a step that zebra could take in the wrong order: a router-side link
/// created or moved in, or an address added there.
fn router_links_changed(report: &Report) -> bool {
    report.ops.iter().any(|op| {
        op.side == Side::Router
            && matches!(op.action, Action::CreateLink(_) | Action::MoveLink { .. } | Action::AddAddress { .. })
    })
}

async fn router_side(datapath: &mut Datapath, target: &Target, desired: &HostNetwork) -> Settled {
    let wanted: Vec<(&str, Vec<IpNet>)> = desired
        .links_in(Side::Router)
        .map(|l| (l.name.as_str(), l.addresses.iter().copied().filter(|a| !is_link_local(a)).collect::<Vec<_>>()))
        .filter(|(_, a)| !a.is_empty())
        .collect();
    let mut announced = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lacking = match target.lacking_addresses(&wanted).await {
            None => return Settled { announced, unsettled: false },
            Some(Err(e)) => {
                tracing::debug!("{e}");
                return Settled { announced, unsettled: true };
            }
            Some(Ok(l)) => l,
        };
        // An interface missing from the kernel too failed to be created (reported already):
        // nothing to wait for.
        let unknown: Vec<&String> =
            lacking.interfaces.iter().filter(|n| datapath.has_link(Side::Router, n).unwrap_or(false)).collect();
        if lacking.addresses.is_empty() && unknown.is_empty() {
            return Settled { announced, unsettled: false };
        }
        if Instant::now() > deadline {
            let what: Vec<String> = lacking
                .addresses
                .iter()
                .map(|(n, a)| format!("{n} {a:?}"))
                .chain(unknown.iter().map(|n| format!("{n} (interface unknown)")))
                .collect();
            tracing::warn!("FRR still lacks interface addresses after announcing them again: {}", what.join(", "));
            return Settled { announced, unsettled: true };
        }
        // Addresses of an interface FRR has not learned yet would be dropped again: only those
        // of known interfaces are announced.
        for (name, addrs) in &lacking.addresses {
            match datapath.announce_addresses(Side::Router, name, addrs) {
                Ok(n) => {
                    announced += n;
                    tracing::warn!(link = %name, addresses = ?addrs, "FRR missed these addresses: announced them again");
                }
                Err(e) => tracing::debug!(link = %name, "cannot announce addresses: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn host_side(datapath: &mut Datapath, report: &Report, done: Instant) {
    let mut added: BTreeMap<&str, Vec<IpNet>> = BTreeMap::new();
    for op in report.ops.iter().filter(|op| op.side == Side::Host) {
        if let Action::AddAddress { link, address } = &op.action {
            added.entry(link.as_str()).or_default().push(*address);
        }
    }
    if added.is_empty() {
        return;
    }
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(done.elapsed())).await;
    for (link, addresses) in added {
        match datapath.announce_addresses(Side::Host, link, &addresses) {
            Ok(_) => tracing::debug!(%link, ?addresses, "host addresses announced again"),
            Err(e) => tracing::debug!(%link, "cannot announce {addresses:?}: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::{LinkChange, Op};

    fn op(side: Side, action: Action) -> Op {
        Op { side, action, owner: None }
    }

    fn address(link: &str) -> Action {
        Action::AddAddress { link: link.into(), address: "192.169.10.1/24".parse().unwrap() }
    }

    #[test]
    fn only_router_side_additions_call_for_a_check() {
        let quiet = Report::default();
        assert!(!router_links_changed(&quiet), "a reconcile that did nothing");
        let host_only = Report { ops: vec![op(Side::Host, address("host-s-100"))], ..Report::default() };
        assert!(!router_links_changed(&host_only), "host-side addresses are not zebra's");
        let set = Report {
            ops: vec![op(Side::Router, Action::SetLink { name: "br-pe-110".into(), change: LinkChange::Up(true) })],
            ..Report::default()
        };
        assert!(!router_links_changed(&set), "a link set up changes no address");
        let added = Report {
            ops: vec![op(Side::Host, address("x")), op(Side::Router, address("pe-s-100"))],
            ..Report::default()
        };
        assert!(router_links_changed(&added), "a router-side address added");
    }
}
