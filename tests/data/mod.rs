//! The tests of the data crate (mnist-data).

mod arbitrary_files;
mod mnist_files;
mod pipeline;
