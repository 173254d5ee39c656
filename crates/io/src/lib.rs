//! The workbench's input and output, below every other crate of it: the name of every file
//! it writes ([`names`]), writes that leave a file complete or absent ([`durable`]), reads of
//! untrusted files within a size budget ([`bounded`]), and lines to standard output that
//! return an error instead of panicking ([`console`]). Nothing here knows about networks or
//! MNIST.

pub mod bounded;
pub mod console;
pub mod durable;
pub mod names;

pub use bounded::{open_regular, read_all_limited, read_limited};
pub use durable::{
    TEMPORARY_SUFFIX, atomic_write, create_folder, remove_stale_temporaries, report_file_size_limit,
};
