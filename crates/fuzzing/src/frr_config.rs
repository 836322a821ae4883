//! FRR's configuration text as FRR prints it back (`show running-config`, vtysh's answers),
//! read the way the applier reads it.

use frr::{FrrVersion, delta, tree};

/// Reads `data` as a running configuration: normalised, as a tree, diffed against itself and
/// the empty configuration; also as vtysh's output (a refused line, a version).
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let normalized = frr::normalize_running_config(&text, true);
    let _ = frr::normalize_running_config(&text, false);
    let _ = frr::top_level_blocks(&normalized);
    assert!(frr::same_blocks(&normalized, &normalized));

    let forest = tree::parse(&text);
    let _ = tree::render(&tree::union(vec![forest.clone(), forest]));

    // The applier's question on every reconcile: nothing to do when both sides are the same.
    let none = delta::diff(&normalized, &normalized);
    assert!(none.is_empty(), "a configuration differs from itself: {none:?}");
    let _ = delta::diff(&normalized, "").in_steps();
    let _ = delta::diff("", &normalized).in_steps();
    let _ = delta::redact_passwords(&text);

    let _ = frr::refused_line(&text);
    if let Some(version) = FrrVersion::from_output(&text) {
        assert_eq!(version.to_string().parse::<FrrVersion>(), Ok(version), "a version does not read back");
    }
}
