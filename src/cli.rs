//! The command-line tools, as library entry points (testable without a process).
//!
//! Contract: each tool is `fn(args, stdin, out, err) -> exit status`;
//! `main.rs` only picks one by program name and hands it the real streams.

pub mod bundle;
pub mod check;
pub mod health;
pub mod hoststat;
pub mod mailq;
pub mod man;
pub mod queue;
pub mod report;
pub mod status;
pub mod submit;
pub mod tables;
