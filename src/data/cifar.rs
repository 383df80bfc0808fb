//! The CIFAR-100 (Matlab version) loader.

use std::ops::Range;
use std::path::Path;

use matfile::NumericData;
use rayon::prelude::*;

use super::build::{check_dir, check_shape};
use super::mat_read::{MatContents, read_mat};
use super::{
    CIFAR100_SUPERCLASSES, DataError, DataFormat, DataSource, DataSplits, Dataset, Normalization,
};
use crate::{Image, Shape};

/// CIFAR's images: 32x32 RGB.
type Cifar = Image<32, 32, 3>;
/// Where to get the files, for a missing-file message.
pub(crate) const MAT_HINT: &str = "get cifar-100-matlab.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it; see data/README.md";

/// Number of coarse classes (superclasses) in CIFAR-100.
const NUM_CLASSES: usize = CIFAR100_SUPERCLASSES.len();
/// Images converted together: the transposition from the column-major MAT
/// matrix to NHWC works on blocks of this many images so that both the
/// reads and the writes stay in cache.
const BLOCK: usize = 64;

/// Loads CIFAR-100 (Matlab version) from `dir`, which must hold `train.mat`
/// and `test.mat` as unpacked from `cifar-100-matlab.tar.gz`, as images of
/// shape `S`, which must be 32x32x3 ([`DataError::ShapeMismatch`] otherwise).
/// (`mat` feature.)
///
/// - `train`: the first 4/5 of `train.mat` (40,000 images), `val`: its last
///   fifth (10,000), `test`: `test.mat` (10,000); labels are the 20 coarse
///   labels (`coarse_labels`), named by [`CIFAR100_SUPERCLASSES`].
/// - Images are NHWC f32: pixels / 255, then, per channel, minus the mean
///   and divided by the population standard deviation (ddof 0) of the
///   training split; the mean and std are returned in
///   [`DataSplits::normalization`].
/// - `data` and `coarse_labels` may be stored as any real numeric class
///   (uint8 as shipped, double, single, intN, uintN); pixel values must lie
///   in 0..=255, labels must be whole numbers in 0..=19.
/// - Memory: the f32 images are written straight from the MAT data into the
///   three split buffers (no second f32 copy); peak use for the full data
///   set is about 0.8 GB.
///
/// Every problem with the folder or the files is a [`DataError`] naming the
/// file and what is wrong; this function does not panic on any input.
///
/// ```
/// use constnet::data::{load_cifar100, DataSplits};
/// # use constnet::data::mat_writer::{write_mat_file, Compression, MatVar};
/// # let tmp = std::env::temp_dir().join(format!("constnet-doc-mat-{}", std::process::id()));
/// # std::fs::create_dir_all(&tmp).unwrap();
/// # for (file, n) in [("train.mat", 50), ("test.mat", 10)] {
/// #     let data: Vec<u8> = (0..n * 3072).map(|j| (j % 251) as u8).collect();
/// #     let coarse: Vec<f64> = (0..n).map(|i| (i % 20) as f64).collect();
/// #     let fine: Vec<f64> = (0..n).map(|i| (i % 100) as f64).collect();
/// #     write_mat_file(&tmp.join(file), &[
/// #         MatVar::new("fine_labels", n, 1, &fine[..]),
/// #         MatVar::new("coarse_labels", n, 1, &coarse[..]),
/// #         MatVar::new("data", n, 3072, &data[..]),
/// #     ], Compression::None).unwrap();
/// # }
/// # let dir = tmp.as_path();
/// // `dir` holds train.mat and test.mat (50 and 10 images here).
/// let splits: DataSplits = load_cifar100(dir)?;
/// assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (40, 10, 10));
/// println!("{}: {} train / {} val / {} test images", splits.source,
///     splits.train.len(), splits.val.len(), splits.test.len());
/// println!("mean {:?}, std {:?}", splits.normalization.mean, splits.normalization.std);
/// # std::fs::remove_dir_all(&tmp).unwrap();
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn load_cifar100<S: Shape>(dir: impl AsRef<Path>) -> Result<DataSplits<S>, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    check_shape::<S>(dir, [32, 32, 3])?;
    let train_path = dir.join("train.mat");
    let test_path = dir.join("test.mat");
    // Both must be there before we spend time on either.
    for p in [&train_path, &test_path] {
        if !p.exists() {
            return Err(DataError::FileNotFound {
                path: p.clone(),
                hint: MAT_HINT,
            });
        }
    }

    // test.mat first: it is small, and a problem in it is found before the
    // long conversion of train.mat. Its arrays (30 MB as uint8) stay in
    // memory until the normalisation is known.
    let test_mat = read_mat(&test_path)?;
    let test_src = CifarMatrix::from_mat(&test_path, &test_mat, 1)?;
    let train_mat = read_mat(&train_path)?;
    let train_src = CifarMatrix::from_mat(&train_path, &train_mat, 5)?;

    let n = train_src.n;
    let n_train = n * 4 / 5;
    let norm = train_src.stats(0..n_train)?;
    let train = train_src.dataset(0..n_train, &norm)?;
    let val = train_src.dataset(n_train..n, &norm)?;
    drop(train_src);
    drop(train_mat);
    let test = test_src.dataset(0..test_src.n, &norm)?;

    Ok(DataSplits {
        train: Dataset::new_unchecked(train.images, train.labels, NUM_CLASSES),
        val: Dataset::new_unchecked(val.images, val.labels, NUM_CLASSES),
        test: Dataset::new_unchecked(test.images, test.labels, NUM_CLASSES),
        label_names: CIFAR100_SUPERCLASSES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        normalization: norm,
        source: DataSource::Files {
            format: DataFormat::Cifar100Mat,
            dir: dir.to_path_buf(),
        },
    })
}

/// Numbers that can be pixel values or labels.
trait Sample: Copy + Default + Send + Sync {
    fn to_f64(self) -> f64;
}

macro_rules! impl_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
impl_sample!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

/// Runs `$body` with `$s` bound to the real part of any numeric array.
macro_rules! with_real {
    ($data:expr, $s:ident => $body:expr) => {
        match $data {
            NumericData::Int8 { real: $s, .. } => $body,
            NumericData::UInt8 { real: $s, .. } => $body,
            NumericData::Int16 { real: $s, .. } => $body,
            NumericData::UInt16 { real: $s, .. } => $body,
            NumericData::Int32 { real: $s, .. } => $body,
            NumericData::UInt32 { real: $s, .. } => $body,
            NumericData::Int64 { real: $s, .. } => $body,
            NumericData::UInt64 { real: $s, .. } => $body,
            NumericData::Single { real: $s, .. } => $body,
            NumericData::Double { real: $s, .. } => $body,
        }
    };
}

fn is_complex(data: &NumericData) -> bool {
    match data {
        NumericData::Int8 { imag, .. } => imag.is_some(),
        NumericData::UInt8 { imag, .. } => imag.is_some(),
        NumericData::Int16 { imag, .. } => imag.is_some(),
        NumericData::UInt16 { imag, .. } => imag.is_some(),
        NumericData::Int32 { imag, .. } => imag.is_some(),
        NumericData::UInt32 { imag, .. } => imag.is_some(),
        NumericData::Int64 { imag, .. } => imag.is_some(),
        NumericData::UInt64 { imag, .. } => imag.is_some(),
        NumericData::Single { imag, .. } => imag.is_some(),
        NumericData::Double { imag, .. } => imag.is_some(),
    }
}

fn real_len(data: &NumericData) -> usize {
    with_real!(data, s => s.len())
}

fn dims_text(size: &[usize]) -> String {
    size.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

/// A validated `data` matrix (N x 3072, column-major) with its labels.
struct CifarMatrix<'a> {
    path: &'a Path,
    data: &'a NumericData,
    /// Number of images (rows).
    n: usize,
    labels: Vec<usize>,
}

impl<'a> CifarMatrix<'a> {
    /// Finds and checks `data` and `coarse_labels`.
    fn from_mat(
        path: &'a Path,
        mat: &'a MatContents,
        min_images: usize,
    ) -> Result<Self, DataError> {
        let data_arr = find_numeric(path, mat, "data")?;
        let labels_arr = find_numeric(path, mat, "coarse_labels")?;

        // data: N x 3072 (a trailing 1 x 1 ... is tolerated).
        let size = data_arr.size();
        let bad_shape = || DataError::BadDataShape {
            path: path.to_path_buf(),
            dims: dims_text(size),
        };
        let (n, width) = match size.as_slice() {
            [n, w, rest @ ..] if rest.iter().all(|&d| d == 1) => (*n, *w),
            _ => return Err(bad_shape()),
        };
        if width != Cifar::LEN {
            return Err(bad_shape());
        }
        let data = data_arr.data();
        if n.checked_mul(width) != Some(real_len(data)) {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                detail: format!(
                    "variable 'data' is {} but holds {} values",
                    dims_text(size),
                    real_len(data)
                ),
            });
        }
        if n < min_images {
            return Err(DataError::TooFewImages {
                path: path.to_path_buf(),
                count: n,
                min: min_images,
            });
        }

        // coarse_labels: a vector of N whole numbers in 0..20.
        let lsize = labels_arr.size();
        let count = match lsize.as_slice() {
            [r, c, rest @ ..] if rest.iter().all(|&d| d == 1) && (*r == 1 || *c == 1) => {
                r.checked_mul(*c)
            }
            _ => None,
        };
        let Some(count) = count else {
            return Err(DataError::BadLabelShape {
                path: path.to_path_buf(),
                dims: dims_text(lsize),
            });
        };
        let ldata = labels_arr.data();
        if count != n || real_len(ldata) != n {
            return Err(DataError::LabelCountMismatch {
                path: path.to_path_buf(),
                images: n,
                labels: count,
            });
        }
        let labels = with_real!(ldata, s => labels_from(path, s))?;
        Ok(CifarMatrix {
            path,
            data,
            n,
            labels,
        })
    }

    /// Mean and std of the images `rows`, in [0, 1] units.
    fn stats(&self, rows: Range<usize>) -> Result<Normalization, DataError> {
        let r = match self.data {
            NumericData::UInt8 { real, .. } => Ok(stats_u8(real, self.n, rows)),
            other => with_real!(other, s => stats_generic(s, self.n, rows)),
        };
        r.map_err(|(index, value)| DataError::BadPixel {
            path: self.path.to_path_buf(),
            index,
            value,
        })
    }

    /// Converts the images `rows` into a normalised NHWC [`Dataset`].
    fn dataset(
        &self,
        rows: Range<usize>,
        norm: &Normalization,
    ) -> Result<Dataset<Cifar>, DataError> {
        let images = match self.data {
            NumericData::UInt8 { real, .. } => {
                // A lookup table per channel: exactly the values the generic
                // path computes, at a fraction of the cost.
                let mut lut = [[0f32; 256]; 3];
                for (c, table) in lut.iter_mut().enumerate() {
                    for (v, out) in table.iter_mut().enumerate() {
                        *out = norm.apply_value(v as f64 / 255.0, c);
                    }
                }
                to_nhwc(real, self.n, rows.clone(), |v, c| {
                    Some(lut[c][usize::from(v)])
                })
            }
            other => with_real!(other, s => to_nhwc(s, self.n, rows.clone(), |v, c| {
                let x = v.to_f64();
                (0.0..=255.0).contains(&x).then(|| norm.apply_value(x / 255.0, c))
            })),
        }
        .map_err(|(index, value)| DataError::BadPixel {
            path: self.path.to_path_buf(),
            index,
            value,
        })?;
        let labels = self.labels.get(rows).unwrap_or_default().to_vec();
        Ok(Dataset::new_unchecked(images, labels, NUM_CLASSES))
    }
}

/// Finds a variable that must be a real numeric matrix.
fn find_numeric<'m>(
    path: &Path,
    mat: &'m MatContents,
    name: &'static str,
) -> Result<&'m matfile::Array, DataError> {
    if let Some(found) = mat.non_numeric_kind(name) {
        return Err(DataError::WrongType {
            path: path.to_path_buf(),
            name,
            found,
        });
    }
    let Some(arr) = mat.file.find_by_name(name) else {
        return Err(if mat.declares(name) {
            DataError::UnreadableVariable {
                path: path.to_path_buf(),
                name,
            }
        } else {
            DataError::MissingVariable {
                path: path.to_path_buf(),
                name,
            }
        });
    };
    if is_complex(arr.data()) {
        return Err(DataError::WrongType {
            path: path.to_path_buf(),
            name,
            found: "a complex matrix".into(),
        });
    }
    Ok(arr)
}

fn labels_from<T: Sample>(path: &Path, s: &[T]) -> Result<Vec<usize>, DataError> {
    s.iter()
        .enumerate()
        .map(|(index, &v)| {
            let x = v.to_f64();
            if x.fract() == 0.0 && (0.0..NUM_CLASSES as f64).contains(&x) {
                Ok(x as usize)
            } else {
                Err(DataError::BadLabel {
                    path: path.to_path_buf(),
                    index,
                    value: x,
                    num_classes: NUM_CLASSES,
                })
            }
        })
        .collect()
}

/// The column `col` of the N x 3072 matrix, restricted to `rows`. The
/// caller has checked that `src.len() == n * 3072` and `rows` lies in `0..n`.
#[inline]
fn column<'a, T>(src: &'a [T], n: usize, col: usize, rows: &Range<usize>) -> &'a [T] {
    let start = col * n;
    src.get(start + rows.start..start + rows.end)
        .unwrap_or_default()
}

/// Per-channel statistics of uint8 data: exact histograms.
fn stats_u8(src: &[u8], n: usize, rows: Range<usize>) -> Normalization {
    let plane = Cifar::H * Cifar::W;
    let hists: Vec<[u64; 256]> = (0..Cifar::LEN)
        .into_par_iter()
        .map(|col| {
            let mut h = [0u64; 256];
            for &v in column(src, n, col, &rows) {
                h[usize::from(v)] += 1;
            }
            h
        })
        .collect();
    let mut per_channel = [[0u64; 256]; 3];
    for (col, h) in hists.iter().enumerate() {
        let c = col / plane;
        for (total, &k) in per_channel[c].iter_mut().zip(h) {
            *total += k;
        }
    }
    Normalization::from_histograms(&per_channel)
}

/// Per-channel statistics of any numeric data, checking that every value is
/// in 0..=255. Errors give (image index, bad value).
fn stats_generic<T: Sample>(
    src: &[T],
    n: usize,
    rows: Range<usize>,
) -> Result<Normalization, (usize, f64)> {
    let plane = Cifar::H * Cifar::W;
    let sums: Vec<f64> = (0..Cifar::LEN)
        .into_par_iter()
        .map(|col| {
            let mut acc = 0.0;
            for (k, &v) in column(src, n, col, &rows).iter().enumerate() {
                let x = v.to_f64();
                if !(0.0..=255.0).contains(&x) {
                    return Err((rows.start + k, x));
                }
                acc += x;
            }
            Ok(acc)
        })
        .collect::<Result<_, _>>()?;
    let count = (rows.len() * plane) as u64;
    let mut mean = [0.0; 3];
    for (col, s) in sums.iter().enumerate() {
        mean[col / plane] += s;
    }
    if count > 0 {
        mean = mean.map(|m| m / count as f64 / 255.0);
    }
    let devs: Vec<f64> = (0..Cifar::LEN)
        .into_par_iter()
        .map(|col| {
            let m = mean[col / plane];
            column(src, n, col, &rows)
                .iter()
                .map(|&v| {
                    let d = v.to_f64() / 255.0 - m;
                    d * d
                })
                .sum::<f64>()
        })
        .collect();
    let mut sq = [0.0; 3];
    for (col, s) in devs.iter().enumerate() {
        sq[col / plane] += s;
    }
    Ok(Normalization::from_moments(count, mean.to_vec(), &sq))
}

/// Converts images `rows` of the column-major N x 3072 matrix `src` (rows
/// of 1024 red, 1024 green, 1024 blue values, each plane row-major 32 x 32)
/// into a new NHWC buffer, mapping each value with `f(value, channel)`.
/// `f` returns `None` for a bad value; the error gives (image, value).
///
/// Two cache-friendly steps per block of [`BLOCK`] images: copy the block's
/// part of every column (contiguous reads) into a small image-major scratch
/// buffer, then write each image sequentially, interleaving the channels.
fn to_nhwc<T: Sample>(
    src: &[T],
    n: usize,
    rows: Range<usize>,
    f: impl Fn(T, usize) -> Option<f32> + Sync,
) -> Result<Vec<f32>, (usize, f64)> {
    const IMG: usize = Cifar::LEN;
    const PLANE: usize = Cifar::H * Cifar::W;
    // Zeroed allocation: the pages are only touched once, when written.
    let mut out = vec![0f32; rows.len() * IMG];
    out.par_chunks_mut(BLOCK * IMG)
        .enumerate()
        .try_for_each_init(
            || vec![T::default(); BLOCK * IMG],
            |scratch, (block, chunk)| {
                let first = rows.start + block * BLOCK;
                let count = chunk.len() / IMG;
                let block_rows = first..first + count;
                // 1. scratch[b * IMG + j] = element (first + b, j)
                for j in 0..IMG {
                    let values = column(src, n, j, &block_rows);
                    for (b, &v) in values.iter().enumerate() {
                        if let Some(slot) = scratch.get_mut(b * IMG + j) {
                            *slot = v;
                        }
                    }
                }
                // 2. NHWC: out[(h * 32 + w) * 3 + c] = plane c at h * 32 + w
                for (b, (image, planes)) in chunk
                    .chunks_exact_mut(IMG)
                    .zip(scratch.chunks_exact(IMG))
                    .enumerate()
                {
                    let (r, rest) = planes.split_at(PLANE);
                    let (g, bl) = rest.split_at(PLANE);
                    for (((px, &vr), &vg), &vb) in image.chunks_exact_mut(3).zip(r).zip(g).zip(bl) {
                        let bad = |v: T| (first + b, v.to_f64());
                        px[0] = f(vr, 0).ok_or_else(|| bad(vr))?;
                        px[1] = f(vg, 1).ok_or_else(|| bad(vg))?;
                        px[2] = f(vb, 2).ok_or_else(|| bad(vb))?;
                    }
                }
                Ok(())
            },
        )?;
    Ok(out)
}
