//! The SMTP protocol core, sans I/O: bytes in, commands and replies out.
//!
//! Contract: nothing here touches a socket, a clock or a table. Command
//! grammar is [`command`], replies are [`reply`]. The server and client
//! sessions that use them come with the SMTP daemon and delivery agent.

pub mod client;
pub mod command;
pub mod reply;
pub mod server;
