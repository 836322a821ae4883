//! Property: whatever sequence of configurations the applier is given, after every step FRR
//! runs exactly the target (our own comparison) and frr-reload.py, the independent oracle, sees
//! nothing left to do. The sequences are random walks (seeded, the seed is printed) over
//! generated configurations: fabric neighbors coming, going and changing AS, BFD with and
//! without profiles, passwords, timers, graceful restart, the passthrough session, L3VNI VRFs
//! added, removed and changed (route targets, host neighbor), raw snippets.
//!
//! A VRF's VNI is never given back once removed: on a kernel without VRF devices (this host)
//! zebra keeps a removed L3VNI and refuses it afterwards ("already configured as L3-VNI"), which
//! says nothing about the applier. `APPLIER_SEEDS` (default 4) and `APPLIER_STEPS` (default 12)
//! size the run. Needs root and FRR; skipped loudly otherwise.

use std::net::IpAddr;

use frr::testing::{Fleet, skip_loudly, skip_reason};
use frr::*;

/// xorshift64*: small, seeded, enough for a random walk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const ASN: u32 = 64514;

fn peer(s: &str) -> PeerTarget {
    PeerTarget::Address(s.parse::<IpAddr>().unwrap())
}

/// The state the walk moves through.
#[derive(Clone, Debug)]
struct World {
    fabric: Vec<(usize, u32, u8)>, // (index in the pool, remote AS, options bits)
    profiles: Vec<(usize, u32)>,   // (index, transmit interval)
    graceful_restart: Option<u32>,
    passthrough: bool,
    vrfs: Vec<(u32, u32, u32)>, // (id, host AS, extra route target)
    next_vrf: u32,
    raw: Vec<usize>,
}

const FABRIC: [&str; 4] = ["192.168.11.2", "192.168.11.6", "192.168.12.2", "fd00:11::2"];
const RAW: [&str; 3] = [
    "route-map raw-a permit 10\nexit",
    "route-map raw-b deny 20\nexit",
    "router bgp 64514\n neighbor 192.168.99.9 remote-as 65099\nexit",
];

impl World {
    fn new() -> Self {
        World {
            fabric: vec![(0, 64512, 0)],
            profiles: Vec::new(),
            graceful_restart: None,
            passthrough: false,
            vrfs: Vec::new(),
            next_vrf: 1,
            raw: Vec::new(),
        }
    }

    /// One random change.
    fn step(&mut self, rng: &mut Rng) -> String {
        match rng.below(9) {
            0 => {
                let i = rng.below(FABRIC.len() as u64) as usize;
                match self.fabric.iter().position(|f| f.0 == i) {
                    Some(pos) if self.fabric.len() > 1 => {
                        self.fabric.remove(pos);
                        format!("fabric neighbor {} removed", FABRIC[i])
                    }
                    Some(pos) => {
                        self.fabric[pos].1 = if self.fabric[pos].1 == 64512 { 64600 } else { 64512 };
                        format!("fabric neighbor {} AS changed", FABRIC[i])
                    }
                    None => {
                        self.fabric.push((i, 64512 + rng.below(3) as u32, rng.below(16) as u8));
                        format!("fabric neighbor {} added", FABRIC[i])
                    }
                }
            }
            1 => {
                let pos = rng.below(self.fabric.len() as u64) as usize;
                self.fabric[pos].2 = rng.below(16) as u8;
                format!("fabric neighbor {} options {:04b}", FABRIC[self.fabric[pos].0], self.fabric[pos].2)
            }
            2 => {
                let i = rng.below(2) as usize;
                match self.profiles.iter().position(|p| p.0 == i) {
                    Some(pos) => {
                        self.profiles.remove(pos);
                        format!("BFD profile {i} removed")
                    }
                    None => {
                        self.profiles.push((i, 100 + 50 * rng.below(6) as u32));
                        format!("BFD profile {i} added")
                    }
                }
            }
            3 => {
                self.graceful_restart = match self.graceful_restart {
                    Some(_) if rng.chance(50) => None,
                    _ => Some(60 + 30 * rng.below(4) as u32),
                };
                format!("graceful restart {:?}", self.graceful_restart)
            }
            4 => {
                self.passthrough = !self.passthrough;
                format!("passthrough {}", if self.passthrough { "on" } else { "off" })
            }
            5 | 6 => {
                if self.vrfs.len() < 4 && (self.vrfs.is_empty() || rng.chance(60)) {
                    let id = self.next_vrf;
                    self.next_vrf += 1;
                    self.vrfs.push((id, 64515, 0));
                    format!("VRF v{id} added")
                } else {
                    let pos = rng.below(self.vrfs.len() as u64) as usize;
                    let (id, ..) = self.vrfs.remove(pos);
                    format!("VRF v{id} removed")
                }
            }
            7 if !self.vrfs.is_empty() => {
                let pos = rng.below(self.vrfs.len() as u64) as usize;
                let v = &mut self.vrfs[pos];
                if rng.chance(50) {
                    v.1 = if v.1 == 64515 { 64516 } else { 64515 };
                    format!("VRF v{} host AS {}", v.0, v.1)
                } else {
                    v.2 = rng.below(3) as u32;
                    format!("VRF v{} extra route target {}", v.0, v.2)
                }
            }
            _ => {
                let i = rng.below(RAW.len() as u64) as usize;
                match self.raw.iter().position(|r| *r == i) {
                    Some(pos) => {
                        self.raw.remove(pos);
                        format!("raw snippet {i} removed")
                    }
                    None => {
                        self.raw.push(i);
                        format!("raw snippet {i} added")
                    }
                }
            }
        }
    }

    fn config(&self) -> Config {
        let mut bgp = BgpInstance::new(ASN, None);
        bgp.router_id = "10.0.0.1".parse().ok();
        bgp.graceful_restart =
            self.graceful_restart.map(|t| GracefulRestart { restart_time: t, ..GracefulRestart::default() });
        let mut v4 = AddressFamily::new(Afi::Ipv4Unicast);
        let mut v6 = AddressFamily::new(Afi::Ipv6Unicast);
        let mut evpn = AddressFamily { advertise_all_vni: true, ..AddressFamily::new(Afi::L2vpnEvpn) };
        v4.networks = vec!["100.65.0.1/32".parse().unwrap()];
        let mut fabric = self.fabric.clone();
        fabric.sort();
        for (i, remote_as, bits) in fabric {
            let target = peer(FABRIC[i]);
            let mut n = Neighbor::new(target.clone(), RemoteAs::Number(remote_as));
            if bits & 1 != 0 {
                n.bfd = Some(Bfd { profile: self.profiles.first().map(|p| format!("profile-{}", p.0)) });
            }
            if bits & 2 != 0 {
                n.password = Some(Secret::new("prop-secret"));
            }
            if bits & 4 != 0 {
                n.timers = Some((10, 30));
            }
            if bits & 8 != 0 {
                n.connect_time = Some(5);
            }
            bgp.neighbors.push(n);
            let af = if FABRIC[i].contains(':') { &mut v6 } else { &mut v4 };
            af.neighbors.push(AfNeighbor::activated(target.clone()));
            evpn.neighbors.push(AfNeighbor::activated(target));
        }
        if self.passthrough {
            let host = peer("192.169.30.2");
            bgp.neighbors.push(Neighbor::new(host.clone(), RemoteAs::Number(64515)));
            v4.neighbors.push(AfNeighbor {
                route_map_in: Some("allowall".into()),
                route_map_out: Some("allowall".into()),
                ..AfNeighbor::activated(host)
            });
        }
        bgp.address_families = vec![v4, v6, evpn];
        let mut config = Config {
            resolve_nht_via_default: true,
            route_maps: vec![RouteMap::allow_all()],
            bgp: vec![bgp],
            raw: self.raw.iter().map(|&i| RAW[i].to_string()).collect(),
            ..Config::default()
        };
        for &(i, tx) in &self.profiles {
            config
                .bfd_profiles
                .push(BfdProfile { transmit_interval: Some(tx), ..BfdProfile::new(format!("profile-{i}")) });
        }
        for &(id, host_as, extra) in &self.vrfs {
            let vrf = format!("v{id}");
            let vni = 1000 + id;
            config.vrf_vnis.push(VrfVni { vrf: vrf.clone(), vni });
            let mut b = BgpInstance::new(ASN, Some(vrf));
            b.router_id = "10.0.0.1".parse().ok();
            let host = peer(&format!("192.170.{id}.2"));
            b.neighbors = vec![Neighbor::new(host.clone(), RemoteAs::Number(host_as))];
            let v4 = AddressFamily {
                neighbors: vec![AfNeighbor {
                    route_map_in: Some("allowall".into()),
                    route_map_out: Some("allowall".into()),
                    ..AfNeighbor::activated(host)
                }],
                ..AddressFamily::new(Afi::Ipv4Unicast)
            };
            let mut imports = vec![format!("{ASN}:{vni}")];
            if extra > 0 {
                imports.push(format!("65000:{extra}"));
            }
            let evpn = AddressFamily {
                advertise_ipv4_unicast: true,
                route_targets_import: imports,
                route_targets_export: vec![format!("{ASN}:{vni}")],
                ..AddressFamily::new(Afi::L2vpnEvpn)
            };
            b.address_families = vec![v4, evpn];
            config.bgp.push(b);
        }
        config
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sequences_converge_and_the_oracle_agrees() {
    if let Some(reason) = skip_reason() {
        skip_loudly("applier property", &reason);
        return;
    }
    let seeds = env_or("APPLIER_SEEDS", 4);
    let steps = env_or("APPLIER_STEPS", 12);
    let base_seed = env_or("APPLIER_SEED", 0x0005_eed0_fa99_11e5);
    let mut fleet = Fleet::new();
    let mut applied = 0;
    for s in 0..seeds {
        let seed = base_seed.wrapping_add(s.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        let inst = fleet.add_instance("frrprop", Some(&format!("prop-{s}"))).unwrap();
        frr::testing::enable_forwarding(fleet.namespaces().last().unwrap()).unwrap();
        inst.start().unwrap();
        let applier = Applier::for_instance(&inst);
        let mut rng = Rng(seed);
        let mut world = World::new();
        let mut history = Vec::new();
        for step in 0..steps {
            let what = if step == 0 { "start".to_string() } else { world.step(&mut rng) };
            history.push(what.clone());
            let config = world.config();
            let context = || format!("seed {seed:#x}, step {step} ({what}); steps so far: {history:?}");
            let report = applier.apply(&config).await.unwrap_or_else(|e| panic!("{}: {e}", context()));
            assert!(report.rejected_snippets.is_empty(), "{}: {:?}", context(), report.rejected_snippets);
            let left = applier.delta(&config).await.unwrap();
            assert!(left.is_empty(), "{}: FRR does not run the target:\n{left}", context());
            let oracle = inst.frr_reload().test(&inst.config_path()).await.unwrap();
            assert!(oracle.delta.is_empty(), "{}: frr-reload.py sees a delta:\n{}", context(), oracle.delta);
            applied += 1;
        }
        eprintln!("seed {seed:#x}: {steps} steps converged: {history:?}");
        inst.stop().unwrap();
    }
    eprintln!("{applied} applies, each verified by frr-reload.py");
}
