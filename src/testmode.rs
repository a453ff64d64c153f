//! Address-test mode adapters (`mxgate -bt` batch protocol): one JSON
//! probe in, one JSON answer out, per decision area.
//!
//! Contract: each adapter is a pure function of the site and the probe;
//! an `Err` means the probe itself is malformed and names the field.

pub mod route;
