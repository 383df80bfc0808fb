//! [`Canvas`]: an RGB picture to paint pixels on, write text on (with the embedded font) and save
//! as PNG.

use super::PlotError;
use super::text::KernedBackend;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform};
use std::path::Path;
use std::sync::OnceLock;

/// The family name under which the embedded font is registered with plotters.
pub(crate) const FONT: &str = "constnet-dejavu-sans";

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/DejaVuSans-LICENSE.txt`).
pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters, once per process.
pub(crate) fn register_font(picture: &'static str) -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw {
            picture,
            message: "the embedded font could not be read".to_string(),
        })
    }
}

/// The embedded font at `size` pixels.
pub(crate) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal)
}

/// Where a text's anchor point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// The point is the left end of the text, vertically centred.
    Left,
    /// The point is the centre of the text.
    Center,
    /// The point is the right end of the text, vertically centred.
    Right,
}

/// An RGB picture being drawn: pixels, text in the embedded font, and plotters charts.
///
/// ```
/// use constnet::plot::Canvas;
/// let mut c = Canvas::new("example", 40, 20).unwrap();
/// c.fill_rect(0, 0, 10, 10, [255, 0, 0]);
/// assert_eq!(c.pixel(5, 5), [255, 0, 0]);
/// assert_eq!(c.pixel(20, 5), [255, 255, 255]);
/// ```
#[derive(Debug, Clone)]
pub struct Canvas {
    picture: &'static str,
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A white canvas of `width` x `height` pixels, for the picture named `picture` (used in
    /// error messages).
    pub fn new(picture: &'static str, width: u32, height: u32) -> Result<Self, PlotError> {
        register_font(picture)?;
        if width == 0 || height == 0 || width > 16_384 || height > 16_384 {
            return Err(PlotError::input(
                picture,
                format!("a picture of {width}x{height} pixels is not drawable"),
            ));
        }
        Ok(Canvas {
            picture,
            width,
            height,
            pixels: vec![255; width as usize * height as usize * 3],
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The colour at `(x, y)` (white outside the canvas).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        if x >= self.width || y >= self.height {
            return [255; 3];
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Paints the rectangle at `(x, y)` of `w` x `h` pixels (clipped to the canvas).
    pub fn fill_rect(&mut self, x: u32, y: u32, w: u32, h: u32, rgb: [u8; 3]) {
        let x1 = x.saturating_add(w).min(self.width);
        let y1 = y.saturating_add(h).min(self.height);
        for yy in y.min(y1)..y1 {
            let row = yy as usize * self.width as usize;
            for xx in x.min(x1)..x1 {
                let i = (row + xx as usize) * 3;
                self.pixels[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }

    /// Draws an RGB image (`h` x `w` pixels, row-major, 3 bytes a pixel) with its top-left corner
    /// at `(x, y)`, each pixel as a `scale` x `scale` square (nearest neighbour).
    pub fn blit(&mut self, x: u32, y: u32, rgb: &[u8], w: u32, h: u32, scale: u32) {
        for r in 0..h {
            for c in 0..w {
                let i = (r as usize * w as usize + c as usize) * 3;
                if let Some(p) = rgb.get(i..i + 3) {
                    self.fill_rect(
                        x + c * scale,
                        y + r * scale,
                        scale,
                        scale,
                        [p[0], p[1], p[2]],
                    );
                }
            }
        }
    }

    /// Draws a one-pixel frame around the rectangle at `(x, y)` of `w` x `h` pixels.
    pub fn frame(&mut self, x: u32, y: u32, w: u32, h: u32, rgb: [u8; 3]) {
        if w == 0 || h == 0 {
            return;
        }
        self.fill_rect(x, y, w, 1, rgb);
        self.fill_rect(x, y + h - 1, w, 1, rgb);
        self.fill_rect(x, y, 1, h, rgb);
        self.fill_rect(x + w - 1, y, 1, h, rgb);
    }

    /// The width and height in pixels of `text` at `size`.
    pub fn text_size(&self, text: &str, size: f64) -> Result<(u32, u32), PlotError> {
        font(size).box_size(text).map_err(|e| PlotError::Draw {
            picture: self.picture,
            message: e.to_string(),
        })
    }

    /// Writes a picture's title: 22-pixel black text centred horizontally, its centre at
    /// height `y`.
    pub fn title(&mut self, text: &str, y: i32) -> Result<(), PlotError> {
        let centre = self.width as i32 / 2;
        self.text(text, (centre, y), 22.0, Align::Center, false, [0, 0, 0])
    }

    /// Writes `text` at `size` pixels in `rgb`, anchored at `(x, y)` as `align` says; `vertical`
    /// turns it a quarter clockwise, so that it runs downwards from the anchor (as column labels
    /// under a matrix).
    pub fn text(
        &mut self,
        text: &str,
        (x, y): (i32, i32),
        size: f64,
        align: Align,
        vertical: bool,
        rgb: [u8; 3],
    ) -> Result<(), PlotError> {
        let h_pos = match align {
            Align::Left => HPos::Left,
            Align::Center => HPos::Center,
            Align::Right => HPos::Right,
        };
        let mut desc = font(size);
        if vertical {
            desc = desc.transform(FontTransform::Rotate270);
        }
        let style = desc
            .color(&RGBColor(rgb[0], rgb[1], rgb[2]))
            .pos(Pos::new(h_pos, VPos::Center));
        self.draw(|area| {
            area.draw_text(text, &style, (x, y))
                .map_err(|e| e.to_string())
        })
    }

    /// Runs `f` on a plotters drawing area over the whole canvas (for charts); text is laid out
    /// by [`KernedBackend`].
    pub fn draw(
        &mut self,
        f: impl FnOnce(&DrawingArea<KernedBackend<'_>, Shift>) -> Result<(), String>,
    ) -> Result<(), PlotError> {
        let picture = self.picture;
        let backend =
            BitMapBackend::with_buffer_and_format(&mut self.pixels, (self.width, self.height))
                .map_err(|e| PlotError::Draw {
                    picture,
                    message: e.to_string(),
                })?;
        let area = KernedBackend(backend).into_drawing_area();
        f(&area).map_err(|message| PlotError::Draw { picture, message })?;
        area.present().map_err(|e| PlotError::Draw {
            picture,
            message: e.to_string(),
        })
    }

    /// Saves the canvas as a PNG file (8-bit RGB).
    pub fn save_png(&self, path: &Path) -> Result<(), PlotError> {
        let write = || -> Result<(), png::EncodingError> {
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            let mut encoder = png::Encoder::new(file, self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.pixels)?;
            writer.finish()
        };
        write().map_err(|source| PlotError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        let mut c = Canvas::new("test", 120, 40).unwrap();
        c.text("Hello", (60, 20), 20.0, Align::Center, false, [0, 0, 0])
            .unwrap();
        let dark = (0..120)
            .flat_map(|x| (0..40).map(move |y| (x, y)))
            .filter(|&(x, y)| c.pixel(x, y)[0] < 128)
            .count();
        assert!(dark > 40, "only {dark} dark pixels: no text drawn");
        let (w, h) = c.text_size("Hello", 20.0).unwrap();
        assert!((35..70).contains(&w) && (10..30).contains(&h), "{w}x{h}");
    }

    #[test]
    fn rectangles_are_clipped() {
        let mut c = Canvas::new("test", 4, 4).unwrap();
        c.fill_rect(2, 2, 10, 10, [0, 0, 0]);
        assert_eq!(c.pixel(3, 3), [0, 0, 0]);
        assert_eq!(c.pixel(1, 1), [255, 255, 255]);
        assert!(Canvas::new("test", 0, 4).is_err());
    }
}
