//! The distortions (rotation, scaling, elastic) and the noisy test set: each changes images as
//! documented, is reproducible for a seed, and leaves labels alone.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn_ndarray::NdArray;
use mnist_data::distort::elastic_field;
use mnist_data::{
    Augmentation, Distortion, Elastic, IMAGE_PIXELS, IMAGE_SIDE, Mnist, MnistBatch, MnistBatcher,
    MnistDataset, MnistItem, bundled_data_dir, noisy_set, normalize_pixel, translate,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

fn test_items(count: usize) -> Vec<MnistItem> {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let dataset = MnistDataset::all(test);
    (0..count).map(|i| dataset.get(i).unwrap()).collect()
}

/// Total ink, and its spread: the mean squared distance of the ink from the image centre.
fn ink_and_spread(pixels: &[u8]) -> (f64, f64) {
    let centre = (IMAGE_SIDE as f64 - 1.0) / 2.0;
    let mut ink = 0.0;
    let mut moment = 0.0;
    for (i, &p) in pixels.iter().enumerate() {
        let (x, y) = ((i % IMAGE_SIDE) as f64, (i / IMAGE_SIDE) as f64);
        ink += p as f64;
        moment += p as f64 * ((x - centre).powi(2) + (y - centre).powi(2));
    }
    (ink, moment / ink)
}

fn rotation(degrees: f32) -> Distortion {
    Distortion {
        angle: degrees.to_radians(),
        ..Distortion::identity()
    }
}

#[test]
fn a_quarter_turn_moves_every_pixel_exactly_and_identity_changes_nothing() {
    for item in test_items(20) {
        let image = item.pixels;
        assert_eq!(Distortion::identity().apply(&image), image);
        // Clockwise on screen (y points down): the pixel at row r, column c goes to row c,
        // column 27 - r.
        let turned = rotation(90.0).apply(&image);
        let last = IMAGE_SIDE - 1;
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                assert_eq!(
                    turned[y * IMAGE_SIDE + x],
                    image[(last - x) * IMAGE_SIDE + y],
                    "({x}, {y})"
                );
            }
        }
        // Four quarter turns give the image back.
        let mut round = image;
        for _ in 0..4 {
            round = rotation(90.0).apply(&round);
        }
        assert_eq!(round, image);
    }
}

/// How far the ink reaches from the centre, in pixels along either axis.
fn reach(pixels: &[u8]) -> f64 {
    let centre = (IMAGE_SIDE as f64 - 1.0) / 2.0;
    pixels
        .iter()
        .enumerate()
        .filter(|(_, p)| **p > 0)
        .map(|(i, _)| {
            let (x, y) = ((i % IMAGE_SIDE) as f64, (i / IMAGE_SIDE) as f64);
            (x - centre).abs().max((y - centre).abs())
        })
        .fold(0.0, f64::max)
}

#[test]
fn small_rotations_keep_the_ink_and_scaling_spreads_it_by_the_square_of_the_factor() {
    let mut enlarged = 0;
    for item in test_items(50) {
        let (ink, spread) = ink_and_spread(&item.pixels);
        for degrees in [-15.0, 7.5, 15.0] {
            let (turned_ink, turned_spread) =
                ink_and_spread(&rotation(degrees).apply(&item.pixels));
            assert!((turned_ink / ink - 1.0).abs() < 0.01, "{degrees}°: ink");
            assert!((turned_spread / spread - 1.0).abs() < 0.03, "{degrees}°");
        }
        for factor in [0.85f32, 0.9, 1.15] {
            // An enlarged digit that reaches the border loses ink: check those that fit.
            if factor > 1.0 && reach(&item.pixels) * factor as f64 > 12.5 {
                continue;
            }
            enlarged += usize::from(factor > 1.0);
            let scaled = Distortion {
                scale: factor,
                ..Distortion::identity()
            }
            .apply(&item.pixels);
            let (scaled_ink, scaled_spread) = ink_and_spread(&scaled);
            // Ink scales with the area, its spread with the square of the factor (resampling
            // thin strokes moves the ink by a few percent).
            let area = (factor * factor) as f64;
            assert!(
                (scaled_ink / ink / area - 1.0).abs() < 0.08,
                "x{factor}: ink"
            );
            assert!(
                (scaled_spread / spread / area - 1.0).abs() < 0.03,
                "x{factor}: spread {scaled_spread} vs {spread}"
            );
        }
    }
    assert!(enlarged > 20, "only {enlarged} digits enlarged");
}

#[test]
fn the_elastic_field_is_smooth_proportional_to_alpha_and_seeded() {
    let field = |alpha, sigma, seed| {
        elastic_field(&mut StdRng::seed_from_u64(seed), Elastic { alpha, sigma })
    };
    let a = field(34.0, 4.0, 1);
    assert_eq!(a.len(), IMAGE_PIXELS);
    assert_eq!(a, field(34.0, 4.0, 1));
    assert_ne!(a, field(34.0, 4.0, 2));
    // Linear in alpha: the same random field, scaled.
    for (double, single) in field(68.0, 4.0, 1).iter().zip(&a) {
        assert!((double.0 - 2.0 * single.0).abs() < 1e-4);
        assert!((double.1 - 2.0 * single.1).abs() < 1e-4);
    }
    // Smooth: neighbours move almost together with sigma 4, independently with sigma 0.5.
    let roughness = |f: &[(f32, f32)]| {
        let mut step = 0.0;
        let mut size = 0.0;
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE - 1 {
                let (p, q) = (f[y * IMAGE_SIDE + x], f[y * IMAGE_SIDE + x + 1]);
                step += ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)) as f64;
                size += (p.0.powi(2) + p.1.powi(2)) as f64;
            }
        }
        step / size
    };
    assert!(roughness(&a) < 0.1, "sigma 4: {}", roughness(&a));
    let rough = field(34.0, 0.5, 1);
    assert!(roughness(&rough) > 0.5, "sigma 0.5: {}", roughness(&rough));
    // Simard's setting moves pixels by about a pixel or two, not more than a few.
    let largest = a
        .iter()
        .map(|(x, y)| (x * x + y * y).sqrt())
        .fold(0.0, f32::max);
    let mean = a.iter().map(|(x, y)| (x * x + y * y).sqrt()).sum::<f32>() / a.len() as f32;
    assert!((0.3..3.0).contains(&mean), "mean displacement {mean}");
    assert!(largest < 8.0, "largest displacement {largest}");
}

#[test]
fn each_switch_changes_the_images_reproducibly_and_leaves_labels_alone() {
    let items = test_items(64);
    let labels: Vec<i64> = items.iter().map(|i| i64::from(i.label)).collect();
    let plain = MnistBatcher::default().normalized_pixels(&items);
    let switches = [
        Augmentation {
            rotate: 15.0,
            ..Default::default()
        },
        Augmentation {
            scale: 0.15,
            ..Default::default()
        },
        Augmentation {
            elastic: Some(Elastic {
                alpha: 34.0,
                sigma: 4.0,
            }),
            ..Default::default()
        },
        Augmentation {
            shift: 2,
            jitter: 0.1,
            rotate: 10.0,
            scale: 0.1,
            elastic: Some(Elastic {
                alpha: 20.0,
                sigma: 5.0,
            }),
        },
    ];
    for augmentation in switches {
        assert!(!augmentation.is_off());
        let first = MnistBatcher::new(augmentation, 5).normalized_pixels(&items);
        assert_ne!(first, plain, "{augmentation:?} changed nothing");
        assert_eq!(
            first,
            MnistBatcher::new(augmentation, 5).normalized_pixels(&items),
            "{augmentation:?} is not reproducible"
        );
        assert_ne!(
            first,
            MnistBatcher::new(augmentation, 6).normalized_pixels(&items),
            "{augmentation:?} ignores the seed"
        );
        // Most images change, and stay digits: their ink is of the same order.
        let changed = first
            .chunks(IMAGE_PIXELS)
            .zip(plain.chunks(IMAGE_PIXELS))
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 50, "{augmentation:?}: {changed} of 64 changed");
        let batch: MnistBatch<NdArray> =
            MnistBatcher::new(augmentation, 5).batch(items.clone(), &Default::default());
        assert_eq!(batch.targets.into_data().to_vec::<i64>().unwrap(), labels);
    }
}

/// The batcher's loop before rotation, scaling and elastic distortion existed (commit
/// e97bace), kept here to compare with: batch `batch` of a batcher seeded with `seed`.
fn batcher_before_distortions(
    items: &[MnistItem],
    shift: usize,
    jitter: f32,
    seed: u64,
    batch: u64,
) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed ^ batch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let noise = Normal::new(0.0f32, jitter).unwrap();
    let mut out = Vec::new();
    for item in items {
        let pixels = if shift > 0 {
            let (dx, dy) = mnist_data::augment::random_offset(&mut rng, shift);
            translate(&item.pixels, dx, dy)
        } else {
            item.pixels
        };
        for &p in &pixels {
            let value = normalize_pixel(p);
            out.push(if jitter > 0.0 {
                value + noise.sample(&mut rng)
            } else {
                value
            });
        }
    }
    out
}

#[test]
fn runs_without_the_new_switches_draw_as_before_them() {
    let items = test_items(64);
    for (shift, jitter) in [(3, 0.0), (0, 0.2), (2, 0.1)] {
        let augmentation = Augmentation {
            shift,
            jitter,
            ..Default::default()
        };
        let batcher = MnistBatcher::new(augmentation, 9);
        for batch in 0..3 {
            assert_eq!(
                batcher.normalized_pixels(&items),
                batcher_before_distortions(&items, shift, jitter, 9, batch),
                "shift {shift}, jitter {jitter}, batch {batch}"
            );
        }
    }
    // And a config.json saved before them reads with them off.
    let old: Augmentation = serde_json::from_str(r#"{"shift": 3, "jitter": 0.1}"#).unwrap();
    assert_eq!(
        old,
        Augmentation {
            shift: 3,
            jitter: 0.1,
            ..Default::default()
        }
    );
    assert!(!old.distorts());
}

#[test]
fn the_noisy_test_set_adds_clipped_rounded_noise_of_the_given_sigma() {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    assert_eq!(noisy_set(&test, 0.0, 1).pixels(), test.pixels());
    let noisy = noisy_set(&test, 0.2, 1);
    assert_eq!(noisy.labels(), test.labels());
    assert_eq!(noisy.pixels(), noisy_set(&test, 0.2, 1).pixels());
    assert_ne!(noisy.pixels(), noisy_set(&test, 0.2, 2).pixels());
    // Mid-grey pixels (away from the clipping) get the noise unchanged: sd 0.2 * 255.
    let mut mid = Vec::new();
    // Background pixels can only brighten: clipped at 0, their mean is sigma / sqrt(2 pi).
    let mut background = Vec::new();
    for (&before, &after) in test.pixels().iter().zip(noisy.pixels()) {
        let change = f64::from(after) - f64::from(before);
        if before == 0 {
            background.push(f64::from(after));
        } else if (100..=155).contains(&before) {
            mid.push(change);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = (mean(&mid.iter().map(|c| c * c).collect::<Vec<_>>()) - mean(&mid).powi(2)).sqrt();
    // Clipping trims the tails of pixels near 100 or 155 a little.
    assert!((sd / (0.2 * 255.0) - 1.0).abs() < 0.05, "sd {sd}");
    let expected = 0.2 * 255.0 / (2.0 * std::f64::consts::PI).sqrt();
    assert!(
        (mean(&background) / expected - 1.0).abs() < 0.02,
        "background mean {} vs {expected}",
        mean(&background)
    );
}
