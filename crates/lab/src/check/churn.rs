//! The configuration churn drill: a seeded random sequence of changes (see [`super::churn_model`])
//! written to every node's configuration while probes run through the resources it never
//! touches. After each change every node must report exactly the expected applied and failed
//! resources, and `plan --diff` must find nothing to change (the kernel and Open vSwitch hold
//! the plan, FRR the rendered configuration: nothing leaked, nothing missing). At the end the
//! base configuration is back: the same links as before with the same ifindexes, then a no-op
//! reconcile that writes nothing and restarts no FRR daemon; the probes lost nothing, except
//! during the changes that reset the fabric session ([`Change::resets_fabric_session`]): there
//! the loss is printed, and bounded by [`MAX_LOST_AT_RESET`].
//!
//! `OPR_CHURN_SEED` replays a sequence (the seed is printed either way); `OPR_CHURN_STEPS`
//! sets its length (default 50).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::churn_model::{Change, Key, Model, Rng};
use super::config::{agent_status, node_matches_plan};
use super::ctx::*;
use super::probe::{Probe, seq_ranges};
use super::restart::agent_writes;
use super::view;
use crate::fabric::{l2pod_ip, node_host_ns, node_router_ns};
use crate::pe;

/// How long one change may take to converge on every node.
const STEP_WITHIN: Duration = Duration::from_secs(120);

/// Probes (300 ms apart) a path may lose during one change that resets the fabric session: the
/// session's return and the routes sent again. 3–5 s measured when the PE's first connection
/// after the reset is taken; 8 s (27–28 probes) when it meets the ToR still idle from the reset
/// and the PE tries again after its connect timer (`timers connect 5`).
const MAX_LOST_AT_RESET: u32 = 35;

/// A change that resets the fabric session: its step number and when it ran.
struct Reset {
    step: usize,
    from: Instant,
    to: Instant,
}

/// `OPR_CHURN_SEED`, else one from the clock.
fn seed() -> u64 {
    std::env::var("OPR_CHURN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

fn steps() -> usize {
    std::env::var("OPR_CHURN_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(50)
}

/// `(kind, name)` of every entry of the status list `field`.
fn keys(status: &Value, field: &str) -> BTreeSet<Key> {
    status[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["kind"].as_str()?.to_string(), r["name"].as_str()?.to_string())))
        .collect()
}

/// Waits until node `i` reports `applied` and `failed` exactly and `plan --diff` is empty.
async fn converged(c: &Ctx<'_>, i: u32, applied: &BTreeSet<Key>, failed: &BTreeSet<Key>) -> Check {
    eventually(STEP_WITHIN, || async {
        let st = agent_status(c, i).await?;
        let (now_applied, now_failed) = (keys(&st, "applied"), keys(&st, "failedResources"));
        if &now_failed != failed {
            let why = truncate(&st["failedResources"].to_string(), 600);
            return Err(format!("node{i} reports failed {now_failed:?}, expected {failed:?}: {why}"));
        }
        if &now_applied != applied {
            return Err(format!("node{i} reports applied {now_applied:?}, expected {applied:?}"));
        }
        node_matches_plan(c, i).await?;
        Ok(String::new())
    })
    .await
}

/// Every link of both namespaces of every node: name → ifindex.
fn links(c: &Ctx<'_>) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for i in 0..c.nodes {
        for ns in [node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i)] {
            out.extend(view::ifindexes(&ns).into_iter().map(|(name, index)| (format!("{ns}/{name}"), index)));
        }
    }
    out
}

/// Node `i`'s configuration file.
fn config_file(c: &Ctx<'_>, i: u32) -> std::path::PathBuf {
    pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml")
}

/// Writes `model` over each node's base configuration.
fn write_all(c: &Ctx<'_>, model: &Model, bases: &BTreeMap<u32, String>) -> Result<(), String> {
    for (i, base) in bases {
        let path = config_file(c, *i);
        std::fs::write(&path, model.render(base)?).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The drill with `seed`, or with [`seed`]'s when `None`.
pub(super) async fn config_churn(c: &Ctx<'_>, seed: Option<u64>) -> Option<Check> {
    let (a, b) = c.pairs()?;
    let seed = seed.unwrap_or_else(self::seed);
    Some(async {
        let _one_lab_at_a_time = super::exclusive::timed_drill(&c.lab.options.dir()).await?;
        // The base: each node's configuration, what it applies, and every link it has.
        let mut bases = BTreeMap::new();
        let mut base_applied = BTreeMap::new();
        for i in 0..c.nodes {
            let path = config_file(c, i);
            bases.insert(i, std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?);
            converged(c, i, &keys(&agent_status(c, i).await?, "applied"), &BTreeSet::new()).await?;
            base_applied.insert(i, keys(&agent_status(c, i).await?, "applied"));
        }
        let before = links(c);
        let probes = [
            ("L3VNI red", c.ns(&format!("pod{a}")), "192.168.20.2".to_string()),
            ("L3VNI blue", c.ns(&format!("pod{b}")), "192.169.21.2".to_string()),
            ("L2VNI 110", c.ns(&format!("l2pod{a}")), l2pod_ip(b)),
        ];
        let mut running = Vec::new();
        for (what, ns, dst) in &probes {
            running.push((*what, Probe::start(ns, dst)?));
        }
        let paths: Vec<(String, String)> = probes.iter().map(|(_, ns, dst)| (ns.clone(), dst.clone())).collect();
        let drill = run(c, seed, &bases, &base_applied, &paths).await;
        // Whatever happened: the base configuration again, converged.
        let restored = async {
            for (i, base) in &bases {
                let path = config_file(c, *i);
                std::fs::write(&path, base).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            for i in 0..c.nodes {
                converged(c, i, &base_applied[&i], &BTreeSet::new()).await?;
            }
            Ok::<(), String>(())
        }
        .await;
        let mut outcomes = Vec::new();
        for (what, p) in running {
            outcomes.push((what, p.stop().await?));
        }
        let (ran, resets, steps) = drill.map_err(|e| format!("seed {seed}: {e}"))?;
        restored.map_err(|e| format!("seed {seed}: not back on the base configuration: {e}"))?;
        let spans: Vec<(Instant, Instant)> = resets.iter().map(|r| (r.from, r.to)).collect();
        let (mut lost, mut sent, mut at_resets) = (Vec::new(), Vec::new(), Vec::new());
        for (what, o) in &outcomes {
            sent.push(format!("{what} {} of {}", o.lost.len(), o.sent));
            let outside = o.lost_outside(&spans);
            if !outside.is_empty() {
                let during = o.sent_during(&outside, &steps);
                let during = if during.is_empty() { "between steps".to_string() } else { during.join("; ") };
                lost.push(format!(
                    "{what}: {} of {} probes (numbers {}; sent during {during})",
                    outside.len(),
                    o.sent,
                    seq_ranges(&outside)
                ));
            }
            for r in &resets {
                let n = o.lost_between(r.from, r.to);
                at_resets.push(format!("{what} {n} at step {}", r.step));
                if n > MAX_LOST_AT_RESET {
                    lost.push(format!("{what}: {n} probes at step {} (fabric session reset; {MAX_LOST_AT_RESET} allowed)", r.step));
                }
            }
        }
        if !lost.is_empty() {
            return Err(format!("seed {seed}: untouched VNIs lost probes: {}", lost.join("; ")));
        }
        // Nothing leaked, nothing of the base was rebuilt.
        let after = links(c);
        let changed: Vec<String> = before
            .iter()
            .filter(|(n, i)| after.get(*n) != Some(i))
            .map(|(n, i)| format!("{n} {i}→{:?}", after.get(n)))
            .chain(after.keys().filter(|n| !before.contains_key(*n)).map(|n| format!("{n} left behind")))
            .collect();
        if !changed.is_empty() {
            return Err(format!("seed {seed}: links differ from before the drill: {changed:?}"));
        }
        let quiet = no_op(c).await.map_err(|e| format!("seed {seed}: {e}"))?;
        let at_resets = if at_resets.is_empty() {
            String::new()
        } else {
            format!(" (during the changes that reset the fabric session: {})", at_resets.join(", "))
        };
        Ok(format!(
            "seed {seed} (OPR_CHURN_SEED replays it): {ran}; back on the base configuration: the same {} links, same ifindexes; {quiet}; probes lost: {}{at_resets}",
            before.len(),
            sent.join(", ")
        ))
    }
    .await)
}

/// Each step's label ("step N (change)") and when it ran: from its write to every node converged.
type StepSpan = (String, Instant, Instant);

/// The sequence itself: each change written to every node, then every node converged.
async fn run(
    c: &Ctx<'_>,
    seed: u64,
    bases: &BTreeMap<u32, String>,
    base_applied: &BTreeMap<u32, BTreeSet<Key>>,
    paths: &[(String, String)],
) -> Result<(String, Vec<Reset>, Vec<StepSpan>), String> {
    let (mut rng, mut model) = (Rng::new(seed), Model::default());
    let mut took = Vec::new();
    let mut resets = Vec::new();
    let mut spans = Vec::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let total = steps();
    for step in 1..=total {
        let change: Change = model.choose(&mut rng);
        model.apply(change);
        *kinds.entry(change.kind()).or_default() += 1;
        let start = Instant::now();
        write_all(c, &model, bases)?;
        let failed = model.expected_failed();
        for i in 0..c.nodes {
            let mut applied = base_applied[&i].clone();
            applied.extend(model.expected_applied());
            converged(c, i, &applied, &failed).await.map_err(|e| format!("step {step} ({change}): {e}"))?;
        }
        took.push(start.elapsed().as_secs_f64());
        spans.push((format!("step {step} ({change})"), start, Instant::now()));
        // Progress: the drill runs for minutes.
        eprintln!("    churn step {step}/{total} ({change}): converged on every node in {:.1} s", took[took.len() - 1]);
        if change.resets_fabric_session() {
            // The routes come back a moment after the session (seconds, when the ToR's side
            // is still idle from the reset): the span runs on until every probed path answers
            // a ping again, so that its tail is not counted against the next step.
            pings(paths, Duration::from_secs(60)).await.map_err(|e| format!("step {step} ({change}): {e}"))?;
            resets.push(Reset { step, from: start, to: Instant::now() });
        }
    }
    let max = took.iter().copied().fold(0.0, f64::max);
    let mean = took.iter().sum::<f64>() / took.len().max(1) as f64;
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let summary = format!(
        "{total} changes ({}) each converged on {} nodes with `plan --diff` empty, in {mean:.1} s on average, {max:.1} s at most",
        kinds.join(", "),
        c.nodes
    );
    Ok((summary, resets, spans))
}

/// A no-op reconcile on every node: the agents' own periodic reconciles, watched for writes
/// (their counters) and FRR restarts.
async fn no_op(c: &Ctx<'_>) -> Check {
    let dir = c.lab.options.dir();
    let mut before = Vec::new();
    for i in 0..c.nodes {
        let st = agent_status(c, i).await?;
        let generation = pe::pe_instance(&c.prefix, &dir, i).generation();
        before.push((st["reconciles"].as_u64().unwrap_or(0), agent_writes(c, i).await?, generation));
    }
    let mut seen = Vec::new();
    for (i, (reconciles, writes, generation)) in (0..c.nodes).zip(before) {
        let now = eventually(Duration::from_secs(60), || async {
            let st = agent_status(c, i).await?;
            let n = st["reconciles"].as_u64().unwrap_or(0);
            if n >= reconciles + 2 { Ok(n.to_string()) } else { Err(format!("node{i}: {n} reconciles, waiting")) }
        })
        .await?;
        let now_writes = agent_writes(c, i).await?;
        if now_writes != writes {
            return Err(format!("node{i}: {} kernel writes in reconciles that had nothing to do", now_writes - writes));
        }
        let restarted = pe::pe_instance(&c.prefix, &dir, i).generation().restarted_since(&generation);
        if !restarted.is_empty() {
            return Err(format!("node{i}: FRR daemons {restarted:?} restarted in reconciles that had nothing to do"));
        }
        seen.push(format!("node{i} {} reconciles", now.parse::<u64>().unwrap_or(0) - reconciles));
    }
    Ok(format!("then no-op reconciles ({}): 0 kernel writes, no FRR daemon restarted", seen.join(", ")))
}
