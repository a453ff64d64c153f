//! The milter wire protocol (version 6), sans-IO.
//!
//! Contract: [`encode`] turns one [`Command`] (MTA → filter) into its
//! packet: a 4-byte big-endian length, the command byte and the data.
//! [`Decoder`] takes the filter's bytes in any chunking and yields
//! [`Response`]s; a packet it cannot read is an [`Error`] (the caller
//! applies the filter's `F=` rule), never a panic. Codes, bit values and
//! field layouts are those of sendmail's libmilter (`mfdef.h`, `mfapi.h`).

/// The protocol version mxgate speaks.
pub const VERSION: u32 = 6;

/// The largest packet a filter may send (sendmail's `MILTER_CHUNK_SIZE`
/// with the 1 MiB data-size extension, plus room for the header).
pub const MAX_PACKET: usize = (1 << 20) + 1024;

/// The largest body chunk sent in one `SMFIC_BODY` (`MILTER_CHUNK_SIZE`).
pub const BODY_CHUNK: usize = 65535;

/// Action bits (`SMFIF_*`): what a filter may do at end of message.
pub mod action {
    /// Add headers (`SMFIF_ADDHDRS`).
    pub const ADDHDRS: u32 = 0x01;
    /// Replace the body (`SMFIF_CHGBODY`).
    pub const CHGBODY: u32 = 0x02;
    /// Add recipients (`SMFIF_ADDRCPT`).
    pub const ADDRCPT: u32 = 0x04;
    /// Delete recipients (`SMFIF_DELRCPT`).
    pub const DELRCPT: u32 = 0x08;
    /// Change or delete headers (`SMFIF_CHGHDRS`).
    pub const CHGHDRS: u32 = 0x10;
    /// Quarantine (`SMFIF_QUARANTINE`).
    pub const QUARANTINE: u32 = 0x20;
    /// Change the sender (`SMFIF_CHGFROM`).
    pub const CHGFROM: u32 = 0x40;
    /// Add recipients with ESMTP arguments (`SMFIF_ADDRCPT_PAR`).
    pub const ADDRCPT_PAR: u32 = 0x80;
    /// Ask for macro lists (`SMFIF_SETSYMLIST`).
    pub const SETSYMLIST: u32 = 0x100;
    /// What mxgate offers: every action of protocol version 6, as
    /// sendmail 8.17 (`SMFI_CURR_ACTS`).
    pub const OFFERED: u32 = ADDHDRS
        | CHGBODY
        | ADDRCPT
        | DELRCPT
        | CHGHDRS
        | QUARANTINE
        | CHGFROM
        | ADDRCPT_PAR
        | SETSYMLIST;
}

/// Protocol-step bits (`SMFIP_*`): steps a filter does not want
/// (`NO*`) or will not answer (`NR_*`).
pub mod step {
    /// No connect info (`SMFIP_NOCONNECT`).
    pub const NOCONNECT: u32 = 0x01;
    /// No HELO (`SMFIP_NOHELO`).
    pub const NOHELO: u32 = 0x02;
    /// No MAIL (`SMFIP_NOMAIL`).
    pub const NOMAIL: u32 = 0x04;
    /// No RCPT (`SMFIP_NORCPT`).
    pub const NORCPT: u32 = 0x08;
    /// No body (`SMFIP_NOBODY`).
    pub const NOBODY: u32 = 0x10;
    /// No headers (`SMFIP_NOHDRS`).
    pub const NOHDRS: u32 = 0x20;
    /// No end of headers (`SMFIP_NOEOH`).
    pub const NOEOH: u32 = 0x40;
    /// No reply to headers (`SMFIP_NR_HDR`, also `SMFIP_NOHREPL`).
    pub const NR_HDR: u32 = 0x80;
    /// No unknown commands (`SMFIP_NOUNKNOWN`).
    pub const NOUNKNOWN: u32 = 0x100;
    /// No DATA (`SMFIP_NODATA`).
    pub const NODATA: u32 = 0x200;
    /// The MTA understands `SMFIR_SKIP` (`SMFIP_SKIP`).
    pub const SKIP: u32 = 0x400;
    /// Rejected recipients are sent too (`SMFIP_RCPT_REJ`; not offered).
    pub const RCPT_REJ: u32 = 0x800;
    /// No reply to connect (`SMFIP_NR_CONN`).
    pub const NR_CONN: u32 = 0x1000;
    /// No reply to HELO (`SMFIP_NR_HELO`).
    pub const NR_HELO: u32 = 0x2000;
    /// No reply to MAIL (`SMFIP_NR_MAIL`).
    pub const NR_MAIL: u32 = 0x4000;
    /// No reply to RCPT (`SMFIP_NR_RCPT`).
    pub const NR_RCPT: u32 = 0x8000;
    /// No reply to DATA (`SMFIP_NR_DATA`).
    pub const NR_DATA: u32 = 0x10000;
    /// No reply to unknown commands (`SMFIP_NR_UNKN`).
    pub const NR_UNKN: u32 = 0x20000;
    /// No reply to end of headers (`SMFIP_NR_EOH`).
    pub const NR_EOH: u32 = 0x40000;
    /// No reply to body chunks (`SMFIP_NR_BODY`).
    pub const NR_BODY: u32 = 0x80000;
    /// Header values keep their leading space (`SMFIP_HDR_LEADSPC`).
    pub const HDR_LEADSPC: u32 = 0x100000;
    /// What mxgate offers: every skip and no-reply step, and `SKIP`
    /// (not `RCPT_REJ`, the larger data sizes or `HDR_LEADSPC`).
    pub const OFFERED: u32 = NOCONNECT
        | NOHELO
        | NOMAIL
        | NORCPT
        | NOBODY
        | NOHDRS
        | NOEOH
        | NR_HDR
        | NOUNKNOWN
        | NODATA
        | SKIP
        | NR_CONN
        | NR_HELO
        | NR_MAIL
        | NR_RCPT
        | NR_DATA
        | NR_UNKN
        | NR_EOH
        | NR_BODY;
}

/// The client's address family in `SMFIC_CONNECT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Unknown (`U`): no port or address follow.
    Unknown,
    /// A local socket (`L`).
    Local,
    /// IPv4 (`4`).
    Inet,
    /// IPv6 (`6`).
    Inet6,
}

/// A stage for `SMFIC_MACRO`: the command the macros come before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before `SMFIC_CONNECT`.
    Connect,
    /// Before `SMFIC_HELO`.
    Helo,
    /// Before `SMFIC_MAIL`.
    Mail,
    /// Before `SMFIC_RCPT`.
    Rcpt,
    /// Before `SMFIC_DATA`.
    Data,
    /// Before `SMFIC_EOH`.
    Eoh,
    /// Before `SMFIC_BODYEOB`.
    Eom,
}

impl Stage {
    /// The stages in `SMFIM_*` order (`SMFIM_CONNECT` 0 ... `SMFIM_EOM` 5,
    /// `SMFIM_EOH` 6): the numbers of a filter's macro lists.
    pub const SMFIM: [Stage; 7] = [
        Stage::Connect,
        Stage::Helo,
        Stage::Mail,
        Stage::Rcpt,
        Stage::Data,
        Stage::Eom,
        Stage::Eoh,
    ];

    /// This stage's `SMFIM_*` number.
    pub fn smfim(self) -> usize {
        Stage::SMFIM.iter().position(|s| *s == self).unwrap_or(0)
    }

    fn code(self) -> u8 {
        match self {
            Stage::Connect => b'C',
            Stage::Helo => b'H',
            Stage::Mail => b'M',
            Stage::Rcpt => b'R',
            Stage::Data => b'T',
            Stage::Eoh => b'N',
            Stage::Eom => b'E',
        }
    }
}

/// `j, _, {daemon_name}` (commas or spaces between names) → the names
/// without braces.
pub fn parse_macro_list(list: &str) -> Vec<String> {
    list.split([',', ' ', '\t'])
        .map(|n| n.trim().trim_start_matches('{').trim_end_matches('}'))
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// One command from the MTA to a filter (`SMFIC_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `SMFIC_OPTNEG` (`O`): version, offered actions and steps.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// `SMFIF_*` bits.
        actions: u32,
        /// `SMFIP_*` bits.
        protocol: u32,
    },
    /// `SMFIC_MACRO` (`D`): macros for the next command; a one-letter
    /// name is sent bare (`j`), a longer one in braces (`{daemon_name}`).
    Macro(Stage, &'a [(String, String)]),
    /// `SMFIC_CONNECT` (`C`).
    Connect {
        /// The client's host name (or `[ip]`).
        hostname: &'a str,
        /// Address family.
        family: Family,
        /// Port (not sent for `Unknown`).
        port: u16,
        /// The address, or the socket path for `Local`.
        address: &'a str,
    },
    /// `SMFIC_HELO` (`H`).
    Helo(&'a str),
    /// `SMFIC_MAIL` (`M`): `<sender>` then ESMTP arguments.
    Mail(&'a [String]),
    /// `SMFIC_RCPT` (`R`): `<recipient>` then ESMTP arguments.
    Rcpt(&'a [String]),
    /// `SMFIC_DATA` (`T`).
    Data,
    /// `SMFIC_HEADER` (`L`).
    Header {
        /// Field name.
        name: &'a str,
        /// Field value.
        value: &'a str,
    },
    /// `SMFIC_EOH` (`N`).
    Eoh,
    /// `SMFIC_BODY` (`B`): at most [`BODY_CHUNK`] bytes.
    Body(&'a [u8]),
    /// `SMFIC_BODYEOB` (`E`).
    BodyEob,
    /// `SMFIC_ABORT` (`A`).
    Abort,
    /// `SMFIC_QUIT` (`Q`).
    Quit,
    /// `SMFIC_UNKNOWN` (`U`): an SMTP command the MTA does not know.
    Unknown(&'a str),
}

/// One packet, framed: length, command byte, data.
pub fn encode(cmd: &Command<'_>) -> Vec<u8> {
    let mut data = Vec::new();
    let code = match cmd {
        Command::OptNeg {
            version,
            actions,
            protocol,
        } => {
            data.extend_from_slice(&version.to_be_bytes());
            data.extend_from_slice(&actions.to_be_bytes());
            data.extend_from_slice(&protocol.to_be_bytes());
            b'O'
        }
        Command::Macro(stage, pairs) => {
            data.push(stage.code());
            for (name, value) in pairs.iter() {
                if name.chars().count() == 1 {
                    cstr(&mut data, name);
                } else {
                    cstr(&mut data, &format!("{{{name}}}"));
                }
                cstr(&mut data, value);
            }
            b'D'
        }
        Command::Connect {
            hostname,
            family,
            port,
            address,
        } => {
            cstr(&mut data, hostname);
            data.push(match family {
                Family::Unknown => b'U',
                Family::Local => b'L',
                Family::Inet => b'4',
                Family::Inet6 => b'6',
            });
            if *family != Family::Unknown {
                data.extend_from_slice(&port.to_be_bytes());
                cstr(&mut data, address);
            }
            b'C'
        }
        Command::Helo(name) => {
            cstr(&mut data, name);
            b'H'
        }
        Command::Mail(args) | Command::Rcpt(args) => {
            for a in args.iter() {
                cstr(&mut data, a);
            }
            if matches!(cmd, Command::Mail(_)) {
                b'M'
            } else {
                b'R'
            }
        }
        Command::Data => b'T',
        Command::Header { name, value } => {
            cstr(&mut data, name);
            cstr(&mut data, value);
            b'L'
        }
        Command::Eoh => b'N',
        Command::Body(chunk) => {
            data.extend_from_slice(chunk);
            b'B'
        }
        Command::BodyEob => b'E',
        Command::Abort => b'A',
        Command::Quit => b'Q',
        Command::Unknown(line) => {
            cstr(&mut data, line);
            b'U'
        }
    };
    let mut out = Vec::with_capacity(data.len() + 5);
    // Commands are built from bounded parts (body chunks of 64 KiB, SMTP
    // lines); a length over u32 cannot occur, and saturating keeps it total.
    let len = u32::try_from(data.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(code);
    out.extend_from_slice(&data);
    out
}

/// A NUL-terminated string; a NUL inside is dropped (it would end the field).
fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend(s.bytes().filter(|b| *b != 0));
    out.push(0);
}

/// One reply or action from a filter (`SMFIR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `SMFIC_OPTNEG` answered: the filter's version, wanted actions and steps.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// `SMFIF_*` bits the filter wants.
        actions: u32,
        /// `SMFIP_*` bits the filter asks for.
        protocol: u32,
        /// The macro lists the filter asks for (`SMFIF_SETSYMLIST`): per
        /// `SMFIM_*` stage number, the names as it wrote them (`{rcpt_addr}
        /// i`).
        symlists: Vec<(u32, String)>,
    },
    /// `SMFIR_CONTINUE` (`c`).
    Continue,
    /// `SMFIR_ACCEPT` (`a`): no more of this filter for the message.
    Accept,
    /// `SMFIR_REJECT` (`r`).
    Reject,
    /// `SMFIR_TEMPFAIL` (`t`).
    TempFail,
    /// `SMFIR_DISCARD` (`d`).
    Discard,
    /// `SMFIR_REPLYCODE` (`y`): a full SMTP reply text.
    ReplyCode(String),
    /// `SMFIR_SKIP` (`s`): no more body chunks.
    Skip,
    /// `SMFIR_PROGRESS` (`p`): still working, restart the timeout.
    Progress,
    /// `SMFIR_ADDHEADER` (`h`).
    AddHeader {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// `SMFIR_INSHEADER` (`i`): insert at `index` (0 = first).
    InsHeader {
        /// Position among the headers.
        index: u32,
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// `SMFIR_CHGHEADER` (`m`): the `index`-th field of that name (from
    /// 1); an empty value deletes it.
    ChgHeader {
        /// Occurrence, from 1.
        index: u32,
        /// Field name.
        name: String,
        /// New value (empty: delete).
        value: String,
    },
    /// `SMFIR_QUARANTINE` (`q`) with its reason.
    Quarantine(String),
    /// `SMFIR_CHGFROM` (`e`): the new sender and, optionally, its ESMTP
    /// arguments (`SIZE=... RET=...`).
    ChgFrom {
        /// The sender as the filter wrote it (`<a@b>` or `a@b`).
        sender: String,
        /// ESMTP arguments, space separated.
        args: Option<String>,
    },
    /// `SMFIR_ADDRCPT` (`+`), or `SMFIR_ADDRCPT_PAR` (`2`) with arguments.
    AddRcpt {
        /// The recipient as the filter wrote it.
        rcpt: String,
        /// ESMTP arguments (`NOTIFY=...`), `SMFIR_ADDRCPT_PAR` only.
        args: Option<String>,
    },
    /// `SMFIR_DELRCPT` (`-`): a recipient as given in RCPT.
    DelRcpt(String),
    /// `SMFIR_REPLBODY` (`b`): one chunk of the new body (several chunks
    /// concatenate).
    ReplBody(Vec<u8>),
    /// An action mxgate did not offer or does not know
    /// (`SMFIR_SETSYMLIST`, ...): the filter broke the negotiation.
    NotOffered(u8),
}

impl Response {
    /// Does this response end the filter's answer to a command?
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Response::OptNeg { .. }
                | Response::Continue
                | Response::Accept
                | Response::Reject
                | Response::TempFail
                | Response::Discard
                | Response::ReplyCode(_)
                | Response::Skip
        )
    }
}

/// A filter's bytes that are not the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A length of 0 or over [`MAX_PACKET`].
    #[error("packet length {0} out of range")]
    Length(u32),
    /// The packet's data does not fit its command.
    #[error("malformed {0:?} packet")]
    Malformed(char),
}

/// Reassembles the filter's packets from any chunking.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Take bytes read from the filter.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete response, `Ok(None)` when more bytes are needed.
    pub fn next_response(&mut self) -> Result<Option<Response>, Error> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let n = len as usize;
        if n == 0 || n > MAX_PACKET {
            return Err(Error::Length(len));
        }
        let Some(packet) = self.buf.get(4..4 + n) else {
            return Ok(None);
        };
        let code = packet[0];
        let r = parse(code, &packet[1..]);
        self.buf.drain(..4 + n);
        r.map(Some)
    }
}

/// The macro lists after the three words of an option negotiation, as
/// sendmail's `milter_getsymlist` reads them: a 4-byte stage number and a
/// NUL-terminated list, while more than 4 bytes are left; a stage number
/// out of range ends the reading (the lists before it stand).
fn symlists(mut rest: &[u8]) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    while rest.len() > 4 {
        let stage = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if stage as usize >= Stage::SMFIM.len() {
            break;
        }
        let text = &rest[4..];
        let len = text.iter().position(|b| *b == 0).unwrap_or(text.len());
        out.push((stage, String::from_utf8_lossy(&text[..len]).into_owned()));
        rest = text.get(len + 1..).unwrap_or_default();
    }
    out
}

fn parse(code: u8, data: &[u8]) -> Result<Response, Error> {
    let bad = || Error::Malformed(code as char);
    let no_data = |r: Response| if data.is_empty() { Ok(r) } else { Err(bad()) };
    match code {
        b'O' => {
            let w = |i: usize| {
                data.get(i..i + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(bad)
            };
            Ok(Response::OptNeg {
                version: w(0)?,
                actions: w(4)?,
                protocol: w(8)?,
                symlists: symlists(data.get(12..).unwrap_or_default()),
            })
        }
        b'c' => no_data(Response::Continue),
        b'a' => no_data(Response::Accept),
        b'r' => no_data(Response::Reject),
        b't' => no_data(Response::TempFail),
        b'd' => no_data(Response::Discard),
        b's' => no_data(Response::Skip),
        b'p' => no_data(Response::Progress),
        b'y' => {
            let [text] = strings::<1>(data).ok_or_else(bad)?;
            Ok(Response::ReplyCode(text))
        }
        b'q' => {
            let [reason] = strings::<1>(data).ok_or_else(bad)?;
            Ok(Response::Quarantine(reason))
        }
        b'h' => {
            let [name, value] = strings::<2>(data).ok_or_else(bad)?;
            Ok(Response::AddHeader { name, value })
        }
        b'i' | b'm' => {
            let index = data
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(bad)?;
            let [name, value] = strings::<2>(&data[4..]).ok_or_else(bad)?;
            if name.is_empty() {
                return Err(bad());
            }
            Ok(if code == b'i' {
                Response::InsHeader { index, name, value }
            } else {
                Response::ChgHeader { index, name, value }
            })
        }
        b'e' | b'2' => {
            // One string, or two (the address and its ESMTP arguments).
            let (first, args) = match strings::<2>(data) {
                Some([a, b]) => (a, Some(b)),
                None => {
                    let [a] = strings::<1>(data).ok_or_else(bad)?;
                    (a, None)
                }
            };
            if first.is_empty() {
                return Err(bad());
            }
            let args = args.filter(|a| !a.is_empty());
            Ok(if code == b'e' {
                Response::ChgFrom {
                    sender: first,
                    args,
                }
            } else {
                Response::AddRcpt { rcpt: first, args }
            })
        }
        b'+' | b'-' => {
            let [addr] = strings::<1>(data).ok_or_else(bad)?;
            if addr.is_empty() {
                return Err(bad());
            }
            Ok(if code == b'+' {
                Response::AddRcpt {
                    rcpt: addr,
                    args: None,
                }
            } else {
                Response::DelRcpt(addr)
            })
        }
        b'b' => Ok(Response::ReplBody(data.to_vec())),
        other => Ok(Response::NotOffered(other)),
    }
}

/// Exactly `N` NUL-terminated strings filling `data` (lossy UTF-8).
fn strings<const N: usize>(data: &[u8]) -> Option<[String; N]> {
    let mut parts = data.split(|b| *b == 0);
    let out: [String; N] = std::array::from_fn(|_| {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default()
    });
    // `data` ends with a NUL: the split leaves exactly one empty tail.
    let fields = data.iter().filter(|b| **b == 0).count();
    (fields == N && data.last() == Some(&0)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, data: &[u8]) -> Vec<u8> {
        let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(code);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn optneg_is_version_actions_steps() {
        let p = encode(&Command::OptNeg {
            version: VERSION,
            actions: action::OFFERED,
            protocol: step::OFFERED,
        });
        assert_eq!(&p[..5], &[0, 0, 0, 13, b'O']);
        assert_eq!(&p[5..9], &[0, 0, 0, 6]);
        // sendmail 8.17's SMFI_CURR_ACTS: the eight actions and SETSYMLIST.
        assert_eq!(&p[9..13], &[0, 0, 0x01, 0xFF]);
        assert_eq!(u32::from_be_bytes([p[13], p[14], p[15], p[16]]), 0xF_F7FF);
    }

    #[test]
    fn macros_brace_long_names() {
        let m = vec![
            ("j".to_string(), "mx.example".to_string()),
            ("daemon_name".to_string(), "MTA".to_string()),
        ];
        let p = encode(&Command::Macro(Stage::Connect, &m));
        assert_eq!(&p[4..], b"DCj\0mx.example\0{daemon_name}\0MTA\0");
    }

    #[test]
    fn connect_carries_family_port_address() {
        let p = encode(&Command::Connect {
            hostname: "client.example",
            family: Family::Inet,
            port: 25,
            address: "192.0.2.1",
        });
        assert_eq!(&p[4..], b"Cclient.example\0\x34\0\x19192.0.2.1\0");
        let p = encode(&Command::Connect {
            hostname: "localhost",
            family: Family::Unknown,
            port: 0,
            address: "",
        });
        assert_eq!(&p[4..], b"Clocalhost\0U");
    }

    #[test]
    fn mail_and_rcpt_send_their_arguments() {
        let args = vec!["<a@b.example>".to_string(), "SIZE=10".to_string()];
        assert_eq!(
            &encode(&Command::Mail(&args))[4..],
            b"M<a@b.example>\0SIZE=10\0"
        );
        assert_eq!(
            &encode(&Command::Rcpt(&args[..1]))[4..],
            b"R<a@b.example>\0"
        );
        assert_eq!(
            &encode(&Command::Header {
                name: "Subject",
                value: "hi"
            })[4..],
            b"LSubject\0hi\0"
        );
        assert_eq!(encode(&Command::Body(b"x\r\n")), packet(b'B', b"x\r\n"));
        for (c, b) in [
            (Command::Eoh, b'N'),
            (Command::BodyEob, b'E'),
            (Command::Abort, b'A'),
            (Command::Quit, b'Q'),
            (Command::Data, b'T'),
        ] {
            assert_eq!(encode(&c), packet(b, b""));
        }
    }

    #[test]
    fn decoder_takes_any_chunking() {
        let mut all = packet(b'h', b"X-Scanned\0yes\0");
        all.extend(packet(b'c', b""));
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in &all {
            d.receive(std::slice::from_ref(b));
            while let Some(r) = d.next_response().unwrap() {
                got.push(r);
            }
        }
        assert_eq!(
            got,
            vec![
                Response::AddHeader {
                    name: "X-Scanned".into(),
                    value: "yes".into()
                },
                Response::Continue
            ]
        );
    }

    #[test]
    fn header_changes_and_replies() {
        let mut d = Decoder::new();
        d.receive(&packet(b'm', b"\0\0\0\x01Subject\0\0"));
        d.receive(&packet(b'i', b"\0\0\0\0X-First\0v\0"));
        d.receive(&packet(b'y', b"550 5.7.0 no thanks\0"));
        d.receive(&packet(b'q', b"virus\0"));
        d.receive(&packet(b'l', b"\0\0\0\x01j\0"));
        d.receive(&packet(
            b'O',
            &[0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0x10, 1, 2, 3],
        ));
        let mut got = Vec::new();
        while let Some(r) = d.next_response().unwrap() {
            got.push(r);
        }
        assert_eq!(
            got,
            vec![
                Response::ChgHeader {
                    index: 1,
                    name: "Subject".into(),
                    value: String::new()
                },
                Response::InsHeader {
                    index: 0,
                    name: "X-First".into(),
                    value: "v".into()
                },
                Response::ReplyCode("550 5.7.0 no thanks".into()),
                Response::Quarantine("virus".into()),
                Response::NotOffered(b'l'),
                Response::OptNeg {
                    version: 6,
                    actions: 1,
                    protocol: 0x10,
                    symlists: vec![],
                },
            ]
        );
    }

    #[test]
    fn macro_lists_after_the_negotiation() {
        // As libmilter's smfi_setsymlist sends them: stage, list, NUL.
        let mut data = vec![0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0, 0, 0];
        data.extend(b"\0\0\0\x03{rcpt_addr} i\0");
        data.extend(b"\0\0\0\x06{eoh_macro}\0");
        // A stage number past SMFIM_EOH ends the lists.
        data.extend(b"\0\0\0\x07x\0\0\0\0\x00j\0");
        let mut d = Decoder::new();
        d.receive(&packet(b'O', &data));
        assert_eq!(
            d.next_response().unwrap(),
            Some(Response::OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0,
                symlists: vec![(3, "{rcpt_addr} i".into()), (6, "{eoh_macro}".into())],
            })
        );
        // A list without its NUL runs to the end.
        assert_eq!(
            symlists(b"\0\0\0\x01{cipher}"),
            vec![(1, "{cipher}".into())]
        );
        assert_eq!(Stage::Eom.smfim(), 5);
        assert_eq!(Stage::Eoh.smfim(), 6);
    }

    #[test]
    fn envelope_and_body_actions() {
        let mut d = Decoder::new();
        d.receive(&packet(b'e', b"<new@example.org>\0"));
        d.receive(&packet(b'e', b"<new@example.org>\0RET=HDRS ENVID=x\0"));
        d.receive(&packet(b'+', b"<add@example.com>\0"));
        d.receive(&packet(b'2', b"<par@example.com>\0NOTIFY=NEVER\0"));
        d.receive(&packet(b'-', b"alice@example.com\0"));
        d.receive(&packet(b'b', b"new body\r\n"));
        let mut got = Vec::new();
        while let Some(r) = d.next_response().unwrap() {
            got.push(r);
        }
        assert_eq!(
            got,
            vec![
                Response::ChgFrom {
                    sender: "<new@example.org>".into(),
                    args: None
                },
                Response::ChgFrom {
                    sender: "<new@example.org>".into(),
                    args: Some("RET=HDRS ENVID=x".into())
                },
                Response::AddRcpt {
                    rcpt: "<add@example.com>".into(),
                    args: None
                },
                Response::AddRcpt {
                    rcpt: "<par@example.com>".into(),
                    args: Some("NOTIFY=NEVER".into())
                },
                Response::DelRcpt("alice@example.com".into()),
                Response::ReplBody(b"new body\r\n".to_vec()),
            ]
        );
        for (code, data) in [(b'e', &b"\0"[..]), (b'+', b"no nul"), (b'-', b"a\0b\0")] {
            let mut d = Decoder::new();
            d.receive(&packet(code, data));
            assert_eq!(d.next_response(), Err(Error::Malformed(code as char)));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = Decoder::new();
        d.receive(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(matches!(d.next_response(), Err(Error::Length(_))));
        let mut d = Decoder::new();
        d.receive(&[0, 0, 0, 0]);
        assert_eq!(d.next_response(), Err(Error::Length(0)));
        for (code, data) in [
            (b'c', &b"x"[..]),
            (b'h', b"only-name\0"),
            (b'm', b"\0\0"),
            (b'O', b"\0\0\0\x06"),
            (b'y', b"no nul"),
        ] {
            let mut d = Decoder::new();
            d.receive(&packet(code, data));
            assert_eq!(
                d.next_response(),
                Err(Error::Malformed(code as char)),
                "{}",
                code as char
            );
        }
    }
}
