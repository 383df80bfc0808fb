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

/// The longest [`step_message`]: `"loss -1.80e308 -1.0e300 img/s"`.
const MESSAGE_WIDTH: usize = 29;
/// Lines stay within this many columns (the last column of an 80-column terminal stays free, so
/// that no terminal wraps the line).
pub const MAX_WIDTH: usize = 79;

/// The bar's message after a step: the loss and the speed, at most [`MESSAGE_WIDTH`] characters
/// whatever the values (large or non-finite ones switch to exponent form).
pub fn step_message(loss: f64, images_per_sec: f64) -> String {
    let loss = if loss.is_finite() && loss.abs() < 1000.0 {
        format!("{loss:.4}")
    } else {
        format!("{loss:.2e}")
    };
    let speed = if images_per_sec.is_finite() && images_per_sec.abs() < 999_999.5 {
        format!("{images_per_sec:.0}")
    } else {
        format!("{images_per_sec:.1e}")
    };
    format!("loss {loss} {speed} img/s")
}

/// A bar for one epoch of `iterations` steps drawn to `target`: `epoch 3/5 [===>   ] 120/400
/// loss 2.3456 15000 img/s`, the bar as wide as fits in [`MAX_WIDTH`] columns (at least 10).
pub fn epoch_bar(
    epoch: usize,
    epochs: usize,
    iterations: usize,
    target: ProgressDrawTarget,
) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(iterations as u64), target);
    let prefix = format!("epoch {epoch}/{epochs} [");
    let counter = 2 * iterations.to_string().len() + 1;
    // prefix, bar, "] ", counter, " ", message.
    let fixed = prefix.len() + 2 + counter + 1 + MESSAGE_WIDTH;
    let width = MAX_WIDTH.saturating_sub(fixed).max(10);
    let template = format!("{prefix}{{bar:{width}}}] {{pos}}/{{len}} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl TrainObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, iterations: usize) {
        if self.quiet || !std::io::stdout().is_terminal() {
            return;
        }
        self.bar = epoch_bar(epoch, self.epochs, iterations, ProgressDrawTarget::stderr());
    }

    fn step_done(&mut self, step: &StepInfo) {
        self.bar.inc(1);
        if !self.bar.is_hidden() && self.last_message.elapsed() > Duration::from_millis(200) {
            self.last_message = Instant::now();
            self.bar
                .set_message(step_message(step.loss, step.images_per_sec));
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

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::TermLike;
    use std::sync::{Arc, Mutex};

    /// A terminal 1000 columns wide that keeps what is written to it.
    #[derive(Debug, Default, Clone)]
    struct Capture(Arc<Mutex<String>>);

    impl TermLike for Capture {
        fn width(&self) -> u16 {
            1000
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if let Ok(mut text) = self.0.lock() {
                text.push_str(s);
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("\n")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_longest_messages_fit() {
        for (loss, speed) in [
            (-999.99994, 999_999.4),
            (f64::MAX, 1e300),
            (-f64::MAX, -1e300),
            (f64::NAN, f64::INFINITY),
            (f64::NEG_INFINITY, f64::NAN),
        ] {
            let m = step_message(loss, speed);
            assert!(m.len() <= MESSAGE_WIDTH, "{m}: {}", m.len());
        }
        assert_eq!(step_message(2.99573, 14862.4), "loss 2.9957 14862 img/s");
        assert_eq!(step_message(1.5e7, 2e6), "loss 1.50e7 2.0e6 img/s");
    }

    #[test]
    fn the_rendered_bar_fits_80_columns() {
        let cases = [(1, 5, 400), (10, 10, 4000), (9999, 9999, 50_000)];
        for (epoch, epochs, iterations) in cases {
            let term = Capture::default();
            let bar = epoch_bar(
                epoch,
                epochs,
                iterations,
                ProgressDrawTarget::term_like(Box::new(term.clone())),
            );
            bar.set_position(iterations as u64 / 3);
            bar.set_message(step_message(-123.45678, 987_654.0));
            bar.finish();
            let text = term.0.lock().unwrap().clone();
            // indicatif pads a line with spaces to the terminal's width; what shows is the rest.
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim_end)
                .filter(|l| l.contains("epoch"))
                .collect();
            for line in &lines {
                let width = line.chars().count();
                assert!(width <= MAX_WIDTH, "{width} columns: {line}");
            }
            let last = lines.last().expect("nothing drawn");
            assert!(last.contains("loss -123.4568 987654 img/s"), "{last}");
        }
    }
}
