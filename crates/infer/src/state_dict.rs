//! The tensors of a PyTorch state dict file, as `f32` values in logical (row-major) order:
//! `.safetensors` files and `torch.save` archives (`.pt` / `.pth`, the zip format PyTorch has
//! written since 1.6).
//!
//! One place decides what a weight file may hold, for both formats:
//! * element types: float32, float64, float16 and bfloat16 are converted to `f32`; any other
//!   (integers, bools, complex) is refused, naming the tensor;
//! * strides: a tensor is read through its strides and storage offset, so `channels_last`,
//!   transposed and sliced tensors give their values, not their storage's order;
//! * values: a NaN or an infinity is refused, naming the tensor;
//! * sizes: the file, its pickle and the elements it unpacks each have a budget
//!   ([`MAX_WEIGHT_FILE_BYTES`], [`MAX_PICKLE_BYTES`], [`MAX_ELEMENTS`]).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::pickle::{self, StorageRef, TensorView, Value};

/// Largest weight file read, and largest storage in one.
pub const MAX_WEIGHT_FILE_BYTES: u64 = 1 << 30;
/// Largest pickle (`data.pkl`) read from a `torch.save` archive.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// Most elements unpacked from one file, storages and tensors together (1 GiB of `f32`).
pub const MAX_ELEMENTS: usize = 1 << 28;

/// One tensor of a state dict.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    /// Its name, e.g. `conv1.weight`.
    pub name: String,
    /// Its size along each axis.
    pub shape: Vec<usize>,
    /// Its values in row-major order of `shape`.
    pub values: Vec<f32>,
}

/// The weight file formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `.safetensors`.
    Safetensors,
    /// `.pt` / `.pth`: a `torch.save` archive.
    Torch,
}

impl WeightFormat {
    /// The format a file's extension names, if any.
    pub fn of(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "safetensors" => Some(Self::Safetensors),
            "pt" | "pth" => Some(Self::Torch),
            _ => None,
        }
    }
}

/// The tensors of the state dict at `path` in `format`, sorted by name. `top_level_key`
/// selects a dict nested in a `torch.save` checkpoint (e.g. `state_dict`). The error is the
/// reason only; the caller names the file.
pub fn read_weights(
    path: &Path,
    format: WeightFormat,
    top_level_key: Option<&str>,
) -> Result<Vec<WeightTensor>, String> {
    let mut tensors = match format {
        WeightFormat::Safetensors => {
            if let Some(key) = top_level_key {
                return Err(format!(
                    "--key {key}: a safetensors file holds one flat set of tensors, no nested dicts"
                ));
            }
            let bytes = workbench_io::read_limited(path, MAX_WEIGHT_FILE_BYTES)
                .map_err(|e| e.to_string())?;
            read_safetensors(&bytes)?
        }
        WeightFormat::Torch => read_torch(path, top_level_key)?,
    };
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in tensors.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(format!("`{}` appears twice", pair[0].name));
        }
    }
    for tensor in &tensors {
        if let Some(at) = tensor.values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "`{}` holds {} at element {at}: weights must be finite numbers",
                tensor.name, tensor.values[at]
            ));
        }
    }
    Ok(tensors)
}

/// The element types a weight may have, each converted to `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    F32,
    F64,
    F16,
    BF16,
}

impl Element {
    fn size(self) -> usize {
        match self {
            Element::F32 => 4,
            Element::F64 => 8,
            Element::F16 | Element::BF16 => 2,
        }
    }

    /// Little-endian `bytes` (a whole number of elements) as `f32`.
    fn decode(self, bytes: &[u8]) -> Vec<f32> {
        let size = self.size();
        let chunks = bytes.chunks_exact(size);
        match self {
            Element::F32 => chunks
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
            Element::F64 => chunks
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            Element::F16 => chunks
                .map(|c| half::f16::from_le_bytes(c.try_into().expect("2 bytes")).to_f32())
                .collect(),
            Element::BF16 => chunks
                .map(|c| half::bf16::from_le_bytes(c.try_into().expect("2 bytes")).to_f32())
                .collect(),
        }
    }

    /// The element type of a `torch.save` storage class.
    fn of_torch_storage(class: &str) -> Result<Self, String> {
        Ok(match class {
            "FloatStorage" => Element::F32,
            "DoubleStorage" => Element::F64,
            "HalfStorage" => Element::F16,
            "BFloat16Storage" => Element::BF16,
            "LongStorage" => return Err(not_float("int64")),
            "IntStorage" => return Err(not_float("int32")),
            "ShortStorage" => return Err(not_float("int16")),
            "CharStorage" => return Err(not_float("int8")),
            "ByteStorage" => return Err(not_float("uint8")),
            "BoolStorage" => return Err(not_float("bool")),
            other => return Err(not_float(other)),
        })
    }

    fn of_safetensors(dtype: safetensors::Dtype) -> Result<Self, String> {
        use safetensors::Dtype;
        Ok(match dtype {
            Dtype::F32 => Element::F32,
            Dtype::F64 => Element::F64,
            Dtype::F16 => Element::F16,
            Dtype::BF16 => Element::BF16,
            other => return Err(not_float(&format!("{other:?}").to_lowercase())),
        })
    }
}

fn not_float(dtype: &str) -> String {
    format!("holds {dtype} values; weights must be float32, float64, float16 or bfloat16")
}

fn read_safetensors(bytes: &[u8]) -> Result<Vec<WeightTensor>, String> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut budget = ElementBudget::default();
    let mut views = file.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    views
        .into_iter()
        .map(|(name, view)| {
            let element =
                Element::of_safetensors(view.dtype()).map_err(|e| format!("`{name}` {e}"))?;
            budget.spend(view.data().len() / element.size())?;
            Ok(WeightTensor {
                values: element.decode(view.data()),
                shape: view.shape().to_vec(),
                name,
            })
        })
        .collect()
}

/// Counts the elements a file unpacks against [`MAX_ELEMENTS`].
#[derive(Default)]
struct ElementBudget(usize);

impl ElementBudget {
    fn spend(&mut self, elements: usize) -> Result<(), String> {
        self.0 = self.0.saturating_add(elements);
        if self.0 > MAX_ELEMENTS {
            return Err(format!(
                "unpacks to more than {MAX_ELEMENTS} elements, the most this reader accepts"
            ));
        }
        Ok(())
    }
}

fn read_torch(path: &Path, top_level_key: Option<&str>) -> Result<Vec<WeightTensor>, String> {
    let file = workbench_io::open_regular(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > MAX_WEIGHT_FILE_BYTES {
        return Err(format!(
            "is {len} bytes, more than the {MAX_WEIGHT_FILE_BYTES} a weight file may have"
        ));
    }
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        format!(
            "not a zip archive ({e}): PyTorch before 1.6, or with _use_new_zipfile_serialization=False, \
             writes an older format; load the file and save it again with a current PyTorch"
        )
    })?;
    let mut archive = TorchArchive::open(&mut archive)?;
    let pickle_bytes = archive.entry("data.pkl", MAX_PICKLE_BYTES)?;
    let root = pickle::load(&pickle_bytes).map_err(|e| format!("data.pkl: {e}"))?;
    let dict = select(root, top_level_key)?;
    let mut budget = ElementBudget::default();
    let mut storages: HashMap<String, (StorageRef, Vec<f32>)> = HashMap::new();
    let mut tensors = Vec::new();
    for (name, value) in dict {
        let Value::Tensor(view) = value else {
            let hint = match value {
                Value::Dict(_) => format!(" (to read the weights inside it, pass --key {name})"),
                _ => String::new(),
            };
            return Err(format!("`{name}` is {}, not a tensor{hint}", value.kind()));
        };
        let key = view.storage.key.clone();
        if !storages.contains_key(&key) {
            let values = archive
                .storage(&view, &mut budget)
                .map_err(|e| format!("`{name}` {e}"))?;
            storages.insert(key.clone(), (view.storage.clone(), values));
        }
        let (storage, values) = &storages[&key];
        if *storage != view.storage {
            return Err(format!(
                "`{name}` names storage {key} as {} elements of {}, another tensor as {} of {}",
                view.storage.len, view.storage.class, storage.len, storage.class
            ));
        }
        let values = gather(values, &view, &mut budget).map_err(|e| format!("`{name}` {e}"))?;
        tensors.push(WeightTensor {
            name,
            shape: view.shape,
            values,
        });
    }
    Ok(tensors)
}

/// The `(name, value)` pairs of the state dict: the pickle's root, or the dict under
/// `top_level_key` in it.
fn select(root: Value, top_level_key: Option<&str>) -> Result<Vec<(String, Value)>, String> {
    let pairs = |value: Value, what: &str| -> Result<Vec<(String, Value)>, String> {
        let Value::Dict(seq) = value else {
            return Err(format!("{what} is {}, not a state dict", value.kind()));
        };
        let mut items = seq.items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(key), Some(value)) = (items.next(), items.next()) {
            let Value::Str(key) = key else {
                return Err(format!(
                    "{what} has a key that is {}, not a name",
                    key.kind()
                ));
            };
            pairs.push((key, value));
        }
        Ok(pairs)
    };
    let root = pairs(root, "its pickle")?;
    let Some(wanted) = top_level_key else {
        return Ok(root);
    };
    let names: Vec<String> = root.iter().map(|(k, _)| k.clone()).collect();
    let (_, nested) = root
        .into_iter()
        .find(|(key, _)| key == wanted)
        .ok_or_else(|| format!("--key {wanted}: no such key (it has: {})", names.join(", ")))?;
    pairs(nested, &format!("--key {wanted}"))
}

/// A `torch.save` archive: `<name>/data.pkl`, `<name>/data/<storage key>`, `<name>/byteorder`.
struct TorchArchive<'a> {
    zip: &'a mut zip::ZipArchive<std::fs::File>,
    prefix: String,
}

impl<'a> TorchArchive<'a> {
    fn open(zip: &'a mut zip::ZipArchive<std::fs::File>) -> Result<Self, String> {
        let pickles: Vec<&str> = zip
            .file_names()
            .filter(|name| name.ends_with("/data.pkl") && name.matches('/').count() == 1)
            .collect();
        let [pickle] = pickles.as_slice() else {
            return Err(format!(
                "a zip archive with {} `<name>/data.pkl` entries, not a torch.save archive with one",
                pickles.len()
            ));
        };
        let prefix = pickle.trim_end_matches("data.pkl").to_string();
        let mut archive = TorchArchive { zip, prefix };
        if archive.has("byteorder") {
            let order = archive.entry("byteorder", 16)?;
            if order != b"little" {
                return Err(format!(
                    "stores its tensors {}-endian; only little-endian archives are read",
                    String::from_utf8_lossy(&order)
                ));
            }
        }
        Ok(archive)
    }

    fn has(&self, name: &str) -> bool {
        self.zip
            .index_for_name(&format!("{}{name}", self.prefix))
            .is_some()
    }

    /// The entry `<prefix><name>`, refused past `limit` bytes.
    fn entry(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, String> {
        let full = format!("{}{name}", self.prefix);
        let entry = self
            .zip
            .by_name(&full)
            .map_err(|e| format!("archive entry {full}: {e}"))?;
        let declared = entry.size();
        if declared > limit {
            return Err(format!(
                "archive entry {full} is {declared} bytes, more than the {limit} accepted"
            ));
        }
        let mut bytes = Vec::with_capacity(declared as usize);
        entry
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("archive entry {full}: {e}"))?;
        if bytes.len() as u64 != declared {
            return Err(format!(
                "archive entry {full} holds {} bytes, not the {declared} its header says",
                bytes.len()
            ));
        }
        Ok(bytes)
    }

    /// The whole storage a tensor views, as `f32`.
    fn storage(
        &mut self,
        view: &TensorView,
        budget: &mut ElementBudget,
    ) -> Result<Vec<f32>, String> {
        let storage = &view.storage;
        let element = Element::of_torch_storage(&storage.class)?;
        budget.spend(storage.len)?;
        let expected = storage.len * element.size();
        if expected as u64 > MAX_WEIGHT_FILE_BYTES {
            return Err(format!(
                "has a storage of {expected} bytes, more than a weight file may have"
            ));
        }
        let bytes = self.entry(&format!("data/{}", storage.key), expected as u64)?;
        if bytes.len() != expected {
            return Err(format!(
                "has a storage of {} bytes where its {} elements take {expected}",
                bytes.len(),
                storage.len
            ));
        }
        Ok(element.decode(&bytes))
    }
}

/// A tensor's values in row-major order, read from its storage through its offset and strides.
fn gather(
    storage: &[f32],
    view: &TensorView,
    budget: &mut ElementBudget,
) -> Result<Vec<f32>, String> {
    let count = view
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or("has a shape whose size overflows")?;
    budget.spend(count)?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let last = view
        .shape
        .iter()
        .zip(&view.stride)
        .try_fold(view.offset, |at, (&d, &s)| at.checked_add((d - 1).checked_mul(s)?))
        .filter(|&last| last < storage.len())
        .ok_or_else(|| {
            format!(
                "reaches past the end of its storage of {} elements (offset {}, size {:?}, stride {:?})",
                storage.len(),
                view.offset,
                view.shape,
                view.stride
            )
        })?;
    debug_assert!(last < storage.len());
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; view.shape.len()];
    let mut at = view.offset;
    loop {
        values.push(storage[at]);
        // Step the multi-index like an odometer, last axis fastest.
        let mut axis = view.shape.len();
        loop {
            if axis == 0 {
                return Ok(values);
            }
            axis -= 1;
            index[axis] += 1;
            // Wrapping: a stride past the end is only ever added on an axis of size 1, and
            // taken back at once (the last element was checked to lie in the storage).
            at = at.wrapping_add(view.stride[axis]);
            if index[axis] < view.shape[axis] {
                break;
            }
            at = at.wrapping_sub(view.stride[axis].wrapping_mul(view.shape[axis]));
            index[axis] = 0;
        }
    }
}
