//! Progress bars for long work, drawn on standard error (and only when it is a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` units with a message.
pub fn bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

/// A training run's progress: one bar per optimizer.
#[derive(Debug, Default)]
pub struct Bars {
    current: Option<ProgressBar>,
}

impl descent_train::Progress for Bars {
    fn start(&mut self, label: &str, batches: u64) {
        self.current = Some(bar(batches, label));
    }

    fn advance(&mut self) {
        if let Some(bar) = &self.current {
            bar.inc(1);
        }
    }

    fn finish(&mut self) {
        // The bar's last state, drawn in full (drawing is rate-limited, so the last increments may not have been).
        if let Some(bar) = self.current.take() {
            bar.finish();
        }
    }
}
