//! The aliases(5) parser (continuation lines, quoting, :include:).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mxgate::table::aliases::parse_aliases("aliases", text);
    }
});
