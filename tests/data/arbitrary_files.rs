//! Property tests: whatever bytes an IDX file holds (random, or a valid file with bytes flipped,
//! cut or appended), reading it never panics, and a failure names the file.

use std::path::Path;

use mnist_data::IdxImages;
use mnist_data::idx::{encode_images, encode_labels, read_images, read_labels};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// A small valid image file: `count` images of `rows` x `cols`.
fn valid_images(count: usize, rows: usize, cols: usize, seed: u8) -> Vec<u8> {
    let pixels = (0..count * rows * cols)
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect();
    encode_images(&IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Writes `bytes` to a fresh file (raw, or gzip-named so the gzip path is taken too) and reads
/// it both as images and as labels.
fn read_back(bytes: &[u8], gzip_name: bool) {
    let dir = tempfile::tempdir().unwrap();
    let name = if gzip_name { "data.gz" } else { "data" };
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    check(read_images(&path).map(|_| ()), &path);
    check(read_labels(&path).map(|_| ()), &path);
}

fn check(result: Result<(), mnist_data::DataError>, path: &Path) {
    if let Err(error) = result {
        let message = error.to_string();
        assert!(
            message.contains(&path.display().to_string()),
            "the error does not name the file: {message}"
        );
    }
}

proptest! {
    // Seeded, so that a failure reproduces on every run.
    #![proptest_config(ProptestConfig {
        cases: 128,
        rng_seed: RngSeed::Fixed(crate::TEST_SEED),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), gzip in any::<bool>()) {
        read_back(&bytes, gzip);
    }

    #[test]
    fn damaged_valid_files_never_panic(
        count in 0usize..4,
        rows in 1usize..6,
        cols in 1usize..6,
        seed in any::<u8>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..8),
        labels in any::<bool>(),
    ) {
        let mut bytes = if labels {
            encode_labels(&(0..count as u8).collect::<Vec<_>>())
        } else {
            valid_images(count, rows, cols, seed)
        };
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        bytes.extend(tail);
        read_back(&bytes, false);
    }
}
