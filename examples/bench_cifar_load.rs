//! Benchmark of the CIFAR-100 loader at full size: load time and peak memory.
//!
//! ```text
//! cargo run --release --example bench_cifar_load            # synthetic full-size files
//! cargo run --release --example bench_cifar_load -- DIR     # an existing folder (e.g. data/cifar100)
//! cargo run --release --example bench_cifar_load -- --write DIR  # only write the full-size files to DIR
//! ```
//!
//! Without DIR it writes, into a temporary folder, a `train.mat` with 50,000
//! random 32x32x3 images and a `test.mat` with 10,000 (uint8 `data`, uint8
//! `coarse_labels` and `fine_labels`, a char `batch_label`; uncompressed, as
//! the real files are, ~154 MB and ~31 MB). The loading then runs in a fresh
//! child process (this program re-executed) so that the peak memory it
//! reports (VmHWM from /proc/self/status) is the loader's alone, not the
//! writer's.

use std::process::{Command, ExitCode};
use std::time::Instant;

use constnet::data::mat_writer::{Compression, MatVar, write_mat_file};
use constnet::data::{DataSplits, load_cifar100};
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};

const CHILD_FLAG: &str = "--child-load";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, dir] if flag == CHILD_FLAG => child(dir),
        [flag, dir] if flag == "--write" => match write_files(std::path::Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        [dir] => parent(Some(dir.into())),
        [] => parent(None),
        _ => {
            eprintln!("usage: bench_cifar_load [DIR]");
            ExitCode::from(2)
        }
    }
}

/// Writes the files (unless a folder is given) and runs the load in a child.
fn parent(dir: Option<std::path::PathBuf>) -> ExitCode {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot make a temporary folder: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = write_files(tmp.path()) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            tmp.path().to_path_buf()
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this program to re-run it: {e}");
            return ExitCode::FAILURE;
        }
    };
    match Command::new(exe).arg(CHILD_FLAG).arg(&dir).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("error: the loading process failed ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot start the loading process: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes full-size `train.mat` and `test.mat` with random images to `dir`.
fn write_files(dir: &std::path::Path) -> Result<(), String> {
    let t = Instant::now();
    let mut rng = StdRng::seed_from_u64(2024);
    for (name, n) in [("train.mat", 50_000), ("test.mat", 10_000)] {
        let path = dir.join(name);
        write_cifar_like(&path, n, &mut rng)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    println!(
        "wrote train.mat (50,000 images) and test.mat (10,000) to {} in {:.2} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A CIFAR-100-like MAT file with `n` random images.
fn write_cifar_like(path: &std::path::Path, n: usize, rng: &mut StdRng) -> std::io::Result<()> {
    let mut data = vec![0u8; n * 3072];
    rng.fill_bytes(&mut data);
    let fine: Vec<u8> = (0..n).map(|_| rng.random_range(0..100)).collect();
    let coarse: Vec<u8> = fine.iter().map(|&f| f % 20).collect();
    write_mat_file(
        path,
        &[
            MatVar::char("batch_label", "training batch 1 of 1"),
            MatVar::new("coarse_labels", n, 1, &coarse),
            MatVar::new("data", n, 3072, &data),
            MatVar::new("fine_labels", n, 1, &fine),
        ],
        Compression::None,
    )
}

/// Peak and current resident memory of this process, in MB.
fn memory_mb() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Loads the folder and reports time and memory.
fn child(dir: &str) -> ExitCode {
    let before = memory_mb();
    let t = Instant::now();
    let splits: DataSplits = match load_cifar100(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = t.elapsed().as_secs_f64();
    println!("{}", splits.summary());
    println!(
        "channel mean {:?}, std {:?}",
        splits.normalization.mean, splits.normalization.std
    );
    println!(
        "load time: {secs:.2} s ({} threads)",
        rayon::current_num_threads()
    );
    match (before, memory_mb()) {
        (Some((_, rss0)), Some((hwm, rss))) => println!(
            "peak memory (VmHWM of the loading process): {hwm:.0} MB; resident now {rss:.0} MB (the f32 images: {:.0} MB; before loading: {rss0:.0} MB)",
            (splits.train.images.len() + splits.val.images.len() + splits.test.images.len()) as f64
                * 4.0
                / (1024.0 * 1024.0)
        ),
        _ => println!("peak memory: /proc/self/status not available"),
    }
    ExitCode::SUCCESS
}
