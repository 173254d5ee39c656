//! Everything the server holds: the served models ([`ModelList`]), MNIST's test set for the
//! page's random digits, and the page's training ([`Trainer`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use mnist_data::{LabelledImages, Mnist};

use super::ServeOptions;
use super::models::{ModelList, ServedModel};
use super::train_here::Trainer;

/// Everything the server holds.
pub struct Served {
    /// The models; the first is the default.
    pub models: Arc<ModelList>,
    /// MNIST's test images and labels.
    pub test_set: LabelledImages,
    /// Training from the page.
    pub trainer: Arc<Trainer>,
}

impl Served {
    /// Loads every model of `options` (and the finished runs in `--runs`) and the test set.
    pub fn load(options: &ServeOptions) -> Result<Self> {
        let mut paths = options.models.clone();
        if let Some(runs) = &options.runs {
            paths.extend(finished_runs(runs)?);
        }
        if paths.is_empty() && options.runs.is_none() {
            bail!(
                "no model to serve: pass --model RUN_DIR (repeat it to serve several), or --runs DIR to train one from the page"
            );
        }
        let test_set = Mnist::load_test(&options.data_dir).with_context(|| {
            format!(
                "cannot read MNIST's test set in {} (pass --data DIR)",
                options.data_dir.display()
            )
        })?;
        let models = Arc::new(ModelList::default());
        for path in &paths {
            models.add(ServedModel::load(path, options.kernels)?);
        }
        Ok(Self {
            trainer: Arc::new(Trainer::new(options, Arc::clone(&models))),
            models,
            test_set,
        })
    }

    /// The model named `name` (the first served without one, or with an empty one); while a
    /// training from the page runs, its run's name gives its latest snapshot. `None` for an
    /// unknown name.
    pub fn model(&self, name: Option<&str>) -> Option<Arc<ServedModel>> {
        self.models
            .find(name)
            .or_else(|| self.trainer.live_model(name?))
    }
}

/// The run folders in `runs` whose training finished (they hold a model), in name order.
fn finished_runs(runs: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(runs) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", runs.display())),
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.join(workbench_io::names::REPORT_FILE).is_file())
        .collect();
    folders.sort();
    Ok(folders)
}
