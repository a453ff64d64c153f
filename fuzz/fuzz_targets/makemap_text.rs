//! makemap's text-table parser, with the option combinations makemap has.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxgate::table::text::{ParseOptions, parse};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else { return };
    let mut o = ParseOptions::default();
    if flags & 1 == 1 {
        o.delimiter = Some(b':');
    }
    if flags & 2 == 2 {
        o.comment = b'%';
    }
    let (records, diags) = parse(text, &o);
    for r in &records {
        assert!(r.line >= 1);
    }
    for d in &diags {
        assert!(d.line >= 1);
    }
});
