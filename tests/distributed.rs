//! Data-parallel training over MPI, run for real under `mpirun --allow-run-as-root
//! --oversubscribe -np 2` (needs the `distributed` feature and Open MPI's `mpirun`).
//!
//! The ranks are this test binary itself: each test launches `mpirun ... <this binary> --exact
//! mpi_rank` with the `small_cnn` command line in the environment variable `RANK_ARGS_ENV`;
//! the `mpi_rank` test then runs `small_cnn` (the example's own parser and `common::run`) as
//! that rank and exits with the program's exit status. Run normally, `mpi_rank` does nothing.
//! The synthetic data set is made small here (`--limit-train` plus small validation and test
//! sets), so each job takes seconds.
#![cfg(feature = "distributed")]

#[allow(dead_code, unused_imports)]
#[path = "../examples/small_cnn.rs"]
mod small_cnn;

use constnet::distributed::ring::{all_gather_step, chunk_range, reduce_scatter_step, simulate};
use constnet::distributed::{MpiSync, ring};
use serde_json::Value;
use small_cnn::common::{RunOptions, run};
use small_cnn::{Parsed, parse};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `small_cnn` arguments of a rank, separated by newlines.
const RANK_ARGS_ENV: &str = "CONSTNET_TEST_RANK_ARGS";
/// A folder where each rank writes its process id to `rank<N>.pid`.
const PID_DIR_ENV: &str = "CONSTNET_TEST_PID_DIR";
/// Validation and test images of the small synthetic set.
const VAL_TEST: usize = 100;

/// One rank of a job started by the tests below; does nothing when not started by them.
#[test]
fn mpi_rank() {
    let Ok(args) = std::env::var(RANK_ARGS_ENV) else {
        return;
    };
    if args == "ring" {
        ring_rank();
    }
    let rank = std::env::var("OMPI_COMM_WORLD_RANK").unwrap_or_default();
    if let Ok(dir) = std::env::var(PID_DIR_ENV) {
        let path = Path::new(&dir).join(format!("rank{rank}.pid"));
        std::fs::write(path, std::process::id().to_string()).expect("pid file");
    }
    let code = match parse(std::iter::once("small_cnn").chain(args.lines())) {
        Parsed::Run(mut options) => {
            options.synthetic_sizes[1] = VAL_TEST;
            options.synthetic_sizes[2] = VAL_TEST;
            match run(&options) {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("error: {e}");
                    i32::from(e.exit_code())
                }
            }
        }
        Parsed::Exit { message, code } => {
            eprintln!("{message}");
            i32::from(code)
        }
    };
    std::process::exit(code);
}

/// A rank of the ring test: sums values whose float sum depends on the order, and checks that
/// the bits are those of the in-memory run of the same schedule.
fn ring_rank() -> ! {
    let mut sync = MpiSync::init().expect("MPI starts");
    let (rank, ranks) = (sync.rank(), sync.ranks());
    let len = 1001;
    let value = |r: usize, i: usize| {
        ((r * 7919 + i * 104_729) % 1000) as f32 * 1e-3 + 1e6 * ((i + r) % 3) as f32
    };
    let mut replicas: Vec<Vec<f32>> = (0..ranks)
        .map(|r| (0..len).map(|i| value(r, i)).collect())
        .collect();
    let mut mine = replicas[rank].clone();
    sync.sum_f32(&mut mine);
    ring::simulate(&mut replicas);
    let same = mine
        .iter()
        .zip(&replicas[rank])
        .all(|(a, b)| a.to_bits() == b.to_bits());
    let mut wide: Vec<f64> = (0..len).map(|i| (rank * len + i) as f64).collect();
    sync.sum_f64(&mut wide);
    let exact = (0..len).all(|i| wide[i] == (0..ranks).map(|r| (r * len + i) as f64).sum::<f64>());
    if !(same && exact) {
        eprintln!("rank {rank}: ring sum differs (f32 same bits: {same}, f64 exact: {exact})");
    }
    drop(sync);
    std::process::exit(if same && exact { 0 } else { 1 });
}

/// `mpirun` for `ranks` copies of this test binary as [`mpi_rank`] with `args`.
fn mpirun(ranks: usize, args: &[&str]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args(mpirun_flags())
        .args(["-np", &ranks.to_string()]);
    command.args(rank_command(args, &[]));
    command
}

fn mpirun_flags() -> [&'static str; 4] {
    // Root in CI; more ranks than cores is fine for tests; no pinning on a shared machine.
    [
        "--allow-run-as-root",
        "--oversubscribe",
        "--bind-to",
        "none",
    ]
}

/// `-x NAME=VALUE ... <this binary> --exact mpi_rank`, one MPMD part of an `mpirun` line.
fn rank_command(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut out = vec![
        "-x".to_string(),
        format!("{RANK_ARGS_ENV}={}", args.join("\n")),
    ];
    for (name, value) in env {
        out.extend(["-x".to_string(), format!("{name}={value}")]);
    }
    let exe = std::env::current_exe().expect("test binary");
    out.extend([
        exe.display().to_string(),
        "--exact".into(),
        "mpi_rank".into(),
        "--nocapture".into(),
        "--test-threads".into(),
        "1".into(),
    ]);
    out
}

/// Runs `command` to its end, at most `limit`; panics on a hang.
fn run_bounded(mut command: Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts (is Open MPI installed?)");
    wait_bounded(&mut child, limit);
    (child.wait_with_output().expect("output"), started.elapsed())
}

fn wait_bounded(child: &mut Child, limit: Duration) {
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the job did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "constnet-distributed-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The training arguments of the equivalence and determinism runs (global batch 32, 256
/// training images, 2 epochs, SGD with momentum so that the parameters move visibly).
fn train_args(out: &Path) -> Vec<String> {
    [
        "--synthetic",
        "--limit-train",
        "256",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--optimizer",
        "momentum",
        "--lr",
        "0.01",
        "--threads",
        "1",
        "--seed",
        "5",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn metrics(out: &Path) -> Value {
    let path = out.join("metrics.json");
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&json).expect("metrics.json parses")
}

fn losses(m: &Value) -> Vec<f64> {
    m["loss_per_iteration"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

fn file_names(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A distributed job of `ranks` on the training arguments; asserts that it succeeded.
fn train_job(ranks: usize, out: &Path) -> Output {
    let args = train_args(out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut all = args.clone();
    all.push("--distributed");
    let (output, _) = run_bounded(mpirun(ranks, &all), Duration::from_secs(600));
    assert!(
        output.status.success(),
        "{ranks}-rank job failed: {}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

#[test]
fn the_ring_all_reduce_gives_the_schedule_s_bits_on_three_ranks() {
    let (output, _) = run_bounded(mpirun(3, &["ring"]), Duration::from_secs(120));
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn two_ranks_give_the_same_bits_twice_and_match_one_process() {
    let (a, b, single) = (tmp("bits-a"), tmp("bits-b"), tmp("single"));
    let output = train_job(2, &a);
    train_job(2, &b);

    // Rank 0 alone prints: one summary line, one "files in" line.
    let stdout = text(&output.stdout);
    assert_eq!(stdout.matches("test accuracy").count(), 1, "{stdout}");
    assert!(
        stdout.contains("2 ranks (global batch 32, 16 per rank)"),
        "{stdout}"
    );

    let (ma, mb) = (metrics(&a), metrics(&b));
    assert_eq!(ma["ranks"], 2);
    assert!(
        ma["allreduce_seconds_per_step"]
            .as_f64()
            .is_some_and(|s| s > 0.0)
    );
    let (la, lb) = (losses(&ma), losses(&mb));
    assert_eq!(la.len(), 2 * 256 / 32);
    assert_eq!(
        la.iter().map(|l| l.to_bits()).collect::<Vec<_>>(),
        lb.iter().map(|l| l.to_bits()).collect::<Vec<_>>()
    );
    let model = |dir: &Path| std::fs::read(dir.join("model.safetensors")).expect("checkpoint");
    assert!(model(&a) == model(&b), "the checkpoints differ");

    // One process, same global batch, in this process.
    let Parsed::Run(mut options) =
        parse(std::iter::once("small_cnn".to_string()).chain(train_args(&single)))
    else {
        panic!("options parse");
    };
    options.synthetic_sizes[1] = VAL_TEST;
    options.synthetic_sizes[2] = VAL_TEST;
    options.quiet = true;
    let one: RunOptions = *options;
    let outcome = run(&one).expect("one process trains");
    let ms = metrics(&single);
    assert_eq!(ms["ranks"], 1);
    let ls = losses(&ms);
    assert_eq!(ls.len(), la.len());
    for (i, (d, s)) in la.iter().zip(&ls).enumerate() {
        assert!(
            ((d - s) / s).abs() <= 1e-4,
            "iteration {i}: 2 ranks {d}, one process {s}"
        );
    }
    let acc = |m: &Value| m["test_acc"].as_f64().expect("test_acc");
    let images_apart = (acc(&ma) - acc(&ms)).abs() * VAL_TEST as f64;
    assert!(
        images_apart <= 1.0 + 1e-9,
        "test accuracy {} vs {}",
        acc(&ma),
        acc(&ms)
    );
    assert_eq!(outcome.metrics.test_size, VAL_TEST);
    // The same files as a single-process run.
    assert_eq!(file_names(&a), file_names(&single));
    for dir in [a, b, single] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_global_batch_that_does_not_split_is_refused_naming_both_numbers() {
    let out = tmp("split");
    let out_arg = out.display().to_string();
    let args = [
        "--synthetic",
        "--limit-train",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "15",
        "--distributed",
        "--out",
        &out_arg,
    ];
    let (output, took) = run_bounded(mpirun(2, &args), Duration::from_secs(120));
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("global batch size 15") && stderr.contains("over 2 ranks"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(60));
    assert!(!out.join("metrics.json").exists());
    let _ = std::fs::remove_dir_all(out);
}

/// The arguments of a job that would train for a long time.
fn long_args(out: &Path) -> Vec<String> {
    [
        "--synthetic",
        "--limit-train",
        "256",
        "--epochs",
        "1000",
        "--batch-size",
        "32",
        "--threads",
        "1",
        "--distributed",
        "--sync-timeout",
        "60",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

/// A checkpoint already in the output folder (from an earlier, complete run).
fn earlier_checkpoint(out: &Path) -> Vec<u8> {
    let net = small_cnn::common::SmallCnn::<f32>::new(9);
    let path = out.join("model.safetensors");
    constnet::train::save_checkpoint(&net, &path).expect("checkpoint");
    std::fs::read(path).expect("checkpoint")
}

#[test]
fn a_killed_rank_stops_the_job_and_leaves_the_last_checkpoint() {
    let out = tmp("killed");
    let pids = tmp("killed-pids");
    let before = earlier_checkpoint(&out);
    let (output, killed_at) = signal_rank1_mid_training(&out, &pids, "-KILL", "60");
    assert!(!output.status.success());
    assert!(killed_at.elapsed() < Duration::from_secs(60));
    let stderr = text(&output.stderr);
    assert!(
        stderr.to_lowercase().contains("signal 9") || stderr.contains("killed"),
        "{stderr}"
    );
    eprintln!("mpirun's report of the killed rank:\n{stderr}");
    // Rank 0 is gone too (mpirun may return while it is being torn down: allow a few seconds).
    let rank0 = std::fs::read_to_string(pids.join("rank0.pid")).expect("rank 0's pid");
    let stat = format!("/proc/{}/stat", rank0.trim());
    let gone_by = Instant::now() + Duration::from_secs(10);
    while running(&stat) {
        assert!(Instant::now() < gone_by, "rank 0 still runs");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::fs::read(out.join("model.safetensors")).expect("checkpoint") == before);
    assert!(!out.join("metrics.json").exists());
    for dir in [out, pids] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Starts a long 2-rank job, waits until rank 0 has printed its first epoch line (both ranks are
/// training), sends `signal` to rank 1, and waits (at most a minute) for the job to end.
fn signal_rank1_mid_training(
    out: &Path,
    pids: &Path,
    signal: &str,
    sync_timeout: &str,
) -> (Output, Instant) {
    let mut args = long_args(out);
    let at = args
        .iter()
        .position(|a| a == "--sync-timeout")
        .expect("option");
    args[at + 1] = sync_timeout.to_string();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = Command::new("mpirun");
    command.args(mpirun_flags()).args(["-np", "2"]);
    command.args(rank_command(
        &args,
        &[(PID_DIR_ENV, &pids.display().to_string())],
    ));
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    loop {
        let line = lines
            .next()
            .expect("an epoch line before the end")
            .expect("utf-8");
        if line.starts_with("epoch") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no epoch line"
        );
    }
    let pid = std::fs::read_to_string(pids.join("rank1.pid")).expect("rank 1's pid");
    let signalled_at = Instant::now();
    let status = Command::new("kill")
        .args([signal, pid.trim()])
        .status()
        .expect("kill");
    assert!(status.success());
    // Drain stdout so that mpirun never blocks on it.
    std::thread::spawn(move || lines.for_each(drop));
    wait_bounded(&mut child, Duration::from_secs(60));
    (child.wait_with_output().expect("output"), signalled_at)
}

#[test]
fn a_stuck_rank_stops_the_job_after_the_sync_timeout() {
    let out = tmp("stuck");
    let pids = tmp("stuck-pids");
    // SIGSTOP: rank 1 neither works nor dies; rank 0 waits in its next all-reduce.
    let (output, stopped_at) = signal_rank1_mid_training(&out, &pids, "-STOP", "3");
    let took = stopped_at.elapsed();
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("error (rank 0)") && stderr.contains("--sync-timeout"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(30),
        "took {took:?}"
    );
    assert!(!out.join("metrics.json").exists());
    for dir in [out, pids] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Whether the process of this `/proc/PID/stat` file runs (exists and is not a zombie).
fn running(stat: &str) -> bool {
    std::fs::read_to_string(stat)
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Runs a 2-rank MPMD job whose rank 1 gets `rank1_args` and `rank1_env`; returns its stderr
/// after checking that it failed within a minute.
fn job_with_a_bad_rank1(out: &Path, rank1_args: &[&str], rank1_env: &[(&str, &str)]) -> String {
    let args = long_args(out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = Command::new("mpirun");
    command.args(mpirun_flags());
    command.args(["-np", "1"]).args(rank_command(&args, &[]));
    command.arg(":");
    command
        .args(["-np", "1"])
        .args(rank_command(rank1_args, rank1_env));
    let (output, took) = run_bounded(command, Duration::from_secs(180));
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(120), "took {took:?}");
    assert!(!out.join("metrics.json").exists());
    stderr
}

#[test]
fn a_rank_with_unreadable_data_stops_the_job() {
    let out = tmp("corrupt");
    let data = tmp("corrupt-data");
    std::fs::write(
        data.join("train.mat"),
        b"MATLAB 5.0 MAT-file, but then garbage",
    )
    .expect("write");
    std::fs::write(data.join("test.mat"), b"MATLAB 5.0 MAT-file, garbage too").expect("write");
    let before = earlier_checkpoint(&out);
    let mut args = long_args(&out);
    args[0] = "--data".into();
    args.insert(1, data.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stderr = job_with_a_bad_rank1(&out, &args, &[]);
    assert!(
        stderr.contains("error (rank 1 of 2)") && stderr.contains("not a MAT file"),
        "{stderr}"
    );
    assert!(std::fs::read(out.join("model.safetensors")).expect("checkpoint") == before);
    for dir in [out, data] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_rank_whose_loss_becomes_nan_stops_every_rank() {
    let out = tmp("nan");
    let args = long_args(&out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stderr = job_with_a_bad_rank1(&out, &args, &[("CONSTNET_TEST_FAULT", "nan-data")]);
    assert!(stderr.contains("diverged"), "{stderr}");
    let _ = std::fs::remove_dir_all(out);
}

// The ring's schedule, in memory (no MPI).

#[test]
fn chunks_cover_the_values_once() {
    for (len, ranks) in [(10, 3), (2, 5), (176_000, 16), (0, 4), (7, 1)] {
        let ranges: Vec<_> = (0..ranks).map(|c| chunk_range(len, ranks, c)).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[ranks - 1].end, len);
        for w in ranges.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        let lengths: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
        let (min, max) = (lengths.iter().min(), lengths.iter().max());
        assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{lengths:?}");
    }
    assert_eq!(chunk_range(10, 3, 1), 3..6);
}

#[test]
fn a_rank_receives_what_its_left_neighbour_sends() {
    for ranks in 2..7 {
        for step in 0..ranks - 1 {
            for r in 0..ranks {
                let left = (r + ranks - 1) % ranks;
                assert_eq!(
                    reduce_scatter_step(r, ranks, step).receive,
                    reduce_scatter_step(left, ranks, step).send
                );
                assert_eq!(
                    all_gather_step(r, ranks, step).receive,
                    all_gather_step(left, ranks, step).send
                );
            }
        }
    }
}

/// Values whose float sum depends on the order: 1e8 + 1 - 1e8 is 0 or 1.
#[test]
fn every_replica_gets_the_sum_in_the_fixed_ring_order() {
    let ranks = 4;
    let len = 9;
    let value = |r: usize, i: usize| -> f32 {
        match (r + i) % 4 {
            0 => 1e8,
            1 => 1.0,
            2 => -1e8,
            _ => 0.5 + i as f32,
        }
    };
    let mut replicas: Vec<Vec<f32>> = (0..ranks)
        .map(|r| (0..len).map(|i| value(r, i)).collect())
        .collect();
    simulate(&mut replicas);
    for i in 0..len {
        // The chunk holding i starts its sum at rank c and goes round the ring.
        let c = (0..ranks)
            .find(|&c| chunk_range(len, ranks, c).contains(&i))
            .unwrap_or(0);
        let mut expected = value(c, i);
        for k in 1..ranks {
            expected += value((c + k) % ranks, i);
        }
        for replica in &replicas {
            assert_eq!(replica[i].to_bits(), expected.to_bits(), "value {i}");
        }
    }
    // The order matters for these values: a plain rank-order sum differs somewhere.
    let rank_order: Vec<f32> = (0..len)
        .map(|i| (0..ranks).fold(0.0f32, |s, r| s + value(r, i)))
        .collect();
    assert_ne!(replicas[0], rank_order);
}

#[test]
fn one_rank_is_left_alone_and_sums_are_exact_for_integers() {
    let mut one = vec![vec![1.5f64, -2.0]];
    simulate(&mut one);
    assert_eq!(one, vec![vec![1.5, -2.0]]);
    let mut replicas: Vec<Vec<f64>> = (0..5)
        .map(|r| vec![r as f64, 10.0 * r as f64, 1.0])
        .collect();
    simulate(&mut replicas);
    for replica in &replicas {
        assert_eq!(replica, &vec![10.0, 100.0, 5.0]);
    }
}
