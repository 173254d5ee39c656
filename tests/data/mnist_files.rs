//! The bundled MNIST files load and verify; damaged files fail with errors naming the file.

use std::io::{Read, Write};
use std::path::Path;

use mnist_data::files::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, read_verified};
use mnist_data::idx::{encode_images, encode_labels};
use mnist_data::{DataError, IdxImages, LabelledImages, Mnist, bundled_data_dir, resolve_data_dir};

fn label_counts(labels: &[u8]) -> [usize; 10] {
    let mut counts = [0; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

#[test]
fn bundled_files_verify_and_match_the_published_facts() {
    let mnist = Mnist::load(&bundled_data_dir()).expect("bundled MNIST loads");
    assert_eq!(mnist.train.len(), 60_000);
    assert_eq!(mnist.test.len(), 10_000);
    assert_eq!(
        label_counts(mnist.train.labels()),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        label_counts(mnist.test.labels()),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(&mnist.train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&mnist.test.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let mean = mnist
        .train
        .pixels()
        .iter()
        .map(|&p| p as f64 / 255.0)
        .sum::<f64>()
        / mnist.train.pixels().len() as f64;
    assert!((mean - 0.1307).abs() < 1e-4, "pixel mean {mean}");
}

#[test]
fn explicit_directory_wins() {
    let dir = Path::new("/somewhere/else");
    assert_eq!(resolve_data_dir(Some(dir)), dir);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::File::create(dir.join(name))
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mnist::load(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("train-images-idx3-ubyte"), "{message}");
    assert!(message.contains("MNIST_DIR"), "{message}");
}

#[test]
fn truncated_gzip_is_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(bundled_data_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &full[..full.len() / 2],
    );
    let err = read_verified(dir.path(), TEST_LABELS).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    assert!(
        err.to_string().contains("t10k-labels-idx1-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn truncated_raw_file_says_how_much_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut labels = encode_labels(&[1, 2, 3, 4]);
    labels.truncate(labels.len() - 2);
    write(dir.path(), "labels", &labels);
    let err = mnist_data::read_labels(&dir.path().join("labels")).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("promises 4 data bytes, file holds 2"),
        "{err}"
    );
}

#[test]
fn wrong_magic_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // A label file where an image file is expected.
    write(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &gzip(&encode_labels(&[1, 2])),
    );
    let err = read_verified(dir.path(), TEST_IMAGES).unwrap_err();
    assert!(
        matches!(err, DataError::WrongMagic { found: 0x801, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");
}

#[test]
fn altered_content_fails_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let mut labels = Mnist::load_test(&bundled_data_dir())
        .unwrap()
        .labels()
        .to_vec();
    labels[0] = (labels[0] + 1) % 10;
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &encode_labels(&labels),
    );
    let err = read_verified(dir.path(), TEST_LABELS).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(TEST_LABELS.sha256), "{err}");
}

#[test]
fn raw_and_gzip_files_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let raw = read_verified(&bundled_data_dir(), TRAIN_LABELS).unwrap();
    write(dir.path(), TRAIN_LABELS.name, &raw.bytes);
    let again = read_verified(dir.path(), TRAIN_LABELS).unwrap();
    assert_eq!(raw.bytes, again.bytes);
    assert!(read_verified(dir.path(), TRAIN_IMAGES).is_err());
}

#[test]
fn idx_pairs_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let images = IdxImages {
        count: 3,
        rows: 28,
        cols: 28,
        pixels: vec![0; 3 * 784],
    };
    write(dir.path(), "imgs", &encode_images(&images));
    write(dir.path(), "lbls", &encode_labels(&[1, 2]));
    write(dir.path(), "bad", &encode_labels(&[1, 12, 3]));
    let err = LabelledImages::read_idx_pair(&dir.path().join("imgs"), &dir.path().join("lbls"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                image_count: 3,
                label_count: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = mnist_data::read_labels(&dir.path().join("bad")).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 1,
                label: 12,
                ..
            }
        ),
        "{err}"
    );
    let small = IdxImages {
        count: 1,
        rows: 8,
        cols: 8,
        pixels: vec![0; 64],
    };
    write(dir.path(), "small", &encode_images(&small));
    write(dir.path(), "one", &encode_labels(&[1]));
    let err = LabelledImages::read_idx_pair(&dir.path().join("small"), &dir.path().join("one"))
        .unwrap_err();
    assert!(err.to_string().contains("8x8, expected 28x28"), "{err}");
}

#[test]
fn a_file_compressed_as_several_gzip_members_reads_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read(bundled_data_dir().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let mut content = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut content)
        .unwrap();
    // What `cat a.gz b.gz` gives: the header in one member, the labels in another.
    let members = [gzip(&content[..100]), gzip(&content[100..])].concat();
    write(dir.path(), "t10k-labels-idx1-ubyte.gz", &members);
    let labels = read_verified(dir.path(), TEST_LABELS).unwrap();
    assert_eq!(labels.bytes.len(), 8 + 10_000);
}

#[test]
fn a_gzip_bomb_is_refused_without_inflating_it() {
    let dir = tempfile::tempdir().unwrap();
    // 200 MB of zeros (about 200 kB compressed): not IDX, refused after its first four bytes.
    let zeros = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![0u8; 1 << 20];
        for _ in 0..200 {
            encoder.write_all(&block).unwrap();
        }
        encoder.finish().unwrap()
    };
    write(dir.path(), "zeros.gz", &zeros);
    let err = mnist_data::read_labels(&dir.path().join("zeros.gz")).unwrap_err();
    assert!(
        matches!(err, DataError::WrongMagic { found: 0, .. }),
        "{err}"
    );

    // An IDX header followed by 200 MB: refused once it passes the budget.
    let bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&encode_labels(&[1, 2])[..8]).unwrap();
        let block = vec![1u8; 1 << 20];
        for _ in 0..200 {
            encoder.write_all(&block).unwrap();
        }
        encoder.finish().unwrap()
    };
    write(dir.path(), "bomb.gz", &bomb);
    let err = mnist_data::read_labels(&dir.path().join("bomb.gz")).unwrap_err();
    assert!(
        err.to_string().contains("bomb.gz")
            && err.to_string().contains(&format!(
                "more than {} bytes",
                mnist_data::idx::MAX_IDX_BYTES - 4
            )),
        "{err}"
    );
}

#[test]
fn a_fifo_or_a_folder_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let err = mnist_data::read_labels(&fifo).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let err = mnist_data::read_labels(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is a folder, not a file"), "{err}");
}
