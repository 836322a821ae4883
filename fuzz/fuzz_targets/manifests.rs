#![no_main]
//! See `fuzzing::manifests`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::manifests::run(data));
