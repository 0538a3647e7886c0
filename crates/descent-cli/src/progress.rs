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
