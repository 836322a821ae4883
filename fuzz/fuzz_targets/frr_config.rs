#![no_main]
//! See `fuzzing::frr_config`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::frr_config::run(data));
