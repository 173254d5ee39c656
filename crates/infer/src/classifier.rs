//! Loading a trained network, or a committee of them, and classifying digits with it.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use custom_kernels::KernelBackend;
use image::DynamicImage;
use mnist_data::{
    CLASSES, IMAGE_PIXELS, IMAGE_SIDE, LabelledImages, MnistDataset, normalize_pixel,
};
use model::committee::{MAX_MEMBERS, mean_probabilities};
use model::scoring::{most_probable, probabilities};
use model::{
    CommitteeScores, KernelChoice, ModelConfig, Network, PersistError, SCORING_BATCH, SetScores,
};
use serde::Serialize;

use crate::picture::PictureError;
use crate::preprocess::mnist_pixels;

/// Why classification could not happen.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The model folder or file is missing, corrupt or of another architecture (the message
    /// names the file and the problem).
    #[error(transparent)]
    Model(#[from] PersistError),
    /// The model path does not exist.
    #[error("model not found: {0} (pass a training run directory or its model.mpk)")]
    ModelNotFound(PathBuf),
    /// The model path is a file other than a model's weights.
    #[error(
        "{0} is a file, not a model: pass a training run directory or its {weights}",
        weights = workbench_io::names::WEIGHTS_FILE
    )]
    NotAModel(PathBuf),
    /// An image file could not be read or decoded.
    #[error("cannot read image {path}: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: PictureError,
    },
    /// The models given make a committee of more networks than [`MAX_MEMBERS`].
    #[error("the models given hold {0} networks, more than a committee takes ({MAX_MEMBERS})")]
    TooManyNetworks(usize),
    /// The picture holds no digit (nothing stands out from the background).
    #[error("{0}: no digit found (nothing stands out from the background)")]
    Blank(String),
}

/// One classification: the digit and the probability of every class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The most probable digit.
    pub digit: u8,
    /// Softmax probabilities of digits 0-9.
    pub probabilities: [f32; CLASSES],
}

impl Prediction {
    /// The `k` most probable digits with their probabilities, most probable first.
    pub fn top(&self, k: usize) -> Vec<(u8, f32)> {
        let mut ranked: Vec<(u8, f32)> = (0u8..).zip(self.probabilities).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(k);
        ranked
    }
}

/// A trained network, or a committee of them, ready to classify 28x28 digits. A committee's
/// prediction is its members' averaged probabilities ([`model::committee`]).
pub struct Classifier<B: KernelBackend> {
    /// At least one.
    members: Vec<Network<B>>,
    /// The first member's.
    config: ModelConfig,
    device: B::Device,
}

impl<B: KernelBackend> Classifier<B> {
    /// Loads the model saved by training: a run directory (`model.json` + `model.mpk`, or a
    /// committee's `committee.json`) or the path of its `model.mpk`. Uses the kernels recorded
    /// with the model.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InferError> {
        Self::load_on(path, Default::default(), None)
    }

    /// Like [`Classifier::load`], on `device`, optionally overriding the layers' implementation
    /// recorded with the model.
    pub fn load_on(
        path: impl AsRef<Path>,
        device: B::Device,
        kernels: Option<KernelChoice>,
    ) -> Result<Self, InferError> {
        Self::load_committee(&[path.as_ref().to_path_buf()], device, kernels)
    }

    /// Loads a committee: every model of `paths` (each as [`Classifier::load`] takes it; a
    /// committee's folder brings all its members), in order, classifying by their averaged
    /// probabilities. One path of one network is that network alone.
    ///
    /// # Panics
    /// If `paths` is empty.
    pub fn load_committee(
        paths: &[PathBuf],
        device: B::Device,
        kernels: Option<KernelChoice>,
    ) -> Result<Self, InferError> {
        assert!(!paths.is_empty(), "a classifier needs a model");
        // A folder brings every network it holds; a `model.mpk` its own only. Counted before
        // anything is loaded.
        let mut folders = Vec::new();
        for path in paths {
            match model_file_dir(path)? {
                None => match model::committee::committee_members(path)? {
                    Some(members) => folders.extend(members),
                    None => folders.push(path.clone()),
                },
                Some(dir) => folders.push(dir),
            }
        }
        if folders.len() > MAX_MEMBERS {
            return Err(InferError::TooManyNetworks(folders.len()));
        }
        let mut members = Vec::new();
        let mut first_config = None;
        for folder in &folders {
            let (network, mut config) = model::load_model::<B>(folder, &device)?;
            {
                let network = match kernels {
                    Some(kernels) if kernels != config.kernels => {
                        config.kernels = kernels;
                        config.init::<B>(&device).load_record(network.into_record())
                    }
                    _ => network,
                };
                first_config.get_or_insert(config);
                members.push(network);
            }
        }
        Ok(Self {
            members,
            config: first_config.expect("every model folder holds a network"),
            device,
        })
    }

    /// `network`, built from `config`, on `device` (a network in memory: a training run's
    /// snapshot).
    pub fn from_network(network: Network<B>, config: ModelConfig, device: B::Device) -> Self {
        Self {
            members: vec![network],
            config,
            device,
        }
    }

    /// The configuration the model was built with (a committee's first member's).
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The network itself (a committee's first member).
    pub fn network(&self) -> &Network<B> {
        &self.members[0]
    }

    /// Every network: one, or a committee's members in order.
    pub fn members(&self) -> &[Network<B>] {
        &self.members
    }

    /// The network's input for MNIST-style images (784 pixels each, row-major, 0 =
    /// background): normalised like the training data, `[n, 1, 28, 28]`.
    pub fn input_tensor(&self, images: &[[u8; IMAGE_PIXELS]]) -> Tensor<B, 4> {
        let values: Vec<f32> = images
            .iter()
            .flatten()
            .map(|&p| normalize_pixel(p))
            .collect();
        Tensor::<B, 4>::from_data(
            TensorData::new(values, [images.len(), 1, IMAGE_SIDE, IMAGE_SIDE]),
            &self.device,
        )
    }

    /// Classifies MNIST-style images: 784 pixels each, row-major, 0 = background.
    pub fn classify_pixels(&self, images: &[[u8; IMAGE_PIXELS]]) -> Vec<Prediction> {
        if images.is_empty() {
            return Vec::new();
        }
        let input = self.input_tensor(images);
        let first = self.members[0].forward(input.clone());
        self.predictions(input, first)
    }

    /// The predictions for `input` given the first member's logits `[n, 10]` (computed by the
    /// caller, who may have observed its layers): the softmax probabilities (a committee's
    /// averaged with its other members') and the most probable digit.
    pub fn predictions(&self, input: Tensor<B, 4>, first_logits: Tensor<B, 2>) -> Vec<Prediction> {
        let mut members = vec![probabilities(first_logits)];
        for network in &self.members[1..] {
            members.push(probabilities(network.forward(input.clone())));
        }
        // One member's mean is its own probabilities, bit for bit.
        mean_probabilities(&members.iter().map(Vec::as_slice).collect::<Vec<_>>())
            .into_iter()
            .map(|probabilities| Prediction {
                digit: most_probable(&probabilities),
                probabilities,
            })
            .collect()
    }

    /// Scores the network (a committee: its averaged probabilities) on every image of a
    /// labelled set ([`model::score_set`]).
    pub fn score_set(&self, set: &LabelledImages) -> SetScores {
        self.score_committee(set).committee
    }

    /// Scores every member and the committee on every image of a labelled set
    /// ([`model::score_committee`]; one network is a committee of one).
    pub fn score_committee(&self, set: &LabelledImages) -> CommitteeScores {
        let dataset = MnistDataset::all(set.clone());
        model::score_committee(&self.members, &dataset, SCORING_BATCH, &self.device)
    }

    /// Classifies a picture of a digit of any size and colour, preprocessed the way MNIST was
    /// made (see [`crate::preprocess`]).
    pub fn classify(&self, picture: &DynamicImage) -> Result<Prediction, InferError> {
        let pixels = mnist_pixels(picture).ok_or_else(|| InferError::Blank("picture".into()))?;
        Ok(self.classify_pixels(&[pixels]).remove(0))
    }

    /// Reads an image file (PNG, JPEG) and classifies it.
    pub fn classify_file(&self, path: &Path) -> Result<Prediction, InferError> {
        Ok(self.classify_pixels(&[read_digit(path)?]).remove(0))
    }
}

/// `None` when `path` is a model folder; the folder of the `model.mpk` it names otherwise.
fn model_file_dir(path: &Path) -> Result<Option<PathBuf>, InferError> {
    if !path.exists() {
        return Err(InferError::ModelNotFound(path.to_path_buf()));
    }
    if path.is_dir() {
        return Ok(None);
    }
    if path.file_name() != Some(workbench_io::names::WEIGHTS_FILE.as_ref()) {
        return Err(InferError::NotAModel(path.to_path_buf()));
    }
    Ok(Some(path.parent().unwrap_or(Path::new(".")).to_path_buf()))
}

/// Reads a picture of a digit (PNG, JPEG; the format is recognised from the content, not the
/// file name) and preprocesses it into MNIST's 28x28 format.
pub fn read_digit(path: &Path) -> Result<[u8; IMAGE_PIXELS], InferError> {
    let error = |source| InferError::Image {
        path: path.to_path_buf(),
        source,
    };
    let picture = crate::picture::read_picture(path).map_err(error)?;
    mnist_pixels(&picture).ok_or_else(|| InferError::Blank(path.display().to_string()))
}
