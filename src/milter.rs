//! A milter client: sendmail's mail filter protocol, version 6.
//!
//! Contract: [`codec`] is the sans-IO wire format (packets in, responses
//! out); [`filter`] reads a configured `INPUT_MAIL_FILTER` (`S=`, `F=`,
//! `T=`); [`client`] is one async connection to one filter, with the
//! `T=` timeouts, the negotiated skip and no-reply steps and
//! `SMFIR_PROGRESS`. What the answers mean for a session (`F=` rules,
//! replies, header changes) is decided by `smtpd`, which drives the
//! filters at each SMTP stage. See docs/milter.md.

pub mod client;
pub mod codec;
pub mod filter;
