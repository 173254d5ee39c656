//! The benchmark cases: each conv block of LeNet-5 and of the 32/64 ConvNet at several batch
//! sizes (forward, forward + backward), a full training step of each network, and inference
//! throughput and latency; every case timed with the custom kernels and with Burn's own ops,
//! and, with a peer, by the peer right after (each case is described to the peer by a
//! [`PeerCase`], so the case list lives here only).

use anyhow::Result;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use custom_kernels::cpu::ConvGeometry;
use custom_kernels::{FusedAdamConfig, KernelChoice, conv2d_pool, cross_entropy};
use mnist_data::{CLASSES, IMAGE_SIDE};
use model::{ConvBlockShape, ModelConfig, ModelKind, Network};
use serde::Serialize;
use training::backend::TrainingBackendBounds;

use super::timing::{Repeats, Timing, time};

/// A conv block of one of the networks (conv + bias + ReLU, then the pool), as the model crate
/// defines it, named `network.conv` (e.g. `lenet5.conv2`).
struct ConvBlock {
    name: String,
    shape: ConvBlockShape,
}

/// Every conv block of the networks, in the order of [`ModelKind::ALL`].
fn conv_blocks() -> Vec<ConvBlock> {
    ModelKind::ALL
        .into_iter()
        .flat_map(|kind| {
            kind.conv_blocks().iter().map(move |&shape| ConvBlock {
                name: format!("{kind}.{}", shape.conv),
                shape,
            })
        })
        .collect()
}

/// How the ndarray backend's custom kernels compute each conv block on this CPU, e.g.
/// `direct AVX2`, as one line (the distinct paths, each with its blocks when they differ).
pub fn cpu_conv_paths() -> String {
    let mut paths: Vec<(String, Vec<String>)> = Vec::new();
    for block in conv_blocks() {
        let path = block.geometry(1).path().to_string();
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, names)) => names.push(block.name),
            None => paths.push((path, vec![block.name])),
        }
    }
    match paths.as_slice() {
        [(path, _)] => path.clone(),
        _ => paths
            .iter()
            .map(|(path, names)| format!("{path} ({})", names.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

impl ConvBlock {
    /// The block's input `[n, c, h, w]` at batch `n`.
    fn input_dims(&self, n: usize) -> [usize; 4] {
        let s = &self.shape;
        [n, s.in_channels, s.input_side, s.input_side]
    }

    /// The conv's weights `[k, c, kh, kw]`.
    fn weight_dims(&self) -> [usize; 4] {
        let s = &self.shape;
        [s.filters, s.in_channels, s.kernel, s.kernel]
    }

    /// How the CPU kernels see the conv at batch `n`.
    fn geometry(&self, n: usize) -> ConvGeometry {
        ConvGeometry::new(
            self.input_dims(n),
            self.weight_dims(),
            self.shape.conv_spec(),
        )
    }

    /// The block is a network's first layer: training needs no gradient w.r.t. its input.
    fn is_first(&self) -> bool {
        self.shape.in_channels == 1
    }
}

/// What a case measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// conv + bias + ReLU + pool, no autodiff.
    Forward,
    /// The same on the autodiff backend, then the backward pass (weight and bias gradients,
    /// and the input gradient unless the block is a network's first layer).
    ForwardBackward,
    /// Forward, loss, backward and Adam update of a whole network.
    TrainStep,
    /// Classifying a batch with a whole network.
    Inference,
}

impl Pass {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Pass::Forward => "fwd",
            Pass::ForwardBackward => "fwd+bwd",
            Pass::TrainStep => "train step",
            Pass::Inference => "inference",
        }
    }
}

/// One case timed with both implementations.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Layer or network.
    pub name: String,
    /// What was timed.
    pub pass: Pass,
    /// Images per run.
    pub batch: usize,
    /// Floating-point operations per run (conv blocks: 2 per multiply-accumulate of the
    /// convolutions run; pool, bias and ReLU not counted), when meaningful.
    pub flops: Option<f64>,
    /// With the custom kernels (unless `--only builtin`).
    pub custom: Option<Timing>,
    /// With Burn's built-in ops (unless `--only custom`).
    pub builtin: Option<Timing>,
    /// By the peer (PyTorch), when one runs.
    pub peer: Option<Timing>,
}

/// A case as the peer script reads it (see `xtask/peer/pytorch_bench.py`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerCase {
    /// A conv block: conv + bias + ReLU + 2x2 max-pool.
    Block {
        /// Forward, or forward + backward.
        pass: Pass,
        /// Images.
        batch: usize,
        /// Input channels.
        channels: usize,
        /// Input height and width.
        size: usize,
        /// Output channels.
        filters: usize,
        /// Kernel height and width.
        kernel: usize,
        /// Zero padding on each side.
        padding: usize,
        /// Whether the backward pass computes the input gradient.
        input_grad: bool,
    },
    /// A whole network.
    Network {
        /// Training step, or inference.
        pass: Pass,
        /// The network.
        network: ModelKind,
        /// Images.
        batch: usize,
        /// Drop probability of the ConvNet's dropout (training steps).
        dropout: f64,
    },
}

impl CaseResult {
    /// Full name used by `--filter`, e.g. `convnet.conv2 fwd+bwd b64`.
    pub fn id(name: &str, pass: Pass, batch: usize) -> String {
        format!("{name} {} b{batch}", pass.label())
    }

    /// The results of several rounds of the same cases (each round's list in the same
    /// order), case by case, with [`Timing::across_rounds`].
    pub fn across_rounds(mut rounds: Vec<Vec<CaseResult>>) -> Vec<CaseResult> {
        let Some(first) = rounds.first().cloned() else {
            return Vec::new();
        };
        first
            .into_iter()
            .enumerate()
            .map(|(i, case)| {
                let mut side = |pick: fn(&CaseResult) -> &Option<Timing>| {
                    let timings: Vec<Timing> = rounds
                        .iter_mut()
                        .filter_map(|round| pick(&round[i]).clone())
                        .collect();
                    Timing::across_rounds(&timings)
                };
                CaseResult {
                    custom: side(|r| &r.custom),
                    builtin: side(|r| &r.builtin),
                    peer: side(|r| &r.peer),
                    ..case
                }
            })
            .collect()
    }
}

/// What to run.
pub struct Selection<'a> {
    /// Only cases whose id contains this.
    pub filter: Option<&'a str>,
    /// Batch sizes of the conv-block cases.
    pub batches: &'a [usize],
    /// Repetitions.
    pub repeats: Repeats,
    /// Which implementations to time (both, unless profiling one).
    pub kernels: &'a [KernelChoice],
}

impl Selection<'_> {
    fn wants(&self, id: &str) -> bool {
        self.filter.is_none_or(|f| id.contains(f))
    }

    /// Times `measure` with each selected implementation: `[custom, builtin]`.
    fn each(&self, mut measure: impl FnMut(KernelChoice) -> Timing) -> [Option<Timing>; 2] {
        [KernelChoice::Custom, KernelChoice::Builtin]
            .map(|kernels| self.kernels.contains(&kernels).then(|| measure(kernels)))
    }
}

/// Runs the selected cases on the autodiff backend `AB` (and its inner backend), each then by
/// `peer` (which returns `None` when there is no peer), printing each result as it comes.
pub fn run_cases<AB: TrainingBackendBounds>(
    device: &AB::Device,
    selection: &Selection<'_>,
    mut peer: impl FnMut(&PeerCase, Repeats) -> Result<Option<Timing>>,
    mut report: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>> {
    let mut results = Vec::new();
    let mut record = |result: CaseResult| {
        report(&result);
        results.push(result);
    };
    for block in conv_blocks() {
        for &batch in selection.batches {
            for pass in [Pass::Forward, Pass::ForwardBackward] {
                if !selection.wants(&CaseResult::id(&block.name, pass, batch)) {
                    continue;
                }
                let convolutions = match pass {
                    Pass::ForwardBackward if block.is_first() => 2.0,
                    Pass::ForwardBackward => 3.0,
                    _ => 1.0,
                };
                let [custom, builtin] = selection.each(|kernels| {
                    time_block::<AB>(&block, batch, pass, kernels, selection.repeats, device)
                });
                let peer_case = PeerCase::Block {
                    pass,
                    batch,
                    channels: block.shape.in_channels,
                    size: block.shape.input_side,
                    filters: block.shape.filters,
                    kernel: block.shape.kernel,
                    padding: block.shape.padding,
                    input_grad: !block.is_first(),
                };
                record(CaseResult {
                    name: block.name.clone(),
                    pass,
                    batch,
                    flops: Some(convolutions * 2.0 * block.geometry(batch).macs() as f64),
                    custom,
                    builtin,
                    peer: peer(&peer_case, selection.repeats)?,
                });
            }
        }
    }
    for kind in ModelKind::ALL {
        let name = kind.to_string();
        for (pass, batch) in [
            (Pass::TrainStep, 64),
            (Pass::Inference, 256),
            (Pass::Inference, 1),
        ] {
            if !selection.wants(&CaseResult::id(&name, pass, batch)) {
                continue;
            }
            let base = ModelConfig::new().with_kind(kind);
            let [custom, builtin] = selection.each(|kernels| {
                let config = base.clone().with_kernels(kernels);
                match pass {
                    Pass::TrainStep => {
                        time_train_step::<AB>(&config, batch, selection.repeats, device)
                    }
                    _ => time_inference::<AB::InnerBackend>(
                        &config,
                        batch,
                        selection.repeats,
                        device,
                    ),
                }
            });
            let peer_case = PeerCase::Network {
                pass,
                network: kind,
                batch,
                dropout: base.dropout,
            };
            record(CaseResult {
                name: name.clone(),
                pass,
                batch,
                flops: None,
                custom,
                builtin,
                peer: peer(&peer_case, selection.repeats)?,
            });
        }
    }
    Ok(results)
}

/// Waits for the device's queued work.
pub fn sync<B: Backend>(device: &B::Device) {
    B::sync(device).expect("device sync");
}

fn time_block<AB: TrainingBackendBounds>(
    block: &ConvBlock,
    batch: usize,
    pass: Pass,
    kernels: KernelChoice,
    repeats: Repeats,
    device: &AB::Device,
) -> Timing {
    let spec = block.shape.conv_spec();
    let input_dims = block.input_dims(batch);
    let weight_dims = block.weight_dims();
    let [filters, fan_in] = [
        weight_dims[0],
        weight_dims[1] * weight_dims[2] * weight_dims[3],
    ];
    let scale = (2.0 / fan_in as f64).sqrt();
    match pass {
        Pass::Forward => {
            type B<AB> = <AB as AutodiffBackend>::InnerBackend;
            let x = Tensor::<B<AB>, 4>::random(input_dims, Distribution::Normal(0.0, 1.0), device);
            let w =
                Tensor::<B<AB>, 4>::random(weight_dims, Distribution::Normal(0.0, scale), device);
            let b = Tensor::<B<AB>, 1>::zeros([filters], device);
            time(
                repeats,
                || {
                    drop(conv2d_pool(
                        x.clone(),
                        w.clone(),
                        Some(b.clone()),
                        spec,
                        ConvBlockShape::POOL,
                        kernels,
                    ))
                },
                || sync::<B<AB>>(device),
            )
        }
        _ => {
            let x = Tensor::<AB, 4>::random(input_dims, Distribution::Normal(0.0, 1.0), device);
            let x = if block.is_first() {
                x
            } else {
                x.require_grad()
            };
            let w = Tensor::<AB, 4>::random(weight_dims, Distribution::Normal(0.0, scale), device)
                .require_grad();
            let b = Tensor::<AB, 1>::zeros([filters], device).require_grad();
            time(
                repeats,
                || {
                    let y = conv2d_pool(
                        x.clone(),
                        w.clone(),
                        Some(b.clone()),
                        spec,
                        ConvBlockShape::POOL,
                        kernels,
                    );
                    let grads = y.sum().backward();
                    drop(w.grad(&grads).expect("weight gradient"));
                },
                || sync::<AB>(device),
            )
        }
    }
}

/// Deterministic stand-in images and labels (speed does not depend on the pixel values).
fn batch_of<B: Backend>(batch: usize, device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let images = Tensor::random(
        [batch, 1, IMAGE_SIDE, IMAGE_SIDE],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % CLASSES as i64).collect();
    (images, Tensor::from_ints(labels.as_slice(), device))
}

/// A training step with the optimizer training uses: the fused Adam with the custom kernels,
/// Burn's Adam with the built-in ops.
fn time_train_step<AB: TrainingBackendBounds>(
    config: &ModelConfig,
    batch: usize,
    repeats: Repeats,
    device: &AB::Device,
) -> Timing {
    time(repeats, training_steps::<AB>(config, batch, device), || {
        sync::<AB>(device)
    })
}

/// Training steps of `config`'s network on one batch of `batch` stand-in images: each call of
/// the closure is one step (forward, loss, backward, optimizer update), with the optimizer
/// training uses: the fused Adam with the custom kernels, Burn's Adam with the built-in ops.
pub fn training_steps<AB: TrainingBackendBounds>(
    config: &ModelConfig,
    batch: usize,
    device: &AB::Device,
) -> Box<dyn FnMut()> {
    match config.kernels {
        KernelChoice::Custom => {
            steps_with::<AB, _>(config, FusedAdamConfig::new().init(), batch, device)
        }
        KernelChoice::Builtin => {
            steps_with::<AB, _>(config, AdamConfig::new().init(), batch, device)
        }
    }
}

fn steps_with<AB, O>(
    config: &ModelConfig,
    mut optimizer: O,
    batch: usize,
    device: &AB::Device,
) -> Box<dyn FnMut()>
where
    AB: TrainingBackendBounds,
    O: Optimizer<Network<AB>, AB> + 'static,
{
    let (images, targets) = batch_of::<AB>(batch, device);
    let mut network = Some(config.init::<AB>(device));
    Box::new(move || {
        let model = network.take().expect("network");
        let loss = cross_entropy(model.forward(images.clone()), targets.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        network = Some(optimizer.step(1e-3, model, grads));
    })
}

fn time_inference<B: custom_kernels::KernelBackend>(
    config: &ModelConfig,
    batch: usize,
    repeats: Repeats,
    device: &B::Device,
) -> Timing {
    time(
        repeats,
        inference_batches::<B>(config, batch, device),
        || sync::<B>(device),
    )
}

/// Inference of `config`'s network on one batch of `batch` stand-in images: each call of the
/// closure is one forward pass and the predicted classes (left on the device).
pub fn inference_batches<B: custom_kernels::KernelBackend>(
    config: &ModelConfig,
    batch: usize,
    device: &B::Device,
) -> Box<dyn FnMut()> {
    let (images, _) = batch_of::<B>(batch, device);
    let network = config.init::<B>(device);
    Box::new(move || drop(network.forward(images.clone()).argmax(1)))
}
