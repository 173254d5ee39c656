//! Parameter counts, output shapes and the per-layer summary of the three networks.

use std::sync::Mutex;

use crate::TEST_SEED;
use burn::prelude::*;
use burn_ndarray::NdArray;
use custom_kernels::KernelBackend;
use mnist_data::IMAGE_SIDE;
use model::{InitScheme, KernelChoice, ModelConfig, ModelKind, ModelSummary, Network, PoolKind};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

type B = NdArray;

/// Serialises the tests' use of ndarray's one process-wide random generator, so each network a
/// test builds gets the same weights on every run, whatever other tests run beside it.
static RANDOM: Mutex<()> = Mutex::new(());

/// `config`'s network with weights drawn from [`TEST_SEED`].
pub(crate) fn seeded<AB: KernelBackend>(config: &ModelConfig, device: &AB::Device) -> Network<AB> {
    let _only_us = RANDOM
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    AB::seed(device, TEST_SEED);
    config.init::<AB>(device)
}

fn build(kind: ModelKind) -> Network<B> {
    seeded::<B>(&ModelConfig::new().with_kind(kind), &Default::default())
}

/// Standard normal images `[batch, 1, 28, 28]` from [`TEST_SEED`].
fn random_images(batch: usize, device: &burn_ndarray::NdArrayDevice) -> Tensor<B, 4> {
    let mut rng = StdRng::seed_from_u64(TEST_SEED);
    let shape = [batch, 1, IMAGE_SIDE, IMAGE_SIDE];
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[test]
fn exact_parameter_counts() {
    assert_eq!(build(ModelKind::Lenet5).num_params(), 61_706);
    assert_eq!(build(ModelKind::Convnet).num_params(), 3_274_634);
    assert_eq!(build(ModelKind::Mlp).num_params(), 3_836_410);
}

#[test]
fn lenet5_per_layer_parameters_match_the_lecture_table() {
    let summary = ModelSummary::of(&build(ModelKind::Lenet5));
    let rows: Vec<(&str, Vec<usize>, usize)> = summary
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.output_shape.clone(), l.params))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("input", vec![1, 28, 28], 0),
            ("conv1", vec![6, 28, 28], 156),
            ("pool1", vec![6, 14, 14], 0),
            ("conv2", vec![16, 10, 10], 2_416),
            ("pool2", vec![16, 5, 5], 0),
            ("fc1", vec![120], 48_120),
            ("fc2", vec![84], 10_164),
            ("fc3", vec![10], 850),
        ]
    );
    assert_eq!(summary.total_params, 61_706);
    let text = summary.to_string();
    assert!(text.contains("61,706"), "{text}");
    assert!(text.contains("16x5x5"), "{text}");
}

#[test]
fn convnet_per_layer_shapes() {
    let summary = ModelSummary::of(&build(ModelKind::Convnet));
    let shapes: Vec<Vec<usize>> = summary
        .layers
        .iter()
        .map(|l| l.output_shape.clone())
        .collect();
    assert_eq!(
        shapes,
        vec![
            vec![1, 28, 28],
            vec![32, 28, 28],
            vec![32, 14, 14],
            vec![64, 14, 14],
            vec![64, 7, 7],
            vec![1024],
            vec![10],
        ]
    );
    let per_layer: usize = summary.layers.iter().map(|l| l.params).sum();
    assert_eq!(per_layer, 3_274_634);
}

/// Each network's conv blocks chain: the first takes the image, each next one takes the
/// previous one's output (its sides and channels), so the hand-written block constants that
/// build the layers, the summary and the bench's cases cannot drift apart.
#[test]
fn conv_blocks_chain_from_the_image() {
    for kind in [ModelKind::Lenet5, ModelKind::Convnet] {
        let blocks = kind.conv_blocks();
        assert_eq!(blocks[0].input_side, IMAGE_SIDE, "{kind:?}");
        assert_eq!(blocks[0].in_channels, 1, "{kind:?}");
        for pair in blocks.windows(2) {
            assert_eq!(
                pair[1].input_side,
                pair[0].output_side(),
                "{kind:?}: {pair:?}"
            );
            assert_eq!(pair[1].in_channels, pair[0].filters, "{kind:?}: {pair:?}");
        }
    }
    assert!(ModelKind::Mlp.conv_blocks().is_empty());
}

#[test]
fn forward_on_batch_1_and_64_for_every_kind_and_init() {
    let device = Default::default();
    for kind in ModelKind::ALL {
        for init in [InitScheme::He, InitScheme::Xavier] {
            let config = ModelConfig::new().with_kind(kind).with_init(init);
            let net = seeded::<B>(&config, &device);
            for batch in [1, 64] {
                let images = random_images(batch, &device);
                let logits = net.forward(images);
                assert_eq!(logits.dims(), [batch, 10], "{kind} {init} batch {batch}");
                let values = logits.into_data().to_vec::<f32>().unwrap();
                assert!(
                    values.iter().all(|v| v.is_finite()),
                    "{kind}: non-finite logits"
                );
                assert!(values.iter().any(|v| *v != 0.0), "{kind}: all-zero logits");
            }
        }
    }
}

#[test]
fn he_and_xavier_draw_weights_with_the_expected_spread() {
    let device = Default::default();
    let std_of = |init| {
        let net = seeded::<B>(
            &ModelConfig::new().with_kind(ModelKind::Mlp).with_init(init),
            &device,
        );
        let Network::Mlp(mlp) = net else {
            unreachable!()
        };
        let w = mlp.fc2.weight.val().into_data().to_vec::<f32>().unwrap();
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt()
    };
    // fc2 is 1200 -> 1200: He std = sqrt(2/1200) = 0.0408, Xavier std = sqrt(2/2400) = 0.0289.
    let he = std_of(InitScheme::He);
    let xavier = std_of(InitScheme::Xavier);
    assert!((he - 0.0408).abs() < 0.002, "He std {he}");
    assert!((xavier - 0.0289).abs() < 0.002, "Xavier std {xavier}");
}

#[test]
fn model_kind_parses_from_cli_spellings() {
    assert_eq!("lenet5".parse::<ModelKind>(), Ok(ModelKind::Lenet5));
    assert_eq!("LeNet-5".parse::<ModelKind>(), Ok(ModelKind::Lenet5));
    assert_eq!("convnet".parse::<ModelKind>(), Ok(ModelKind::Convnet));
    assert_eq!("mlp".parse::<ModelKind>(), Ok(ModelKind::Mlp));
    let err = "resnet".parse::<ModelKind>().unwrap_err();
    assert!(err.contains("lenet5, convnet, mlp"), "{err}");
}

#[test]
fn config_round_trips_through_json() {
    let config = ModelConfig::new()
        .with_kind(ModelKind::Convnet)
        .with_init(InitScheme::Xavier)
        .with_dropout(0.5);
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains("\"convnet\""), "{json}");
    let back: ModelConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);

    let avg = config.with_pool(Some(PoolKind::Avg));
    let json = serde_json::to_string(&avg).unwrap();
    assert!(json.contains("\"pool\":\"avg\""), "{json}");
    assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), avg);
}

/// A `model.json` written before pooling was a choice has no `pool`: it loads as max-pooling.
#[test]
fn configs_without_pool_load_as_max_pooling() {
    let old = r#"{"kind":"lenet5","init":"he","dropout":0.25,"kernels":"custom"}"#;
    let config: ModelConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config.pool, None);
    assert_eq!(config.pool_kind(), PoolKind::Max);
}

/// With `pool` set to `avg`, LeNet-5 and the ConvNet average-pool: the summary says so, the
/// custom and built-in kernels give the same logits, and the logits differ from max-pooling's
/// with the same weights.
#[test]
fn average_pooling_networks_agree_across_kernels() {
    let device = Default::default();
    let images = random_images(4, &device);
    for kind in [ModelKind::Lenet5, ModelKind::Convnet] {
        let avg = ModelConfig::new()
            .with_kind(kind)
            .with_pool(Some(PoolKind::Avg));
        let custom = seeded::<B>(&avg, &device);
        let pools: Vec<String> = ModelSummary::of(&custom)
            .layers
            .into_iter()
            .filter(|l| l.name.starts_with("pool"))
            .map(|l| l.description)
            .collect();
        assert_eq!(pools, ["avg-pool 2x2/2", "avg-pool 2x2/2"], "{kind}");

        let logits = |config: &ModelConfig| {
            let net = config
                .init::<B>(&device)
                .load_record(custom.clone().into_record());
            net.forward(images.clone())
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        let custom_logits = logits(&avg);
        let builtin_logits = logits(&avg.clone().with_kernels(KernelChoice::Builtin));
        for (c, b) in custom_logits.iter().zip(&builtin_logits) {
            assert!(
                (c - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{kind}: {c} vs {b}"
            );
        }
        let max_logits = logits(&avg.clone().with_pool(Some(PoolKind::Max)));
        assert_ne!(custom_logits, max_logits, "{kind}");
    }
}

/// Every parameter, biases included, takes part in training: after one backward pass each has
/// a gradient (a regression test: zero-initialised biases once lost their gradient flag).
#[test]
fn every_parameter_receives_a_gradient() {
    use burn::backend::Autodiff;
    use burn::module::{ModuleVisitor, Param};
    type AB = Autodiff<NdArray>;

    struct Missing<'a> {
        grads: &'a <AB as burn::tensor::backend::AutodiffBackend>::Gradients,
        checked: usize,
        missing: Vec<String>,
    }
    impl ModuleVisitor<AB> for Missing<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            self.checked += 1;
            if param.val().grad(self.grads).is_none() {
                self.missing.push(format!("{:?}", param.val().dims()));
            }
        }
    }

    let device = Default::default();
    // Weights and biases of 5, 4 and 4 layers.
    for (kind, params) in [
        (ModelKind::Lenet5, 10),
        (ModelKind::Convnet, 8),
        (ModelKind::Mlp, 8),
    ] {
        let net = seeded::<AB>(&ModelConfig::new().with_kind(kind), &device);
        let images = Tensor::<AB, 4>::ones([2, 1, 28, 28], &device);
        let grads = net.forward(images).powf_scalar(2.0).sum().backward();
        let mut visitor = Missing {
            grads: &grads,
            checked: 0,
            missing: Vec::new(),
        };
        net.visit(&mut visitor);
        assert_eq!(visitor.checked, params, "{kind:?}");
        assert!(
            visitor.missing.is_empty(),
            "{kind:?}: parameters without a gradient: {:?}",
            visitor.missing
        );
    }
}
