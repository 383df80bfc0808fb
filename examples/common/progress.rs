//! The programs' progress output: a bar during each epoch (on a terminal) and one line per
//! epoch, drawn from the training loop's [`TrainObserver`] events.

use constnet::train::{EpochStats, StepInfo, TrainObserver};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Draws a progress bar per epoch on stderr (unless quiet or not a terminal) and prints one
/// line per epoch on stdout.
pub struct Progress {
    epochs: usize,
    quiet: bool,
    bar: ProgressBar,
    last_message: Instant,
}

impl Progress {
    /// Progress for a run of `epochs` epochs; `quiet` hides the bar (the epoch lines stay).
    pub fn new(epochs: usize, quiet: bool) -> Self {
        Progress {
            epochs,
            quiet,
            bar: ProgressBar::hidden(),
            last_message: Instant::now(),
        }
    }
}

impl TrainObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, iterations: usize) {
        if self.quiet || !std::io::stdout().is_terminal() {
            return;
        }
        let bar =
            ProgressBar::with_draw_target(Some(iterations as u64), ProgressDrawTarget::stderr());
        // At most 80 columns: "epoch 10/10 [" 13 + bar 25 + "] 4000/4000 " 11 + message ~31.
        let template = format!(
            "epoch {epoch}/{} [{{bar:25}}] {{pos}}/{{len}} {{msg}}",
            self.epochs
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        self.bar = bar;
    }

    fn step_done(&mut self, step: &StepInfo) {
        self.bar.inc(1);
        if !self.bar.is_hidden() && self.last_message.elapsed() > Duration::from_millis(200) {
            self.last_message = Instant::now();
            self.bar.set_message(format!(
                "loss {:.4} {:.0} img/s",
                step.loss, step.images_per_sec
            ));
        }
    }

    fn epoch_done(&mut self, e: &EpochStats) {
        self.bar.finish_and_clear();
        self.bar = ProgressBar::hidden();
        println!(
            "epoch {}/{}: train loss {:.4}, train acc {:.2} %, val acc {:.2} %, \
             lr {:.2e}, {:.1} s, {:.0} images/s",
            e.epoch,
            self.epochs,
            e.train_loss,
            e.train_acc * 100.0,
            e.val_acc * 100.0,
            e.learning_rate,
            e.seconds,
            e.train_images_per_sec
        );
    }
}
