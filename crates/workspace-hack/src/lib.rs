//! Empty on purpose: this crate exists for its `Cargo.toml`, which enables in shared
//! dependencies every feature some build of the workspace enables, so that building one
//! package and building the whole workspace compile each dependency the same way, once.
