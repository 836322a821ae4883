#![no_main]
//! See `fuzzing::node_config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::node_config::run(data));
