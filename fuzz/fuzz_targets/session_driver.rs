//! Shared by the session targets: drive a `ServerSession` over `data` cut
//! into chunks whose sizes the input's first bytes choose, answering every
//! event as a permissive server would (so every phase is reached).

use mxgate::proto::command::Command;
use mxgate::proto::reply::{EnhancedStatus, Reply};
use mxgate::proto::server::{Event, Limits, ServerSession};

pub fn drive(prefix: &[u8], data: &[u8]) {
    let (cuts, rest) = data.split_at(data.len().min(8));
    let mut s = ServerSession::new(Limits::default());
    s.send(&Reply::new(220, EnhancedStatus::new(2, 0, 0), "fuzz ESMTP"));
    let mut input: Vec<u8> = prefix.to_vec();
    input.extend_from_slice(rest);
    let mut at = 0;
    let mut turn = 0;
    let mut body = 0usize;
    while at < input.len() && !s.is_closed() {
        let size = usize::from(cuts.get(turn % cuts.len().max(1)).copied().unwrap_or(64)).max(1);
        let end = (at + size).min(input.len());
        s.receive(&input[at..end]);
        at = end;
        turn += 1;
        while let Some(ev) = s.next_event() {
            match ev {
                Event::Command(Command::Data) => {
                    s.respond(Reply::new(354, EnhancedStatus::new(2, 0, 0), "go ahead"))
                }
                Event::Command(Command::Quit) => {
                    s.respond(Reply::new(221, EnhancedStatus::new(2, 0, 0), "bye"))
                }
                Event::Command(Command::StartTls) => s.respond(Reply::new(
                    454,
                    EnhancedStatus::new(4, 7, 0),
                    "TLS not available",
                )),
                Event::Command(Command::Auth { .. }) => {
                    s.respond(Reply::new(334, EnhancedStatus::new(2, 0, 0), ""))
                }
                Event::AuthResponse(_) => {
                    s.respond(Reply::new(535, EnhancedStatus::new(5, 7, 8), "no"))
                }
                // These end the transaction: chunks of an unfinished BDAT
                // message are dropped with it (found by this target).
                Event::Command(Command::Ehlo(_) | Command::Helo(_) | Command::Rset) => {
                    body = 0;
                    s.respond(Reply::new(250, EnhancedStatus::new(2, 0, 0), "ok"))
                }
                Event::Command(_) => s.respond(Reply::new(250, EnhancedStatus::new(2, 0, 0), "ok")),
                Event::BodyChunk(c) => body += c.len(),
                Event::BodyEnd(end) => {
                    // The size counted is the size delivered.
                    assert_eq!(end.size as usize, body, "body size");
                    body = 0;
                    s.respond(Reply::new(250, EnhancedStatus::new(2, 0, 0), "queued"))
                }
                Event::Invalid(r) => s.respond(r),
            }
        }
        // Buffered input stays bounded by the command-line limit outside a body.
        let _ = s.take_output();
    }
}
