//! `infer import` of state dicts saved by PyTorch: the files in `tests/fixtures/pytorch/`
//! (written by a real PyTorch with its `make_fixtures.py`) and pickles written here.
//! Every layout (permuted, `channels_last`, transposed, sliced, strided, a shared storage) and
//! float type (32, 64, 16, bfloat16) gives the stored values; what cannot be weights is
//! refused naming the tensor; a hostile pickle gets an error, never a crash.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use infer::state_dict::{WeightFormat, read_weights};
use proptest::prelude::*;

use super::common::infer;

/// PyTorch's names and shapes of LeNet-5, in the order `make_fixtures.py` numbers them.
const LENET5: [(&str, &[usize]); 10] = [
    ("conv1.weight", &[6, 1, 5, 5]),
    ("conv1.bias", &[6]),
    ("conv2.weight", &[16, 6, 5, 5]),
    ("conv2.bias", &[16]),
    ("fc1.weight", &[120, 400]),
    ("fc1.bias", &[120]),
    ("fc2.weight", &[84, 120]),
    ("fc2.bias", &[84]),
    ("fc3.weight", &[10, 84]),
    ("fc3.bias", &[10]),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// The value `make_fixtures.py` gives element `i` of tensor number `s`.
fn fixture_value(s: usize, i: usize) -> f32 {
    ((37 * i + 101 * s) % 255) as f32 / 256.0 - 127.0 / 256.0
}

/// `infer ARGS`: (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    let out = infer(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "infer {args:?}: {stderr}");
    (out.status.success(), stderr)
}

/// `infer import --from FROM --kind lenet5 --out OUT EXTRA...`: (success, stderr).
fn import_lenet5(from: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "import",
        "--from",
        from.to_str().unwrap(),
        "--kind",
        "lenet5",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    run(&args)
}

/// The tensors of a model folder in PyTorch's layout, through `infer export`.
fn exported(model: &Path) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let file = model.with_extension("safetensors");
    let (ok, stderr) = run(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let bytes = std::fs::read(&file).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

#[test]
fn every_layout_and_float_type_imports_the_values_pytorch_stored() {
    for (file, key) in [
        ("lenet5-views.pt", None),
        ("lenet5-checkpoint.pt", Some("state_dict")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("imported");
        let key: Vec<&str> = key.map(|key| vec!["--key", key]).unwrap_or_default();
        let (ok, stderr) = import_lenet5(&fixture(file), &out, &key);
        assert!(ok, "{file}: {stderr}");
        let tensors = exported(&out);
        assert_eq!(tensors.len(), LENET5.len(), "{file}");
        for (s, (name, shape)) in LENET5.iter().enumerate() {
            let (got_shape, values) = &tensors[*name];
            assert_eq!(got_shape, shape, "{file}: {name}");
            for (i, value) in values.iter().enumerate() {
                assert_eq!(*value, fixture_value(s, i), "{file}: {name}[{i}]");
            }
        }
    }
}

#[test]
fn a_checkpoint_read_without_its_key_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let from = fixture("lenet5-checkpoint.pt");
    let out = dir.path().join("imported");
    let (ok, stderr) = import_lenet5(&from, &out, &[]);
    assert!(!ok && stderr.contains("lenet5-checkpoint.pt"), "{stderr}");
    assert!(
        stderr.contains("`epoch` is an int, not a tensor"),
        "{stderr}"
    );
    let (ok, stderr) = import_lenet5(&from, &out, &["--key", "weights"]);
    assert!(
        !ok && stderr.contains("--key weights: no such key")
            && stderr.contains("epoch, state_dict, optimizer"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn what_cannot_be_weights_is_refused_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("int64.pt", "`conv1.bias` holds int64 values"),
        ("infinite.pt", "`fc3.bias` holds inf at element 1"),
        ("legacy.pt", "not a zip archive"),
    ];
    for (file, said) in cases {
        let from = fixture(file);
        let out = dir.path().join(file);
        let (ok, stderr) = import_lenet5(&from, &out, &[]);
        assert!(
            !ok && stderr.contains(file) && stderr.contains(said),
            "{file}: {stderr}"
        );
        assert!(!out.exists(), "{file}");
    }
}

/// A LeNet-5 state dict as `.safetensors` in one element type, every value `fixture_value`.
fn lenet5_safetensors(dtype: safetensors::Dtype) -> Vec<u8> {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = LENET5
        .iter()
        .enumerate()
        .map(|(s, (name, shape))| {
            let n: usize = shape.iter().product();
            let bytes = (0..n)
                .flat_map(|i| {
                    let v = fixture_value(s, i);
                    match dtype {
                        safetensors::Dtype::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
                        safetensors::Dtype::BF16 => half::bf16::from_f32(v).to_le_bytes().to_vec(),
                        safetensors::Dtype::F64 => f64::from(v).to_le_bytes().to_vec(),
                        safetensors::Dtype::I64 => (v as i64).to_le_bytes().to_vec(),
                        _ => v.to_le_bytes().to_vec(),
                    }
                })
                .collect();
            (name.to_string(), shape.to_vec(), bytes)
        })
        .collect();
    let views = buffers.iter().map(|(name, shape, bytes)| {
        let view = safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes).unwrap();
        (name.as_str(), view)
    });
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn safetensors_in_every_float_type_import_and_integers_are_refused() {
    use safetensors::Dtype;
    let dir = tempfile::tempdir().unwrap();
    for dtype in [Dtype::F16, Dtype::BF16, Dtype::F64, Dtype::I64] {
        let file = dir.path().join(format!("{dtype:?}.safetensors"));
        std::fs::write(&file, lenet5_safetensors(dtype)).unwrap();
        let out = dir.path().join(format!("{dtype:?}"));
        let (ok, stderr) = import_lenet5(&file, &out, &[]);
        if dtype == Dtype::I64 {
            assert!(
                !ok && stderr.contains("` holds i64 values; weights must be float"),
                "{stderr}"
            );
            continue;
        }
        assert!(ok, "{dtype:?}: {stderr}");
        let tensors = exported(&out);
        for (s, (name, _)) in LENET5.iter().enumerate() {
            for (i, value) in tensors[*name].1.iter().enumerate() {
                assert_eq!(*value, fixture_value(s, i), "{dtype:?}: {name}[{i}]");
            }
        }
    }
}

/// A `torch.save`-style archive holding `pickle` as `archive/data.pkl` and `storages` as
/// `archive/data/<key>`.
fn archive(path: &Path, pickle: &[u8], storages: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", options).unwrap();
    zip.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        zip.start_file(format!("archive/data/{key}"), options)
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// The storage classes of `torch.save` with their element types, for the generated pickles.
#[derive(Debug, Clone, Copy)]
enum Stored {
    F32,
    F64,
    F16,
    BF16,
}

impl Stored {
    fn class(self) -> &'static str {
        match self {
            Stored::F32 => "FloatStorage",
            Stored::F64 => "DoubleStorage",
            Stored::F16 => "HalfStorage",
            Stored::BF16 => "BFloat16Storage",
        }
    }

    fn bytes(self, values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| match self {
                Stored::F32 => v.to_le_bytes().to_vec(),
                Stored::F64 => f64::from(v).to_le_bytes().to_vec(),
                Stored::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
                Stored::BF16 => half::bf16::from_f32(v).to_le_bytes().to_vec(),
            })
            .collect()
    }
}

/// A tensor as a pickle describes it.
struct View<'a> {
    name: &'a str,
    stored: Stored,
    key: &'a str,
    storage_len: usize,
    offset: usize,
    shape: &'a [usize],
    stride: &'a [usize],
}

fn text(op: u8, s: &str, out: &mut Vec<u8>) {
    out.push(op);
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

fn int(v: usize, out: &mut Vec<u8>) {
    out.push(b'J');
    out.extend((v as i32).to_le_bytes());
}

/// The pickle `torch.save` writes for a dict of `views` (protocol 2, as PyTorch does).
fn state_dict_pickle(views: &[View]) -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}', b'('];
    for v in views {
        text(b'X', v.name, &mut p);
        tensor_pickle(v, &mut p);
    }
    p.extend(b"u.");
    p
}

/// The pickle of one tensor (its rebuild call).
fn tensor_pickle(v: &View, p: &mut Vec<u8>) {
    p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
    text(b'X', "storage", p);
    p.extend(format!("ctorch\n{}\n", v.stored.class()).as_bytes());
    text(b'X', v.key, p);
    text(b'X', "cpu", p);
    int(v.storage_len, p);
    p.extend(b"tQ");
    int(v.offset, p);
    p.push(b'(');
    v.shape.iter().for_each(|&d| int(d, p));
    p.extend(b"t(");
    v.stride.iter().for_each(|&d| int(d, p));
    p.extend(b"t\x89}tR");
}

fn import_error(dir: &Path, name: &str, pickle: &[u8], storages: &[(&str, &[u8])]) -> String {
    let file = dir.join(format!("{name}.pt"));
    archive(&file, pickle, storages);
    let out = dir.join(name);
    let (ok, stderr) = import_lenet5(&file, &out, &[]);
    assert!(
        !ok && stderr.contains(&format!("{name}.pt")),
        "{name}: {stderr}"
    );
    stderr
}

#[test]
fn hostile_pickles_get_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let deep = 200_000;
    let mut lists = vec![0x80, 2];
    lists.extend(std::iter::repeat_n(b']', deep));
    lists.extend(std::iter::repeat_n(b'a', deep - 1));
    lists.push(b'.');
    let mut tuples = vec![0x80, 2, b'N'];
    tuples.extend(std::iter::repeat_n(0x85, deep));
    tuples.push(b'.');
    // Each step doubles a list through the memo: 2^60 elements if copies were free.
    let mut doubling = vec![0x80, 2, b']', b'q', 0];
    for _ in 0..60 {
        doubling.extend([b'(', b'h', 0, b'h', 0, b'l', b'q', 0, b'0']);
    }
    doubling.extend([b'h', 0, b'.']);
    let call = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echo\x85R.".to_vec();
    // A megabyte of bytes, duplicated a hundred times: 100 MB if copies were free.
    let mut bytes = vec![0x80, 2, b'B'];
    bytes.extend((1u32 << 20).to_le_bytes());
    bytes.extend(vec![0u8; 1 << 20]);
    bytes.extend([b'2'; 100]);
    bytes.push(b'.');
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("bytes", bytes, "more than 1000000 values"),
        ("deep-lists", lists, "nested more than 64 levels deep"),
        ("deep-tuples", tuples, "nested more than 64 levels deep"),
        ("doubling", doubling, "more than 1000000 values"),
        ("call", call, "a call of posix.system, which is not read"),
        (
            "truncated",
            b"\x80\x02}(X\x01\x00\x00".to_vec(),
            "the pickle ends early",
        ),
    ];
    for (name, pickle, said) in cases {
        let stderr = import_error(dir, name, &pickle, &[]);
        assert!(stderr.contains(said), "{name}: {stderr}");
    }

    // A view that reaches past its storage, and a storage shorter than it says.
    let storage = Stored::F32.bytes(&[0.0; 6]);
    let past = View {
        name: "conv1.bias",
        stored: Stored::F32,
        key: "0",
        storage_len: 6,
        offset: 1,
        shape: &[6],
        stride: &[1],
    };
    let stderr = import_error(dir, "past", &state_dict_pickle(&[past]), &[("0", &storage)]);
    assert!(
        stderr.contains("`conv1.bias` reaches past the end of its storage"),
        "{stderr}"
    );
    let short = View {
        name: "conv1.bias",
        stored: Stored::F32,
        key: "0",
        storage_len: 7,
        offset: 0,
        shape: &[6],
        stride: &[1],
    };
    let stderr = import_error(
        dir,
        "short",
        &state_dict_pickle(&[short]),
        &[("0", &storage)],
    );
    assert!(
        stderr.contains("`conv1.bias` has a storage of 24 bytes where its 7 elements take 28"),
        "{stderr}"
    );
    let huge = View {
        name: "conv1.bias",
        stored: Stored::F32,
        key: "0",
        storage_len: 6,
        offset: 0,
        shape: &[1 << 20, 1 << 20],
        stride: &[0, 0],
    };
    let stderr = import_error(dir, "huge", &state_dict_pickle(&[huge]), &[("0", &storage)]);
    assert!(stderr.contains("more than 268435456 elements"), "{stderr}");
}

/// A checkpoint that holds one state dict twice (`{"model": sd, "ema": sd}`): the pickle
/// memoizes the dict before filling it, and the second mention is a memo reference, which
/// must give the filled dict.
#[test]
fn a_state_dict_mentioned_twice_reads_the_same_both_times() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twice.pt");
    let view = View {
        name: "w",
        stored: Stored::F32,
        key: "0",
        storage_len: 3,
        offset: 0,
        shape: &[3],
        stride: &[1],
    };
    let mut p = vec![0x80, 2, b'}', b'q', 0, b'('];
    text(b'X', "model", &mut p);
    p.extend([b'}', b'q', 1, b'(']);
    text(b'X', "w", &mut p);
    tensor_pickle(&view, &mut p);
    p.push(b'u');
    text(b'X', "ema", &mut p);
    p.extend([b'h', 1, b'u', b'.']);
    archive(&file, &p, &[("0", &Stored::F32.bytes(&[1.0, 2.0, 3.0]))]);
    for key in ["model", "ema"] {
        let tensors = read_weights(&file, WeightFormat::Torch, Some(key)).unwrap();
        assert_eq!(tensors.len(), 1, "{key}");
        assert_eq!(tensors[0].values, [1.0, 2.0, 3.0], "{key}");
    }
}

/// A strided view of an arbitrary storage: (element type, storage values, offset, shape,
/// stride), every value exactly representable in every element type.
fn arbitrary_view() -> impl Strategy<Value = (Stored, Vec<f32>, usize, Vec<usize>, Vec<usize>)> {
    let stored = prop_oneof![
        Just(Stored::F32),
        Just(Stored::F64),
        Just(Stored::F16),
        Just(Stored::BF16)
    ];
    (
        stored,
        prop::collection::vec((0usize..4, 0usize..5), 0..4),
        0usize..5,
    )
        .prop_flat_map(|(stored, axes, offset)| {
            let shape: Vec<usize> = axes.iter().map(|&(d, _)| d).collect();
            let stride: Vec<usize> = axes.iter().map(|&(_, s)| s).collect();
            let reach = offset
                + shape
                    .iter()
                    .zip(&stride)
                    .map(|(&d, &s)| d.saturating_sub(1) * s)
                    .sum::<usize>();
            let values =
                prop::collection::vec((-128i32..128).prop_map(|k| k as f32 / 64.0), reach + 1);
            (
                Just(stored),
                values,
                Just(offset),
                Just(shape),
                Just(stride),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the element type, shape, offset and strides (zero and overlapping ones
    /// included), the reader gives the view's values in row-major order.
    #[test]
    fn any_strided_view_reads_as_its_values((stored, storage, offset, shape, stride) in arbitrary_view()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("view.pt");
        let view = View { name: "w", stored, key: "7", storage_len: storage.len(), offset, shape: &shape, stride: &stride };
        archive(&file, &state_dict_pickle(&[view]), &[("7", &stored.bytes(&storage))]);
        let tensors = read_weights(&file, WeightFormat::Torch, None).unwrap();
        let mut want = Vec::new();
        let count: usize = shape.iter().product();
        for flat in 0..count {
            let (mut rest, mut at) = (flat, offset);
            for axis in (0..shape.len()).rev() {
                at += (rest % shape[axis]) * stride[axis];
                rest /= shape[axis];
            }
            want.push(storage[at]);
        }
        prop_assert_eq!(&tensors[0].shape, &shape);
        prop_assert_eq!(&tensors[0].values, &want);
    }

    /// Any bytes at all as a pickle: a value or an error, never a panic.
    #[test]
    fn any_bytes_as_a_pickle_are_an_error_or_a_value(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut pickle = vec![0x80, 2];
        pickle.extend(bytes);
        let _ = infer::pickle::load(&pickle);
    }
}
