//! `X-SES-LIST-MANAGEMENT-OPTIONS` parsing on arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    optbox::server::mail::fuzzing::options_target(data);
});
