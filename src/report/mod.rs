//! The run report: one self-contained HTML file (pictures embedded as base64 data URIs) with the
//! hyper-parameters, the model summary, the per-epoch history, the pictures of [`crate::plot`],
//! the test accuracy and the most confused class pairs.
//!
//! [`Report`] is a plain struct; [`Report::to_html`] reads the pictures it names from the run's
//! folder and returns the page.

mod base64;
mod html;

pub use base64::base64;
pub use html::{EpochRow, Figure, Report, ReportError};
