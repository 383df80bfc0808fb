//! A small writer for MAT level-5 files (the format of `save -v6`/`-v7`
//! in Matlab), enough to make CIFAR-style test files: real numeric matrices
//! of any class, and char arrays, each either plain or zlib-compressed
//! (`miCOMPRESSED`, as `save -v7` does).
//!
//! The files are little-endian and can be read by Matlab, Octave, scipy and
//! the `matfile` crate.
//!
//! ```
//! use constnet::data::mat_writer::{write_mat_file, MatVar, Compression};
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! // A 2 x 3 uint8 matrix, given column-major: [[1, 2, 3], [4, 5, 6]].
//! let pixels = [1u8, 4, 2, 5, 3, 6];
//! let labels = [0.0f64, 7.0];
//! write_mat_file(
//!     dir.path().join("small.mat"),
//!     &[
//!         MatVar::char("batch_label", "training batch 1 of 1"),
//!         MatVar::new("data", 2, 3, &pixels[..]),
//!         MatVar::new("coarse_labels", 2, 1, &labels[..]),
//!     ],
//!     Compression::None,
//! )?;
//! # Ok(())
//! # }
//! ```

use std::io::{self, Write};
use std::path::Path;

/// Whether each variable is written plain or zlib-compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Plain `miMATRIX` elements (what `cifar-100-matlab.tar.gz` holds).
    #[default]
    None,
    /// Each variable in its own zlib-compressed `miCOMPRESSED` element.
    Zlib,
}

/// The Matlab class of an array (what `class(x)` says in Matlab).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MatClass {
    /// `char`
    Char = 4,
    /// `double`
    Double = 6,
    /// `single`
    Single = 7,
    /// `int8`
    Int8 = 8,
    /// `uint8`
    UInt8 = 9,
    /// `int16`
    Int16 = 10,
    /// `uint16`
    UInt16 = 11,
    /// `int32`
    Int32 = 12,
    /// `uint32`
    UInt32 = 13,
    /// `int64`
    Int64 = 14,
    /// `uint64`
    UInt64 = 15,
}

/// The stored elements of a variable, column-major (element `(i, j)` of an
/// `rows x cols` matrix at `j * rows + i`). The element type is the MAT
/// storage type; the class defaults to the matching one (see
/// [`MatVar::with_class`] to store, say, a `double` matrix as `uint8`, as
/// Matlab does for whole numbers).
#[derive(Clone, Copy, Debug)]
pub enum MatData<'a> {
    /// `miINT8`
    I8(&'a [i8]),
    /// `miUINT8`
    U8(&'a [u8]),
    /// `miINT16`
    I16(&'a [i16]),
    /// `miUINT16`
    U16(&'a [u16]),
    /// `miINT32`
    I32(&'a [i32]),
    /// `miUINT32`
    U32(&'a [u32]),
    /// `miINT64`
    I64(&'a [i64]),
    /// `miUINT64`
    U64(&'a [u64]),
    /// `miSINGLE`
    F32(&'a [f32]),
    /// `miDOUBLE`
    F64(&'a [f64]),
}

macro_rules! mat_data_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl<'a> From<&'a [$t]> for MatData<'a> {
            fn from(s: &'a [$t]) -> Self {
                MatData::$v(s)
            }
        }
        impl<'a> From<&'a Vec<$t>> for MatData<'a> {
            fn from(s: &'a Vec<$t>) -> Self {
                MatData::$v(s.as_slice())
            }
        }
    )*};
}
mat_data_from!(i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, u64 => U64, f32 => F32, f64 => F64);

impl MatData<'_> {
    fn len(&self) -> usize {
        match self {
            MatData::I8(s) => s.len(),
            MatData::U8(s) => s.len(),
            MatData::I16(s) => s.len(),
            MatData::U16(s) => s.len(),
            MatData::I32(s) => s.len(),
            MatData::U32(s) => s.len(),
            MatData::I64(s) => s.len(),
            MatData::U64(s) => s.len(),
            MatData::F32(s) => s.len(),
            MatData::F64(s) => s.len(),
        }
    }

    /// (MAT data type code, bytes per element, default class)
    fn info(&self) -> (u32, usize, MatClass) {
        match self {
            MatData::I8(_) => (1, 1, MatClass::Int8),
            MatData::U8(_) => (2, 1, MatClass::UInt8),
            MatData::I16(_) => (3, 2, MatClass::Int16),
            MatData::U16(_) => (4, 2, MatClass::UInt16),
            MatData::I32(_) => (5, 4, MatClass::Int32),
            MatData::U32(_) => (6, 4, MatClass::UInt32),
            MatData::F32(_) => (7, 4, MatClass::Single),
            MatData::F64(_) => (9, 8, MatClass::Double),
            MatData::I64(_) => (12, 8, MatClass::Int64),
            MatData::U64(_) => (13, 8, MatClass::UInt64),
        }
    }

    fn write_le<W: Write>(&self, w: &mut W) -> io::Result<()> {
        // Chunked conversion keeps large arrays fast without a full copy.
        fn put<W: Write, T: Copy, const N: usize>(
            w: &mut W,
            s: &[T],
            f: impl Fn(T) -> [u8; N],
        ) -> io::Result<()> {
            let mut buf = Vec::with_capacity(64 * 1024);
            for chunk in s.chunks(64 * 1024 / N.max(1)) {
                buf.clear();
                for &x in chunk {
                    buf.extend_from_slice(&f(x));
                }
                w.write_all(&buf)?;
            }
            Ok(())
        }
        match self {
            MatData::U8(s) => w.write_all(s),
            MatData::I8(s) => put(w, s, i8::to_le_bytes),
            MatData::I16(s) => put(w, s, i16::to_le_bytes),
            MatData::U16(s) => put(w, s, u16::to_le_bytes),
            MatData::I32(s) => put(w, s, i32::to_le_bytes),
            MatData::U32(s) => put(w, s, u32::to_le_bytes),
            MatData::I64(s) => put(w, s, i64::to_le_bytes),
            MatData::U64(s) => put(w, s, u64::to_le_bytes),
            MatData::F32(s) => put(w, s, f32::to_le_bytes),
            MatData::F64(s) => put(w, s, f64::to_le_bytes),
        }
    }
}

/// One variable of a MAT file: a name, a 2-D size and the elements.
#[derive(Clone, Debug)]
pub struct MatVar<'a> {
    name: &'a str,
    rows: usize,
    cols: usize,
    data: VarData<'a>,
    class: MatClass,
}

#[derive(Clone, Debug)]
enum VarData<'a> {
    Numeric(MatData<'a>),
    /// UTF-16 code units of a char array.
    Char(Vec<u16>),
}

impl<'a> MatVar<'a> {
    /// A real numeric `rows x cols` matrix; `data` is column-major and holds
    /// `rows * cols` elements (checked when writing). Its class is the one
    /// of the element type (`uint8` for `&[u8]`, `double` for `&[f64]`, ...).
    pub fn new(name: &'a str, rows: usize, cols: usize, data: impl Into<MatData<'a>>) -> Self {
        let data = data.into();
        let class = data.info().2;
        MatVar {
            name,
            rows,
            cols,
            data: VarData::Numeric(data),
            class,
        }
    }

    /// A `1 x n` char array holding `text` (as Matlab stores `batch_label`).
    pub fn char(name: &'a str, text: &str) -> Self {
        let units: Vec<u16> = text.encode_utf16().collect();
        MatVar {
            name,
            rows: 1,
            cols: units.len(),
            data: VarData::Char(units),
            class: MatClass::Char,
        }
    }

    /// Writes the array with another class than its element type's, e.g. a
    /// `double` matrix stored as `uint8` elements, as Matlab does to save
    /// space when all values are small whole numbers.
    pub fn with_class(mut self, class: MatClass) -> Self {
        self.class = class;
        self
    }

    fn invalid(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("MAT variable '{}': {what}", self.name),
        )
    }

    fn check(&self) -> io::Result<()> {
        if self.name.is_empty() {
            return Err(self.invalid("empty name"));
        }
        let len = match &self.data {
            VarData::Numeric(d) => d.len(),
            VarData::Char(u) => u.len(),
        };
        if self.rows.checked_mul(self.cols) != Some(len) {
            return Err(self.invalid(&format!(
                "{} x {} needs {} elements, got {len}",
                self.rows,
                self.cols,
                self.rows.saturating_mul(self.cols)
            )));
        }
        if i32::try_from(self.rows).is_err() || i32::try_from(self.cols).is_err() {
            return Err(self.invalid("a dimension does not fit a MAT file (i32)"));
        }
        Ok(())
    }

    /// (data type code, byte length of the data)
    fn payload(&self) -> (u32, usize) {
        match &self.data {
            VarData::Numeric(d) => {
                let (code, size, _) = d.info();
                (code, d.len() * size)
            }
            VarData::Char(u) => (4, u.len() * 2),
        }
    }

    /// Bytes of the sub-elements inside the `miMATRIX` element (after its tag).
    fn body_len(&self) -> usize {
        let name_len = self.name.len();
        let name = if name_len <= 4 { 8 } else { 8 + pad8(name_len) };
        let (_, data_bytes) = self.payload();
        let data = if (1..=4).contains(&data_bytes) {
            8
        } else {
            8 + pad8(data_bytes)
        };
        16 /* flags */ + 16 /* dims */ + name + data
    }

    /// Writes the whole `miMATRIX` element, tag included.
    fn write_matrix<W: Write>(&self, w: &mut W) -> io::Result<()> {
        let body = self.body_len();
        let body32 = u32::try_from(body)
            .map_err(|_| self.invalid("larger than 4 GiB, too large for a MAT level-5 variable"))?;
        tag(w, 14, body32)?;
        // Array flags: class in the low byte, no complex/global/logical flags.
        tag(w, 6, 8)?;
        w.write_all(&u32::from(self.class as u8).to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        // Dimensions (checked to fit i32 in `check`).
        tag(w, 5, 8)?;
        for d in [self.rows, self.cols] {
            w.write_all(&i32::try_from(d).unwrap_or(i32::MAX).to_le_bytes())?;
        }
        // Name: small data element format when it fits in 4 bytes.
        let name = self.name.as_bytes();
        if name.len() <= 4 {
            small_tag(w, 1, name)?;
        } else {
            tag(w, 1, name.len() as u32)?;
            w.write_all(name)?;
            padding(w, name.len())?;
        }
        let (code, bytes) = self.payload();
        if (1..=4).contains(&bytes) {
            let mut v = Vec::with_capacity(4);
            self.write_payload(&mut v)?;
            small_tag(w, code, &v)
        } else {
            tag(w, code, bytes as u32)?;
            self.write_payload(w)?;
            padding(w, bytes)
        }
    }

    fn write_payload<W: Write>(&self, w: &mut W) -> io::Result<()> {
        match &self.data {
            VarData::Numeric(d) => d.write_le(w),
            VarData::Char(units) => {
                for u in units {
                    w.write_all(&u.to_le_bytes())?;
                }
                Ok(())
            }
        }
    }
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

fn tag<W: Write>(w: &mut W, data_type: u32, bytes: u32) -> io::Result<()> {
    w.write_all(&data_type.to_le_bytes())?;
    w.write_all(&bytes.to_le_bytes())
}

fn small_tag<W: Write>(w: &mut W, data_type: u32, bytes: &[u8]) -> io::Result<()> {
    let mut out = [0u8; 8];
    let packed = data_type | ((bytes.len() as u32) << 16);
    out[..4].copy_from_slice(&packed.to_le_bytes());
    out[4..4 + bytes.len().min(4)].copy_from_slice(&bytes[..bytes.len().min(4)]);
    w.write_all(&out)
}

fn padding<W: Write>(w: &mut W, len: usize) -> io::Result<()> {
    let pad = pad8(len) - len;
    w.write_all(&[0u8; 8][..pad])
}

/// Writes the 128-byte MAT level-5 header (little-endian, version 0x0100).
fn write_header<W: Write>(w: &mut W) -> io::Result<()> {
    let mut header = [b' '; 128];
    let text = b"MATLAB 5.0 MAT-file, written by constnet::data::mat_writer";
    header[..text.len()].copy_from_slice(text);
    header[116..124].fill(0); // no subsystem data
    header[124..126].copy_from_slice(&0x0100u16.to_le_bytes());
    header[126..128].copy_from_slice(b"IM");
    w.write_all(&header)
}

/// Writes a MAT level-5 file with `vars`, in order, to `w`.
///
/// Errors: an invalid variable (empty name, element count different from
/// `rows * cols`, larger than 4 GiB) gives [`io::ErrorKind::InvalidInput`];
/// otherwise the writer's own errors.
pub fn write_mat<W: Write>(
    mut w: W,
    vars: &[MatVar<'_>],
    compression: Compression,
) -> io::Result<()> {
    for v in vars {
        v.check()?;
    }
    write_header(&mut w)?;
    for v in vars {
        match compression {
            Compression::None => v.write_matrix(&mut w)?,
            Compression::Zlib => {
                let mut enc =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                v.write_matrix(&mut enc)?;
                let z = enc.finish()?;
                let len = u32::try_from(z.len()).map_err(|_| {
                    v.invalid("compressed size over 4 GiB, too large for a MAT level-5 variable")
                })?;
                // Compressed elements are not padded (Matlab does not, and
                // the `matfile` crate would read padding as a bad element).
                tag(&mut w, 15, len)?;
                w.write_all(&z)?;
            }
        }
    }
    w.flush()
}

/// Writes a MAT level-5 file with `vars` at `path` (created or replaced).
/// See [`write_mat`].
pub fn write_mat_file(
    path: impl AsRef<Path>,
    vars: &[MatVar<'_>],
    compression: Compression,
) -> io::Result<()> {
    let file = std::fs::File::create(path)?;
    write_mat(
        io::BufWriter::with_capacity(1 << 20, file),
        vars,
        compression,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(compression: Compression) {
        let data: Vec<u8> = (0..12).collect();
        let labels = [1.5f64, -2.0, 3.0];
        let ints = [7i16];
        let mut bytes = Vec::new();
        write_mat(
            &mut bytes,
            &[
                MatVar::char("batch_label", "hello"),
                MatVar::new("data", 3, 4, &data),
                MatVar::new("long_name_here", 3, 1, &labels[..]),
                MatVar::new("x", 1, 1, &ints[..]),
                MatVar::new("e", 0, 3, &[0u8; 0][..]),
            ],
            compression,
        )
        .unwrap();
        let m = matfile::MatFile::parse(&bytes[..]).unwrap();
        assert_eq!(m.arrays().len(), 4, "char array skipped, 4 numeric");
        let d = m.find_by_name("data").unwrap();
        assert_eq!(d.size(), &vec![3, 4]);
        match d.data() {
            matfile::NumericData::UInt8 { real, imag: None } => assert_eq!(real, &data),
            other => panic!("{other:?}"),
        }
        match m.find_by_name("long_name_here").unwrap().data() {
            matfile::NumericData::Double { real, .. } => assert_eq!(real, &labels),
            other => panic!("{other:?}"),
        }
        match m.find_by_name("x").unwrap().data() {
            matfile::NumericData::Int16 { real, .. } => assert_eq!(real, &[7]),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.find_by_name("e").unwrap().size(), &vec![0, 3]);
    }

    #[test]
    fn uncompressed_roundtrip() {
        roundtrip(Compression::None);
    }

    #[test]
    fn compressed_roundtrip() {
        roundtrip(Compression::Zlib);
    }

    #[test]
    fn double_stored_as_uint8() {
        let mut bytes = Vec::new();
        let v = [1u8, 2, 3];
        write_mat(
            &mut bytes,
            &[MatVar::new("v", 3, 1, &v[..]).with_class(MatClass::Double)],
            Compression::None,
        )
        .unwrap();
        let m = matfile::MatFile::parse(&bytes[..]).unwrap();
        match m.find_by_name("v").unwrap().data() {
            matfile::NumericData::Double { real, .. } => assert_eq!(real, &[1.0, 2.0, 3.0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_wrong_element_count() {
        let err = write_mat(
            Vec::new(),
            &[MatVar::new("v", 2, 2, &[1u8, 2, 3][..])],
            Compression::None,
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
