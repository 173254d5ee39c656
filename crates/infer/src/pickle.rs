//! The pickle inside a `torch.save` file (`archive/data.pkl`), read into plain values.
//!
//! Why the project reads it itself: Burn's reader (burn-store 0.21) ignores a tensor's strides
//! (a `channels_last` or transposed tensor is read as if contiguous: wrong weights, no
//! error), panics on half-precision tensors and overflows the stack on a deeply nested pickle.
//!
//! This is a reader, not Python: it runs nothing. The only calls it evaluates are the ones a
//! state dict is made of (`collections.OrderedDict()` and torch's tensor and parameter rebuild
//! functions); any other call becomes an [`Value::Opaque`] naming the callable, which the
//! caller reports if it sits where a tensor should. Every value is an owned copy (the memo
//! hands out copies; a memoized list or dict filled afterwards, as pickles do, has its memo
//! copy refreshed), and what a pickle can make is bounded: [`MAX_DEPTH`] levels of nesting and
//! of marks (so dropping a value cannot overflow the stack) and [`MAX_NODES`] values in all,
//! every copy counted and a string or bytes object counting one per [`BYTES_PER_NODE`] bytes
//! (so copies cannot multiply without bound, in number or in bytes).

/// Deepest nesting of containers accepted. A state dict is 2 deep (dict, tensor arguments); a
/// checkpoint that nests one a few levels down stays far below.
pub const MAX_DEPTH: usize = 64;

/// Most values (counting every element of every copy) one pickle may create.
pub const MAX_NODES: usize = 1_000_000;

/// A string, bytes object or name counts as one value per this many bytes (plus one): with
/// [`MAX_NODES`], at most 64 MiB of them in all.
pub const BYTES_PER_NODE: usize = 64;

/// Most axes of a tensor (PyTorch allows 64; the networks here use 4).
pub const MAX_AXES: usize = 8;

/// The longest name quoted in an error message.
const MAX_QUOTED: usize = 80;

/// A tensor as the pickle describes it: a view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorView {
    /// The storage it views.
    pub storage: StorageRef,
    /// Index of its first element in the storage, in elements.
    pub offset: usize,
    /// Its size along each axis.
    pub shape: Vec<usize>,
    /// Elements to step in the storage per index along each axis.
    pub stride: Vec<usize>,
}

/// A storage named by the pickle's persistent id `('storage', type, key, location, numel)`;
/// its bytes are the archive's `data/<key>`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The storage class's name, which gives the element type: `FloatStorage`, `HalfStorage`, ...
    pub class: String,
    /// The storage's file name in the archive's `data/` folder.
    pub key: String,
    /// Its length in elements.
    pub len: usize,
}

/// A value of the pickle.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A bytes object.
    Bytes(Vec<u8>),
    /// A class or function named by the pickle (`module.name`); never called.
    Global(String),
    /// A tuple.
    Tuple(Seq),
    /// A list.
    List(Seq),
    /// A dict: keys and values alternate.
    Dict(Seq),
    /// A storage's persistent id.
    Storage(StorageRef),
    /// A tensor.
    Tensor(Box<TensorView>),
    /// The result of a call this reader does not evaluate: the callable's name.
    Opaque(String),
}

/// The elements of a tuple, list or dict, with the bounds the reader keeps.
#[derive(Debug, Clone, Default)]
pub struct Seq {
    /// The elements (a dict's keys and values alternate).
    pub items: Vec<Value>,
    depth: usize,
    nodes: usize,
    /// The memo entry holding a copy of this container, to refresh when it is filled.
    memo: Option<u32>,
}

impl Seq {
    fn new(items: Vec<Value>) -> Result<Self, String> {
        let mut seq = Seq::default();
        for item in items {
            seq.push(item)?;
        }
        Ok(seq)
    }

    fn push(&mut self, item: Value) -> Result<(), String> {
        self.depth = self.depth.max(item.depth() + 1);
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        self.nodes += item.nodes();
        self.items.push(item);
        Ok(())
    }
}

impl Value {
    fn depth(&self) -> usize {
        match self {
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => s.depth,
            _ => 0,
        }
    }

    fn nodes(&self) -> usize {
        let bytes = |len: usize| 1 + len / BYTES_PER_NODE;
        match self {
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => 1 + s.nodes,
            Value::Str(text) | Value::Global(text) | Value::Opaque(text) => bytes(text.len()),
            Value::Bytes(data) => bytes(data.len()),
            Value::Storage(storage) => bytes(storage.class.len() + storage.key.len()),
            Value::Tensor(view) => {
                bytes(view.storage.class.len() + view.storage.key.len()) + view.shape.len()
            }
            _ => 1,
        }
    }

    fn seq_mut(&mut self) -> Option<&mut Seq> {
        match self {
            Value::Tuple(s) | Value::List(s) | Value::Dict(s) => Some(s),
            _ => None,
        }
    }

    /// What the value is, in a few words, for error messages (never its contents, which may
    /// be large or deep).
    pub fn kind(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(_) => "a string".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Global(name) => format!("the name {}", quoted(name)),
            Value::Tuple(s) => format!("a tuple of {}", s.items.len()),
            Value::List(s) => format!("a list of {}", s.items.len()),
            Value::Dict(s) => format!("a dict of {}", s.items.len() / 2),
            Value::Storage(_) => "a bare storage".into(),
            Value::Tensor(_) => "a tensor".into(),
            Value::Opaque(name) => format!("a call of {}, which is not read", quoted(name)),
        }
    }

    fn index(&self, what: &str) -> Result<usize, String> {
        match self {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} {i} is negative")),
            other => Err(format!("{what} is {}, not an int", other.kind())),
        }
    }

    fn indices(&self, what: &str) -> Result<Vec<usize>, String> {
        match self {
            Value::Tuple(s) | Value::List(s) => s.items.iter().map(|v| v.index(what)).collect(),
            other => Err(format!("{what} is {}, not a tuple", other.kind())),
        }
    }
}

/// `name`, cut to [`MAX_QUOTED`] characters for an error message.
fn quoted(name: &str) -> String {
    match name.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_string(),
    }
}

/// Reads a pickle (protocols 2 to 5, as `torch.save` writes) into its value.
pub fn load(bytes: &[u8]) -> Result<Value, String> {
    let mut machine = Machine {
        input: bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
        nodes: 0,
    };
    machine
        .run()
        .map_err(|e| format!("pickle byte {}: {e}", machine.at))
}

struct Machine<'a> {
    input: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Value>,
    nodes: usize,
}

impl Machine<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.input.len())
            .ok_or("the pickle ends early")?;
        let bytes = &self.input[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    fn len_u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn len_u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| "a length too large".into())
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.input[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a line without its end")?;
        let text = std::str::from_utf8(&rest[..end]).map_err(|_| "a line that is not UTF-8")?;
        self.at += end + 1;
        Ok(text.to_string())
    }

    fn text(&mut self, len: usize) -> Result<String, String> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a string that is not UTF-8".into())
    }

    /// Pushes a value, counting it against [`MAX_NODES`].
    fn push(&mut self, value: Value) -> Result<(), String> {
        self.count(value.nodes())?;
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, String> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("an operation reaches below its mark".into());
        }
        self.stack.pop().ok_or_else(|| "the stack is empty".into())
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "the stack is empty".into())
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("no mark to pop to")?;
        Ok(self.stack.split_off(mark))
    }

    fn count(&mut self, nodes: usize) -> Result<(), String> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} values"));
        }
        Ok(())
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        if let Some(seq) = self.top()?.seq_mut() {
            seq.memo = Some(key);
        }
        let value = self.top()?.clone();
        self.count(value.nodes())?;
        self.memo.insert(key, value);
        Ok(())
    }

    /// After the container on top of the stack was filled: its memo copy, if it has one, made
    /// equal to it again (a pickle memoizes a dict before its items).
    fn refresh_memo(&mut self) -> Result<(), String> {
        let Some(key) = self.top()?.seq_mut().and_then(|seq| seq.memo) else {
            return Ok(());
        };
        let value = self.top()?.clone();
        self.count(value.nodes())?;
        self.memo.insert(key, value);
        Ok(())
    }

    /// Pushes a tuple, list or dict of `items` (already counted), counting the container.
    fn push_seq(&mut self, items: Vec<Value>, make: fn(Seq) -> Value) -> Result<(), String> {
        let seq = Seq::new(items)?;
        self.count(1)?;
        self.stack.push(make(seq));
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), String> {
        let value = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo entry {key} is read before it is written"))?
            .clone();
        self.push(value)
    }

    fn tuple(&mut self, len: usize) -> Result<(), String> {
        if self.stack.len() < len
            || self
                .marks
                .last()
                .is_some_and(|&m| m > self.stack.len() - len)
        {
            return Err("a tuple reaches below the stack".into());
        }
        let items = self.stack.split_off(self.stack.len() - len);
        self.push_seq(items, Value::Tuple)
    }

    /// Adds `items` to the list or dict on top of the stack.
    fn extend_top(&mut self, items: Vec<Value>) -> Result<(), String> {
        match self.top()? {
            Value::List(seq) => items.into_iter().try_for_each(|item| seq.push(item))?,
            Value::Dict(seq) if items.len().is_multiple_of(2) => {
                items.into_iter().try_for_each(|item| seq.push(item))?
            }
            Value::Opaque(_) => return Ok(()),
            other => return Err(format!("cannot add items to {}", other.kind())),
        }
        self.refresh_memo()
    }

    fn run(&mut self) -> Result<Value, String> {
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    let protocol = self.byte()?;
                    if !(2..=5).contains(&protocol) {
                        return Err(format!("pickle protocol {protocol} (2 to 5 are read)"));
                    }
                }
                0x95 => {
                    self.array::<8>()?; // FRAME: a length hint only
                }
                b'.' => {
                    let value = self.pop()?;
                    return Ok(value);
                }
                b'(' => {
                    if self.marks.len() >= MAX_DEPTH {
                        return Err(format!("more than {MAX_DEPTH} marks open"));
                    }
                    self.marks.push(self.stack.len())
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_to_mark()?;
                }
                b'2' => {
                    let value = self.top()?.clone();
                    self.push(value)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let value = i32::from_le_bytes(self.array()?);
                    self.push(Value::Int(value.into()))?
                }
                b'K' => {
                    let value = self.byte()?;
                    self.push(Value::Int(value.into()))?
                }
                b'M' => {
                    let value = u16::from_le_bytes(self.array()?);
                    self.push(Value::Int(value.into()))?
                }
                0x8a => {
                    let len = usize::from(self.byte()?);
                    let value = long(self.take(len)?)?;
                    self.push(Value::Int(value))?
                }
                b'G' => {
                    let value = f64::from_be_bytes(self.array()?);
                    self.push(Value::Float(value))?
                }
                0x8c => {
                    let len = usize::from(self.byte()?);
                    let text = self.text(len)?;
                    self.push(Value::Str(text))?
                }
                b'X' => {
                    let len = self.len_u32()?;
                    let text = self.text(len)?;
                    self.push(Value::Str(text))?
                }
                0x8d => {
                    let len = self.len_u64()?;
                    let text = self.text(len)?;
                    self.push(Value::Str(text))?
                }
                b'U' | b'C' => {
                    let len = usize::from(self.byte()?);
                    let bytes = self.take(len)?.to_vec();
                    self.push(Value::Bytes(bytes))?
                }
                b'T' | b'B' => {
                    let len = self.len_u32()?;
                    let bytes = self.take(len)?.to_vec();
                    self.push(Value::Bytes(bytes))?
                }
                0x8e => {
                    let len = self.len_u64()?;
                    let bytes = self.take(len)?.to_vec();
                    self.push(Value::Bytes(bytes))?
                }
                b')' => self.push(Value::Tuple(Seq::default()))?,
                b']' => self.push(Value::List(Seq::default()))?,
                b'}' => self.push(Value::Dict(Seq::default()))?,
                0x85 => self.tuple(1)?,
                0x86 => self.tuple(2)?,
                0x87 => self.tuple(3)?,
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push_seq(items, Value::Tuple)?
                }
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push_seq(items, Value::List)?
                }
                b'd' => {
                    let items = self.pop_to_mark()?;
                    if !items.len().is_multiple_of(2) {
                        return Err("a dict with a key and no value".into());
                    }
                    self.push_seq(items, Value::Dict)?
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_top(vec![item])?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend_top(vec![key, value])?;
                }
                b'e' | b'u' => {
                    let items = self.pop_to_mark()?;
                    self.extend_top(items)?;
                }
                b'q' => {
                    let key = self.byte()?;
                    self.memo_put(key.into())?
                }
                b'r' => {
                    let key = u32::from_le_bytes(self.array()?);
                    self.memo_put(key)?
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).map_err(|_| "memo overflow")?;
                    self.memo_put(key)?
                }
                b'h' => {
                    let key = self.byte()?;
                    self.memo_get(key.into())?
                }
                b'j' => {
                    let key = u32::from_le_bytes(self.array()?);
                    self.memo_get(key)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(format!("{module}.{name}")))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err("STACK_GLOBAL of values that are not strings".into());
                    };
                    self.push(Value::Global(format!("{module}.{name}")))?
                }
                b'Q' => {
                    let id = self.pop()?;
                    let storage = storage(id)?;
                    self.push(Value::Storage(storage))?
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = call(callable, args)?;
                    self.push(result)?
                }
                0x81 => {
                    self.pop()?;
                    let class = self.pop()?;
                    self.push(Value::Opaque(callable_name(&class)))?
                }
                0x92 => {
                    self.pop()?;
                    self.pop()?;
                    let class = self.pop()?;
                    self.push(Value::Opaque(callable_name(&class)))?
                }
                b'b' => {
                    // BUILD sets an object's attributes (an OrderedDict's `_metadata`, a
                    // parameter's state): nothing a state dict's values depend on.
                    self.pop()?;
                    self.top()?;
                }
                other => return Err(format!("opcode 0x{other:02x} is not read")),
            }
        }
    }
}

/// A little-endian two's-complement integer of LONG1 (at most 64 bits).
fn long(bytes: &[u8]) -> Result<i64, String> {
    if bytes.len() > 8 {
        return Err("an integer over 64 bits".into());
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut full = if negative { [0xff; 8] } else { [0; 8] };
    full[..bytes.len()].copy_from_slice(bytes);
    Ok(i64::from_le_bytes(full))
}

fn callable_name(value: &Value) -> String {
    match value {
        Value::Global(name) => name.clone(),
        other => other.kind(),
    }
}

/// The storage a persistent id `('storage', class, key, location, numel)` names.
fn storage(id: Value) -> Result<StorageRef, String> {
    let Value::Tuple(seq) = id else {
        return Err(format!("a persistent id that is {}", id.kind()));
    };
    match seq.items.as_slice() {
        [Value::Str(tag), class, Value::Str(key), _location, len, ..] if tag == "storage" => {
            let class = match class {
                Value::Global(name) => name.rsplit('.').next().unwrap_or(name).to_string(),
                Value::Str(name) => name.clone(),
                other => return Err(format!("a storage class that is {}", other.kind())),
            };
            Ok(StorageRef {
                class,
                key: key.clone(),
                len: len.index("a storage's length")?,
            })
        }
        _ => Err("a persistent id that is not a storage".into()),
    }
}

/// Evaluates `callable(*args)` where it is one of the calls a state dict is made of; any
/// other call is left opaque.
fn call(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global(name) = &callable else {
        return Ok(Value::Opaque(callable.kind()));
    };
    let Value::Tuple(args) = args else {
        return Err(format!("{name} called with {}", args.kind()));
    };
    let mut args = args.items;
    Ok(match name.as_str() {
        "collections.OrderedDict" if args.is_empty() => Value::Dict(Seq::default()),
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            Value::Tensor(Box::new(tensor(&args)?))
        }
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state"
            if matches!(args.first(), Some(Value::Tensor(_))) =>
        {
            args.swap_remove(0)
        }
        // A tensor subclass: `_rebuild_from_type_v2(rebuild, type, args, state)`.
        "torch._tensor._rebuild_from_type_v2" => match args.as_slice() {
            [Value::Global(rebuild), _, Value::Tuple(inner), ..]
                if rebuild.starts_with("torch._utils._rebuild_tensor") =>
            {
                Value::Tensor(Box::new(tensor(&inner.items)?))
            }
            _ => Value::Opaque(name.clone()),
        },
        _ => Value::Opaque(name.clone()),
    })
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
fn tensor(args: &[Value]) -> Result<TensorView, String> {
    let [Value::Storage(storage), offset, shape, stride, ..] = args else {
        return Err("a tensor rebuilt from something other than a storage".into());
    };
    let shape = shape.indices("a tensor's size")?;
    let stride = stride.indices("a tensor's stride")?;
    if shape.len() > MAX_AXES {
        return Err(format!(
            "a tensor of {} axes (at most {MAX_AXES} are read)",
            shape.len()
        ));
    }
    if shape.len() != stride.len() {
        return Err(format!(
            "a tensor with {} sizes and {} strides",
            shape.len(),
            stride.len()
        ));
    }
    Ok(TensorView {
        storage: storage.clone(),
        offset: offset.index("a tensor's storage offset")?,
        shape,
        stride,
    })
}
