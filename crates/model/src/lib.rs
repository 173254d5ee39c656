//! The MNIST networks of the workbench as Burn modules, generic over the backend:
//!
//! * [`LeNet5`]: conv 5x5 pad 2 -> 6, pool, conv 5x5 -> 16, pool, fc 400-120-84-10 (61,706 parameters);
//! * [`ConvNet`]: conv 5x5 SAME 32, pool, conv 5x5 SAME 64, pool, fc 3136-1024, dropout, fc 10
//!   (3,274,634 parameters);
//! * [`Mlp`]: 784-1200-1200-1200-10 (3,836,410 parameters), the fully connected baseline.
//!
//! Build any of them from a [`ModelConfig`]
//! (`ModelConfig::new().with_kind(ModelKind::Lenet5).init::<B>(&device)`); [`Network`] holds
//! whichever was built.
//!
//! A program that loads a trained model and classifies MNIST images with this crate alone is
//! `examples/classify.rs`, below; the end-to-end test compiles and runs it (so it is not
//! compiled a second time as a doc test):
//!
#![doc = concat!("```rust,ignore\n", include_str!("../examples/classify.rs"), "```")]

pub mod committee;
pub mod convnet;
pub mod init;
pub mod layer_math;
mod layers;
pub mod lenet5;
pub mod mlp;
pub mod network;
pub mod persist;
pub mod scoring;
pub mod summary;
pub mod trace;

pub use committee::{CommitteeScores, load_members, score_committee};
pub use convnet::{CONVNET_CONV_BLOCKS, ConvNet};
pub use init::InitScheme;
pub use layers::ConvBlockShape;
pub use lenet5::{LENET5_CONV_BLOCKS, LeNet5};
pub use mlp::Mlp;
pub use network::{ModelConfig, ModelKind, Network, SCORING_BATCH};
pub use persist::{DurableRecorder, PersistError, load_model, save_model};
pub use scoring::{SetScores, score_set};
pub use summary::{LayerSummary, ModelSummary};
pub use trace::{LayerEvent, LayerObserver, LayerOutput};

pub use custom_kernels::{KernelChoice, PoolKind};
