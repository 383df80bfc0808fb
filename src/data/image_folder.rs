//! The image-folder loader: `ROOT/<class>/*.png` (`image-folder` feature).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use super::build::{RawImages, check_dir, finish, read_file};
use super::{DataError, DataFormat, DataSource, DataSplits};
use crate::Shape;

/// Largest image accepted, in pixels (a damaged header must not make us allocate gigabytes).
const MAX_PIXELS: u64 = 1 << 26;

/// Loads a folder of PNG images, one sub-folder per class, as images of shape `S`:
///
/// - Layout: `ROOT/<class>/*.png`, or `ROOT/train/<class>/*.png` and
///   `ROOT/test/<class>/*.png`. The classes are the training class folders' names, sorted
///   (byte order); label `k` is the `k`-th. Files are taken in name order; other files and
///   hidden folders are ignored.
/// - Splits: with `train/` and `test/`, the test split is `test/` and, of each class of
///   `train/`, the last fifth of its files is the validation split (`floor(4n/5)` kept for
///   training). Without them, of each class the last fifth of its files is the test split, and
///   of the rest the last fifth is the validation split.
/// - Images: grey, grey+alpha, RGB or RGBA PNGs, 8 or 16 bits (16-bit values are reduced to 8,
///   palettes expanded), all of one size, which must be `S::H x S::W`
///   ([`DataError::MixedImageSizes`] names the first odd file, [`DataError::ShapeMismatch`] a
///   size other than `S`'s). They are converted to `S::C` channels: grey is replicated to RGB,
///   alpha is dropped (or, for 2 or 4 channels, kept, 255 when the file has none), and RGB to
///   grey is the luminance `0.299 R + 0.587 G + 0.114 B`, rounded (as Pillow's `convert("L")`).
///
/// Every problem (no images, an undecodable file, a test class without a training folder) is a
/// [`DataError`] naming the file or folder; nothing panics.
pub fn load_image_folder<S: Shape>(dir: impl AsRef<Path>) -> Result<DataSplits<S>, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    if !(1..=4).contains(&S::C) {
        return Err(DataError::UnsupportedChannels {
            path: dir.to_path_buf(),
            channels: S::C,
        });
    }
    let (train_root, test_root) = if dir.join("train").is_dir() {
        let test = dir.join("test");
        (dir.join("train"), test.is_dir().then_some(test))
    } else {
        (dir.to_path_buf(), None)
    };
    let classes = sub_folders(&train_root)?;
    let mut reader = Reader::<S> {
        dir,
        first: None,
        _shape: std::marker::PhantomData,
    };
    let mut train = RawImages::default();
    let mut val = RawImages::default();
    let mut test = RawImages::default();
    let mut first_train_file = None;
    for (label, class) in classes.iter().enumerate() {
        let files = png_files(&train_root.join(class))?;
        let n = files.len();
        let n_train_pool = if test_root.is_some() { n } else { n * 4 / 5 };
        let n_train = n_train_pool * 4 / 5;
        for (k, file) in files.iter().enumerate() {
            let pixels = reader.read(file)?;
            let target = if k < n_train {
                first_train_file.get_or_insert_with(|| file.clone());
                &mut train
            } else if k < n_train_pool {
                &mut val
            } else {
                &mut test
            };
            target.pixels.extend_from_slice(&pixels);
            target.labels.push(label);
        }
    }
    if let Some(test_root) = &test_root {
        for class in sub_folders(test_root)? {
            let folder = test_root.join(&class);
            let Some(label) = classes.iter().position(|c| *c == class) else {
                return Err(DataError::UnknownClass {
                    path: folder,
                    class,
                    known: classes.join(", "),
                });
            };
            for file in png_files(&folder)? {
                let pixels = reader.read(&file)?;
                test.pixels.extend_from_slice(&pixels);
                test.labels.push(label);
            }
        }
    }
    if train.len() + val.len() == 0 {
        return Err(DataError::NoImages { path: train_root });
    }
    let train_path = first_train_file.unwrap_or(train_root);
    finish(
        &train_path,
        train,
        Some(val),
        test,
        classes,
        DataSource::Files {
            format: DataFormat::Folder,
            dir: dir.to_path_buf(),
        },
    )
}

/// The names of the sub-folders of `dir` (not hidden), sorted.
fn sub_folders(dir: &Path) -> Result<Vec<String>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.path().is_dir()
            && let Some(name) = entry.file_name().to_str()
            && !name.starts_with('.')
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The `.png` files of `dir` (any case), sorted by name.
fn png_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let io = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file()
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads images, checking that they are all of one size, `S`'s.
struct Reader<'a, S> {
    dir: &'a Path,
    /// The first image read and its `[height, width]`.
    first: Option<(PathBuf, [usize; 2])>,
    _shape: std::marker::PhantomData<fn() -> S>,
}

impl<S: Shape> Reader<'_, S> {
    /// The image at `path` as `S::LEN` 8-bit values.
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, DataError> {
        let bytes = read_file(path, "see data/README.md")?;
        let (h, w, channels, data) = decode_png(path, &bytes)?;
        match &self.first {
            Some((first, size)) if *size != [h, w] => {
                return Err(DataError::MixedImageSizes {
                    path: path.to_path_buf(),
                    found: [h, w],
                    first: first.clone(),
                    expected: *size,
                });
            }
            Some(_) => {}
            None => {
                if [h, w] != [S::H, S::W] {
                    return Err(DataError::ShapeMismatch {
                        path: self.dir.to_path_buf(),
                        expected: [S::H, S::W, S::C],
                        found: [h, w, channels],
                        network: None,
                    });
                }
                self.first = Some((path.to_path_buf(), [h, w]));
            }
        }
        Ok(convert(&data, channels, S::C))
    }
}

/// Decodes a PNG to 8-bit values: `(height, width, channels, values)`.
pub(super) fn decode_png(
    path: &Path,
    bytes: &[u8],
) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    let bad = |detail: String| DataError::BadImage {
        path: path.to_path_buf(),
        detail,
    };
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let (w, h) = reader.info().size();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(bad(format!("{w}x{h} pixels is too large")));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad("too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| bad(e.to_string()))?;
    if info.bit_depth != png::BitDepth::Eight {
        return Err(bad(format!("unexpected bit depth {:?}", info.bit_depth)));
    }
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad("unexpanded palette".into())),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let row = w * channels;
    let mut data = Vec::with_capacity(row * h);
    for y in 0..h {
        let start = y * info.line_size;
        let line = buf
            .get(start..start + row)
            .ok_or_else(|| bad("short image data".into()))?;
        data.extend_from_slice(line);
    }
    Ok((h, w, channels, data))
}

/// Converts interleaved pixels of `from` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) to
/// `to` channels.
pub(super) fn convert(data: &[u8], from: usize, to: usize) -> Vec<u8> {
    if from == to {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len() / from.max(1) * to);
    for px in data.chunks_exact(from.max(1)) {
        let (rgb, alpha) = match *px {
            [v] => ([v, v, v], 255),
            [v, a] => ([v, v, v], a),
            [r, g, b] => ([r, g, b], 255),
            [r, g, b, a, ..] => ([r, g, b], a),
            [] => ([0; 3], 255),
        };
        let grey = || {
            if from <= 2 {
                rgb[0]
            } else {
                let [r, g, b] = rgb.map(f64::from);
                (0.299 * r + 0.587 * g + 0.114 * b)
                    .round()
                    .clamp(0.0, 255.0) as u8
            }
        };
        match to {
            1 => out.push(grey()),
            2 => out.extend_from_slice(&[grey(), alpha]),
            3 => out.extend_from_slice(&rgb),
            _ => out.extend_from_slice(&[rgb[0], rgb[1], rgb[2], alpha]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::convert;

    #[test]
    fn channel_conversions() {
        assert_eq!(convert(&[10, 20], 1, 3), vec![10, 10, 10, 20, 20, 20]);
        assert_eq!(convert(&[1, 2, 3, 4], 4, 3), vec![1, 2, 3]);
        assert_eq!(convert(&[7, 9], 2, 1), vec![7]);
        assert_eq!(convert(&[7], 1, 4), vec![7, 7, 7, 255]);
        // 0.299 * 100 + 0.587 * 200 + 0.114 * 50 = 153.0
        assert_eq!(convert(&[100, 200, 50], 3, 1), vec![153]);
        assert_eq!(convert(&[255, 0, 0, 9], 4, 1), vec![76]);
    }
}
