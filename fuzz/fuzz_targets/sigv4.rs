//! SigV4: arbitrary requests, and correctly signed ones with a changed body
//! (`optbox::server::fuzzing::sigv4_target`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    optbox::server::fuzzing::sigv4_target(data);
});
