//! Inference with the trained MNIST networks (library and `infer` command line).
//!
//! This crate is a placeholder in the workspace: prediction on PNG/IDX files, evaluation
//! reports and the other subcommands are the subject of a later change. A trained model can
//! already be loaded with the `model` crate alone: `model::load_model::<B>(run_dir, &device)`.
