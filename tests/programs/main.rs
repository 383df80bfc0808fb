//! The programs' code run by the tests, in one binary so that `examples/common` (shared by
//! `small_cnn` and `train`) and the networks it trains are compiled once:
//! - `small_cnn_run`: every file a `small_cnn` run writes, in-process;
//! - `small_cnn_resume`: `small_cnn --resume` is exact;
//! - `train_program`: the `train` program as a process (this binary re-run), on every format.

#[allow(dead_code, unused_imports)]
#[path = "../../examples/train.rs"]
mod train;

use train::common;

mod small_cnn_resume;
mod small_cnn_run;
mod train_program;
