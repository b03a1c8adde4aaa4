#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pgcert::fuzzing::certificate(data));
