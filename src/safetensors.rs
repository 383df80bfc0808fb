//! A small, strict reader and writer of the [safetensors](https://huggingface.co/docs/safetensors)
//! format, without a JSON library (the core builds no JSON crate).
//!
//! A file is:
//!
//! 1. 8 bytes: the header's length `n`, a little-endian `u64`;
//! 2. `n` bytes: the header, a UTF-8 JSON object. Each key but one names a tensor,
//!    `{"dtype": "F32", "shape": [16, 3], "data_offsets": [begin, end]}`, with offsets in bytes
//!    from the start of the data; the optional key `"__metadata__"` holds an object of string
//!    values. The writer pads the header with spaces to a multiple of 8 bytes;
//! 3. the data: every tensor's elements, little-endian, row-major (the last index varies
//!    fastest).
//!
//! [`SafeTensors::parse`] accepts exactly that and checks everything before returning: the header
//! length fits the file, the JSON is well formed (string escapes and surrogate pairs included)
//! with no duplicate key and no unknown field, each dtype is known, each tensor's byte range is
//! `elements x dtype size` long, and the ranges cover the data exactly, without gaps or overlaps.
//! Anything else is a [`SafetensorsError`]; no input makes it panic (a test feeds it thousands of
//! mutated headers). [`serialize`] writes tensors in the given order, metadata first. Files
//! written here are read by the `safetensors` crate (PyTorch's `safetensors.torch.load_file`)
//! and the other way round, metadata included; `tests/library/safetensors_compat.rs` checks both ways.
//!
//! ```
//! use constnet::safetensors::{Dtype, SafeTensors, TensorView, serialize};
//!
//! let weights: Vec<u8> = [1.0f32, -2.0, 0.5, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let bytes = serialize(
//!     [TensorView { name: "fc.weight", dtype: Dtype::F32, shape: &[2, 2], data: &weights }],
//!     &[("format", "constnet")],
//! )?;
//!
//! let file = SafeTensors::parse(&bytes)?;
//! assert_eq!(file.metadata("format"), Some("constnet"));
//! let fc = file.tensor("fc.weight").unwrap();
//! assert_eq!((fc.dtype, fc.shape), (Dtype::F32, &[2, 2][..]));
//! assert_eq!(fc.to_f64()?, [1.0, -2.0, 0.5, 4.0]);
//! # Ok::<(), constnet::safetensors::SafetensorsError>(())
//! ```

use std::fmt;

/// The element type of a tensor, as named in the header (`"F32"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// Booleans, one byte each.
    Bool,
    /// Unsigned 8-bit integers.
    U8,
    /// Signed 8-bit integers.
    I8,
    /// Unsigned 16-bit integers.
    U16,
    /// Signed 16-bit integers.
    I16,
    /// IEEE half precision.
    F16,
    /// bfloat16 (the upper half of an `f32`).
    BF16,
    /// Unsigned 32-bit integers.
    U32,
    /// Signed 32-bit integers.
    I32,
    /// IEEE single precision.
    F32,
    /// Unsigned 64-bit integers.
    U64,
    /// Signed 64-bit integers (PyTorch's `num_batches_tracked`).
    I64,
    /// IEEE double precision.
    F64,
}

impl Dtype {
    const ALL: [Dtype; 13] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::U16,
        Dtype::I16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::U32,
        Dtype::I32,
        Dtype::F32,
        Dtype::U64,
        Dtype::I64,
        Dtype::F64,
    ];

    /// The header's name for it: `"F32"`, `"BF16"`, `"BOOL"`, ...
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::U16 => "U16",
            Dtype::I16 => "I16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::U32 => "U32",
            Dtype::I32 => "I32",
            Dtype::F32 => "F32",
            Dtype::U64 => "U64",
            Dtype::I64 => "I64",
            Dtype::F64 => "F64",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 => 1,
            Dtype::U16 | Dtype::I16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::U32 | Dtype::I32 | Dtype::F32 => 4,
            Dtype::U64 | Dtype::I64 | Dtype::F64 => 8,
        }
    }

    /// The dtype of a header name, `None` for a name this reader does not know (e.g. `"F8_E4M3"`).
    pub fn from_name(name: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bytes are not a valid safetensors file, or tensors cannot be written as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetensorsError {
    /// Fewer than the 8 bytes of the header length.
    #[error("{len} bytes: too short for the 8-byte header length")]
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// The header length runs past the end of the file.
    #[error("the header length {header_len} exceeds the {available} bytes after it")]
    HeaderTooLong {
        /// The header length in the file.
        header_len: u64,
        /// The bytes that follow the header length.
        available: usize,
    },
    /// The header is not UTF-8.
    #[error("the header is not UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Where the first invalid byte is, from the header's start.
        offset: usize,
    },
    /// The header is not the expected JSON.
    #[error("bad header JSON at byte {offset}: expected {expected}")]
    Json {
        /// Where, from the header's start.
        offset: usize,
        /// What should have been there.
        expected: &'static str,
    },
    /// A key appears twice (in the header or in the metadata).
    #[error("the key '{key}' appears twice")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A tensor's entry has a field other than `dtype`, `shape` and `data_offsets`.
    #[error("tensor '{tensor}' has an unknown field '{field}'")]
    UnknownField {
        /// The tensor.
        tensor: String,
        /// The field.
        field: String,
    },
    /// A tensor's entry lacks `dtype`, `shape` or `data_offsets`.
    #[error("tensor '{tensor}' has no '{field}'")]
    MissingField {
        /// The tensor.
        tensor: String,
        /// The missing field.
        field: &'static str,
    },
    /// A dtype name this reader does not know.
    #[error("tensor '{tensor}' has an unknown dtype '{dtype}'")]
    UnknownDtype {
        /// The tensor.
        tensor: String,
        /// The name in the file.
        dtype: String,
    },
    /// A tensor's size in bytes does not fit in `usize`.
    #[error("tensor '{tensor}': its shape's size overflows")]
    Overflow {
        /// The tensor.
        tensor: String,
    },
    /// A tensor's byte range does not hold `elements x dtype size` bytes, or writing: its data
    /// has another length than its shape says.
    #[error("tensor '{tensor}' needs {expected} bytes for its shape and dtype, but has {found}")]
    Size {
        /// The tensor.
        tensor: String,
        /// `elements x dtype size`.
        expected: usize,
        /// The length of its byte range.
        found: usize,
    },
    /// A tensor's byte range begins where it should not: before the previous tensor's end
    /// (overlap), after it (a gap), or past the data.
    #[error(
        "tensor '{tensor}' has data offsets [{begin}, {end}], but the data is {data_len} bytes and the previous tensor ends at {expected_begin}"
    )]
    Offsets {
        /// The tensor.
        tensor: String,
        /// Its first byte.
        begin: usize,
        /// One past its last byte.
        end: usize,
        /// Where it should begin.
        expected_begin: usize,
        /// The length of the data.
        data_len: usize,
    },
    /// The tensors do not cover the data to its end.
    #[error("the tensors end at byte {covered} of the data, but it has {data_len} bytes")]
    TrailingData {
        /// Where the last tensor ends.
        covered: usize,
        /// The data's length.
        data_len: usize,
    },
    /// Writing: a tensor named `__metadata__`.
    #[error("'__metadata__' cannot name a tensor")]
    ReservedName,
    /// Converting: a dtype that is not a float.
    #[error("tensor '{tensor}' has dtype {dtype}, not a float type (F16, BF16, F32, F64)")]
    NotFloat {
        /// The tensor.
        tensor: String,
        /// Its dtype.
        dtype: Dtype,
    },
}

/// One tensor: borrowed from a parsed file, or given to [`serialize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorView<'a> {
    /// Its name (`"conv1.weight"`).
    pub name: &'a str,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape, outermost first.
    pub shape: &'a [usize],
    /// Its elements, little-endian, row-major.
    pub data: &'a [u8],
}

impl TensorView<'_> {
    /// The number of elements (the product of the shape; 1 for a scalar).
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The elements as `f64`, converted exactly from `F16`, `BF16`, `F32` or `F64`; other dtypes
    /// are [`SafetensorsError::NotFloat`].
    pub fn to_f64(&self) -> Result<Vec<f64>, SafetensorsError> {
        let d = self.data;
        Ok(match self.dtype {
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
            Dtype::BF16 => d
                .chunks_exact(2)
                .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64)
                .collect(),
            Dtype::F16 => d
                .chunks_exact(2)
                .map(|b| f16_to_f64(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            dtype => {
                return Err(SafetensorsError::NotFloat {
                    tensor: self.name.to_string(),
                    dtype,
                });
            }
        })
    }
}

/// An IEEE half-precision value, exactly.
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mantissa / 1024.0) * 2f64.powi(e - 15),
    }
}

/// A parsed header: the tensor entries and the metadata pairs, in header order.
type Header = (Vec<Entry>, Vec<(String, String)>);

/// One tensor's entry in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

/// A parsed safetensors file, borrowing its bytes; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeTensors<'a> {
    /// In header order.
    entries: Vec<Entry>,
    /// In header order.
    metadata: Vec<(String, String)>,
    data: &'a [u8],
}

impl<'a> SafeTensors<'a> {
    /// Parses and checks a whole file.
    pub fn parse(bytes: &'a [u8]) -> Result<SafeTensors<'a>, SafetensorsError> {
        let (len_bytes, rest) = bytes
            .split_first_chunk::<8>()
            .ok_or(SafetensorsError::TooShort { len: bytes.len() })?;
        let header_len = u64::from_le_bytes(*len_bytes);
        let too_long = SafetensorsError::HeaderTooLong {
            header_len,
            available: rest.len(),
        };
        let n = usize::try_from(header_len).map_err(|_| too_long.clone())?;
        if n > rest.len() {
            return Err(too_long);
        }
        let (header, data) = rest.split_at(n);
        let header = std::str::from_utf8(header).map_err(|e| SafetensorsError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let (entries, metadata) = Parser::new(header).header()?;

        // Sizes first, in header order, then the byte ranges in file order.
        for e in &entries {
            let expected = e
                .shape
                .iter()
                .try_fold(e.dtype.size(), |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| SafetensorsError::Overflow {
                    tensor: e.name.clone(),
                })?;
            let found = e.end.saturating_sub(e.begin);
            if e.end < e.begin || found != expected {
                return Err(SafetensorsError::Size {
                    tensor: e.name.clone(),
                    expected,
                    found,
                });
            }
        }
        let mut by_offset: Vec<&Entry> = entries.iter().collect();
        by_offset.sort_by_key(|e| (e.begin, e.end));
        let mut covered = 0;
        for e in by_offset {
            if e.begin != covered || e.end > data.len() {
                return Err(SafetensorsError::Offsets {
                    tensor: e.name.clone(),
                    begin: e.begin,
                    end: e.end,
                    expected_begin: covered,
                    data_len: data.len(),
                });
            }
            covered = e.end;
        }
        if covered != data.len() {
            return Err(SafetensorsError::TrailingData {
                covered,
                data_len: data.len(),
            });
        }
        Ok(SafeTensors {
            entries,
            metadata,
            data,
        })
    }

    /// The tensor called `name`, if the file has it.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| self.view(e))
    }

    /// Every tensor, in header order.
    pub fn tensors(&self) -> impl Iterator<Item = TensorView<'_>> {
        self.entries.iter().map(|e| self.view(e))
    }

    /// The tensors' names, in header order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The metadata value of `key`, if any.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every metadata pair, in header order.
    pub fn metadata_pairs(&self) -> &[(String, String)] {
        &self.metadata
    }

    fn view<'s>(&'s self, e: &'s Entry) -> TensorView<'s> {
        TensorView {
            name: &e.name,
            dtype: e.dtype,
            shape: &e.shape,
            // Checked in `parse`: begin <= end <= data.len().
            data: self.data.get(e.begin..e.end).unwrap_or(&[]),
        }
    }
}

/// Writes `tensors` (in this order, data contiguous) and `metadata` as a safetensors file.
///
/// Errors: a tensor whose data length is not `elements x dtype size`
/// ([`SafetensorsError::Size`]), a name given twice ([`SafetensorsError::DuplicateKey`], also for
/// metadata keys), a tensor named `__metadata__`.
pub fn serialize<'a>(
    tensors: impl IntoIterator<Item = TensorView<'a>>,
    metadata: &[(&str, &str)],
) -> Result<Vec<u8>, SafetensorsError> {
    let tensors: Vec<TensorView<'a>> = tensors.into_iter().collect();
    let mut header = String::from("{");
    if !metadata.is_empty() {
        header.push_str("\"__metadata__\":{");
        for (i, (k, v)) in metadata.iter().enumerate() {
            if metadata[..i].iter().any(|(seen, _)| seen == k) {
                return Err(SafetensorsError::DuplicateKey { key: k.to_string() });
            }
            if i > 0 {
                header.push(',');
            }
            write_json_string(&mut header, k);
            header.push(':');
            write_json_string(&mut header, v);
        }
        header.push('}');
    }
    let mut offset = 0usize;
    for (i, t) in tensors.iter().enumerate() {
        if t.name == METADATA_KEY {
            return Err(SafetensorsError::ReservedName);
        }
        if tensors[..i].iter().any(|seen| seen.name == t.name) {
            return Err(SafetensorsError::DuplicateKey {
                key: t.name.to_string(),
            });
        }
        let expected = t
            .shape
            .iter()
            .try_fold(t.dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| SafetensorsError::Overflow {
                tensor: t.name.to_string(),
            })?;
        if t.data.len() != expected {
            return Err(SafetensorsError::Size {
                tensor: t.name.to_string(),
                expected,
                found: t.data.len(),
            });
        }
        if header.len() > 1 {
            header.push(',');
        }
        write_json_string(&mut header, t.name);
        header.push_str(":{\"dtype\":\"");
        header.push_str(t.dtype.name());
        header.push_str("\",\"shape\":[");
        for (j, d) in t.shape.iter().enumerate() {
            if j > 0 {
                header.push(',');
            }
            header.push_str(&d.to_string());
        }
        let end = offset + expected;
        header.push_str(&format!("],\"data_offsets\":[{offset},{end}]}}"));
        offset = end;
    }
    header.push('}');
    // Pad so that the data starts 8-byte aligned, as the reference writer does.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in &tensors {
        out.extend_from_slice(t.data);
    }
    Ok(out)
}

const METADATA_KEY: &str = "__metadata__";

/// Appends `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\t`, ... or
/// `\u00XX`, everything else as is (UTF-8).
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A recursive-descent parser for exactly the header's JSON: one object whose values are tensor
/// entries or the metadata object. Every method returns an error rather than panicking; indexing
/// goes through `get`.
struct Parser<'h> {
    text: &'h str,
    pos: usize,
}

impl<'h> Parser<'h> {
    fn new(text: &'h str) -> Self {
        Parser { text, pos: 0 }
    }

    fn error(&self, expected: &'static str) -> SafetensorsError {
        SafetensorsError::Json {
            offset: self.pos,
            expected,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then consumes `byte` or fails with `expected`.
    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), SafetensorsError> {
        self.skip_whitespace();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// After an element of an object or array: `true` for a comma (another element follows),
    /// `false` for the closing `close`.
    fn next_or_close(
        &mut self,
        close: u8,
        expected: &'static str,
    ) -> Result<bool, SafetensorsError> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.error(expected)),
        }
    }

    /// Calls `field` for each key of an object, after its `:`. Rejects duplicate keys.
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, String) -> Result<(), SafetensorsError>,
    ) -> Result<(), SafetensorsError> {
        self.expect(b'{', "'{'")?;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut keys: Vec<String> = Vec::new();
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            if keys.contains(&key) {
                return Err(SafetensorsError::DuplicateKey { key });
            }
            keys.push(key.clone());
            self.expect(b':', "':'")?;
            field(self, key)?;
            if !self.next_or_close(b'}', "',' or '}'")? {
                return Ok(());
            }
        }
    }

    /// The whole header: tensor entries and metadata, then only whitespace to the end.
    fn header(&mut self) -> Result<Header, SafetensorsError> {
        if self.peek() != Some(b'{') {
            return Err(self.error("the header to start with '{'"));
        }
        let mut entries = Vec::new();
        let mut metadata = Vec::new();
        self.object(|p, key| {
            if key == METADATA_KEY {
                p.object(|p, k| {
                    p.skip_whitespace();
                    let v = p.string()?;
                    metadata.push((k, v));
                    Ok(())
                })
            } else {
                entries.push(p.entry(key)?);
                Ok(())
            }
        })?;
        self.skip_whitespace();
        if self.pos != self.text.len() {
            return Err(self.error("the end of the header"));
        }
        Ok((entries, metadata))
    }

    fn entry(&mut self, name: String) -> Result<Entry, SafetensorsError> {
        let (mut dtype, mut shape, mut offsets) = (None, None, None);
        let mut unknown = None;
        self.object(|p, field| {
            p.skip_whitespace();
            match field.as_str() {
                "dtype" => dtype = Some(p.string()?),
                "shape" => shape = Some(p.integers()?),
                "data_offsets" => offsets = Some(p.integers()?),
                _ => {
                    unknown = Some(field);
                    return Err(p.error("a known field"));
                }
            }
            Ok(())
        })
        .map_err(|e| match unknown.take() {
            Some(field) => SafetensorsError::UnknownField {
                tensor: name.clone(),
                field,
            },
            None => e,
        })?;
        let missing = |field| SafetensorsError::MissingField {
            tensor: name.clone(),
            field,
        };
        let dtype_name = dtype.ok_or_else(|| missing("dtype"))?;
        let shape = shape.ok_or_else(|| missing("shape"))?;
        let offsets = offsets.ok_or_else(|| missing("data_offsets"))?;
        let dtype =
            Dtype::from_name(&dtype_name).ok_or_else(|| SafetensorsError::UnknownDtype {
                tensor: name.clone(),
                dtype: dtype_name,
            })?;
        let [begin, end] = offsets[..] else {
            return Err(SafetensorsError::Json {
                offset: self.pos,
                expected: "data_offsets of two integers",
            });
        };
        Ok(Entry {
            name,
            dtype,
            shape,
            begin,
            end,
        })
    }

    /// An array of non-negative integers that fit in `usize`.
    fn integers(&mut self) -> Result<Vec<usize>, SafetensorsError> {
        self.expect(b'[', "'['")?;
        let mut out = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            self.skip_whitespace();
            out.push(self.integer()?);
            if !self.next_or_close(b']', "',' or ']'")? {
                return Ok(out);
            }
        }
    }

    /// A non-negative integer without sign, fraction, exponent or leading zero.
    fn integer(&mut self) -> Result<usize, SafetensorsError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = self.text.get(start..self.pos).unwrap_or("");
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            self.pos = start;
            return Err(self.error("a non-negative integer"));
        }
        digits.parse().map_err(|_| {
            self.pos = start;
            self.error("an integer that fits in usize")
        })
    }

    /// A JSON string, escapes decoded; raw control characters and lone surrogates are errors.
    fn string(&mut self) -> Result<String, SafetensorsError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("a string"));
        }
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.text.get(self.pos..).unwrap_or("");
            let Some(c) = rest.chars().next() else {
                return Err(self.error("a closing '\"'"));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let unit = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&unit) {
                                if self.text.get(self.pos..self.pos + 2) != Some("\\u") {
                                    return Err(self.error("a low surrogate '\\uDC00'..'\\uDFFF'"));
                                }
                                self.pos += 2;
                                let low = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    return Err(self.error("a low surrogate '\\uDC00'..'\\uDFFF'"));
                                }
                                0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                            } else {
                                unit
                            };
                            out.push(
                                char::from_u32(code)
                                    .ok_or_else(|| self.error("a valid \\u escape"))?,
                            );
                            continue;
                        }
                        _ => {
                            return Err(
                                self.error("an escape: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX")
                            );
                        }
                    };
                    out.push(escaped);
                    self.pos += 1;
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.error("an escaped control character"));
                }
                c => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, SafetensorsError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("four hex digits"))?;
        let value = u32::from_str_radix(digits, 16).map_err(|_| self.error("four hex digits"))?;
        self.pos += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trip_keeps_order_names_shapes_values_and_metadata() {
        let a: Vec<u8> = [1.5f32, -2.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [0.1f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let odd_name = "l\u{e4}yer \"q\"\\\n\u{1}.w";
        let bytes = serialize(
            [
                TensorView {
                    name: "z.weight",
                    dtype: Dtype::F32,
                    shape: &[2],
                    data: &a,
                },
                TensorView {
                    name: odd_name,
                    dtype: Dtype::F64,
                    shape: &[],
                    data: &b,
                },
            ],
            &[
                ("layout", "nhwc"),
                ("quote\"", "tab\tline\n\u{7f}\u{10000}"),
            ],
        )
        .unwrap();
        assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()) % 8, 0);
        let f = SafeTensors::parse(&bytes).unwrap();
        assert_eq!(f.names().collect::<Vec<_>>(), ["z.weight", odd_name]);
        assert_eq!(
            f.tensor("z.weight").unwrap().to_f64().unwrap(),
            [1.5, -2.25]
        );
        let scalar = f.tensor(odd_name).unwrap();
        assert_eq!((scalar.shape, scalar.elements()), (&[][..], 1));
        assert_eq!(scalar.to_f64().unwrap(), [0.1]);
        assert_eq!(f.metadata("layout"), Some("nhwc"));
        assert_eq!(f.metadata("quote\""), Some("tab\tline\n\u{7f}\u{10000}"));
        assert_eq!(f.metadata_pairs().len(), 2);
    }

    #[test]
    fn half_precision_and_bfloat16_convert_exactly() {
        // 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), inf.
        let f16: Vec<u8> = [0x3c00u16, 0xc000, 0x7bff, 0x0001, 0x7c00]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let bf16: Vec<u8> = [0x3f80u16, 0xc0a0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let i64s = 7i64.to_le_bytes();
        let bytes = serialize(
            [
                TensorView {
                    name: "h",
                    dtype: Dtype::F16,
                    shape: &[5],
                    data: &f16,
                },
                TensorView {
                    name: "b",
                    dtype: Dtype::BF16,
                    shape: &[2],
                    data: &bf16,
                },
                TensorView {
                    name: "n",
                    dtype: Dtype::I64,
                    shape: &[],
                    data: &i64s,
                },
            ],
            &[],
        )
        .unwrap();
        let f = SafeTensors::parse(&bytes).unwrap();
        assert_eq!(
            f.tensor("h").unwrap().to_f64().unwrap(),
            [1.0, -2.0, 65504.0, 2f64.powi(-24), f64::INFINITY]
        );
        assert_eq!(f.tensor("b").unwrap().to_f64().unwrap(), [1.0, -5.0]);
        assert_eq!(
            f.tensor("n").unwrap().to_f64(),
            Err(SafetensorsError::NotFloat {
                tensor: "n".into(),
                dtype: Dtype::I64
            })
        );
        assert!(f16_to_f64(0x7e00).is_nan());
    }

    #[test]
    fn malformed_headers_give_typed_errors() {
        let four = [0u8; 4];
        let ok = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        assert!(SafeTensors::parse(&file(ok, &four)).is_ok());
        // Whitespace anywhere JSON allows it, escapes in keys.
        let spaced =
            " {\"\\u0061\" : { \"shape\" : [ 1 ] , \"dtype\":\"F32\",\n\"data_offsets\":[0,4]} }";
        assert!(matches!(
            SafeTensors::parse(&file(spaced, &four)),
            Err(SafetensorsError::Json { offset: 0, .. })
        ));
        let trimmed = file(&spaced[1..], &four);
        let f = SafeTensors::parse(&trimmed).unwrap();
        assert_eq!(f.names().collect::<Vec<_>>(), ["a"]);

        type Check = fn(&SafetensorsError) -> bool;
        let cases: Vec<(&str, &[u8], Check)> = vec![
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::DuplicateKey { key } if key == "a"),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#,
                &four,
                |e| matches!(e, SafetensorsError::UnknownField { field, .. } if field == "x"),
            ),
            (r#"{"a":{"dtype":"F32","shape":[1]}}"#, &four, |e| {
                matches!(
                    e,
                    SafetensorsError::MissingField {
                        field: "data_offsets",
                        ..
                    }
                )
            }),
            (
                r#"{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::UnknownDtype { dtype, .. } if dtype == "F8_E4M3"),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                &four,
                |e| {
                    matches!(
                        e,
                        SafetensorsError::Size {
                            expected: 8,
                            found: 4,
                            ..
                        }
                    )
                },
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::Size { .. }),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &four,
                |e| {
                    matches!(
                        e,
                        SafetensorsError::Offsets {
                            begin: 4,
                            expected_begin: 0,
                            ..
                        }
                    )
                },
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &[0u8; 6],
                |e| {
                    matches!(
                        e,
                        SafetensorsError::TrailingData {
                            covered: 4,
                            data_len: 6
                        }
                    )
                },
            ),
            (
                r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::Overflow { .. }),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::Json { .. }),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                &four,
                |e| {
                    matches!(
                        e,
                        SafetensorsError::Json {
                            expected: "a non-negative integer",
                            ..
                        }
                    )
                },
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::Json { .. }),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::Json { .. }),
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}"#,
                &four,
                |e| {
                    matches!(
                        e,
                        SafetensorsError::Json {
                            expected: "an integer that fits in usize",
                            ..
                        }
                    )
                },
            ),
            (
                r#"{"a\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &four,
                |e| matches!(e, SafetensorsError::Json { .. }),
            ),
            (r#"{"a\x":{}}"#, &four, |e| {
                matches!(e, SafetensorsError::Json { .. })
            }),
            ("{\"a\u{1}\":{}}", &four, |e| {
                matches!(e, SafetensorsError::Json { .. })
            }),
            (r#"{"__metadata__":{"k":1}}"#, &[], |e| {
                matches!(
                    e,
                    SafetensorsError::Json {
                        expected: "a string",
                        ..
                    }
                )
            }),
            (r#"{"__metadata__":{"k":"v","k":"w"}}"#, &[], |e| {
                matches!(e, SafetensorsError::DuplicateKey { .. })
            }),
            (r#"{} x"#, &[], |e| {
                matches!(
                    e,
                    SafetensorsError::Json {
                        expected: "the end of the header",
                        ..
                    }
                )
            }),
            (r#"{"a":{"#, &[], |e| {
                matches!(e, SafetensorsError::Json { .. })
            }),
            ("", &[], |e| {
                matches!(e, SafetensorsError::Json { offset: 0, .. })
            }),
        ];
        for (header, data, check) in cases {
            let err = SafeTensors::parse(&file(header, data)).unwrap_err();
            assert!(check(&err), "{header}: {err:?}");
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            SafeTensors::parse(&[1, 2, 3]),
            Err(SafetensorsError::TooShort { len: 3 })
        );
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(matches!(
            SafeTensors::parse(&huge),
            Err(SafetensorsError::HeaderTooLong { available: 2, .. })
        ));
        let mut bad_utf8 = 3u64.to_le_bytes().to_vec();
        bad_utf8.extend_from_slice(&[b'{', 0xff, b'}']);
        assert_eq!(
            SafeTensors::parse(&bad_utf8),
            Err(SafetensorsError::NotUtf8 { offset: 1 })
        );
        // An empty file of tensors is valid.
        let empty_file = file("{}", &[]);
        let empty = SafeTensors::parse(&empty_file).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn the_writer_refuses_inconsistent_tensors() {
        let four = [0u8; 4];
        let t = |name, shape: &'static [usize]| TensorView {
            name,
            dtype: Dtype::F32,
            shape,
            data: &four,
        };
        assert_eq!(
            serialize([t("a", &[2])], &[]),
            Err(SafetensorsError::Size {
                tensor: "a".into(),
                expected: 8,
                found: 4
            })
        );
        assert_eq!(
            serialize([t("a", &[1]), t("a", &[1])], &[]),
            Err(SafetensorsError::DuplicateKey { key: "a".into() })
        );
        assert_eq!(
            serialize([t("__metadata__", &[1])], &[]),
            Err(SafetensorsError::ReservedName)
        );
        assert_eq!(
            serialize([t("a", &[1])], &[("k", "1"), ("k", "2")]),
            Err(SafetensorsError::DuplicateKey { key: "k".into() })
        );
    }
}
