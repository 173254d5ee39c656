//! Split, batching, normalisation and augmentation on the real MNIST images.

use std::collections::HashSet;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn_ndarray::NdArray;
use mnist_data::{
    Augmentation, Mnist, MnistBatch, MnistBatcher, MnistDataset, bundled_data_dir,
    train_valid_split, translate, translated_set,
};

fn mnist() -> Mnist {
    Mnist::load(&bundled_data_dir()).unwrap()
}

#[test]
fn split_is_55000_5000_disjoint_and_seeded() {
    let data = mnist();
    let (train, valid) = train_valid_split(&data.train, 5_000, 42);
    assert_eq!((train.len(), valid.len()), (55_000, 5_000));
    let (train_again, valid_again) = train_valid_split(&data.train, 5_000, 42);
    assert_eq!(valid.labels(), valid_again.labels());
    assert_eq!(train.get(123), train_again.get(123));
    let (_, valid_other) = train_valid_split(&data.train, 5_000, 7);
    assert_ne!(valid.labels(), valid_other.labels());
    // Disjoint and complete: every training image appears exactly once.
    let key = |d: &MnistDataset, i| d.get(i).unwrap().pixels.to_vec();
    let valid_images: HashSet<Vec<u8>> = (0..valid.len()).map(|i| key(&valid, i)).collect();
    let overlap = (0..5_000)
        .filter(|&i| valid_images.contains(&key(&train, i)))
        .count();
    // MNIST has a handful of duplicate images; a real overlap would be in the thousands.
    assert!(overlap < 5, "{overlap} training images also in validation");
    // Every class is represented in validation.
    let classes: HashSet<u8> = valid.labels().into_iter().collect();
    assert_eq!(classes.len(), 10);
}

#[test]
fn batches_are_normalised_nchw_tensors() {
    let data = mnist();
    let dataset = MnistDataset::all(data.train.clone());
    let items: Vec<_> = (0..1000).map(|i| dataset.get(i).unwrap()).collect();
    let batch: MnistBatch<NdArray> = MnistBatcher::default().batch(items, &Default::default());
    assert_eq!(batch.images.dims(), [1000, 1, 28, 28]);
    assert_eq!(batch.targets.dims(), [1000]);
    let pixels = batch.images.into_data().to_vec::<f32>().unwrap();
    let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
    let std = (pixels.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / pixels.len() as f32).sqrt();
    assert!(mean.abs() < 0.05, "mean {mean}");
    assert!((std - 1.0).abs() < 0.05, "std {std}");
    let targets: Vec<i64> = batch
        .targets
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap();
    assert_eq!(&targets[..5], &[5, 0, 4, 1, 9]);
}

#[test]
fn translate_moves_pixels_and_fills_with_zeros() {
    let mut image = [0u8; 784];
    image[10 * 28 + 10] = 200;
    image[27] = 99; // top-right corner
    let moved = translate(&image, 2, -1);
    assert_eq!(moved[9 * 28 + 12], 200);
    assert_eq!(
        moved.iter().filter(|&&p| p != 0).count(),
        1,
        "corner pixel falls off"
    );
    assert_eq!(translate(&image, 0, 0), image);
    assert!(translate(&image, 28, 0).iter().all(|&p| p == 0));
}

#[test]
fn translated_test_set_is_seeded_and_bounded() {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let a = translated_set(&test, 3, 1);
    let b = translated_set(&test, 3, 1);
    let c = translated_set(&test, 3, 2);
    assert_eq!(a.pixels(), b.pixels());
    assert_ne!(a.pixels(), c.pixels());
    assert_eq!(a.labels(), test.labels());
    let changed = (0..test.len())
        .filter(|&i| a.image(i) != test.image(i))
        .count();
    assert!(changed > 9_000, "only {changed} images moved");
    // Every translated image is one of the 49 shifts of its original.
    for i in 0..50 {
        let found = (-3..=3)
            .any(|dx| (-3..=3).any(|dy| translate(test.image(i), dx, dy)[..] == *a.image(i)));
        assert!(found, "image {i} is not a shift of at most 3 pixels");
    }
}

#[test]
fn augmentations_change_images_reproducibly() {
    let data = mnist();
    let dataset = MnistDataset::all(data.test.clone()).take(64);
    let items: Vec<_> = (0..64).map(|i| dataset.get(i).unwrap()).collect();
    let plain = MnistBatcher::default().normalized_pixels(&items);
    let shift = Augmentation {
        shift: 2,
        ..Default::default()
    };
    let shifted = MnistBatcher::new(shift, 5).normalized_pixels(&items);
    assert_ne!(plain, shifted);
    assert_eq!(
        shifted,
        MnistBatcher::new(shift, 5).normalized_pixels(&items)
    );
    let jitter = Augmentation {
        jitter: 0.3,
        ..Default::default()
    };
    let noisy = MnistBatcher::new(jitter, 5).normalized_pixels(&items);
    let diffs: Vec<f32> = noisy.iter().zip(&plain).map(|(a, b)| a - b).collect();
    let sigma = (diffs.iter().map(|d| d * d).sum::<f32>() / diffs.len() as f32).sqrt();
    assert!((sigma - 0.3).abs() < 0.01, "jitter sigma {sigma}");
}
