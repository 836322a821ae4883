#![no_main]
//! See `fuzzing::netlink`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzzing::netlink::run(data));
