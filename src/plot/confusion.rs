//! The confusion matrix as a picture: true class per row, predicted class per column, counts in
//! the cells, class names on both axes, a colour bar.

use super::PlotError;
use super::canvas::{Align, Canvas};
use super::colormap::blues;
use std::path::Path;

const BLACK: [u8; 3] = [0, 0, 0];
const WHITE: [u8; 3] = [255, 255, 255];

/// Draws `confusion.png` from a `n x n` row-major matrix of counts (`matrix[t * n + p]`: images of
/// true class `t` predicted as `p`) and the `n` class names, with the title `title`.
pub fn confusion_png(
    path: &Path,
    matrix: &[usize],
    class_names: &[String],
    title: &str,
) -> Result<(), PlotError> {
    let n = class_names.len();
    if n == 0 || matrix.len() != n * n {
        return Err(PlotError::input(
            "confusion matrix",
            format!(
                "{n} classes need a {n}x{n} matrix ({} counts), got {}",
                n * n,
                matrix.len()
            ),
        ));
    }
    let cell = (720 / n as u32).clamp(22, 48);
    let name_size = 14.0;
    let probe = Canvas::new("confusion matrix", 1, 1)?;
    let mut name_w = 0;
    for name in class_names {
        name_w = name_w.max(probe.text_size(name, name_size)?.0);
    }
    let left = name_w + 50;
    let top = 70;
    let grid = cell * n as u32;
    let bottom = name_w + 50;
    let right = 110;
    let width = left + grid + right;
    let height = top + grid + bottom;
    let mut canvas = Canvas::new("confusion matrix", width, height)?;
    canvas.title(title, 30)?;

    let max = matrix.iter().copied().max().unwrap_or(0).max(1);
    let count_size = (f64::from(cell) * 0.36).clamp(9.0, 15.0);
    for t in 0..n {
        for p in 0..n {
            let count = matrix[t * n + p];
            let shade = count as f64 / max as f64;
            let (x, y) = (left + p as u32 * cell, top + t as u32 * cell);
            canvas.fill_rect(x, y, cell, cell, blues(shade));
            let color = if shade > 0.5 { WHITE } else { BLACK };
            canvas.text(
                &count.to_string(),
                ((x + cell / 2) as i32, (y + cell / 2) as i32),
                count_size,
                Align::Center,
                false,
                color,
            )?;
        }
    }
    canvas.frame(left - 1, top - 1, grid + 2, grid + 2, BLACK);

    for (i, name) in class_names.iter().enumerate() {
        let centre = (i as u32 * cell + cell / 2) as i32;
        canvas.text(
            name,
            (left as i32 - 8, top as i32 + centre),
            name_size,
            Align::Right,
            false,
            BLACK,
        )?;
        canvas.text(
            name,
            (left as i32 + centre, (top + grid + 8) as i32),
            name_size,
            Align::Right,
            true,
            BLACK,
        )?;
    }
    canvas.text(
        "Predicted",
        ((left + grid / 2) as i32, (height - 18) as i32),
        18.0,
        Align::Center,
        false,
        BLACK,
    )?;
    canvas.text(
        "True",
        (18, (top + grid / 2) as i32),
        18.0,
        Align::Center,
        true,
        BLACK,
    )?;

    // The colour bar: counts from 0 (bottom) to the largest count (top).
    let bar_x = left + grid + 24;
    for row in 0..grid {
        let shade = 1.0 - f64::from(row) / f64::from(grid.max(2) - 1);
        canvas.fill_rect(bar_x, top + row, 20, 1, blues(shade));
    }
    canvas.frame(bar_x - 1, top - 1, 22, grid + 2, BLACK);
    for (value, y) in [(max, top), (max / 2, top + grid / 2), (0, top + grid)] {
        canvas.text(
            &value.to_string(),
            ((bar_x + 28) as i32, y as i32),
            13.0,
            Align::Left,
            false,
            BLACK,
        )?;
    }
    canvas.save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_png_colours_cells_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.png");
        let names: Vec<String> = ["vehicles_1", "vehicles_2", "people"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let matrix = [50, 0, 0, 10, 40, 0, 0, 0, 0];
        confusion_png(&path, &matrix, &names, "Confusion matrix").unwrap();
        let png = crate::plot::Rgb::open(&path);
        let cell = 48;
        let probe = Canvas::new("t", 1, 1).unwrap();
        let name_w = probe.text_size("vehicles_1", 14.0).unwrap().0;
        let left = name_w + 50;
        assert_eq!(png.width(), left + 3 * cell + 110);
        assert_eq!(png.height(), 70 + 3 * cell + name_w + 50);
        // Cell corners (away from the count text): the largest count is the darkest blue, an
        // empty cell the lightest.
        assert_eq!(png.get_pixel(left + 2, 70 + 2), [8, 48, 107]);
        assert_eq!(png.get_pixel(left + cell + 2, 70 + 2), [247, 251, 255]);
        assert!(confusion_png(&path, &matrix[1..], &names, "").is_err());
    }
}
