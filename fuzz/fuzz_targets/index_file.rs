#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pgcert::fuzzing::index_file(data));
