//! The learning curves: training loss per iteration (top) and training and validation accuracy
//! per epoch (bottom), as the notebook plots them.

use super::PlotError;
use super::canvas::{Canvas, font};
use super::text::KernedBackend;
use plotters::prelude::*;
use std::path::Path;

/// Width and height of `curves.png` in pixels.
pub const CURVES_SIZE: (u32, u32) = (1200, 900);

const LOSS_COLOR: RGBColor = RGBColor(31, 119, 180);
const SMOOTH_COLOR: RGBColor = RGBColor(214, 39, 40);
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14);

/// Draws `curves.png`: the loss of every training iteration with its moving average (top panel),
/// and the training and validation accuracy (fractions in [0, 1]) of every epoch (bottom panel,
/// with a legend). Non-finite losses are left out of the plot.
pub fn curves_png(
    path: &Path,
    loss_per_iteration: &[f64],
    train_acc: &[f64],
    val_acc: &[f64],
) -> Result<(), PlotError> {
    if train_acc.len() != val_acc.len() {
        return Err(PlotError::input(
            "curves",
            format!(
                "{} training accuracies but {} validation accuracies",
                train_acc.len(),
                val_acc.len()
            ),
        ));
    }
    let mut canvas = Canvas::new("curves", CURVES_SIZE.0, CURVES_SIZE.1)?;
    canvas.draw(|root| {
        let (top, bottom) = root.split_vertically(CURVES_SIZE.1 / 2);
        loss_panel(&top, loss_per_iteration).map_err(|e| e.to_string())?;
        accuracy_panel(&bottom, train_acc, val_acc).map_err(|e| e.to_string())
    })?;
    canvas.save_png(path)
}

type Area<'a> = DrawingArea<KernedBackend<'a>, plotters::coord::Shift>;
type DrawResult<'a> =
    Result<(), DrawingAreaErrorKind<<KernedBackend<'a> as DrawingBackend>::ErrorType>>;

/// Mean of the last `window` values at every position (a trailing moving average).
fn moving_average(values: &[(usize, f64)], window: usize) -> Vec<(usize, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    let mut out = Vec::with_capacity(values.len());
    for (i, &(x, v)) in values.iter().enumerate() {
        sum += v;
        if i >= window {
            sum -= values[i - window].1;
        }
        out.push((x, sum / (i + 1).min(window) as f64));
    }
    out
}

fn loss_panel<'a>(area: &Area<'a>, losses: &[f64]) -> DrawResult<'a> {
    let points: Vec<(usize, f64)> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| (i + 1, l))
        .filter(|(_, l)| l.is_finite())
        .collect();
    let max_loss = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let min_loss = points.iter().map(|p| p.1).fold(max_loss, f64::min).min(0.0);
    let y_max = if max_loss > min_loss {
        max_loss * 1.05
    } else {
        1.0
    };
    let x_max = losses.len().max(2);
    let mut chart = ChartBuilder::on(area)
        .caption("Training loss", font(26.0))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(1usize..x_max, min_loss..y_max)?;
    chart
        .configure_mesh()
        .x_desc("Iteration")
        .y_desc("Loss")
        .label_style(font(15.0))
        .axis_desc_style(font(18.0))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            LOSS_COLOR.mix(0.45).stroke_width(1),
        ))?
        .label("per iteration")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], LOSS_COLOR.mix(0.45)));
    let window = (points.len() / 50).max(1);
    chart
        .draw_series(LineSeries::new(
            moving_average(&points, window),
            SMOOTH_COLOR.stroke_width(2),
        ))?
        .label(format!("moving average of {window}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], SMOOTH_COLOR.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(font(16.0))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
}

fn accuracy_panel<'a>(area: &Area<'a>, train: &[f64], val: &[f64]) -> DrawResult<'a> {
    let epochs = train.len();
    let best = train
        .iter()
        .chain(val)
        .copied()
        .filter(|a| a.is_finite())
        .fold(0.0, f64::max);
    let y_max = (best * 1.15).clamp(0.1, 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption("Accuracy", font(26.0))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..epochs.max(1) as f64 + 0.5, 0.0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("Epoch")
        .y_desc("Accuracy")
        .x_labels(epochs.clamp(1, 20))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{:.0} %", y * 100.0))
        .label_style(font(15.0))
        .axis_desc_style(font(18.0))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (values, name, color) in [
        (train, "Training", TRAIN_COLOR),
        (val, "Validation", VAL_COLOR),
    ] {
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &a)| ((i + 1) as f64, a))
            .filter(|p| p.1.is_finite())
            .collect();
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(font(16.0))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_of_a_ramp() {
        let v: Vec<(usize, f64)> = (1..=5).map(|i| (i, i as f64)).collect();
        let m = moving_average(&v, 2);
        assert_eq!(m, vec![(1, 1.0), (2, 1.5), (3, 2.5), (4, 3.5), (5, 4.5)]);
    }

    #[test]
    fn curves_png_has_its_size_and_rejects_mismatched_histories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        let losses: Vec<f64> = (0..300)
            .map(|i| 3.0 - i as f64 / 200.0 + (i % 7) as f64 * 0.05)
            .collect();
        curves_png(&path, &losses, &[0.1, 0.2, 0.3], &[0.1, 0.15, 0.22]).unwrap();
        let png = crate::plot::Rgb::open(&path);
        assert_eq!(png.dimensions(), CURVES_SIZE);
        // The validation curve's orange is somewhere in the bottom panel.
        let (w, h) = CURVES_SIZE;
        let orange = (h / 2 + 1..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| png.get_pixel(x, y) == [255, 127, 14])
            .count();
        assert!(orange > 50, "{orange} orange pixels");
        assert!(curves_png(&path, &losses, &[0.1], &[]).is_err());
        // One epoch, an empty loss history and a NaN still draw.
        curves_png(&path, &[f64::NAN], &[0.5], &[0.4]).unwrap();
        curves_png(&path, &[], &[], &[]).unwrap();
    }
}
