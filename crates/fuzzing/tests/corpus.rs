//! Every committed seed and regression input (`fuzz/corpus/<target>/`) through its target's
//! body, as the fuzzer runs it: a panic or a broken property fails the test. Runs without a
//! fuzzer installed.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_corpus_and_replays_it() {
    for (target, run) in fuzzing::TARGETS {
        let files = corpus(target);
        assert!(files.len() >= 2, "fuzz/corpus/{target} holds {} inputs, expected a few seeds", files.len());
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                panic!("{target}: {} panics: {message}", file.display());
            }
        }
    }
}

/// The seeds are real inputs: each loads (an input that no longer loads has stopped seeding
/// the parser's deeper paths).
#[test]
fn manifest_seeds_load() {
    for (target, name) in [("manifests", "openpe_fuzz.yaml"), ("node_config", "node-config.yaml")] {
        for file in corpus(target) {
            seed_loads(&file, Path::new(name));
        }
    }
}

fn seed_loads(file: &Path, name: &Path) {
    {
        if file.file_name().is_some_and(|n| n.to_string_lossy().starts_with("crash-")) {
            return;
        }
        let text = std::fs::read_to_string(file).expect("seed is text");
        let mut loaded = api::load::Loaded::default();
        api::load::load_str(&text, name, &mut loaded).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            loaded.resource_count() > 0 || loaded.node_config.is_some(),
            "{}: the seed holds nothing",
            file.display()
        );
    }
}
