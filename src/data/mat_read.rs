//! Reading a MAT file safely: our own check of the header and of the
//! top-level layout (so that truncated or damaged files get a precise error),
//! then the `matfile` crate for the arrays themselves.
//!
//! Why the extra checks: `matfile` 0.5 returns `Ok` for a truncated file and
//! silently drops arrays it cannot read, it prints to stdout when it meets an
//! unknown element type, and a 128-byte header alone parses as a file with
//! no arrays. Walking the top-level element tags first (a few small reads and
//! seeks, no copy of the data) catches all of those with a message that
//! says what is wrong.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::DataError;

/// What the walk learnt about one top-level variable.
#[derive(Debug, Clone)]
pub(crate) struct VarInfo {
    /// Its name, if the first bytes could be decoded.
    pub name: Option<String>,
    /// Its MAT class code (1 cell, 2 struct, 3 object, 4 char, 5 sparse,
    /// 6.. numeric), if the first bytes could be decoded.
    pub class: Option<u8>,
    /// Whether the complex flag is set.
    pub complex: bool,
}

/// The result of [`read_mat`]: the arrays `matfile` could read, and the list
/// of variables the file declares.
pub(crate) struct MatContents {
    pub file: matfile::MatFile,
    pub vars: Vec<VarInfo>,
}

impl MatContents {
    /// Describes a variable's class for an error message, if it is not a
    /// real numeric matrix.
    pub fn non_numeric_kind(&self, name: &str) -> Option<String> {
        let v = self.vars.iter().find(|v| v.name.as_deref() == Some(name))?;
        let what = match v.class? {
            1 => "a cell array",
            2 => "a struct",
            3 => "an object",
            4 => "a char array",
            5 => "a sparse matrix",
            6..=15 if v.complex => "a complex matrix",
            6..=15 => return None,
            other => return Some(format!("of unknown class {other}")),
        };
        Some(what.to_string())
    }

    /// Whether the walk saw a variable of that name.
    pub fn declares(&self, name: &str) -> bool {
        self.vars.iter().any(|v| v.name.as_deref() == Some(name))
    }
}

const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
/// How many bytes of a variable (decompressed if need be) we look at to
/// find its class and name.
const PREFIX: usize = 256;

fn io_err(path: &Path, source: io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens and parses `path` as a MAT level-5 file. Never panics: a panic in
/// the `matfile` parser is caught and reported as [`DataError::Malformed`].
pub(crate) fn read_mat(path: &Path) -> Result<MatContents, DataError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DataError::FileNotFound {
                hint: super::cifar::MAT_HINT,
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io_err(path, e)),
    };
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        return Err(DataError::NotMatFile {
            path: path.to_path_buf(),
            reason: "it is a folder".into(),
        });
    }
    let len = meta.len();
    let big_endian = check_header(path, &mut file, len)?;
    let vars = walk(path, &mut file, len, big_endian)?;

    file.seek(SeekFrom::Start(0)).map_err(|e| io_err(path, e))?;
    // `matfile` 0.5 can panic on some damaged inputs (for instance an
    // integer overflow when it multiplies corrupted dimensions, in builds
    // with overflow checks). Catch that and report the file as damaged: a
    // panic must never reach the user. (The default panic hook still prints
    // the panic message to stderr; we leave the process-wide hook alone.)
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        matfile::MatFile::parse(file)
    }));
    let file = match parsed {
        Ok(Ok(f)) => f,
        Ok(Err(matfile::Error::IOError(e))) => return Err(io_err(path, e)),
        Ok(Err(e)) => {
            // matfile 0.5 maps class int32 to storage type uint32, so it
            // rejects int32 arrays stored as 32-bit integers: say so.
            let note = if vars.iter().any(|v| v.class == Some(12)) {
                "; note: the matfile crate cannot read int32 arrays stored as 32-bit integers, re-save as double or uint8"
            } else {
                ""
            };
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                detail: match e {
                    matfile::Error::ConversionError => {
                        format!("an array's stored number type does not fit its class{note}")
                    }
                    _ => format!("its contents cannot be parsed{note}"),
                },
            });
        }
        Err(_) => {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                detail: "the matfile parser crashed on it".into(),
            });
        }
    };
    Ok(MatContents { file, vars })
}

/// Checks the 128-byte header; returns whether the file is big-endian.
fn check_header(path: &Path, file: &mut File, len: u64) -> Result<bool, DataError> {
    let not_mat = |reason: &str| DataError::NotMatFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if len < 128 {
        return Err(not_mat(&format!(
            "{len} bytes, shorter than the 128-byte MAT header"
        )));
    }
    let mut header = [0u8; 128];
    file.read_exact(&mut header).map_err(|e| io_err(path, e))?;
    if header.starts_with(b"\x89HDF") {
        return Err(not_mat(
            "an HDF5 file, maybe MAT v7.3, which is not supported; re-save it with save(..., '-v7')",
        ));
    }
    let (v0, v1, e0, e1) = (header[124], header[125], header[126], header[127]);
    let big_endian = match (e0, e1) {
        (b'I', b'M') => false,
        (b'M', b'I') => true,
        _ => return Err(not_mat("no MAT level-5 header")),
    };
    let version = if big_endian {
        u16::from_be_bytes([v0, v1])
    } else {
        u16::from_le_bytes([v0, v1])
    };
    match version {
        0x0100 => {}
        0x0200 => {
            return Err(not_mat(
                "MAT v7.3 (HDF5), which is not supported; re-save it with save(..., '-v7')",
            ));
        }
        v => return Err(not_mat(&format!("unknown MAT version {v:#06x}"))),
    }
    // `matfile` requires the first four bytes of the text to be non-zero
    // (a zero there is how MAT v4 files are told apart).
    if header[..4].contains(&0) {
        return Err(not_mat("the header text starts with zero bytes (MAT v4?)"));
    }
    Ok(big_endian)
}

fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// Walks the top-level elements: each must be a matrix or a compressed
/// element and fit in the file. Reads only tags and the first bytes of each.
fn walk(
    path: &Path,
    file: &mut File,
    len: u64,
    big_endian: bool,
) -> Result<Vec<VarInfo>, DataError> {
    let mut vars = Vec::new();
    let mut pos: u64 = 128;
    while pos < len {
        let available = len - pos;
        if available < 8 {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                offset: pos,
                needed: 8,
                available,
            });
        }
        let mut tag = [0u8; 8];
        file.seek(SeekFrom::Start(pos))
            .and_then(|_| file.read_exact(&mut tag))
            .map_err(|e| io_err(path, e))?;
        let data_type = u32_at(&tag, 0, big_endian).unwrap_or(0);
        let size = u64::from(u32_at(&tag, 4, big_endian).unwrap_or(0));
        if data_type != MI_MATRIX && data_type != MI_COMPRESSED {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                detail: format!(
                    "the element at byte {pos} has type {data_type}, not a matrix (14) or compressed (15) element"
                ),
            });
        }
        let needed = size + 8;
        if needed > available {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                offset: pos,
                needed,
                available,
            });
        }
        // Read (or decompress) the first bytes to learn class and name.
        let limited = (&mut *file).take(size);
        let mut prefix = Vec::with_capacity(PREFIX);
        let matrix_prefix = if data_type == MI_MATRIX {
            limited
                .take(PREFIX as u64)
                .read_to_end(&mut prefix)
                .map_err(|e| io_err(path, e))?;
            Some(&prefix[..])
        } else {
            // Decompress the whole element once (to a sink): `matfile` would
            // print the zlib error to stderr and then fail the whole file,
            // so report damaged compressed data here, precisely.
            let mut dec = flate2::read::ZlibDecoder::new(limited);
            let checked = (&mut dec)
                .take(PREFIX as u64)
                .read_to_end(&mut prefix)
                .and_then(|_| io::copy(&mut dec, &mut io::sink()));
            if let Err(e) = checked {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    detail: format!("the compressed variable at byte {pos} is damaged: {e}"),
                });
            }
            // (`matfile` would print a notice to stdout and skip it.)
            if u32_at(&prefix, 0, big_endian) != Some(MI_MATRIX) {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    detail: format!(
                        "the compressed element at byte {pos} does not hold a variable"
                    ),
                });
            }
            prefix.get(8..)
        };
        let info = match matrix_prefix {
            Some(p) => var_info(p, big_endian).map_err(|detail| DataError::Malformed {
                path: path.to_path_buf(),
                detail,
            })?,
            None => VarInfo {
                name: None,
                class: None,
                complex: false,
            },
        };
        vars.push(info);
        // Plain matrices are padded to 8 bytes, compressed elements are not
        // (the padding of the last element may be missing).
        let step = if data_type == MI_MATRIX {
            needed.div_ceil(8) * 8
        } else {
            needed
        };
        pos = pos.saturating_add(step);
    }
    Ok(vars)
}

/// Decodes class, complex flag, dimensions and name from the start of an
/// `miMATRIX` element's contents (after its tag). Anything unexpected gives
/// `None`s (`matfile` then decides); dimensions that are negative or whose
/// product overflows an i32 give an error message instead (`matfile` 0.5
/// would panic on the overflow in builds with overflow checks).
fn var_info(p: &[u8], big_endian: bool) -> Result<VarInfo, String> {
    let mut info = VarInfo {
        name: None,
        class: None,
        complex: false,
    };
    // Array flags sub-element: tag (miUINT32, 8), flags, nzmax.
    if u32_at(p, 0, big_endian) != Some(6) || u32_at(p, 4, big_endian) != Some(8) {
        return Ok(info);
    }
    let Some(flags) = u32_at(p, 8, big_endian) else {
        return Ok(info);
    };
    let class = (flags & 0xff) as u8;
    info.class = Some(class);
    info.complex = flags & 0x0800 != 0;
    // Dimensions sub-element: tag (miINT32, n), n bytes padded to 8.
    if u32_at(p, 16, big_endian) != Some(5) {
        return Ok(info);
    }
    let Some(dims_len) = u32_at(p, 20, big_endian) else {
        return Ok(info);
    };
    let dims: Option<Vec<i32>> = (0..dims_len as usize / 4)
        .map(|k| u32_at(p, 24 + 4 * k, big_endian).map(|d| d as i32))
        .collect();
    let name_at = 24 + (dims_len as usize).div_ceil(8) * 8;
    // Name sub-element, small or long format, type miINT8.
    if let Some(first) = u32_at(p, name_at, big_endian) {
        let (ty, n, start) = if first >> 16 != 0 {
            (first & 0xffff, (first >> 16) as usize, name_at + 4)
        } else {
            let n = u32_at(p, name_at + 4, big_endian).unwrap_or(0);
            (first, n as usize, name_at + 8)
        };
        let bytes = p.get(start..start.saturating_add(n)).filter(|_| ty == 1);
        info.name = bytes
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_string);
    }
    if let Some(dims) = dims.filter(|_| (6..=15).contains(&class)) {
        let product = dims.iter().try_fold(1i32, |acc, &d| acc.checked_mul(d));
        if dims.iter().any(|&d| d < 0) || product.is_none() {
            let text = dims
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" x ");
            let name = info.name.as_deref().unwrap_or("?");
            return Err(format!(
                "variable '{name}' has impossible dimensions {text}"
            ));
        }
    }
    Ok(info)
}
