//! One PNG image, decoded as the image-folder loader decodes its files (`image-folder` feature):
//! [`read_png`] and [`PngImage`].

use std::path::{Path, PathBuf};

use super::DataError;
use super::build::read_file;
use super::image_folder::{convert, decode_png};

/// A decoded PNG image: 8-bit values, row-major, channels interleaved (HWC).
///
/// Grey, grey+alpha, RGB and RGBA files, 8 or 16 bits, palettes: 16-bit values are reduced to
/// 8 bits and palettes expanded, as [`load_image_folder`](super::load_image_folder) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngImage {
    /// The file it was read from (for error messages).
    pub path: PathBuf,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels of the file: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    pub channels: usize,
    /// `height * width * channels` values.
    pub pixels: Vec<u8>,
}

impl PngImage {
    /// The pixels converted to `channels` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA), by
    /// [`load_image_folder`](super::load_image_folder)'s rules: grey is replicated to RGB, alpha
    /// dropped (or 255 when added), RGB to grey is the luminance `0.299 R + 0.587 G + 0.114 B`,
    /// rounded. Other channel counts are [`DataError::UnsupportedChannels`].
    pub fn to_channels(&self, channels: usize) -> Result<Vec<u8>, DataError> {
        if !(1..=4).contains(&channels) {
            return Err(DataError::UnsupportedChannels {
                path: self.path.clone(),
                channels,
            });
        }
        Ok(convert(&self.pixels, self.channels, channels))
    }

    /// The pixels converted to `channels` channels (as [`PngImage::to_channels`]) as `f32` in
    /// [0, 1] units (value / 255), the units of [`Normalization`](super::Normalization).
    pub fn to_f32(&self, channels: usize) -> Result<Vec<f32>, DataError> {
        Ok(self
            .to_channels(channels)?
            .into_iter()
            .map(|v| f32::from(v) / 255.0)
            .collect())
    }
}

/// Reads and decodes the PNG file at `path`. A missing file is [`DataError::FileNotFound`], an
/// unreadable one [`DataError::Io`], a file that is not a PNG (or is damaged, or larger than 2^26 pixels) [`DataError::BadImage`]; both name
/// the file.
///
/// ```
/// use constnet::data::read_png;
///
/// // A 2x1 RGB image: one red pixel, one blue.
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("two.png");
/// let mut encoder = png::Encoder::new(std::fs::File::create(&path).unwrap(), 2, 1);
/// encoder.set_color(png::ColorType::Rgb);
/// let mut writer = encoder.write_header().unwrap();
/// writer.write_image_data(&[255, 0, 0, 0, 0, 255]).unwrap();
/// writer.finish().unwrap();
///
/// let image = read_png(&path)?;
/// assert_eq!((image.width, image.height, image.channels), (2, 1, 3));
/// assert_eq!(image.to_channels(1)?, vec![76, 29]); // luminance
/// assert_eq!(image.to_f32(3)?, vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
/// assert!(read_png(dir.path().join("missing.png")).is_err());
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn read_png(path: impl AsRef<Path>) -> Result<PngImage, DataError> {
    let path = path.as_ref();
    let bytes = read_file(path, "expected a PNG image")?;
    let (height, width, channels, pixels) = decode_png(path, &bytes)?;
    Ok(PngImage {
        path: path.to_path_buf(),
        width,
        height,
        channels,
        pixels,
    })
}
