#![no_main]
// What one cairn-init leaves the next across switch-root: any text must read back or be
// refused with a message, never panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cairn_init::reexec::decode(text);
    }
});
