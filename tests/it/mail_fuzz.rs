//! The fuzz targets (`fuzz/fuzz_targets/`) run as bounded property tests in `cargo test`:
//! arbitrary bytes, and arbitrary bytes spliced into real message shapes, must not
//! panic the options parser or the MIME rewriter.

use optbox::server::mail::fuzzing::{options_target, rewrite_target};
use proptest::prelude::*;

const SHAPES: &[&str] = &[
    "From: a@example.com\r\nX-SES-LIST-MANAGEMENT-OPTIONS: news; topic=t\r\n\r\n{{amazonSESUnsubscribeUrl}}\r\n",
    "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nx {{amazonSES=\r\nUnsubscribeUrl}}\r\n--B\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\ne3thbWF6b25TRVNVbnN1YnNjcmliZVVybH19\r\n--B--\r\n",
    "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@x\r\n\r\n{{amazonSESUnsubscribeUrl}}\r\n--M--\r\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn option_parsing_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        options_target(&data);
    }

    #[test]
    fn option_like_strings_never_panic(s in "(contactListName|topic|topicName|[a-zA-Z_-]{0,8})[ =;]{0,3}[a-zA-Z0-9_; =-]{0,30}") {
        options_target(s.as_bytes());
    }

    #[test]
    fn rewriting_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        rewrite_target(&data);
    }

    #[test]
    fn rewriting_mangled_messages_never_panics(
        shape in 0..SHAPES.len(),
        at in any::<prop::sample::Index>(),
        cut in 0usize..40,
        junk in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let base = SHAPES[shape].as_bytes();
        let i = at.index(base.len());
        let end = (i + cut).min(base.len());
        let mut m = base[..i].to_vec();
        m.extend_from_slice(&junk);
        m.extend_from_slice(&base[end..]);
        rewrite_target(&m);
    }
}

/// Inputs cargo-fuzz once crashed on (fuzz/regressions/TARGET/) stay fixed.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for target in std::fs::read_dir(&dir).expect("fuzz/regressions") {
        let target = target.unwrap().path();
        for case in std::fs::read_dir(&target).unwrap() {
            let data = std::fs::read(case.unwrap().path()).unwrap();
            match target.file_name().unwrap().to_str().unwrap() {
                "rewrite" => rewrite_target(&data),
                "options" => options_target(&data),
                other => panic!("unknown fuzz target {other}"),
            }
            n += 1;
        }
    }
    assert!(n > 0);
}
