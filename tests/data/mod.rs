//! The tests of the data crate (mnist-data).

mod arbitrary_files;
mod augmentations;
mod mnist_files;
mod pipeline;
