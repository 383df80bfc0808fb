//! The `predict` example, run in-process through its own `execute` (what `main` prints and
//! returns): top classes equal to the library's `Network::predict` on the same normalised
//! pixels, the JSON schema, metadata and `--torch` inputs, `samples.png` crops, and one-line
//! errors with their exit status.

#[allow(dead_code)]
#[path = "../examples/predict.rs"]
mod predict;

use constnet::data::{Normalization, read_png};
use constnet::models::{LeNet5, ResNet20, SmallCnn};
use constnet::torch::load_state_dict;
use constnet::train::{CheckpointInfo, save_checkpoint, save_checkpoint_with_info};
use constnet::{Network, Workspace};
use predict::{Outcome, execute};
use std::path::{Path, PathBuf};

/// The class names of the test checkpoints.
fn names(n: usize) -> Vec<String> {
    (0..n).map(|k| format!("class_{k}")).collect()
}

/// The normalisation stored in the test checkpoints.
fn norm() -> Normalization {
    Normalization::new(vec![0.5, 0.45, 0.4], vec![0.25, 0.2, 0.3]).unwrap()
}

/// A SmallCnn (RNG seed 5) with its last layer scaled up, so that the probabilities are far
/// from uniform, saved with metadata as `small_cnn` saves it.
fn small_cnn_checkpoint(dir: &Path) -> (PathBuf, SmallCnn<f32>) {
    let mut net = SmallCnn::<f32>::new(5);
    let scaled: Vec<f32> = net
        .param("fc2.weight")
        .unwrap()
        .iter()
        .map(|w| 20.0 * w)
        .collect();
    net.assign("fc2.weight", &scaled).unwrap();
    let info = CheckpointInfo {
        model: Some("small-cnn".into()),
        class_names: names(20),
        normalization: Some(norm()),
    };
    let path = dir.join("model.safetensors");
    save_checkpoint_with_info(&net, &info, &path).unwrap();
    (path, net)
}

/// `h x w` pseudo-random pixels of `channels` channels (RNG seed `seed`).
fn pixels(h: usize, w: usize, channels: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..h * w * channels)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

/// Writes an 8-bit PNG of `channels` channels (1 grey, 3 RGB, 4 RGBA).
fn write_png(path: &Path, w: usize, h: usize, channels: usize, data: &[u8]) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, w as u32, h as u32);
    encoder.set_color(match channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        4 => png::ColorType::Rgba,
        _ => panic!("{channels} channels"),
    });
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(data).unwrap();
    writer.finish().unwrap();
}

/// Runs `predict` with `args`.
fn run(args: &[&str]) -> Outcome {
    execute(std::iter::once("predict").chain(args.iter().copied()))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A failed run: nothing on stdout, one line `error: ...` on stderr, exit status `code`.
fn failure(outcome: Outcome, code: u8) -> String {
    assert_eq!(outcome.code, code, "{outcome:?}");
    assert_eq!(outcome.stdout, "");
    let line = outcome.stderr.strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "{line}");
    line.strip_prefix("error: ").unwrap().to_string()
}

/// The JSON output of a successful run.
fn json(outcome: &Outcome) -> Vec<serde_json::Value> {
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(outcome.stderr, "");
    serde_json::from_str(&outcome.stdout).unwrap()
}

/// Checks one JSON object against the library's prediction for `input` (already normalised).
fn check<N: Network<f32>>(
    object: &serde_json::Value,
    file: &Path,
    net: &N,
    input: &[f32],
    names: Option<&[String]>,
) {
    let mut ws = Workspace::new();
    let expected = net.predict(input, &mut ws).unwrap();
    assert_eq!(object["file"], s(file));
    let probabilities: Vec<f32> = serde_json::from_value(object["probabilities"].clone()).unwrap();
    assert_eq!(probabilities, expected.probabilities);
    let sum: f32 = probabilities.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "sum {sum}");
    let top = object["top"].as_array().unwrap();
    let want = expected.top(3);
    assert_eq!(top.len(), 3);
    for (got, want) in top.iter().zip(&want) {
        assert_eq!(got["class"], want.class);
        let name = names.map_or(want.class.to_string(), |n| n[want.class].clone());
        assert_eq!(got["name"], name.as_str());
        assert_eq!(
            got["probability"].as_f64().unwrap() as f32,
            want.probability
        );
    }
    // Most probable first.
    assert!(want[0].probability >= want[1].probability);
    assert!(want[1].probability >= want[2].probability);
}

#[test]
fn top_classes_are_the_library_s_on_the_checkpoint_s_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, net) = small_cnn_checkpoint(dir.path());
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    let (pa, pb) = (pixels(32, 32, 3, 1), pixels(32, 32, 3, 2));
    write_png(&a, 32, 32, 3, &pa);
    write_png(&b, 32, 32, 3, &pb);

    let out = json(&run(&[
        "--checkpoint",
        s(&checkpoint),
        "--json",
        s(&a),
        s(&b),
    ]));
    assert_eq!(out.len(), 2);
    let names = names(20);
    check(&out[0], &a, &net, &norm().normalize_u8(&pa), Some(&names));
    check(&out[1], &b, &net, &norm().normalize_u8(&pb), Some(&names));
    // Different images, different answers (the test could not pass with a constant output).
    assert_ne!(out[0]["probabilities"], out[1]["probabilities"]);

    // The text output: a line per file, the same top 3 with percentages.
    let text = run(&["--checkpoint", s(&checkpoint), s(&a), s(&b)]);
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, object) in lines.iter().zip(&out) {
        let top: Vec<String> = object["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let p = r["probability"].as_f64().unwrap() as f32;
                format!("{} {:.2}%", r["name"].as_str().unwrap(), 100.0 * p)
            })
            .collect();
        let file = object["file"].as_str().unwrap();
        assert_eq!(*line, format!("{file}: {}", top.join(", ")));
    }

    // --top 5 and --mean/--std replacing the stored normalisation.
    let other = Normalization::new(vec![0.1; 3], vec![0.5; 3]).unwrap();
    let out = json(&run(&[
        "--checkpoint",
        s(&checkpoint),
        "--mean",
        "0.1,0.1,0.1",
        "--std",
        "0.5,0.5,0.5",
        "--top",
        "5",
        "--json",
        s(&a),
    ]));
    let mut ws = Workspace::new();
    let want = net
        .predict(&other.normalize_u8(&pa), &mut ws)
        .unwrap()
        .top(5);
    let classes: Vec<u64> = out[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["class"].as_u64().unwrap())
        .collect();
    assert_eq!(
        classes,
        want.iter().map(|r| r.class as u64).collect::<Vec<_>>()
    );
}

#[test]
fn grey_and_rgba_files_are_converted_and_the_model_comes_from_the_metadata() {
    let dir = tempfile::tempdir().unwrap();
    // LeNet-5 (one channel, 28x28), 10 classes, with a grey normalisation.
    let net = LeNet5::<f32>::new(3);
    let grey_norm = Normalization::new(vec![0.13], vec![0.31]).unwrap();
    let checkpoint = dir.path().join("lenet.safetensors");
    let info = CheckpointInfo {
        model: Some("LeNet5".into()),
        class_names: names(10),
        normalization: Some(grey_norm.clone()),
    };
    save_checkpoint_with_info(&net, &info, &checkpoint).unwrap();
    let grey = pixels(28, 28, 1, 3);
    let grey_file = dir.path().join("grey.png");
    write_png(&grey_file, 28, 28, 1, &grey);
    // The same grey values as RGBA: converted back to grey by the luminance, exactly.
    let rgba: Vec<u8> = grey.iter().flat_map(|&v| [v, v, v, 200]).collect();
    let rgba_file = dir.path().join("rgba.png");
    write_png(&rgba_file, 28, 28, 4, &rgba);

    let out = json(&run(&[
        "--checkpoint",
        s(&checkpoint),
        "--json",
        s(&grey_file),
        s(&rgba_file),
    ]));
    let input = grey_norm.normalize_u8(&grey);
    let names = names(10);
    check(&out[0], &grey_file, &net, &input, Some(&names));
    check(&out[1], &rgba_file, &net, &input, Some(&names));

    // --model must agree with the metadata.
    let err = run(&[
        "--checkpoint",
        s(&checkpoint),
        "--model",
        "small-cnn",
        s(&grey_file),
    ]);
    let message = failure(err, 1);
    assert!(
        message.contains("lenet5") && message.contains("small-cnn"),
        "{message}"
    );
}

#[test]
fn resnet20_takes_its_class_count_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let net = ResNet20::<10, f32>::new(4);
    let checkpoint = dir.path().join("resnet.safetensors");
    let info = CheckpointInfo {
        model: Some("resnet20".into()),
        class_names: Vec::new(),
        normalization: None,
    };
    save_checkpoint_with_info(&net, &info, &checkpoint).unwrap();
    let image = pixels(32, 32, 3, 9);
    let file = dir.path().join("x.png");
    write_png(&file, 32, 32, 3, &image);
    let out = json(&run(&["--checkpoint", s(&checkpoint), "--json", s(&file)]));
    assert_eq!(out[0]["probabilities"].as_array().unwrap().len(), 10);
    // No normalisation stored: pixels in [0, 1]; no class names: the indices.
    let input = Normalization::identity(3).normalize_u8(&image);
    check(&out[0], &file, &net, &input, None);
}

/// The `samples.png` of one image: where its tile is, found by the image's own pixels.
fn find_tile(
    picture: &constnet::data::PngImage,
    tile: &[u8],
    size: usize,
    k: usize,
) -> (usize, usize) {
    let at = |x: usize, y: usize| {
        let i = (y * picture.width + x) * 3;
        &picture.pixels[i..i + 3]
    };
    for y0 in 0..=picture.height - size * k {
        for x0 in 0..=picture.width - size * k {
            let fits = (0..size * k).all(|y| {
                (0..size * k).all(|x| {
                    let i = ((y / k) * size + x / k) * 3;
                    at(x0 + x, y0 + y) == &tile[i..i + 3]
                })
            });
            if fits {
                return (x0, y0);
            }
        }
    }
    panic!("tile not found");
}

#[test]
fn a_crop_of_samples_png_gives_the_prediction_of_the_image_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, net) = small_cnn_checkpoint(dir.path());
    let image = pixels(32, 32, 3, 7);
    let input = norm().normalize_u8(&image);
    // small_cnn draws samples.png from the normalised training images.
    let samples = dir.path().join("samples.png");
    let mean = [0.5, 0.45, 0.4];
    let std = [0.25, 0.2, 0.3];
    constnet::plot::samples_png(
        &samples,
        &input,
        (32, 32),
        &[3],
        &names(20),
        mean,
        std,
        "samples",
    )
    .unwrap();
    let picture = read_png(&samples).unwrap();
    // The tile shows the image's pixels again (un-normalised, rounded), drawn 4x.
    let shown = constnet::plot::unnormalize_to_rgb8(&input, mean, std);
    assert_eq!(shown, image);
    let (x0, y0) = find_tile(&picture, &shown, 32, 4);
    let mut crop = Vec::new();
    for y in y0..y0 + 128 {
        let start = (y * picture.width + x0) * 3;
        crop.extend_from_slice(&picture.pixels[start..start + 128 * 3]);
    }
    let crop_file = dir.path().join("crop.png");
    write_png(&crop_file, 128, 128, 3, &crop);
    let original = dir.path().join("original.png");
    write_png(&original, 32, 32, 3, &image);

    let out = json(&run(&[
        "--checkpoint",
        s(&checkpoint),
        "--json",
        s(&crop_file),
        s(&original),
    ]));
    let names = names(20);
    check(&out[0], &crop_file, &net, &input, Some(&names));
    assert_eq!(out[0]["probabilities"], out[1]["probabilities"]);

    // A crop one pixel off the tile is still 128x128, but no longer the same image.
    let mut shifted = Vec::new();
    for y in y0 + 1..y0 + 129 {
        let start = (y * picture.width + x0 + 1) * 3;
        shifted.extend_from_slice(&picture.pixels[start..start + 128 * 3]);
    }
    let shifted_file = dir.path().join("shifted.png");
    write_png(&shifted_file, 128, 128, 3, &shifted);
    let out = json(&run(&[
        "--checkpoint",
        s(&checkpoint),
        "--json",
        s(&shifted_file),
    ]));
    assert_eq!(out.len(), 1);
    let mut ws = Workspace::new();
    let p = net.predict(&input, &mut ws).unwrap();
    let got: Vec<f32> = serde_json::from_value(out[0]["probabilities"].clone()).unwrap();
    assert_ne!(got, p.probabilities);
}

#[test]
fn pytorch_state_dicts_need_the_model_and_take_pixels_in_0_1_unless_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_small_cnn.safetensors");
    let mut net = SmallCnn::<f32>::new(1);
    load_state_dict(&mut net, &fixture).unwrap();
    let image = pixels(32, 32, 3, 11);
    let file = dir.path().join("x.png");
    write_png(&file, 32, 32, 3, &image);

    let out = json(&run(&[
        "--torch",
        s(&fixture),
        "--model",
        "small-cnn",
        "--json",
        s(&file),
    ]));
    let unit: Vec<f32> = image.iter().map(|&v| f32::from(v) / 255.0).collect();
    check(&out[0], &file, &net, &unit, None);

    let out = json(&run(&[
        "--torch",
        s(&fixture),
        "--model",
        "small-cnn",
        "--mean",
        "0.5,0.45,0.4",
        "--std",
        "0.25,0.2,0.3",
        "--json",
        s(&file),
    ]));
    check(&out[0], &file, &net, &norm().normalize_u8(&image), None);

    // The PyTorch file is not a constnet checkpoint, and the other way round.
    let message = failure(run(&["--checkpoint", s(&fixture), s(&file)]), 1);
    assert!(message.contains("layout"), "{message}");
    assert!(message.ends_with("--torch FILE --model NAME"), "{message}");
    let (checkpoint, _) = small_cnn_checkpoint(dir.path());
    let message = failure(
        run(&["--torch", s(&checkpoint), "--model", "small-cnn", s(&file)]),
        1,
    );
    assert!(message.contains("constnet checkpoint"), "{message}");
    assert!(message.ends_with("--checkpoint FILE"), "{message}");
    // The wrong architecture names the first parameter that does not fit.
    let message = failure(
        run(&["--torch", s(&fixture), "--model", "lenet5", s(&file)]),
        1,
    );
    assert!(message.contains("conv1.weight"), "{message}");
}

#[test]
fn errors_are_one_line_with_exit_status_1_or_2_for_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, _) = small_cnn_checkpoint(dir.path());
    let good = dir.path().join("good.png");
    write_png(&good, 32, 32, 3, &pixels(32, 32, 3, 1));
    let odd = dir.path().join("odd.png");
    write_png(&odd, 33, 32, 3, &pixels(32, 33, 3, 1));

    // The wrong size names both sizes (and nothing is printed for the good file).
    let message = failure(run(&["--checkpoint", s(&checkpoint), s(&good), s(&odd)]), 1);
    assert!(message.contains("odd.png"), "{message}");
    assert!(message.contains("33x32"), "{message}");
    assert!(message.contains("takes 32x32"), "{message}");
    // 2x, but not the same factor in both directions.
    let wide = dir.path().join("wide.png");
    write_png(&wide, 64, 32, 3, &pixels(32, 64, 3, 1));
    let message = failure(run(&["--checkpoint", s(&checkpoint), s(&wide)]), 1);
    assert!(
        message.contains("64x32") && message.contains("32x32"),
        "{message}"
    );

    // Missing files: the image, the checkpoint.
    let missing = dir.path().join("missing.png");
    let message = failure(run(&["--checkpoint", s(&checkpoint), s(&missing)]), 1);
    assert!(message.contains("missing.png"), "{message}");
    let message = failure(run(&["--checkpoint", s(&missing), s(&good)]), 1);
    assert!(message.contains("missing.png"), "{message}");
    // Not a PNG.
    let message = failure(run(&["--checkpoint", s(&checkpoint), s(&checkpoint)]), 1);
    assert!(message.contains("model.safetensors"), "{message}");

    // A checkpoint without metadata needs --model; with it, it loads.
    let bare = dir.path().join("bare.safetensors");
    save_checkpoint(&SmallCnn::<f32>::new(1), &bare).unwrap();
    let message = failure(run(&["--checkpoint", s(&bare), s(&good)]), 1);
    assert!(message.contains("--model"), "{message}");
    let ok = run(&["--checkpoint", s(&bare), "--model", "small-cnn", s(&good)]);
    assert_eq!(ok.code, 0, "{ok:?}");

    // Normalisation of the wrong channel count.
    let message = failure(
        run(&[
            "--checkpoint",
            s(&checkpoint),
            "--mean",
            "0.5",
            "--std",
            "0.2",
            s(&good),
        ]),
        1,
    );
    assert!(
        message.contains("1 channels") && message.contains("3"),
        "{message}"
    );

    // Bad options: exit status 2.
    for args in [
        &[s(&good)][..],
        &["--checkpoint", s(&checkpoint)][..],
        &["--torch", s(&checkpoint), s(&good)][..],
        &["--checkpoint", s(&checkpoint), "--model", "vgg", s(&good)][..],
        &[
            "--checkpoint",
            s(&checkpoint),
            "--mean",
            "0.5,0.5,0.5",
            s(&good),
        ][..],
        &[
            "--checkpoint",
            s(&checkpoint),
            "--torch",
            s(&checkpoint),
            s(&good),
        ][..],
    ] {
        let outcome = run(args);
        assert_eq!(outcome.code, 2, "{args:?}: {outcome:?}");
        assert!(outcome.stderr.starts_with("error: "), "{outcome:?}");
        assert_eq!(outcome.stderr.lines().count(), 1, "{outcome:?}");
    }
    // A missing option is named on the error's line.
    let outcome = run(&["--torch", s(&checkpoint), s(&good)]);
    assert!(outcome.stderr.contains("--model"), "{outcome:?}");
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--checkpoint"));
}

#[test]
fn the_fixture_tiles_of_a_real_samples_png_give_the_prediction_of_their_32x32_image() {
    // tests/fixtures/predict/*.png: 128x128 tiles cut out of the samples.png of
    // `small_cnn --synthetic --epochs 2`, each a 32x32 training image drawn 4x.
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let torch = root.join("torch_small_cnn.safetensors");
    let mut net = SmallCnn::<f32>::new(1);
    load_state_dict(&mut net, &torch).unwrap();
    let mut previous: Option<serde_json::Value> = None;
    for name in [
        "tile_rings_red.png",
        "tile_rings_yellow.png",
        "tile_vstripes_red.png",
    ] {
        let tile_file = root.join("predict").join(name);
        let tile = read_png(&tile_file).unwrap();
        assert_eq!((tile.width, tile.height, tile.channels), (128, 128, 3));
        // Every 4x4 block is one colour: its top-left pixel is the 32x32 image's.
        let at = |x: usize, y: usize, c: usize| tile.pixels[(y * 128 + x) * 3 + c];
        let mut small = Vec::new();
        for y in 0..32 {
            for x in 0..32 {
                for c in 0..3 {
                    let v = at(4 * x, 4 * y, c);
                    assert!((0..16).all(|i| at(4 * x + i % 4, 4 * y + i / 4, c) == v));
                    small.push(v);
                }
            }
        }
        let small_file = dir.path().join(name);
        write_png(&small_file, 32, 32, 3, &small);

        let out = json(&run(&[
            "--torch",
            s(&torch),
            "--model",
            "small-cnn",
            "--json",
            s(&tile_file),
            s(&small_file),
        ]));
        let unit: Vec<f32> = small.iter().map(|&v| f32::from(v) / 255.0).collect();
        check(&out[0], &tile_file, &net, &unit, None);
        assert_eq!(out[0]["probabilities"], out[1]["probabilities"]);
        assert_ne!(Some(&out[0]["probabilities"]), previous.as_ref());
        previous = Some(out[0]["probabilities"].clone());
    }
}
