//! The SMTP client session (our delivery side) fed arbitrary server bytes:
//! the reply parser and the client state machine.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mxgate::proto::client::{ClientSession, Mode, Settings, TlsWish};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut c = ClientSession::new(Settings {
        mode: match mode % 3 {
            0 => Mode::Esmtp,
            1 => Mode::Smtp,
            _ => Mode::Lmtp,
        },
        helo_name: "fuzz.example".into(),
        tls: TlsWish::Opportunistic,
        auth: None,
    });
    for chunk in rest.chunks(usize::from(mode % 17) + 1) {
        c.receive(chunk);
        while c.next_event().is_some() {}
        let _ = c.take_output();
    }
});
