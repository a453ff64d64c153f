//! The DATA/BDAT receiver: a transaction is opened, then the input is the
//! message content and whatever follows (dot-stuffing, line endings, BDAT).
#![no_main]
use libfuzzer_sys::fuzz_target;
#[path = "session_driver.rs"]
mod session_driver;

fuzz_target!(|data: &[u8]| {
    let prefix: &[u8] = if data.first().is_some_and(|b| b & 1 == 1) {
        b"EHLO fuzz.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 40\r\n"
    } else {
        b"EHLO fuzz.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    };
    session_driver::drive(prefix, data);
});
