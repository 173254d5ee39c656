//! The served networks: loading them, one look at an image (the prediction and what every
//! conv layer sees), what a network looks at in it (the saliency and occlusion maps) and what
//! is inside one pixel of its maps: all the API does with a model and an image.

use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use anyhow::Result;
use mnist_data::{IMAGE_PIXELS, translate};
use model::{KernelChoice, ModelSummary};
use serde::Serialize;

use infer::features::{classify_with_feature_maps, first_layer_kernels};
use infer::inside_pixel::{MapPixel, PixelStory, inside_pixel};
use infer::render::FeatureMaps;
use infer::saliency::{Attention, attention};
use infer::{Classifier, DefaultBackend, Prediction};

/// One served network.
pub struct ServedModel {
    /// The name the API and the page use: the run folder's name.
    pub name: String,
    /// The network.
    pub classifier: Classifier<DefaultBackend>,
    /// Its layers, output shapes and parameter counts (a committee's first member's).
    pub summary: ModelSummary,
    /// Its first conv layer's kernels (none for the MLP; a committee's first member's).
    pub kernels: Option<FeatureMaps>,
}

/// One look at an image: the network's input, its prediction, and every conv layer's
/// feature maps when asked for.
#[derive(Debug, Serialize)]
pub struct Look {
    /// The model that looked.
    pub model: String,
    /// The 28x28 input as the network got it (after the shift), 0 = background.
    pub input: Vec<u8>,
    /// The prediction.
    #[serde(flatten)]
    pub prediction: Prediction,
    /// Every conv layer's output (after its ReLU), if asked for.
    pub maps: Vec<FeatureMaps>,
    /// Time spent in the network, milliseconds.
    pub inference_ms: f64,
}

/// What a network looks at in an image: its input, its prediction, and the saliency and
/// occlusion maps of one class.
#[derive(Debug, Serialize)]
pub struct Attended {
    /// The model that looked.
    pub model: String,
    /// The 28x28 input as the network got it (after the shift), 0 = background.
    pub input: Vec<u8>,
    /// The prediction.
    #[serde(flatten)]
    pub prediction: Prediction,
    /// The maps.
    #[serde(flatten)]
    pub attention: Attention,
    /// Time spent in the network (the prediction, the gradients and the occluded images),
    /// milliseconds.
    pub inference_ms: f64,
}

impl ServedModel {
    /// Loads the model in the run folder `path`.
    pub fn load(path: &Path, kernels: Option<KernelChoice>) -> Result<Self> {
        let classifier = Classifier::<DefaultBackend>::load_on(path, Default::default(), kernels)?;
        let folder = if path.is_file() {
            path.parent().unwrap_or(path)
        } else {
            path
        };
        let name = folder
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| classifier.config().kind.to_string());
        Ok(Self::new(name, classifier))
    }

    /// `classifier`, served as `name`.
    pub fn new(name: String, classifier: Classifier<DefaultBackend>) -> Self {
        Self {
            name,
            summary: ModelSummary::of(classifier.network()),
            kernels: first_layer_kernels(&classifier),
            classifier,
        }
    }

    /// Classifies `pixels` (MNIST-style, 0 = background) moved by `shift` pixels (right,
    /// down), with the feature maps if `with_maps`.
    pub fn look(&self, pixels: &[u8; IMAGE_PIXELS], shift: (i32, i32), with_maps: bool) -> Look {
        let input = translate(pixels, shift.0 as isize, shift.1 as isize);
        let started = Instant::now();
        let (prediction, maps) = if with_maps {
            classify_with_feature_maps(&self.classifier, &input)
        } else {
            (
                self.classifier.classify_pixels(&[input]).remove(0),
                Vec::new(),
            )
        };
        Look {
            model: self.name.clone(),
            input: input.to_vec(),
            prediction,
            maps,
            inference_ms: duration_ms(started.elapsed()),
        }
    }
}

impl ServedModel {
    /// What the network looks at in `pixels` (MNIST-style) moved by `shift` pixels, for `class`
    /// (default: the predicted digit).
    pub fn attend(
        &self,
        pixels: &[u8; IMAGE_PIXELS],
        shift: (i32, i32),
        class: Option<u8>,
    ) -> Attended {
        let input = translate(pixels, shift.0 as isize, shift.1 as isize);
        let started = Instant::now();
        let prediction = self.classifier.classify_pixels(&[input]).remove(0);
        let class = class.unwrap_or(prediction.digit);
        let attention = attention(&self.classifier, &input, usize::from(class));
        Attended {
            model: self.name.clone(),
            input: input.to_vec(),
            prediction,
            attention,
            inference_ms: duration_ms(started.elapsed()),
        }
    }
}

impl ServedModel {
    /// Inside `pixel` of a feature map for `pixels` (MNIST-style) moved by `shift` pixels; an
    /// error naming the value out of range.
    pub fn inside(
        &self,
        pixels: &[u8; IMAGE_PIXELS],
        shift: (i32, i32),
        pixel: MapPixel,
    ) -> Result<PixelStory, String> {
        let input = translate(pixels, shift.0 as isize, shift.1 as isize);
        inside_pixel(&self.classifier, &input, pixel)
    }
}

fn duration_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The served models, in order (a model trained from the page joins them when it finishes).
#[derive(Default)]
pub struct ModelList(RwLock<Vec<Arc<ServedModel>>>);

impl ModelList {
    fn list(&self) -> RwLockReadGuard<'_, Vec<Arc<ServedModel>>> {
        // The list is whole whatever a panicking holder did: it is only ever pushed to.
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The models, in order.
    pub fn all(&self) -> Vec<Arc<ServedModel>> {
        self.list().clone()
    }

    /// The model named `name`; the first with no name (or an empty one).
    pub fn find(&self, name: Option<&str>) -> Option<Arc<ServedModel>> {
        let list = self.list();
        match name {
            None | Some("") => list.first().cloned(),
            Some(name) => list.iter().find(|m| m.name == name).cloned(),
        }
    }

    /// Serves `model` too, after the others; a name already served gets a `-2`, `-3`...
    pub fn add(&self, mut model: ServedModel) -> String {
        let mut list = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let base = model.name.clone();
        let mut copy = 1;
        while list.iter().any(|m| m.name == model.name) {
            copy += 1;
            model.name = format!("{base}-{copy}");
        }
        let name = model.name.clone();
        list.push(Arc::new(model));
        name
    }

    /// Whether `name` is a served model's.
    pub fn has_name(&self, name: &str) -> bool {
        self.list().iter().any(|m| m.name == name)
    }

    /// The models' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.list().iter().map(|m| m.name.clone()).collect()
    }
}
