//! `infer export` writes what `infer import` reads: for each network, import(export(m)) is
//! the same network (same config from the file's metadata, bit-identical weights, identical
//! predictions), and the file holds PyTorch's names and layouts.

use std::path::Path;

use burn_ndarray::NdArray;
use model::{ModelConfig, ModelKind, PoolKind};
use safetensors::SafeTensors;

use super::common::{infer, test_idx};

/// Runs `infer ARGS`, which must succeed; returns standard output.
fn infer_ok(args: &[&str]) -> String {
    let out = infer(args);
    assert!(
        out.status.success(),
        "infer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `infer predict --json` on the first test images.
fn predictions(model: &Path) -> String {
    let model = model.to_str().unwrap();
    let idx = test_idx();
    let mut args = vec!["predict", "--model", model, "--idx", &idx, "--json"];
    for index in ["0", "1", "2", "3", "9999"] {
        args.extend(["--index", index]);
    }
    infer_ok(&args)
}

/// PyTorch's tensor names and shapes of each network (linear weights `[out, in]`).
fn pytorch_layout(kind: ModelKind) -> Vec<(String, Vec<usize>)> {
    let layers: &[(&str, &[usize])] = match kind {
        ModelKind::Lenet5 => &[
            ("conv1", &[6, 1, 5, 5]),
            ("conv2", &[16, 6, 5, 5]),
            ("fc1", &[120, 400]),
            ("fc2", &[84, 120]),
            ("fc3", &[10, 84]),
        ],
        ModelKind::Convnet => &[
            ("conv1", &[32, 1, 5, 5]),
            ("conv2", &[64, 32, 5, 5]),
            ("fc1", &[1024, 3136]),
            ("fc2", &[10, 1024]),
        ],
        ModelKind::Mlp => &[
            ("fc1", &[1200, 784]),
            ("fc2", &[1200, 1200]),
            ("fc3", &[1200, 1200]),
            ("fc4", &[10, 1200]),
        ],
    };
    let mut names = Vec::new();
    for (layer, shape) in layers {
        names.push((format!("{layer}.weight"), shape.to_vec()));
        names.push((format!("{layer}.bias"), vec![shape[0]]));
    }
    names.sort();
    names
}

#[test]
fn import_of_export_is_the_same_network_for_all_three() {
    let configs = [
        // Average pooling: only the metadata can tell `import` about it.
        ModelConfig::new()
            .with_kind(ModelKind::Lenet5)
            .with_pool(Some(PoolKind::Avg)),
        ModelConfig::new().with_kind(ModelKind::Convnet),
        ModelConfig::new().with_kind(ModelKind::Mlp),
    ];
    for config in configs {
        let kind = config.kind;
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("original");
        let network = crate::model::seeded::<NdArray>(&config, &Default::default());
        model::save_model(&network, &config, &original).unwrap();

        let file = dir.path().join(format!("{kind}.safetensors"));
        let said = infer_ok(&[
            "export",
            "--model",
            original.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(
            said.starts_with(&format!("exported {kind} weights")),
            "{said}"
        );

        let bytes = std::fs::read(&file).unwrap();
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        let mut layout: Vec<(String, Vec<usize>)> = tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
                (name, view.shape().to_vec())
            })
            .collect();
        layout.sort();
        assert_eq!(layout, pytorch_layout(kind), "{kind}");

        // No --kind: the metadata says what the file holds.
        let imported = dir.path().join("imported");
        infer_ok(&[
            "import",
            "--from",
            file.to_str().unwrap(),
            "--out",
            imported.to_str().unwrap(),
        ]);
        assert_eq!(
            model::persist::load_config(&imported).unwrap(),
            config,
            "{kind}"
        );
        assert_eq!(
            crate::training::common::weight_bits(&imported),
            crate::training::common::weight_bits(&original),
            "{kind}: weights"
        );
        assert_eq!(predictions(&imported), predictions(&original), "{kind}");

        let wrong = if kind == ModelKind::Mlp {
            "lenet5"
        } else {
            "mlp"
        };
        let out = infer(&[
            "import",
            "--from",
            file.to_str().unwrap(),
            "--kind",
            wrong,
            "--out",
            dir.path().join("wrong").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(&format!("holds a {kind} network")),
            "{stderr}"
        );
    }
}

/// `export` writes only `.safetensors` files; `import` checks the config in a file's metadata
/// before building the network from it.
#[test]
fn export_and_import_refuse_what_they_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original");
    let config = ModelConfig::new();
    let network = crate::model::seeded::<NdArray>(&config, &Default::default());
    model::save_model(&network, &config, &original).unwrap();
    let pt = dir.path().join("model.pt");
    let out = infer(&[
        "export",
        "--model",
        original.to_str().unwrap(),
        "--out",
        pt.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("must end in .safetensors"),
        "{stderr}"
    );
    assert!(!pt.exists());

    let bad = dir.path().join("bad.safetensors");
    let metadata = std::collections::HashMap::from([(
        infer::export::CONFIG_METADATA_KEY.to_string(),
        r#"{"kind":"lenet5","init":"he","dropout":5.0,"kernels":"custom"}"#.to_string(),
    )]);
    let bias = [0u8; 4 * 6];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![6], &bias).unwrap();
    let bytes = safetensors::serialize([("conv1.bias", view)], Some(metadata)).unwrap();
    std::fs::write(&bad, bytes).unwrap();
    let out = infer(&[
        "import",
        "--from",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("imported").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("bad.safetensors") && stderr.contains("dropout 5"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
