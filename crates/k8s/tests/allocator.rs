//! Model-based property test of the node-index allocator under churn: Nodes join (some with a
//! stale or foreign annotation), leave, get their annotation deleted or corrupted or copied
//! from another Node, and the allocator runs in between. After every run the invariants hold.

use std::collections::{BTreeMap, BTreeSet};

use k8s::nodeindex::{self, PatchReason, parse_index};
use k8s::state::NodeInfo;
use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Corruption {
    Delete,
    Garbage(String),
    CopyFrom(usize),
    Number(u32),
}

#[derive(Debug, Clone)]
enum Op {
    /// Nodes join without annotation.
    Add(u8),
    /// A Node joins carrying an annotation (re-registered Node, manual edit, another tool).
    AddWith(String),
    Remove(usize),
    Corrupt(usize, Corruption),
    Allocate,
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..12).prop_map(|n| n.to_string()),
        Just("".to_string()),
        Just("-1".to_string()),
        Just(" 3".to_string()),
        Just("x".to_string()),
        Just("007".to_string()),
        Just("99999999999".to_string()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..4).prop_map(Op::Add),
        1 => value().prop_map(Op::AddWith),
        2 => any::<usize>().prop_map(Op::Remove),
        2 => (any::<usize>(), prop_oneof![
            Just(Corruption::Delete),
            "[a-z ]{0,3}".prop_map(Corruption::Garbage),
            any::<usize>().prop_map(Corruption::CopyFrom),
            (0u32..12).prop_map(Corruption::Number),
        ]).prop_map(|(i, c)| Op::Corrupt(i, c)),
        4 => Just(Op::Allocate),
    ]
}

#[derive(Default)]
struct Cluster {
    nodes: Vec<NodeInfo>,
    clock: i64,
    next: u32,
    /// Index of every Node after the last allocation.
    assigned: BTreeMap<String, u32>,
}

impl Cluster {
    fn add(&mut self, annotation: Option<String>) {
        self.clock += 1;
        self.next += 1;
        self.nodes.push(NodeInfo {
            // Names do not follow creation order, so the test tells the two orders apart.
            name: format!("node-{:03}", (self.next * 37) % 1000),
            labels: BTreeMap::new(),
            index_annotation: annotation,
            // Several Nodes share a creation second now and then: the name breaks the tie.
            created: Some(Timestamp::from_second(1_700_000_000 + self.clock / 2).expect("timestamp")),
            resource_version: Some(format!("rv{}", self.clock)),
        });
    }

    fn order_key(n: &NodeInfo) -> (bool, Option<Timestamp>, String) {
        (n.created.is_none(), n.created, n.name.clone())
    }

    /// Runs the allocator, applies its patches and checks every invariant.
    fn allocate_and_check(&mut self) -> Result<(), TestCaseError> {
        let before = self.nodes.clone();
        let allocation = nodeindex::allocate(&before);

        // Which Nodes keep their value: valid, and no earlier Node claims the same value.
        let mut ordered = before.clone();
        ordered.sort_by_key(Self::order_key);
        let mut kept: BTreeMap<u32, String> = BTreeMap::new();
        for n in &ordered {
            if let Some(i) = n.index_annotation.as_deref().and_then(parse_index) {
                kept.entry(i).or_insert_with(|| n.name.clone());
            }
        }
        let keeps = |n: &NodeInfo| {
            n.index_annotation.as_deref().and_then(parse_index).is_some_and(|i| kept.get(&i) == Some(&n.name))
        };

        // Exactly the Nodes that do not keep their value are patched, in allocation order.
        let patched: Vec<&str> = allocation.patches.iter().map(|p| p.node.as_str()).collect();
        let expected: Vec<&str> = ordered.iter().filter(|n| !keeps(n)).map(|n| n.name.as_str()).collect();
        prop_assert_eq!(&patched, &expected);

        // New indexes are the lowest ones nobody keeps, handed out in order (holes first).
        let free: Vec<u32> = (0u32..).filter(|i| !kept.contains_key(i)).take(patched.len()).collect();
        let given: Vec<u32> = allocation.patches.iter().map(|p| p.index).collect();
        prop_assert_eq!(given, free);

        // Reasons say why.
        for p in &allocation.patches {
            let node = before.iter().find(|n| n.name == p.node).expect("patched node exists");
            let expected_reason = match node.index_annotation.as_deref() {
                None => PatchReason::Missing,
                Some(v) => match parse_index(v) {
                    None => PatchReason::Invalid(v.to_string()),
                    Some(i) => PatchReason::Duplicate { holder: kept[&i].clone(), index: i },
                },
            };
            prop_assert_eq!(&p.reason, &expected_reason);
            prop_assert_eq!(&p.resource_version, &node.resource_version);
        }

        // Apply the patches.
        for p in &allocation.patches {
            let node = self.nodes.iter_mut().find(|n| n.name == p.node).expect("patched node exists");
            node.index_annotation = Some(p.index.to_string());
        }

        // Every Node holds a valid index, no two the same, matching `indexes`.
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            let i = n.index_annotation.as_deref().and_then(parse_index);
            prop_assert!(i.is_some(), "{} has no valid index", n.name);
            let i = i.expect("checked");
            prop_assert!(seen.insert(i), "index {} given twice", i);
            prop_assert_eq!(allocation.indexes.get(&n.name), Some(&i));
        }
        prop_assert_eq!(allocation.indexes.len(), self.nodes.len());

        // Stability: a Node keeps the index it had after the previous run, unless its own
        // annotation was changed since, or an earlier Node now claims the same value.
        for n in &self.nodes {
            let Some(previous) = self.assigned.get(&n.name) else { continue };
            let untouched = before.iter().find(|b| b.name == n.name).and_then(|b| b.index_annotation.clone())
                == Some(previous.to_string());
            let stolen = kept.get(previous).is_some_and(|holder| holder != &n.name);
            if untouched && !stolen {
                prop_assert_eq!(allocation.indexes[&n.name], *previous, "{} lost its index without reason", &n.name);
            }
        }

        // A second run changes nothing.
        prop_assert!(nodeindex::allocate(&self.nodes).patches.is_empty());

        self.assigned = allocation.indexes;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn allocation_invariants_hold_under_churn(ops in proptest::collection::vec(op(), 1..60)) {
        let mut c = Cluster::default();
        for op in ops {
            match op {
                Op::Add(k) => (0..k).for_each(|_| c.add(None)),
                Op::AddWith(v) => c.add(Some(v)),
                Op::Remove(i) => {
                    if !c.nodes.is_empty() {
                        let i = i % c.nodes.len();
                        c.nodes.remove(i);
                    }
                }
                Op::Corrupt(i, how) => {
                    if !c.nodes.is_empty() {
                        let len = c.nodes.len();
                        let new = match how {
                            Corruption::Delete => None,
                            Corruption::Garbage(g) => Some(g),
                            Corruption::CopyFrom(j) => c.nodes[j % len].index_annotation.clone(),
                            Corruption::Number(n) => Some(n.to_string()),
                        };
                        c.nodes[i % len].index_annotation = new;
                    }
                }
                Op::Allocate => c.allocate_and_check()?,
            }
        }
        c.allocate_and_check()?;
    }

    /// Without corruption (Nodes only join and leave), an index once given never changes and
    /// the allocation stays dense: holes are filled before the range grows.
    #[test]
    fn joins_and_leaves_never_move_an_index(ops in proptest::collection::vec(
        prop_oneof![3 => (1u8..4).prop_map(Op::Add), 2 => any::<usize>().prop_map(Op::Remove), 3 => Just(Op::Allocate)],
        1..60,
    )) {
        let mut c = Cluster::default();
        let mut ever: BTreeMap<String, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Add(k) => (0..k).for_each(|_| c.add(None)),
                Op::Remove(i) => {
                    if !c.nodes.is_empty() {
                        let i = i % c.nodes.len();
                        c.nodes.remove(i);
                    }
                }
                _ => {
                    c.allocate_and_check()?;
                    for (name, i) in &c.assigned {
                        prop_assert_eq!(*ever.entry(name.clone()).or_insert(*i), *i, "{} moved", name);
                    }
                    // Dense up to the number of Nodes that joined since the last hole appeared:
                    // every index below the largest one is held, unless a Node left.
                    let max = c.assigned.values().max().copied();
                    let holes = max.map_or(0, |m| (m as usize + 1).saturating_sub(c.assigned.len()));
                    prop_assert!(holes <= ever.len() - c.assigned.len(), "holes {} not explained by leaves", holes);
                }
            }
        }
    }
}

#[test]
fn duplicate_resolution_is_deterministic_whatever_the_input_order() {
    let mk = |name: &str, created: i64, v: &str| NodeInfo {
        name: name.into(),
        labels: BTreeMap::new(),
        index_annotation: Some(v.into()),
        created: Some(Timestamp::from_second(created).expect("ts")),
        resource_version: None,
    };
    let nodes = vec![mk("a-young", 5, "1"), mk("c", 3, "1"), mk("b", 3, "1"), mk("d", 1, "2")];
    let reference = nodeindex::allocate(&nodes);
    // b and c are equally old: the name decides; a-young is younger than both.
    assert_eq!(reference.indexes["b"], 1);
    assert_eq!(reference.indexes["c"], 0);
    assert_eq!(reference.indexes["a-young"], 3);
    assert_eq!(reference.indexes["d"], 2);
    let mut permuted = nodes.clone();
    for _ in 0..6 {
        permuted.rotate_left(1);
        permuted.swap(0, 2);
        assert_eq!(nodeindex::allocate(&permuted), reference);
    }
}
