//! The .mc compiler (the m4 subset and sendmail's macros).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mxgate_m4::compile_str("fuzz.mc", text, &Default::default());
    }
});
