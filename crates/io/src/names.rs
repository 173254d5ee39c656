//! The name of every file and folder the workbench writes, in one place: the model folder
//! (written by training, read by `infer`, the bench and the model crate's users), the training
//! run folder around it, the report folder of `infer eval` and the robustness table of
//! `cargo xtask robustness`. The crate that writes a folder owns its layout; the names live
//! here, the lowest crate all of them share, so that a reader (a test, the bench) never spells
//! a name out again.

// The model folder: what `save_model` writes and `load_model` reads.

/// The weights (Burn's named MessagePack record).
pub const WEIGHTS_FILE: &str = "model.mpk";
/// The architecture description (`ModelConfig`).
pub const MODEL_CONFIG_FILE: &str = "model.json";
/// A committee of networks in a run folder (`training --restarts K --ensemble`): its members'
/// folders, relative to it, whose averaged probabilities are the folder's model.
pub const COMMITTEE_FILE: &str = "committee.json";

// The training run folder: a model folder plus the session's records.

/// The lock a training process holds on its run folder.
pub const LOCK_FILE: &str = ".lock";
/// The session's `TrainConfig`.
pub const TRAIN_CONFIG_FILE: &str = "config.json";
/// The final `TrainingReport`.
pub const REPORT_FILE: &str = "report.json";
/// One run's `RunSummary` (in the run folder, or a restart's folder).
pub const RUN_SUMMARY_FILE: &str = "run.json";
/// Learning curves of a run.
pub const CURVES_FILE: &str = "curves.png";
/// Per-epoch metrics.
pub const METRICS_FILE: &str = "metrics.csv";
/// Folder of Burn's checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The model part of a checkpoint, as Burn's checkpointer names it.
pub const MODEL_PART: &str = "model";
/// The optimizer part of a checkpoint.
pub const OPTIMIZER_PART: &str = "optim";
/// The learning-rate scheduler part of a checkpoint.
pub const SCHEDULER_PART: &str = "scheduler";
/// Every part of a checkpoint.
pub const CHECKPOINT_PARTS: [&str; 3] = [MODEL_PART, OPTIMIZER_PART, SCHEDULER_PART];
/// Extension of Burn's checkpoint files (`NamedMpkFileRecorder`).
pub const CHECKPOINT_EXTENSION: &str = "mpk";

// The report folder of `infer eval`.

/// The folder `infer eval` writes when `--out` is not given.
pub const EVAL_REPORT_DIR: &str = "eval-report";
/// The picture of the confusion matrix.
pub const CONFUSION_FILE: &str = "confusion.png";
/// The picture of the most confident mistakes.
pub const MISTAKES_FILE: &str = "mistakes.png";

// `cargo xtask robustness`.

/// The folder of the robustness runs when `--out` is not given.
pub const ROBUSTNESS_DIR: &str = "runs/robustness";
/// The Markdown table, in that folder.
pub const ROBUSTNESS_TABLE_FILE: &str = "table.md";
