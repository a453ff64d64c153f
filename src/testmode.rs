//! Batch test mode: JSON probes in, JSON decisions out, one adapter per
//! decision area. Each adapter parses a probe object, calls the pure
//! decision function and renders its answer; the driver (in the binary)
//! owns reading and writing.

pub mod policy;
