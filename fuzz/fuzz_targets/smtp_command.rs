//! The SMTP command-line parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = mxgate::proto::command::Command::parse(line);
    }
});
