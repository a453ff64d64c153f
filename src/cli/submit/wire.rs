//! The local submission protocol between `sendmail` (run by an ordinary
//! user) and the daemon's submission socket: frames, sans-IO.
//!
//! Contract: a frame is one tag byte, a 4-byte big-endian length and that
//! many bytes of payload. [`Frame::encode`] writes one; [`decode`] reads
//! one from the front of a buffer (`Ok(None)`: need more bytes) and refuses
//! an unknown tag, a payload over its bound or text that is not UTF-8 with
//! a [`WireError`] *before* the payload is buffered, so a client cannot
//! make the daemon hold more than [`MAX_CHUNK`] bytes per frame. The
//! protocol carries what the caller asked for, never who the caller is:
//! the daemon takes the identity from the kernel (`SO_PEERCRED`); a
//! [`Frame::ClaimedUser`] is only compared with it and logged.
//!
//! ```text
//! client: Hello("mxgate-submit/1") { Sender | FullName | HeaderRecipients | Recipient
//!         | Notify | Ret | EnvId | Body | ClaimedUser }* Message* End
//!         or Hello MailQ(format)
//! daemon: Queued(qid) | Refused(status, text) | Output(bytes)* Exit(status)
//! ```

/// The version string of [`Frame::Hello`].
pub const VERSION: &str = "mxgate-submit/1";

/// The largest payload of a text frame (an address, a name, an option).
pub const MAX_FIELD: usize = 4096;

/// The largest payload of a [`Frame::Message`] or [`Frame::Output`] chunk.
pub const MAX_CHUNK: usize = 64 * 1024;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `H`: the protocol version, first.
    Hello(String),
    /// `f`: `-f`/`-r` as given; the first character is the flag letter.
    Sender(char, String),
    /// `F`: `-F`.
    FullName(String),
    /// `t`: `-t`.
    HeaderRecipients,
    /// `R`: one recipient operand as given (may hold a list).
    Recipient(String),
    /// `N`: `-N`.
    Notify(String),
    /// `T`: `-R` (DSN RET).
    Ret(String),
    /// `V`: `-V`.
    EnvId(String),
    /// `B`: `-B`.
    Body(String),
    /// `u`: the login name the client believes it has (logged when it
    /// differs from the kernel's; never used).
    ClaimedUser(String),
    /// `M`: a chunk of the message (CRLF lines, dots already handled).
    Message(Vec<u8>),
    /// `E`: the message is complete; commit it.
    End,
    /// `Q`: list the queue (`text` or `json`, then the `-q...` selections
    /// given, one per line).
    MailQ(String),
    /// `O` (daemon): committed, with the queue id.
    Queued(String),
    /// `X` (daemon): refused; the sendmail exit status and the reason.
    Refused(i32, String),
    /// `P` (daemon): a chunk of output for standard output.
    Output(Vec<u8>),
    /// `S` (daemon): the exit status after [`Frame::Output`].
    Exit(i32),
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A tag this version does not know.
    #[error("unknown frame tag 0x{0:02x}")]
    UnknownTag(u8),
    /// A payload over its bound.
    #[error("frame {tag:?} of {len} bytes is over the limit of {max}")]
    TooLong {
        /// The tag.
        tag: char,
        /// The announced length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Text that is not UTF-8, or a number that does not parse.
    #[error("frame {0:?}: malformed payload")]
    Malformed(char),
}

impl Frame {
    fn tag(&self) -> u8 {
        match self {
            Frame::Hello(_) => b'H',
            Frame::Sender(..) => b'f',
            Frame::FullName(_) => b'F',
            Frame::HeaderRecipients => b't',
            Frame::Recipient(_) => b'R',
            Frame::Notify(_) => b'N',
            Frame::Ret(_) => b'T',
            Frame::EnvId(_) => b'V',
            Frame::Body(_) => b'B',
            Frame::ClaimedUser(_) => b'u',
            Frame::Message(_) => b'M',
            Frame::End => b'E',
            Frame::MailQ(_) => b'Q',
            Frame::Queued(_) => b'O',
            Frame::Refused(..) => b'X',
            Frame::Output(_) => b'P',
            Frame::Exit(_) => b'S',
        }
    }

    /// The frame's bytes (tag, length, payload).
    pub fn encode(&self) -> Vec<u8> {
        let payload: Vec<u8> = match self {
            Frame::Hello(s)
            | Frame::FullName(s)
            | Frame::Recipient(s)
            | Frame::Notify(s)
            | Frame::Ret(s)
            | Frame::EnvId(s)
            | Frame::Body(s)
            | Frame::ClaimedUser(s)
            | Frame::MailQ(s)
            | Frame::Queued(s) => s.as_bytes().to_vec(),
            Frame::Sender(flag, s) => format!("{flag}{s}").into_bytes(),
            Frame::HeaderRecipients | Frame::End => Vec::new(),
            Frame::Message(b) | Frame::Output(b) => b.clone(),
            Frame::Refused(status, text) => format!("{status} {text}").into_bytes(),
            Frame::Exit(status) => status.to_string().into_bytes(),
        };
        let mut out = Vec::with_capacity(5 + payload.len());
        out.push(self.tag());
        out.extend_from_slice(
            &u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&payload);
        out
    }
}

/// The bound of a tag's payload; `None` for an unknown tag.
fn bound(tag: u8) -> Option<usize> {
    match tag {
        b'M' | b'P' => Some(MAX_CHUNK),
        b'H' | b'f' | b'F' | b't' | b'R' | b'N' | b'T' | b'V' | b'B' | b'u' | b'E' | b'Q'
        | b'O' | b'X' | b'S' => Some(MAX_FIELD),
        _ => None,
    }
}

/// Read one frame from the front of `buf`: `Ok(Some((frame, used)))`, or
/// `Ok(None)` when more bytes are needed. The header alone decides an
/// error, so a bad frame is refused before its payload arrives.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, WireError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let max = bound(tag).ok_or(WireError::UnknownTag(tag))?;
    let Some(len_bytes) = buf.get(1..5) else {
        return Ok(None);
    };
    let mut len4 = [0u8; 4];
    len4.copy_from_slice(len_bytes);
    let len = usize::try_from(u32::from_be_bytes(len4)).unwrap_or(usize::MAX);
    let c = char::from(tag);
    if len > max {
        return Err(WireError::TooLong { tag: c, len, max });
    }
    let Some(payload) = buf.get(5..5 + len) else {
        return Ok(None);
    };
    let text = || {
        std::str::from_utf8(payload)
            .map(str::to_string)
            .map_err(|_| WireError::Malformed(c))
    };
    let frame = match tag {
        b'H' => Frame::Hello(text()?),
        b'f' => {
            let t = text()?;
            let mut chars = t.chars();
            match chars.next() {
                Some(flag @ ('f' | 'r')) => Frame::Sender(flag, chars.as_str().to_string()),
                _ => return Err(WireError::Malformed(c)),
            }
        }
        b'F' => Frame::FullName(text()?),
        b't' => Frame::HeaderRecipients,
        b'R' => Frame::Recipient(text()?),
        b'N' => Frame::Notify(text()?),
        b'T' => Frame::Ret(text()?),
        b'V' => Frame::EnvId(text()?),
        b'B' => Frame::Body(text()?),
        b'u' => Frame::ClaimedUser(text()?),
        b'M' => Frame::Message(payload.to_vec()),
        b'E' => Frame::End,
        b'Q' => Frame::MailQ(text()?),
        b'O' => Frame::Queued(text()?),
        b'X' => {
            let t = text()?;
            let (n, rest) = t.split_once(' ').unwrap_or((t.as_str(), ""));
            let n = n.parse().map_err(|_| WireError::Malformed(c))?;
            Frame::Refused(n, rest.to_string())
        }
        b'P' => Frame::Output(payload.to_vec()),
        b'S' => Frame::Exit(text()?.parse().map_err(|_| WireError::Malformed(c))?),
        _ => return Err(WireError::UnknownTag(tag)),
    };
    Ok(Some((frame, 5 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_frame_round_trips_and_arrives_in_any_chunking() {
        let frames = vec![
            Frame::Hello(VERSION.into()),
            Frame::Sender('r', "a@b".into()),
            Frame::FullName("Joe".into()),
            Frame::HeaderRecipients,
            Frame::Recipient("x, y".into()),
            Frame::Notify("never".into()),
            Frame::Ret("hdrs".into()),
            Frame::EnvId("e1".into()),
            Frame::Body("8bitmime".into()),
            Frame::ClaimedUser("root".into()),
            Frame::Message(b"Subject: s\r\n\r\n\xff\r\n".to_vec()),
            Frame::End,
            Frame::MailQ("json".into()),
            Frame::Queued("6AO0UD000007581".into()),
            Frame::Refused(65, "Message is too large; 5000 bytes max".into()),
            Frame::Output(b"x\n".to_vec()),
            Frame::Exit(0),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        for step in [1, 3, 7, bytes.len()] {
            let (mut buf, mut got) = (Vec::new(), Vec::new());
            for chunk in bytes.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some((f, used)) = decode(&buf).unwrap() {
                    got.push(f);
                    buf.drain(..used);
                }
            }
            assert_eq!(got, frames);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn bad_frames_are_refused_from_the_header() {
        assert_eq!(decode(b"Z\0\0\0\0"), Err(WireError::UnknownTag(b'Z')));
        // the length alone refuses an oversized field, before any payload
        let huge = [b'R', 0, 0, 0x10, 1];
        assert!(matches!(
            decode(&huge),
            Err(WireError::TooLong { max: MAX_FIELD, .. })
        ));
        let chunk = [b'M', 0, 2, 0, 0];
        assert!(matches!(
            decode(&chunk),
            Err(WireError::TooLong { max: MAX_CHUNK, .. })
        ));
        assert_eq!(decode(b"R\0\0\0\x01\xff"), Err(WireError::Malformed('R')));
        assert_eq!(decode(b"f\0\0\0\x02xa"), Err(WireError::Malformed('f')));
        assert_eq!(decode(b"R\0\0"), Ok(None));
    }
}
