//! MIME rewriting (headers and placeholder) on arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    optbox::server::mail::fuzzing::rewrite_target(data);
});
