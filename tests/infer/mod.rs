//! The tests of `infer`, library and binary. The binary's tests (including `infer serve` over
//! HTTP and in a browser) run the program `cargo test --workspace` builds (see `programs.rs`).

mod common;

mod arbitrary_pictures;
mod browser;
mod browser_train;
mod budgets;
mod cli;
mod committee;
mod convolve;
mod export;
mod failures;
mod import_pytorch;
mod inside_pixel;
mod library_example;
mod pool;
mod reports;
mod saliency;
mod serve;
mod serve_limits;
mod shift_curve;
mod train_here;
