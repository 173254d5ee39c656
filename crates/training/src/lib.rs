//! Training the MNIST networks with Burn's `Learner`: Adam, RMSProp or SGD with momentum,
//! learning-rate schedules, early stopping, random restarts, atomic checkpoints with resume,
//! per-epoch metrics, learning curves and a final report. Generic over the autodiff backend;
//! the binary runs on ndarray (CPU) or wgpu (GPU), chosen with `--backend`.

pub mod args;
pub mod backend;
pub mod config;
pub mod epoch_clock;
pub mod epoch_loader;
pub mod epoch_log;
pub mod evaluate;
pub mod learner_model;
pub mod optimizer;
pub mod plot;
pub mod quiet_renderer;
pub mod recorder;
pub mod report;
pub mod run;
pub mod run_folder;
pub mod score_metrics;
pub mod session;
pub mod step_scores;
pub mod stop;
pub mod strategies;
pub mod watch;

pub use args::TrainArgs;
pub use config::TrainConfig;
pub use report::TrainingReport;
pub use session::{SessionOptions, run_on_backend, run_session};
