#![no_main]
//! See `fuzzing::frr_state`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::frr_state::run(data));
