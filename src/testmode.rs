//! The address-test mode: probe adapters (JSON in, decision out) and the front ends.

pub mod policy;
