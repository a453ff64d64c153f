//! The address-test mode (`mxgate test`, `sendmail -bt`).
//!
//! Contract: each adapter (`route`, `policy`) is a pure function of the site
//! and one JSON probe, returning one JSON answer; an `Err` means the probe
//! itself is malformed and names the field. [`run`] holds the two front
//! ends (batch JSON lines and the interactive, explained mode).

pub mod policy;
pub mod route;
pub mod run;
