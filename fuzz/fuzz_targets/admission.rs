#![no_main]
//! See `fuzzing::admission`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::admission::run(data));
