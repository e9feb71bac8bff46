#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_devmon::uevent::fuzz_parse(data));
