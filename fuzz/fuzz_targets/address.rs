//! The address parsers (MAIL/RCPT arguments, header addresses).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(a) = mxgate::addr::Address::parse(s) {
            // What we store (`<address>`, as the envelope file and the
            // queue keep it) parses back to the same address.
            let stored = match &a {
                mxgate::addr::Address::Null => "<>".to_string(),
                m => format!("<{m}>"),
            };
            let again = mxgate::addr::Address::parse(&stored);
            assert_eq!(again.as_ref().ok(), Some(&a), "{s:?} -> {stored}");
        }
        let _ = mxgate::addr::Mailbox::parse(s);
        let _ = mxgate::addr::Domain::parse(s);
    }
});
