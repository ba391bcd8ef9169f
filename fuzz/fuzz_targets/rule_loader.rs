#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kaudit_fuzz::rule_loader(data));
