//! [`KernedBackend`]: plotters' bitmap backend with text laid out properly.
//!
//! plotters 0.3's `ab_glyph` text drawing places each glyph's pixel box at the pen position,
//! dropping the glyph's left side bearing, and truncates the pen position to whole pixels per
//! glyph; at the pictures' sizes that reads as "Tr aining" and "aver age". This backend draws
//! text itself with `ab_glyph`: glyphs at their true sub-pixel positions (pen advance, kerning
//! and side bearings in `f32`), rasterised with their coverage as alpha. Everything else
//! (shapes, pixels, text measurement) is the wrapped `BitMapBackend`'s, and the box a text
//! occupies is the one plotters measures, so chart layouts do not move.

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use std::sync::OnceLock;

/// The embedded font, parsed once.
fn embedded_font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(super::canvas::FONT_BYTES).ok())
        .as_ref()
}

/// One covered pixel of laid-out text: position in the text's box (top-left origin) and
/// coverage in [0, 1].
pub(crate) type Coverage = (i32, i32, f32);

/// Lays out `text` at `size` pixels as plotters sizes it (the font scaled to `size`, the
/// baseline `size / 2` below the box's top) and returns its covered pixels and its width.
pub(crate) fn rasterize(text: &str, size: f64) -> Option<(Vec<Coverage>, f32)> {
    let font = embedded_font()?.as_scaled(size as f32);
    let baseline = size as f32 / 2.0;
    let mut pixels = Vec::new();
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            pen += font.kern(p, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(font.scale(), point(pen, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| {
                if coverage > 0.0 {
                    pixels.push((x0 + x as i32, y0 + y as i32, coverage.min(1.0)));
                }
            });
        }
        pen += font.h_advance(id);
    }
    Some((pixels, pen))
}

/// A `BitMapBackend` that draws text itself: each glyph at its sub-pixel position, with the
/// font's kerning and side bearings. Everything else is the wrapped backend's.
pub struct KernedBackend<'a>(pub BitMapBackend<'a>);

type BackendError<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for KernedBackend<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), BackendError<'a>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), BackendError<'a>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), BackendError<'a>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), BackendError<'a>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), BackendError<'a>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), BackendError<'a>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), BackendError<'a>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), BackendError<'a>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (w, h): (u32, u32),
        src: &[u8],
    ) -> Result<(), BackendError<'a>> {
        self.0.blit_bitmap(pos, (w, h), src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), BackendError<'a>> {
        self.0.estimate_text_size(text, style)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), BackendError<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let Some((pixels, _)) = rasterize(text, style.size()) else {
            return self.0.draw_text(text, style, pos);
        };
        // The box plotters measures (and lays charts out with), anchored as plotters does.
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        for (x, y, coverage) in pixels {
            let (x, y) = transform.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let alpha = color.alpha * f64::from(coverage);
                self.0.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha,
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_keep_their_side_bearings() {
        // plotters drew each glyph's pixel box at the pen position: the left side bearing was
        // lost, so a glyph's ink started at the pen. Here it starts where the font puts it.
        let font = embedded_font().unwrap().as_scaled(26.0f32);
        for c in ['a', 'i', 'n', 'T'] {
            let bearing = font.h_side_bearing(font.glyph_id(c));
            let (pixels, _) = rasterize(&c.to_string(), 26.0).unwrap();
            let first_ink = pixels.iter().map(|p| p.0).min().unwrap();
            assert_eq!(first_ink, bearing.floor() as i32, "{c}: bearing {bearing}");
        }
        // 'a' and 'i' have a bearing of at least a pixel at this size: the test can fail.
        assert!(font.h_side_bearing(font.glyph_id('a')) >= 1.0);
        // In "ra", 'a' starts after r's advance, the kerning and its own bearing.
        let (r, a) = (font.glyph_id('r'), font.glyph_id('a'));
        let start = font.h_advance(r) + font.kern(r, a) + font.h_side_bearing(a);
        let (only_r, _) = rasterize("r", 26.0).unwrap();
        let (ra, _) = rasterize("ra", 26.0).unwrap();
        let first_a = ra
            .iter()
            .filter(|p| !only_r.iter().any(|q| (q.0, q.1) == (p.0, p.1)))
            .map(|p| p.0)
            .min()
            .unwrap();
        assert_eq!(first_a, start.floor() as i32);
    }

    #[test]
    fn the_width_is_the_sum_of_advances_and_kerning() {
        let (_, width) = rasterize("average", 15.0).unwrap();
        let font = embedded_font().unwrap().as_scaled(15.0f32);
        let mut expected = 0.0;
        let mut previous = None;
        for c in "average".chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                expected += font.kern(p, id);
            }
            expected += font.h_advance(id);
            previous = Some(id);
        }
        assert_eq!(width, expected);
        assert!(rasterize("", 15.0).unwrap().0.is_empty());
    }
}
