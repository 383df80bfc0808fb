//! Pictures of a training run, rendered to PNG files without any system font or library: the
//! learning curves ([`curves_png`]), first-layer filters ([`filters_png`]), feature maps
//! ([`feature_maps_png`]), sample images with their labels ([`samples_png`]) and the confusion
//! matrix ([`confusion_png`]).
//!
//! Every function takes plain inputs (slices, names, the data set's channel mean and std) and
//! returns a [`PlotError`] for inconsistent inputs or a file that cannot be written. Text is drawn
//! with DejaVu Sans, embedded in the crate (`assets/fonts/`, Bitstream Vera licence), so the
//! pictures look the same on every machine.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("curves.png");
//! constnet::plot::curves_png(&path, &[2.9, 2.7, 2.4, 2.2], &[0.2, 0.3], &[0.18, 0.25]).unwrap();
//! let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
//! let info = png::Decoder::new(file).read_info().unwrap().info().clone();
//! assert_eq!((info.width, info.height), constnet::plot::CURVES_SIZE);
//! ```

mod canvas;
mod colormap;
mod confusion;
mod curves;
mod grids;
mod text;

pub use canvas::Canvas;
pub use confusion::confusion_png;
pub use curves::{CURVES_SIZE, curves_png};
pub use grids::{feature_maps_png, filters_png, samples_png, unnormalize_to_rgb8};
pub use text::KernedBackend;

use std::path::PathBuf;

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The inputs do not fit together (e.g. a weight slice of the wrong length).
    #[error("cannot draw {picture}: {problem}")]
    Input {
        /// The picture being drawn (`"filters"`).
        picture: &'static str,
        /// What is wrong, with the numbers.
        problem: String,
    },
    /// Drawing failed inside the plotting library.
    #[error("cannot draw {picture}: {message}")]
    Draw {
        /// The picture being drawn.
        picture: &'static str,
        /// The plotting library's message.
        message: String,
    },
    /// The PNG file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: png::EncodingError,
    },
}

impl PlotError {
    pub(crate) fn input(picture: &'static str, problem: impl Into<String>) -> Self {
        PlotError::Input {
            picture,
            problem: problem.into(),
        }
    }
}

/// A PNG file read back as 8-bit RGB, for the pictures' tests.
#[cfg(test)]
pub(crate) struct Rgb {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

#[cfg(test)]
impl Rgb {
    pub(crate) fn open(path: &std::path::Path) -> Rgb {
        let file = std::io::BufReader::new(std::fs::File::open(path).expect("the PNG file"));
        let mut reader = png::Decoder::new(file).read_info().expect("a PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
        let frame = reader.next_frame(&mut pixels).expect("PNG data");
        assert_eq!(frame.color_type, png::ColorType::Rgb, "an RGB picture");
        pixels.truncate(frame.buffer_size());
        Rgb {
            width: frame.width,
            height: frame.height,
            pixels,
        }
    }
    pub(crate) fn width(&self) -> u32 {
        self.width
    }
    pub(crate) fn height(&self) -> u32 {
        self.height
    }
    pub(crate) fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    pub(crate) fn get_pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = ((y * self.width + x) * 3) as usize;
        [self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]]
    }
}
