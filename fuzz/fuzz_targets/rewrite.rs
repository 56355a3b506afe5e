//! MIME rewriting (headers and placeholder) on arbitrary bytes.
//!
//! optbox catches panics inside mail-parser (`rewrite::parse_message`; this target found
//! one), so libfuzzer-sys's abort-in-the-panic-hook would report a crash the server
//! survives. The init block replaces that hook with a silent one: a panic that escapes
//! the target still aborts (libfuzzer-sys checks the unwind) and is saved as a crash.
#![no_main]
libfuzzer_sys::fuzz_target!(
    init: std::panic::set_hook(Box::new(|_| {})),
    |data: &[u8]| {
        optbox::server::mail::fuzzing::rewrite_target(data);
    }
);
