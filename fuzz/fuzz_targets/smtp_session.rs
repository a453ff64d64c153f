//! The SMTP server session (the receive state machine) over arbitrary bytes
//! in arbitrary chunkings.
#![no_main]
use libfuzzer_sys::fuzz_target;
#[path = "session_driver.rs"]
mod session_driver;

fuzz_target!(|data: &[u8]| {
    session_driver::drive(b"", data);
});
