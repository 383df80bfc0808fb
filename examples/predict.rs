//! `predict`: the top classes of PNG images under a trained network.
//!
//! ```text
//! cargo run --release --example predict -- --checkpoint runs/small_cnn/model.safetensors a.png b.png
//! cargo run --release --example predict -- --torch model.safetensors --model small-cnn \
//!     --mean 0.5,0.5,0.5 --std 0.25,0.25,0.25 --json a.png
//! ```
//!
//! A constnet checkpoint (`--checkpoint`) names its model, class names and normalisation in its
//! metadata (written by `small_cnn`); a PyTorch `state_dict` (`--torch`) has none, so `--model`
//! says the architecture, pixels are scaled to [0, 1] and normalised only with `--mean` and
//! `--std`, and classes are named by their index. An image must have the network's input size,
//! or an exact integer multiple of it (as the tiles of `samples.png`, drawn 4x): each k x k block
//! is averaged, which undoes a nearest-neighbour upscale exactly. Options and output formats:
//! examples/README.md, "predict".
//!
//! Errors are one line `error: ...` on stderr: exit status 2 for bad options (as `small_cnn`),
//! 1 for everything else; nothing is printed on stdout then.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use constnet::data::{DataError, Normalization, read_png};
use constnet::models::{LeNet5, ResNet20, SmallCnn, SmallCnnBn};
use constnet::safetensors::SafeTensors;
use constnet::torch::{TorchError, load_state_dict};
use constnet::train::{CheckpointError, CheckpointInfo, load_checkpoint, read_checkpoint_info};
use constnet::{InferError, Network, Shape, Workspace};

/// Prints the top classes of PNG images under a trained network.
#[derive(Debug, Parser)]
#[command(name = "predict", version)]
struct Cli {
    /// A constnet checkpoint (`small_cnn`'s model.safetensors): model, class names and
    /// normalisation come from its metadata.
    #[arg(long, value_name = "FILE", required_unless_present = "torch")]
    checkpoint: Option<PathBuf>,
    /// A PyTorch state_dict saved with safetensors.torch.save_file, instead of --checkpoint
    /// (needs --model).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "checkpoint",
        requires = "model"
    )]
    torch: Option<PathBuf>,
    /// The architecture: small-cnn, small-cnn-bn, resnet20 or lenet5 (with --checkpoint:
    /// checked against the metadata, or used when the metadata has no model).
    #[arg(long, value_name = "NAME")]
    model: Option<ModelName>,
    /// Per-channel means in [0, 1] units, comma-separated (replaces the checkpoint's).
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', requires = "std")]
    mean: Option<Vec<f64>>,
    /// Per-channel standard deviations in [0, 1] units, comma-separated.
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', requires = "mean")]
    std: Option<Vec<f64>>,
    /// How many classes to print per image.
    #[arg(long, value_name = "K", default_value_t = 3)]
    top: usize,
    /// Print one JSON array, an object per image, instead of text.
    #[arg(long)]
    json: bool,
    /// PNG images (grey, RGB or RGBA; converted to the network's channels).
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<PathBuf>,
}

/// The architectures `predict` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelName {
    SmallCnn,
    SmallCnnBn,
    ResNet20,
    LeNet5,
}

impl ModelName {
    /// The `--model` spelling (as `small_cnn` writes it in the metadata).
    fn tag(self) -> &'static str {
        match self {
            ModelName::SmallCnn => "small-cnn",
            ModelName::SmallCnnBn => "small-cnn-bn",
            ModelName::ResNet20 => "resnet20",
            ModelName::LeNet5 => "lenet5",
        }
    }
}

impl std::str::FromStr for ModelName {
    type Err = String;

    /// `small-cnn`, `small-cnn-bn`, `resnet20`, `lenet5`, in any case, with or without `-`
    /// and `_` (so `SmallCnn` and `ResNet20`, the names in `metrics.json`, are accepted too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "smallcnn" => Ok(ModelName::SmallCnn),
            "smallcnnbn" => Ok(ModelName::SmallCnnBn),
            "resnet20" => Ok(ModelName::ResNet20),
            "lenet5" => Ok(ModelName::LeNet5),
            _ => Err(format!(
                "unknown model '{s}' (expected small-cnn, small-cnn-bn, resnet20 or lenet5)"
            )),
        }
    }
}

/// Why `predict` failed; every message is one line.
#[derive(Debug, thiserror::Error)]
enum PredictError {
    /// The checkpoint cannot be read or does not fit the model.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The PyTorch state_dict cannot be read or does not fit the model.
    #[error(transparent)]
    Torch(#[from] TorchError),
    /// An image cannot be read or decoded, or `--mean`/`--std` are not a normalisation.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The network refused the input (not expected: its size is checked first).
    #[error(transparent)]
    Infer(#[from] InferError),
    /// A file of the other layout: the loader's error and the option that takes the file.
    #[error("{source}; {hint}")]
    OtherLayout {
        source: Box<PredictError>,
        hint: &'static str,
    },
    /// The model cannot be chosen from the options and the file.
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },
    /// An image is neither the model's input size nor an exact multiple of it.
    #[error(
        "{}: the image is {found_w}x{found_h} pixels, but the model takes {want_w}x{want_h} \
         (or an exact multiple of it, such as {}x{})",
        path.display(),
        2 * want_w,
        2 * want_h
    )]
    Size {
        path: PathBuf,
        found_w: usize,
        found_h: usize,
        want_w: usize,
        want_h: usize,
    },
    /// The normalisation does not have one value per input channel.
    #[error("the normalisation has {found} channels, but the model takes {expected}")]
    Channels { found: usize, expected: usize },
    /// The checkpoint's class names do not match the model's class count.
    #[error("the model has {classes} classes, but {names} class names")]
    ClassNames { classes: usize, names: usize },
}

/// One image's result.
#[derive(Debug, serde::Serialize)]
struct ImageResult {
    /// The file, as given.
    file: String,
    /// The softmax probability of every class.
    probabilities: Vec<f32>,
    /// The most probable classes, most probable first.
    top: Vec<Ranked>,
}

/// A class in [`ImageResult::top`].
#[derive(Debug, serde::Serialize)]
struct Ranked {
    class: usize,
    name: String,
    probability: f32,
}

/// Where the weights come from, and what is known about them.
struct Source {
    /// The weights file.
    path: PathBuf,
    /// A PyTorch state_dict (else a constnet checkpoint).
    torch: bool,
    /// The architecture.
    model: ModelName,
    /// Class names by index (empty: the indices are the names).
    class_names: Vec<String>,
    /// The normalisation of [0, 1] pixels (`None`: none).
    normalization: Option<Normalization>,
}

/// What a run prints and its exit status.
#[derive(Debug)]
pub struct Outcome {
    /// The text for stdout.
    pub stdout: String,
    /// The text for stderr (one line `error: ...` on failure).
    pub stderr: String,
    /// The exit status: 0, 1 (failure) or 2 (bad options).
    pub code: u8,
}

/// Runs `predict` with these arguments (the program name first), without printing.
pub fn execute<I, T>(args: I) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let outcome = |stdout: String, stderr: String, code| Outcome {
        stdout,
        stderr,
        code,
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help or --version.
        Err(e) if !e.use_stderr() => {
            let text = e.to_string();
            let text = if text.ends_with('\n') {
                text
            } else {
                text + "\n"
            };
            return outcome(text, String::new(), 0);
        }
        // clap's message is `error: ...` up to the first blank line (a list of missing
        // arguments on the next lines); then usage and tips.
        Err(e) => {
            let text = e.to_string();
            let line: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            return outcome(String::new(), line.join(" ") + "\n", 2);
        }
    };
    match run(&cli) {
        Ok(text) => outcome(text, String::new(), 0),
        Err(e) => outcome(String::new(), format!("error: {e}\n"), 1),
    }
}

#[allow(dead_code)] // Tests include this file for `execute`.
fn main() -> ExitCode {
    let outcome = execute(std::env::args_os());
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.code)
}

/// Loads the network, predicts every image and returns the text to print.
fn run(cli: &Cli) -> Result<String, PredictError> {
    let source = source(cli)?;
    let results = match source.model {
        ModelName::SmallCnn => predict(SmallCnn::<f32>::new(0), &source, cli)?,
        ModelName::SmallCnnBn => predict(SmallCnnBn::<f32>::new(0), &source, cli)?,
        ModelName::LeNet5 => predict(LeNet5::<f32>::new(0), &source, cli)?,
        ModelName::ResNet20 => match fc_outputs(&source.path, source.torch)? {
            10 => predict(ResNet20::<10, f32>::new(0), &source, cli)?,
            20 => predict(ResNet20::<20, f32>::new(0), &source, cli)?,
            100 => predict(ResNet20::<100, f32>::new(0), &source, cli)?,
            other => {
                return Err(PredictError::Model {
                    path: source.path.clone(),
                    message: format!(
                        "'fc.bias' has {other} values: predict knows ResNet-20 with 10, 20 or \
                         100 classes"
                    ),
                });
            }
        },
    };
    Ok(if cli.json {
        // Plain numbers and strings: encoding cannot fail.
        serde_json::to_string_pretty(&results).unwrap_or_default() + "\n"
    } else {
        text(&results)
    })
}

/// What the options and the checkpoint's metadata say about the weights.
fn source(cli: &Cli) -> Result<Source, PredictError> {
    let normalization = match (&cli.mean, &cli.std) {
        (Some(mean), Some(std)) => Some(Normalization::new(mean.clone(), std.clone())?),
        _ => None,
    };
    if let Some(path) = &cli.torch {
        let model = cli.model.ok_or_else(|| PredictError::Model {
            path: path.clone(),
            message: "a PyTorch state_dict does not say its architecture: give --model".into(),
        })?;
        return Ok(Source {
            path: path.clone(),
            torch: true,
            model,
            class_names: Vec::new(),
            normalization,
        });
    }
    // clap requires --checkpoint when --torch is absent.
    let path = cli.checkpoint.clone().unwrap_or_default();
    let info: CheckpointInfo = read_checkpoint_info(&path).map_err(|e| match e {
        CheckpointError::Layout { .. } => PredictError::OtherLayout {
            source: Box::new(e.into()),
            hint: "give a PyTorch state_dict with --torch FILE --model NAME",
        },
        e => e.into(),
    })?;
    let stored = info
        .model
        .as_deref()
        .map(|name| {
            name.parse::<ModelName>()
                .map_err(|message| PredictError::Model {
                    path: path.clone(),
                    message: format!("metadata 'model': {message}"),
                })
        })
        .transpose()?;
    let model = match (stored, cli.model) {
        (Some(stored), Some(asked)) if stored != asked => {
            return Err(PredictError::Model {
                path,
                message: format!(
                    "the checkpoint is a {} model, not {} (--model)",
                    stored.tag(),
                    asked.tag()
                ),
            });
        }
        (Some(model), _) | (None, Some(model)) => model,
        (None, None) => {
            return Err(PredictError::Model {
                path,
                message: "the metadata names no model: give --model".into(),
            });
        }
    };
    Ok(Source {
        path,
        torch: false,
        model,
        class_names: info.class_names,
        normalization: normalization.or(info.normalization),
    })
}

/// The number of values of the file's `fc.bias`: ResNet-20's class count.
fn fc_outputs(path: &Path, torch: bool) -> Result<usize, PredictError> {
    let bytes = std::fs::read(path).map_err(|source| {
        let path = path.to_path_buf();
        if torch {
            PredictError::Torch(TorchError::Read { path, source })
        } else {
            PredictError::Checkpoint(CheckpointError::Read { path, source })
        }
    })?;
    let bad = |message: String| PredictError::Model {
        path: path.to_path_buf(),
        message,
    };
    let file = SafeTensors::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let bias = file
        .tensor("fc.bias")
        .ok_or_else(|| bad("no tensor 'fc.bias': not a ResNet-20".into()))?;
    Ok(bias.shape.iter().product())
}

/// Loads `net`'s weights and predicts every image.
fn predict<N: Network<f32>>(
    mut net: N,
    source: &Source,
    cli: &Cli,
) -> Result<Vec<ImageResult>, PredictError> {
    let [h, w, c] = [
        <N::Input as Shape>::H,
        <N::Input as Shape>::W,
        <N::Input as Shape>::C,
    ];
    let classes = <N::Output as Shape>::LEN;
    if source.torch {
        load_state_dict(&mut net, &source.path).map_err(|e| match e {
            TorchError::ConstnetFile { .. } => PredictError::OtherLayout {
                source: Box::new(e.into()),
                hint: "give a constnet checkpoint with --checkpoint FILE",
            },
            e => e.into(),
        })?;
    } else {
        load_checkpoint(&mut net, &source.path)?;
    }
    if !source.class_names.is_empty() && source.class_names.len() != classes {
        return Err(PredictError::ClassNames {
            classes,
            names: source.class_names.len(),
        });
    }
    let normalization = source
        .normalization
        .clone()
        .unwrap_or_else(|| Normalization::identity(c));
    if normalization.channels() != c {
        return Err(PredictError::Channels {
            found: normalization.channels(),
            expected: c,
        });
    }
    // Every image is read before anything is printed: one bad file, no output.
    let inputs = cli
        .images
        .iter()
        .map(|path| network_input(path, [h, w, c], &normalization))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ws = Workspace::new();
    let mut results = Vec::with_capacity(inputs.len());
    for (path, input) in cli.images.iter().zip(&inputs) {
        let prediction = net.predict(input, &mut ws)?;
        let top = prediction
            .top(cli.top)
            .into_iter()
            .map(|r| Ranked {
                class: r.class,
                name: source
                    .class_names
                    .get(r.class)
                    .cloned()
                    .unwrap_or_else(|| r.class.to_string()),
                probability: r.probability,
            })
            .collect();
        results.push(ImageResult {
            file: path.display().to_string(),
            probabilities: prediction.probabilities.to_vec(),
            top,
        });
    }
    Ok(results)
}

/// The network input of the PNG at `path`: converted to `c` channels, each k x k block
/// averaged if the image is k times the input size, normalised.
fn network_input(
    path: &Path,
    [h, w, c]: [usize; 3],
    normalization: &Normalization,
) -> Result<Vec<f32>, PredictError> {
    let image = read_png(path)?;
    let k = image.width / w;
    if k == 0 || image.width != k * w || image.height != k * h {
        return Err(PredictError::Size {
            path: path.to_path_buf(),
            found_w: image.width,
            found_h: image.height,
            want_w: w,
            want_h: h,
        });
    }
    let pixels = image.to_channels(c)?;
    let mut input = Vec::with_capacity(h * w * c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let mut sum = 0u64;
                for dy in 0..k {
                    let row = (y * k + dy) * image.width;
                    for dx in 0..k {
                        sum += u64::from(pixels[(row + x * k + dx) * c + ch]);
                    }
                }
                // The mean of k*k equal values is that value exactly.
                let mean = sum as f64 / (k * k) as f64;
                input.push(normalization.apply_value(mean / 255.0, ch));
            }
        }
    }
    Ok(input)
}

/// Each image's file and top classes, one line each: `a.png: cat 81.25%, dog 9.40%, ...`.
fn text(results: &[ImageResult]) -> String {
    let mut out = String::new();
    for result in results {
        let top: Vec<String> = result
            .top
            .iter()
            .map(|r| format!("{} {:.2}%", r.name, 100.0 * r.probability))
            .collect();
        out.push_str(&format!("{}: {}\n", result.file, top.join(", ")));
    }
    out
}
