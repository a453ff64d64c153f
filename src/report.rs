//! `mxgate report`: a daily summary of the mail log, like pflogsumm.
//!
//! Contract: sans-IO. [`parse`] turns one line into a typed event,
//! [`tally`] counts events into a [`tally::Summary`], [`render`] prints it
//! as text, JSON or CSV, [`html`] as a page with inline SVG charts (plus
//! queue depth over time from a [`history`] file). Reading files (plain
//! or gzip), the time window and the command line live in `cli::report`. The parser reads mxgate's lines
//! and sendmail 8.17's (any program tag: `mxgate`, `sm-mta`, `sendmail`,
//! with or without `[pid]`); a line it cannot read is counted as unparsed,
//! never an error.

pub mod history;
pub mod html;
pub mod parse;
pub mod render;
pub mod stamp;
pub mod tally;
