//! The token and SigV4 fuzz targets (`fuzz/fuzz_targets/`) as bounded property tests in
//! `cargo test`, so every run exercises them even without cargo-fuzz: arbitrary tokens
//! and requests must not panic the parsers, and signed inputs keep their invariants
//! (tampering, truncation and a wrong key are refused; a changed body is a mismatch).

use optbox::server::fuzzing::{sigv4_target, token_target};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tokens_never_panic(mode in (0u8..128).prop_map(|m| m * 2), s in "[A-Za-z0-9_=.-]{0,140}") {
        let mut data = vec![mode];
        data.extend_from_slice(s.as_bytes());
        token_target(&data);
    }

    #[test]
    fn signed_tokens_refuse_tampering(data in proptest::collection::vec(any::<u8>(), 1..80)) {
        let mut data = data;
        data[0] |= 1;
        token_target(&data);
    }

    #[test]
    fn arbitrary_requests_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        sigv4_target(&data);
    }

    #[test]
    fn authorization_like_headers_never_panic(
        auth in "AWS4-HMAC-SHA256( ?(Credential|SignedHeaders|Signature)=[A-Za-z0-9/;,_-]{0,70}){0,4}",
        date in "[0-9TZ]{0,17}",
        body in "[ -~]{0,40}",
    ) {
        let req = format!("\x00POST\n/v2/email/contact-lists\n\nhost: api.example\nauthorization: {auth}\nx-amz-date: {date}\n\n{body}");
        sigv4_target(req.as_bytes());
    }

    #[test]
    fn signed_requests_verify_and_refuse_changed_bodies(data in proptest::collection::vec(any::<u8>(), 1..400)) {
        let mut data = data;
        data[0] |= 1;
        sigv4_target(&data);
    }
}
