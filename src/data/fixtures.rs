//! Small data sets in the real file formats, written by tests (this crate's and programs'), and
//! a seeded file mutator for fuzz tests. Not part of the stable API.
//!
//! The images are learnable: class `k` is a bright square at a place that depends on `k`, over
//! a dim noisy background, so a small network tells the classes apart within an epoch or two.

use std::io;
use std::path::Path;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// The pixel of image `i` of class `label` at row `y`, column `x`, channel `c`, for images of
/// `h x w`: a square of side `max(h, w) / 4` at a class-dependent place (ten places on a 4x4
/// grid, then repeating), brighter in channel `label % channels`, over hashed noise.
pub fn pattern_pixel(
    label: usize,
    i: usize,
    y: usize,
    x: usize,
    c: usize,
    h: usize,
    w: usize,
) -> u8 {
    let side = (h.max(w) / 4).max(1);
    let slot = label % 10;
    let (gy, gx) = (slot / 4, slot % 4);
    let (top, left) = (gy * h / 4 + h / 16, gx * w / 4 + w / 16);
    let inside = (top..top + side).contains(&y) && (left..left + side).contains(&x);
    let noise = (hash(i as u64 * 1_000_003 + (y * 131 + x * 7 + c) as u64) % 48) as u8;
    if inside {
        let tint = if label / 10 % 3 == c % 3 { 40 } else { 0 };
        200 + noise / 4 + tint / 4
    } else {
        noise
    }
}

fn hash(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The label of image `i` of a fixture with `classes` classes.
pub fn label_of(i: usize, classes: usize) -> usize {
    (i * 7 + i / 3) % classes.max(1)
}

/// An IDX image file (magic `0x00000803`): `n` grey images of `h x w` drawn by `pixel(i, y, x)`.
pub fn idx_images(
    n: usize,
    h: usize,
    w: usize,
    pixel: impl Fn(usize, usize, usize) -> u8,
) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        b.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..n {
        for y in 0..h {
            for x in 0..w {
                b.push(pixel(i, y, x));
            }
        }
    }
    b
}

/// An IDX label file (magic `0x00000801`).
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// gzip-compresses `bytes`.
#[cfg(feature = "gzip")]
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

/// Writes the four MNIST files into `dir` (`n_train` and `n_test` images of 28x28, labels
/// [`label_of`] with `classes` classes), gzip-compressed with `.gz` names if `gz`.
pub fn write_mnist(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    classes: usize,
    gz: bool,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (prefix, n, offset) in [("train", n_train, 0), ("t10k", n_test, 1_000_000)] {
        let labels: Vec<u8> = (0..n)
            .map(|i| label_of(i + offset, classes) as u8)
            .collect();
        let images = idx_images(n, 28, 28, |i, y, x| {
            pattern_pixel(usize::from(labels[i]), i + offset, y, x, 0, 28, 28)
        });
        let files = [
            (format!("{prefix}-images-idx3-ubyte"), images),
            (format!("{prefix}-labels-idx1-ubyte"), idx_labels(&labels)),
        ];
        for (name, bytes) in files {
            if gz {
                #[cfg(feature = "gzip")]
                std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes))?;
                #[cfg(not(feature = "gzip"))]
                return Err(io::Error::other("the gzip feature is off"));
            } else {
                std::fs::write(dir.join(name), bytes)?;
            }
        }
    }
    Ok(())
}

/// One CIFAR record's 3072 pixel bytes (R plane, G plane, B plane, each 32x32 row-major) of
/// image `i` with label `label`.
pub fn cifar_planes(label: usize, i: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(3072);
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                b.push(pattern_pixel(label, i, y, x, c, 32, 32));
            }
        }
    }
    b
}

/// Writes CIFAR-10 binary files into `dir`: `batches` training batches `data_batch_<k>.bin` of
/// `per_batch` images each, `test_batch.bin` with `n_test`, and `batches.meta.txt`.
pub fn write_cifar10(
    dir: &Path,
    batches: usize,
    per_batch: usize,
    n_test: usize,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = |first: usize, n: usize| {
        let mut b = Vec::with_capacity(n * 3073);
        for i in first..first + n {
            let label = label_of(i, 10);
            b.push(label as u8);
            b.extend_from_slice(&cifar_planes(label, i));
        }
        b
    };
    for k in 0..batches {
        std::fs::write(
            dir.join(format!("data_batch_{}.bin", k + 1)),
            file(k * per_batch, per_batch),
        )?;
    }
    std::fs::write(dir.join("test_batch.bin"), file(1_000_000, n_test))?;
    std::fs::write(
        dir.join("batches.meta.txt"),
        super::CIFAR10_CLASSES.join("\n") + "\n\n",
    )
}

/// Writes CIFAR-100 binary files into `dir`: `train.bin` and `test.bin` (coarse label
/// `label_of(i, 20)`, fine label `label_of(i, 100)`), `coarse_label_names.txt` and
/// `fine_label_names.txt`.
pub fn write_cifar100_binary(dir: &Path, n_train: usize, n_test: usize) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = |first: usize, n: usize| {
        let mut b = Vec::with_capacity(n * 3074);
        for i in first..first + n {
            let (coarse, fine) = (label_of(i, 20), label_of(i, 100));
            b.push(coarse as u8);
            b.push(fine as u8);
            b.extend_from_slice(&cifar_planes(coarse, i));
        }
        b
    };
    std::fs::write(dir.join("train.bin"), file(0, n_train))?;
    std::fs::write(dir.join("test.bin"), file(1_000_000, n_test))?;
    std::fs::write(
        dir.join("coarse_label_names.txt"),
        super::CIFAR100_SUPERCLASSES.join("\n") + "\n",
    )?;
    std::fs::write(
        dir.join("fine_label_names.txt"),
        super::CIFAR100_CLASSES.join("\n") + "\n",
    )
}

/// A PNG file: `w x h` pixels of `channels` 8-bit channels (1 grey, 2 grey+alpha, 3 RGB,
/// 4 RGBA), `data` row-major interleaved.
#[cfg(feature = "image-folder")]
pub fn png_bytes(w: usize, h: usize, channels: usize, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w as u32, h as u32);
        e.set_color(match channels {
            1 => png::ColorType::Grayscale,
            2 => png::ColorType::GrayscaleAlpha,
            4 => png::ColorType::Rgba,
            _ => png::ColorType::Rgb,
        });
        e.set_depth(png::BitDepth::Eight);
        if let Ok(mut writer) = e.write_header() {
            let _ = writer.write_image_data(data);
        }
    }
    out
}

/// Writes an image folder: `root/<class>/<nnn>.png` (or `root/train/...` and `root/test/...`
/// when `n_test > 0`), `per_class` training images (and `n_test` test images) per class of
/// `h x w` with `channels` channels, classes named by `classes`.
#[cfg(feature = "image-folder")]
pub fn write_image_folder(
    root: &Path,
    classes: &[&str],
    per_class: usize,
    n_test: usize,
    h: usize,
    w: usize,
    channels: usize,
) -> io::Result<()> {
    let splits: Vec<(std::path::PathBuf, usize, usize)> = if n_test > 0 {
        vec![
            (root.join("train"), per_class, 0),
            (root.join("test"), n_test, 1_000_000),
        ]
    } else {
        vec![(root.to_path_buf(), per_class, 0)]
    };
    for (dir, n, offset) in splits {
        for (label, class) in classes.iter().enumerate() {
            let d = dir.join(class);
            std::fs::create_dir_all(&d)?;
            for k in 0..n {
                let i = offset + label * 1000 + k;
                let mut data = Vec::with_capacity(h * w * channels);
                for y in 0..h {
                    for x in 0..w {
                        for c in 0..channels {
                            data.push(if c == 3 {
                                255
                            } else {
                                pattern_pixel(label, i, y, x, c, h, w)
                            });
                        }
                    }
                }
                std::fs::write(
                    d.join(format!("{k:03}.png")),
                    png_bytes(w, h, channels, &data),
                )?;
            }
        }
    }
    Ok(())
}

/// A seeded mutation of `bytes` for fuzz tests: one to four byte flips, a truncation, an
/// extension with random bytes, or a rewritten 4-byte field near the start (sizes, magic
/// numbers), chosen by `rng`.
pub fn mutate(bytes: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.random_range(0..5) {
        0 | 1 => {
            for _ in 0..rng.random_range(1..=4) {
                if !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= 1 << rng.random_range(0..8);
                }
            }
        }
        2 => {
            let keep = rng.random_range(0..=b.len());
            b.truncate(keep);
        }
        3 => {
            for _ in 0..rng.random_range(1..64) {
                b.push(rng.random());
            }
        }
        _ => {
            if b.len() >= 4 {
                let at = rng.random_range(0..b.len().min(40) - 3);
                let v: u32 = match rng.random_range(0..3) {
                    0 => rng.random(),
                    1 => rng.random_range(0..70_000),
                    _ => u32::MAX,
                };
                b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
        }
    }
    b
}

/// A seeded RNG for [`mutate`].
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
