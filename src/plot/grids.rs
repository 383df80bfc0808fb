//! Pictures made of image tiles: first-layer filters, feature maps, and sample images.

use super::PlotError;
use super::canvas::{Align, Canvas};
use super::colormap::{finite_range, gray, normalize};
use std::path::Path;

const BLACK: [u8; 3] = [0, 0, 0];
const GREY: [u8; 3] = [90, 90, 90];
const FRAME: [u8; 3] = [200, 200, 200];
const PAD: u32 = 14;
const TITLE_H: u32 = 56;
const LABEL_H: u32 = 22;

/// Turns one normalised NHWC RGB image back into 8-bit pixels: `x * std + mean` per channel
/// (the data set's channel statistics in [0, 1] units), times 255, clamped.
///
/// ```
/// let rgb = constnet::plot::unnormalize_to_rgb8(&[0.0, 1.0, -1.0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]);
/// assert_eq!(rgb, vec![128, 191, 64]);
/// ```
pub fn unnormalize_to_rgb8(image: &[f32], mean: [f32; 3], std: [f32; 3]) -> Vec<u8> {
    image
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let c = i % 3;
            let v = (x * std[c] + mean[c]) * 255.0;
            if v.is_nan() {
                0
            } else {
                v.round().clamp(0.0, 255.0) as u8
            }
        })
        .collect()
}

/// Draws `filters.png`: the first convolution's filters, one tile per filter, four per row.
///
/// `weights` is the layer's weight in the crate's layout `[K][K][IN_C][OUT_C]`; as the notebook
/// does, all filters are normalised together to [0, 1] with the global minimum and maximum, and
/// each filter pixel is drawn as a square so that a 3x3 filter is visible. How a filter is drawn
/// depends on the channels it reads: with 3 (RGB images) as one RGB tile; with 1 (grey images)
/// as one grey tile; with any other count as a row of grey tiles, one per input channel (a row
/// per filter), since its channels are not colours.
pub fn filters_png(
    path: &Path,
    weights: &[f32],
    kernel: usize,
    in_channels: usize,
    out_channels: usize,
) -> Result<(), PlotError> {
    let expected = kernel * kernel * in_channels * out_channels;
    if kernel == 0 || in_channels == 0 || out_channels == 0 || weights.len() != expected {
        return Err(PlotError::input(
            "filters",
            format!(
                "a {kernel}x{kernel}x{in_channels}x{out_channels} weight has {expected} values, got {}",
                weights.len()
            ),
        ));
    }
    let range = finite_range(weights.iter().map(|&w| f64::from(w)));
    let level = |pixel: usize, c: usize, f: usize| {
        let w = f64::from(weights[(pixel * in_channels + c) * out_channels + f]);
        (normalize(w, range).clamp(0.0, 1.0) * 255.0).round() as u8
    };
    // (label, RGB pixels) of every tile, in drawing order, and tiles per row.
    let mut tiles: Vec<(String, Vec<u8>)> = Vec::new();
    let per_row = match in_channels {
        1 | 3 => {
            for f in 0..out_channels {
                let rgb = (0..kernel * kernel)
                    .flat_map(|p| std::array::from_fn::<u8, 3, _>(|c| level(p, c % in_channels, f)))
                    .collect();
                tiles.push((format!("filter {f}"), rgb));
            }
            out_channels.min(4)
        }
        _ => {
            for f in 0..out_channels {
                for c in 0..in_channels {
                    let grey = (0..kernel * kernel)
                        .flat_map(|p| [level(p, c, f); 3])
                        .collect();
                    tiles.push((format!("filter {f}, ch {c}"), grey));
                }
            }
            in_channels
        }
    };
    let scale = (96 / kernel as u32).max(2);
    let tile = kernel as u32 * scale;
    let cols = per_row as u32;
    let rows = tiles.len().div_ceil(per_row) as u32;
    // Labels such as "filter 12, ch 3" need a wider cell than the tile.
    let cell_w = tile.max(if in_channels == 1 || in_channels == 3 {
        0
    } else {
        110
    }) + PAD;
    let cell_h = tile + LABEL_H + PAD;
    let width = (cols * cell_w + PAD).max(460);
    let height = TITLE_H + rows * cell_h + PAD;
    let mut canvas = Canvas::new("filters", width, height)?;
    let drawn = match in_channels {
        3 => "RGB",
        1 => "grey",
        _ => "grey, a tile per input channel",
    };
    canvas.title(
        &format!(
            "First-layer filters ({kernel}x{kernel}x{in_channels}, {out_channels} filters, {drawn})"
        ),
        22,
    )?;
    canvas.text(
        &format!(
            "normalised to [0, 1] over all filters: min {:.3}, max {:.3}",
            range.0, range.1
        ),
        (width as i32 / 2, 44),
        14.0,
        Align::Center,
        false,
        GREY,
    )?;
    let x0 = (width - cols * cell_w + PAD) / 2;
    for (i, (label, rgb)) in tiles.iter().enumerate() {
        let (col, row) = ((i % per_row) as u32, (i / per_row) as u32);
        let x = x0 + col * cell_w + (cell_w - PAD - tile) / 2;
        let y = TITLE_H + row * cell_h;
        canvas.text(
            label,
            ((x + tile / 2) as i32, (y + LABEL_H / 2) as i32),
            14.0,
            Align::Center,
            false,
            BLACK,
        )?;
        canvas.blit(x, y + LABEL_H, rgb, kernel as u32, kernel as u32, scale);
        canvas.frame(
            x.saturating_sub(1),
            y + LABEL_H - 1,
            tile + 2,
            tile + 2,
            FRAME,
        );
    }
    canvas.save_png(path)
}

/// Draws `feature_maps.png`: one image (left, un-normalised with the data set's channel `mean`
/// and `std`) beside the maps a layer computed from it, four per row in grey levels, each map
/// normalised to its own minimum and maximum. `label` (the image's class name) is written under
/// the image.
///
/// `image` is `height x width x 3` (NHWC, normalised); `maps` is `map_h x map_w x channels`
/// (NHWC). `caption` says which layer output the maps are (e.g. "conv1 output, before GELU").
#[allow(clippy::too_many_arguments)]
pub fn feature_maps_png(
    path: &Path,
    image: &[f32],
    (height, width): (usize, usize),
    mean: [f32; 3],
    std: [f32; 3],
    label: &str,
    maps: &[f32],
    (map_h, map_w, channels): (usize, usize, usize),
    caption: &str,
) -> Result<(), PlotError> {
    if height == 0 || width == 0 || image.len() != height * width * 3 {
        return Err(PlotError::input(
            "feature maps",
            format!(
                "a {height}x{width}x3 image has {} values, got {}",
                height * width * 3,
                image.len()
            ),
        ));
    }
    if map_h == 0 || map_w == 0 || channels == 0 || maps.len() != map_h * map_w * channels {
        return Err(PlotError::input(
            "feature maps",
            format!(
                "{map_h}x{map_w}x{channels} maps have {} values, got {}",
                map_h * map_w * channels,
                maps.len()
            ),
        ));
    }
    let image_scale = (192 / height.max(width) as u32).max(1);
    let map_scale = (128 / map_h.max(map_w) as u32).max(1);
    let (img_w, img_h) = (width as u32 * image_scale, height as u32 * image_scale);
    let (tile_w, tile_h) = (map_w as u32 * map_scale, map_h as u32 * map_scale);
    let cols = channels.min(4) as u32;
    let rows = channels.div_ceil(4) as u32;
    let grid_x = PAD * 2 + img_w + PAD * 2;
    let cell_w = tile_w + PAD;
    let cell_h = tile_h + LABEL_H + PAD;
    let canvas_w = grid_x + cols * cell_w + PAD;
    let canvas_h = TITLE_H + (rows * cell_h).max(LABEL_H + img_h + 48) + PAD;
    let mut canvas = Canvas::new("feature maps", canvas_w, canvas_h)?;
    canvas.title(&format!("Feature maps: {caption}"), 24)?;
    canvas.text(
        &format!("each map scaled to its own min..max ({map_h}x{map_w}, {channels} maps)"),
        (canvas_w as i32 / 2, 46),
        14.0,
        Align::Center,
        false,
        GREY,
    )?;
    let img_x = PAD * 2;
    let img_y = TITLE_H + LABEL_H;
    canvas.text(
        "input image",
        ((img_x + img_w / 2) as i32, (TITLE_H + LABEL_H / 2) as i32),
        14.0,
        Align::Center,
        false,
        BLACK,
    )?;
    for (l, line) in wrap_label(&canvas, label, 14.0, img_w)?.iter().enumerate() {
        canvas.text(
            line,
            (
                (img_x + img_w / 2) as i32,
                (img_y + img_h + 14 + 18 * l as u32) as i32,
            ),
            14.0,
            Align::Center,
            false,
            BLACK,
        )?;
    }
    let rgb = unnormalize_to_rgb8(image, mean, std);
    canvas.blit(img_x, img_y, &rgb, width as u32, height as u32, image_scale);
    canvas.frame(img_x - 1, img_y - 1, img_w + 2, img_h + 2, FRAME);
    for m in 0..channels {
        let values = (0..map_h * map_w).map(|p| f64::from(maps[p * channels + m]));
        let range = finite_range(values.clone());
        let pixels: Vec<u8> = values.flat_map(|v| gray(normalize(v, range))).collect();
        let (col, row) = (m as u32 % 4, m as u32 / 4);
        let x = grid_x + col * cell_w;
        let y = TITLE_H + row * cell_h;
        canvas.text(
            &format!("map {m}"),
            ((x + tile_w / 2) as i32, (y + LABEL_H / 2) as i32),
            14.0,
            Align::Center,
            false,
            BLACK,
        )?;
        canvas.blit(
            x,
            y + LABEL_H,
            &pixels,
            map_w as u32,
            map_h as u32,
            map_scale,
        );
        canvas.frame(x - 1, y + LABEL_H - 1, tile_w + 2, tile_h + 2, FRAME);
    }
    canvas.save_png(path)
}

/// Splits a label that is wider than `max_width` pixels at the underscore or space nearest its
/// middle, into at most two lines.
fn wrap_label(
    canvas: &Canvas,
    label: &str,
    size: f64,
    max_width: u32,
) -> Result<Vec<String>, PlotError> {
    if canvas.text_size(label, size)?.0 <= max_width {
        return Ok(vec![label.to_string()]);
    }
    let middle = label.len() / 2;
    let split = label
        .char_indices()
        .filter(|&(_, c)| c == '_' || c == ' ')
        .map(|(i, _)| i)
        .min_by_key(|&i| i.abs_diff(middle));
    Ok(match split {
        Some(i) => vec![label[..=i].to_string(), label[i + 1..].to_string()],
        None => vec![label.to_string()],
    })
}

/// Draws `samples.png`: `images` (NHWC, `height x width x 3` each, normalised) un-normalised with
/// the data set's channel `mean` and `std`, eight per row, each with its label's name below.
#[allow(clippy::too_many_arguments)]
pub fn samples_png(
    path: &Path,
    images: &[f32],
    (height, width): (usize, usize),
    labels: &[usize],
    label_names: &[String],
    mean: [f32; 3],
    std: [f32; 3],
    title: &str,
) -> Result<(), PlotError> {
    let per_image = height * width * 3;
    if per_image == 0 || labels.is_empty() || images.len() != labels.len() * per_image {
        return Err(PlotError::input(
            "samples",
            format!(
                "{} labels need {} values of {height}x{width}x3 images, got {}",
                labels.len(),
                labels.len() * per_image,
                images.len()
            ),
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= label_names.len()) {
        return Err(PlotError::input(
            "samples",
            format!("label {bad} has no name ({} names)", label_names.len()),
        ));
    }
    let scale = (128 / height.max(width) as u32).max(1);
    let (tile_w, tile_h) = (width as u32 * scale, height as u32 * scale);
    let cols = labels.len().min(8) as u32;
    let rows = labels.len().div_ceil(8) as u32;
    let cell_w = tile_w.max(120) + PAD;
    let cell_h = tile_h + 2 * 17 + PAD;
    let canvas_w = (cols * cell_w + PAD).max(420);
    let canvas_h = TITLE_H + rows * cell_h + PAD;
    let mut canvas = Canvas::new("samples", canvas_w, canvas_h)?;
    canvas.title(title, TITLE_H as i32 / 2)?;
    let x0 = (canvas_w - cols * cell_w + PAD) / 2;
    for (i, &label) in labels.iter().enumerate() {
        let (col, row) = (i as u32 % 8, i as u32 / 8);
        let x = x0 + col * cell_w + (cell_w - PAD - tile_w) / 2;
        let y = TITLE_H + row * cell_h;
        let rgb = unnormalize_to_rgb8(&images[i * per_image..(i + 1) * per_image], mean, std);
        canvas.blit(x, y, &rgb, width as u32, height as u32, scale);
        let lines = wrap_label(&canvas, &label_names[label], 13.0, cell_w - 4)?;
        for (l, line) in lines.iter().enumerate() {
            canvas.text(
                line,
                (
                    (x + tile_w / 2) as i32,
                    (y + tile_h + 10 + 16 * l as u32) as i32,
                ),
                13.0,
                Align::Center,
                false,
                BLACK,
            )?;
        }
    }
    canvas.save_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["large_omnivores_and_herbivores", "fish", "people"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn filters_png_draws_sixteen_tiles_normalised_globally() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filters.png");
        let k = 3;
        let oc = 16;
        // Filter f's values are all f (every pixel, every channel): after global
        // normalisation, filter 0 is black and filter 15 white.
        let mut w = vec![0.0f32; k * k * 3 * oc];
        for (i, v) in w.iter_mut().enumerate() {
            *v = (i % oc) as f32;
        }
        filters_png(&path, &w, k, 3, oc).unwrap();
        let png = crate::plot::Rgb::open(&path);
        let scale = 96 / k as u32;
        let tile = k as u32 * scale;
        assert_eq!(png.height(), TITLE_H + 4 * (tile + LABEL_H + PAD) + PAD);
        let x0 = (png.width() - 4 * (tile + PAD) + PAD) / 2;
        let centre = |f: u32| {
            let x = x0 + (f % 4) * (tile + PAD) + tile / 2;
            let y = TITLE_H + (f / 4) * (tile + LABEL_H + PAD) + LABEL_H + tile / 2;
            png.get_pixel(x, y)
        };
        assert_eq!(centre(0), [0, 0, 0]);
        assert_eq!(centre(15), [255, 255, 255]);
        assert_eq!(centre(5), [85, 85, 85]);
        assert!(filters_png(&path, &w[1..], k, 3, oc).is_err());
        assert!(filters_png(&path, &w, k, 0, oc).is_err());
    }

    /// One grey tile per filter for grey images: filter f's value is f, so after global
    /// normalisation filter 0 is black, filter 5 a third of white, filter 15 white.
    #[test]
    fn filters_png_draws_one_grey_tile_per_filter_of_grey_images() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filters.png");
        let (k, oc) = (5, 16);
        let w: Vec<f32> = (0..k * k * oc).map(|i| (i % oc) as f32).collect();
        filters_png(&path, &w, k, 1, oc).unwrap();
        let png = crate::plot::Rgb::open(&path);
        let scale = 96 / k as u32;
        let tile = k as u32 * scale;
        assert_eq!(png.height(), TITLE_H + 4 * (tile + LABEL_H + PAD) + PAD);
        let x0 = (png.width() - 4 * (tile + PAD) + PAD) / 2;
        let centre = |f: u32| {
            let x = x0 + (f % 4) * (tile + PAD) + tile / 2;
            let y = TITLE_H + (f / 4) * (tile + LABEL_H + PAD) + LABEL_H + tile / 2;
            png.get_pixel(x, y)
        };
        assert_eq!(centre(0), [0, 0, 0]);
        assert_eq!(centre(5), [85, 85, 85]);
        assert_eq!(centre(15), [255, 255, 255]);
    }

    /// Two input channels: a row per filter, a grey tile per channel. Channel 0 of every filter
    /// is the minimum (black), channel 1 the maximum (white).
    #[test]
    fn filters_png_draws_a_row_of_channel_tiles_per_filter_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filters.png");
        let (k, ic, oc) = (3, 2, 4);
        let w: Vec<f32> = (0..k * k * ic * oc)
            .map(|i| ((i / oc) % ic) as f32)
            .collect();
        filters_png(&path, &w, k, ic, oc).unwrap();
        let png = crate::plot::Rgb::open(&path);
        let tile = k as u32 * (96 / k as u32);
        let cell_w = 110 + PAD;
        let cell_h = tile + LABEL_H + PAD;
        assert_eq!(png.height(), TITLE_H + oc as u32 * cell_h + PAD);
        let x0 = (png.width() - 2 * cell_w + PAD) / 2;
        let centre = |f: u32, c: u32| {
            let x = x0 + c * cell_w + (cell_w - PAD - tile) / 2 + tile / 2;
            let y = TITLE_H + f * cell_h + LABEL_H + tile / 2;
            png.get_pixel(x, y)
        };
        for f in 0..oc as u32 {
            assert_eq!(centre(f, 0), [0, 0, 0], "filter {f}, channel 0");
            assert_eq!(centre(f, 1), [255, 255, 255], "filter {f}, channel 1");
        }
    }

    #[test]
    fn feature_maps_png_shows_the_image_and_the_maps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feature_maps.png");
        let image: Vec<f32> = (0..8 * 8 * 3).map(|i| (i % 5) as f32 - 2.0).collect();
        let maps: Vec<f32> = (0..8 * 8 * 16).map(|i| (i % 11) as f32).collect();
        feature_maps_png(
            &path,
            &image,
            (8, 8),
            [0.5; 3],
            [0.2; 3],
            "fish",
            &maps,
            (8, 8, 16),
            "conv1 output, before GELU",
        )
        .unwrap();
        let png = crate::plot::Rgb::open(&path);
        assert!(
            png.width() > 600 && png.height() > 500,
            "{:?}",
            png.dimensions()
        );
        assert!(
            feature_maps_png(
                &path,
                &image,
                (8, 8),
                [0.5; 3],
                [0.2; 3],
                "",
                &maps[1..],
                (8, 8, 16),
                ""
            )
            .is_err()
        );
    }

    #[test]
    fn samples_png_labels_every_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.png");
        let labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0];
        let images = vec![0.0f32; labels.len() * 4 * 4 * 3];
        samples_png(
            &path,
            &images,
            (4, 4),
            &labels,
            &names(),
            [0.5; 3],
            [0.2; 3],
            "Samples",
        )
        .unwrap();
        let png = crate::plot::Rgb::open(&path);
        let cell_w = 128 + PAD;
        assert_eq!(png.width(), 8 * cell_w + PAD);
        assert_eq!(png.height(), TITLE_H + 2 * (128 + 34 + PAD) + PAD);
        // The first image is mid-grey (mean 0.5): 128 everywhere.
        let x = (png.width() - 8 * cell_w + PAD) / 2 + (cell_w - PAD - 128) / 2;
        assert_eq!(png.get_pixel(x + 64, TITLE_H + 64), [128, 128, 128]);
        let bad = [0, 7];
        assert!(
            samples_png(
                &path,
                &images[..2 * 48],
                (4, 4),
                &bad,
                &names(),
                [0.5; 3],
                [0.2; 3],
                ""
            )
            .is_err()
        );
    }

    #[test]
    fn long_labels_wrap_at_an_underscore() {
        let canvas = Canvas::new("test", 10, 10).unwrap();
        let lines = wrap_label(&canvas, "large_omnivores_and_herbivores", 13.0, 120).unwrap();
        assert_eq!(lines, vec!["large_omnivores_", "and_herbivores"]);
        assert_eq!(
            wrap_label(&canvas, "fish", 13.0, 120).unwrap(),
            vec!["fish"]
        );
    }
}
