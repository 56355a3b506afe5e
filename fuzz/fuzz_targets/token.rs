//! Unsubscribe tokens: arbitrary strings, and tampered, truncated or wrongly keyed
//! tokens built from the input (`optbox::server::fuzzing::token_target`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    optbox::server::fuzzing::token_target(data);
});
