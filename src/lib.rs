//! mxgate: a sendmail-style mail gateway.
//!
//! Layers (a module may use only its own layer or lower ones; see
//! `tests/layering.rs`):
//!
//! * L0 `addr`: address syntax, parsed once.
//! * L1 `config` (compiled configuration; the schema lives in `mxgate-m4`),
//!   `table` (lookup tables: LMDB at runtime, text for makemap input),
//!   `site` (a loaded configuration with its classes and tables),
//!   `generation` (one content hash for the configuration and every file
//!   and table it names), `node` (the per-node values of a bundle),
//!   `safefile` (opening paths without following symlinks; ownership and
//!   mode checks, as sendmail's safefile and `postfix check`),
//!   `metrics` (counters, gauges, histograms in the Prometheus text format),
//!   `deadline` (one timer for the many waits of a connection),
//!   `readbuf` (read buffers reused from one connection to the next).
//! * L2 `alias`, `rewrite`, `route`, `policy`: decisions, pure functions of
//!   the site and the facts handed to them. Each returns the rule that
//!   produced it.
//! * L4 `cli`: the command line (`mxgate`, and `makemap`, `newaliases`,
//!   `praliases`, `mailq`, `sendmail` when invoked under those names).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod alias;
pub mod auth;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deadline;
pub mod deliver;
pub mod dns;
pub mod dsn;
pub mod event;
pub mod generation;
pub mod metrics;
pub mod milter;
pub mod node;
pub mod policy;
pub mod proto;
pub mod queue;
pub mod readbuf;
pub mod report;
pub mod rewrite;
pub mod route;
pub mod safefile;
pub mod settings;
pub mod site;
pub mod smtpd;
pub mod spool;
pub mod table;
pub mod testmode;
pub mod tls;
pub mod users;
