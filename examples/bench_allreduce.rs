//! Times constnet's deterministic all-reduce ([`MpiSync::sum_f32`]) alone, as every rank of an
//! MPI job: the numbers the README's "Training on several machines" table is computed from.
//!
//! ```text
//! cargo build --release --features distributed --example bench_allreduce
//! mpirun -np 2 target/release/examples/bench_allreduce [VALUES] [ITERATIONS]
//! ```
//!
//! `VALUES` defaults to the SmallCnn's gradient exchange (164,008 parameters plus the loss and
//! an error flag), `ITERATIONS` to 200. Each iteration starts after a barrier-like small
//! all-reduce, so that waiting for a slower rank is not counted. Rank 0 prints one JSON line:
//! the median and minimum seconds per all-reduce, the bytes each rank sent, and the bandwidth
//! that implies.

use constnet::distributed::MpiSync;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let parse = |a: Option<String>, default: usize| -> Result<usize, String> {
        a.map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("error: '{s}' is not a count"))
        })
    };
    let (values, iterations) = match (parse(args.next(), 164_008 + 2), parse(args.next(), 200)) {
        (Ok(v), Ok(i)) if i > 0 => (v, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        _ => {
            eprintln!("error: ITERATIONS must be at least 1");
            return ExitCode::from(2);
        }
    };
    let mut sync = match MpiSync::init() {
        Ok(sync) => sync,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ranks = sync.ranks();
    let mut buffer: Vec<f32> = (0..values).map(|i| (i % 7) as f32 * 0.25).collect();
    let mut token = [0.0f64];
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        sync.sum_f64(&mut token); // every rank arrives before the clock starts
        let started = Instant::now();
        sync.sum_f32(&mut buffer);
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    // A ring all-reduce sends 2 (N - 1) / N of the buffer from each rank.
    let sent = 2.0 * (ranks as f64 - 1.0) / ranks as f64 * (values * 4) as f64;
    if sync.rank() == 0 {
        println!(
            "{{\"ranks\":{ranks},\"values\":{values},\"bytes\":{},\"iterations\":{iterations},\
             \"median_seconds\":{median:.7},\"min_seconds\":{:.7},\"bytes_sent_per_rank\":{sent:.0},\
             \"gbit_per_s\":{:.3}}}",
            values * 4,
            times[0],
            sent * 8.0 / median.max(1e-12) / 1e9
        );
    }
    ExitCode::SUCCESS
}
