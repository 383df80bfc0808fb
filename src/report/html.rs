//! [`Report`] and its HTML page.

use super::base64;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A picture to embed could not be read.
    #[error("cannot read the picture {} for the report: {source}", path.display())]
    ReadPicture {
        /// The picture.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The page could not be written.
    #[error("cannot write the report {}: {source}", path.display())]
    Write {
        /// The page's file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One epoch of training, as a row of the report's history table.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRow {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss (regularisation included).
    pub train_loss: f64,
    /// Training accuracy, in [0, 1].
    pub train_acc: f64,
    /// Validation accuracy, in [0, 1].
    pub val_acc: f64,
    /// The learning rate used in the epoch.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch (evaluation included).
    pub seconds: f64,
    /// Training images per second (training steps only).
    pub train_images_per_sec: f64,
}

/// A picture of the report: a PNG file in the run's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// Section heading.
    pub title: String,
    /// The PNG's file name, relative to the run's folder (`"curves.png"`).
    pub file: String,
    /// A sentence under the picture.
    pub caption: String,
}

/// Everything the HTML report shows. Fill it in, then call [`Report::to_html`] or
/// [`Report::write`].
///
/// ```
/// use constnet::report::Report;
/// let report = Report {
///     title: "small_cnn".into(),
///     test_acc: 0.42,
///     ..Report::default()
/// };
/// let html = report.to_html(std::path::Path::new(".")).unwrap();
/// assert!(html.contains("<h1>small_cnn</h1>"));
/// assert!(html.contains("42.00 %"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Page title and heading.
    pub title: String,
    /// One line on the data (source, split sizes).
    pub data_description: String,
    /// Whether the data set was the synthetic stand-in (the report then says so prominently).
    pub synthetic: bool,
    /// Further remarks shown under the data line (e.g. label noise applied).
    pub notes: Vec<String>,
    /// Name and value of every hyper-parameter, in display order.
    pub hyper_parameters: Vec<(String, String)>,
    /// The model summary table as text (`net.summary().to_string()`).
    pub model_summary: String,
    /// The history, one row per epoch.
    pub epochs: Vec<EpochRow>,
    /// Epoch with the best validation accuracy (from 1).
    pub best_epoch: usize,
    /// The best validation accuracy, in [0, 1].
    pub best_val_acc: f64,
    /// Test accuracy of the best-validation parameters, in [0, 1].
    pub test_acc: f64,
    /// Pictures, in display order.
    pub figures: Vec<Figure>,
    /// The most frequent mistakes on the test set, most first: true class name, predicted class
    /// name, how many test images.
    pub confused_pairs: Vec<(String, String, usize)>,
    /// Other files of the run, with what they hold.
    pub files: Vec<(String, String)>,
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn percent(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1250px;\
margin:2em auto;padding:0 1em;color:#222}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;\
padding-bottom:.2em;margin-top:1.6em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}\
td.l,th.l{text-align:left}pre{background:#f7f7f7;padding:.8em;overflow-x:auto}\
img{max-width:100%;border:1px solid #eee}.notice{background:#fff4d6;border:1px solid #e5c26b;\
padding:.6em 1em;border-radius:4px}.big{font-size:1.6em;font-weight:600}figcaption{color:#555}";

impl Report {
    /// The whole page, with every picture read from `dir` and embedded as a data URI.
    pub fn to_html(&self, dir: &Path) -> Result<String, ReportError> {
        let mut h = String::new();
        let title = escape(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        );
        let _ = writeln!(h, "<p>{}</p>", escape(&self.data_description));
        if self.synthetic {
            h.push_str(
                "<p class=\"notice\" id=\"synthetic\"><b>Synthetic data.</b> This run used the \
                 built-in synthetic data set, not CIFAR-100: the accuracies say that the code \
                 trains, not how well the model does on real images.</p>\n",
            );
        }
        for note in &self.notes {
            let _ = writeln!(h, "<p>{}</p>", escape(note));
        }

        h.push_str("<h2 id=\"results\">Results</h2>\n");
        let _ = writeln!(
            h,
            "<p>Test accuracy (parameters of the best validation epoch): \
             <span class=\"big\" id=\"test-acc\">{}</span></p>",
            percent(self.test_acc)
        );
        let _ = writeln!(
            h,
            "<p>Best validation accuracy {} at epoch {}.</p>",
            percent(self.best_val_acc),
            self.best_epoch
        );

        h.push_str("<h2 id=\"hyper-parameters\">Hyper-parameters</h2>\n<table>\n");
        for (name, value) in &self.hyper_parameters {
            let _ = writeln!(
                h,
                "<tr><th class=\"l\">{}</th><td class=\"l\">{}</td></tr>",
                escape(name),
                escape(value)
            );
        }
        h.push_str("</table>\n");

        let _ = writeln!(
            h,
            "<h2 id=\"model\">Model</h2>\n<pre>{}</pre>",
            escape(&self.model_summary)
        );

        h.push_str(
            "<h2 id=\"history\">Training history</h2>\n<table>\n<tr><th>epoch</th>\
             <th>train loss</th><th>train acc</th><th>val acc</th><th>learning rate</th>\
             <th>seconds</th><th>train img/s</th></tr>\n",
        );
        for e in &self.epochs {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{:.3e}</td>\
                 <td>{:.1}</td><td>{:.0}</td></tr>",
                e.epoch,
                e.train_loss,
                percent(e.train_acc),
                percent(e.val_acc),
                e.learning_rate,
                e.seconds,
                e.train_images_per_sec
            );
        }
        h.push_str("</table>\n");

        for figure in &self.figures {
            let path = dir.join(&figure.file);
            let bytes =
                std::fs::read(&path).map_err(|source| ReportError::ReadPicture { path, source })?;
            let id = figure.file.trim_end_matches(".png").replace('_', "-");
            let _ = writeln!(
                h,
                "<h2 id=\"{}\">{}</h2>\n<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\">\
                 <figcaption>{}</figcaption></figure>",
                escape(&id),
                escape(&figure.title),
                escape(&figure.title),
                base64(&bytes),
                escape(&figure.caption)
            );
        }

        h.push_str("<h2 id=\"confused-pairs\">Most confused class pairs (test set)</h2>\n");
        if self.confused_pairs.is_empty() {
            h.push_str("<p>No class was mistaken for another.</p>\n");
        } else {
            h.push_str(
                "<table>\n<tr><th>#</th><th class=\"l\">true class</th>\
                 <th class=\"l\">predicted as</th><th>test images</th></tr>\n",
            );
            for (rank, (truth, predicted, count)) in self.confused_pairs.iter().enumerate() {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
                    rank + 1,
                    escape(truth),
                    escape(predicted),
                    count
                );
            }
            h.push_str("</table>\n");
        }

        if !self.files.is_empty() {
            h.push_str("<h2 id=\"files\">Files</h2>\n<ul>\n");
            for (file, what) in &self.files {
                let _ = writeln!(
                    h,
                    "<li><a href=\"{}\"><code>{}</code></a>: {}</li>",
                    escape(file),
                    escape(file),
                    escape(what)
                );
            }
            h.push_str("</ul>\n");
        }
        h.push_str("</body>\n</html>\n");
        Ok(h)
    }

    /// Writes the page to `dir/file_name` (pictures read from `dir`).
    pub fn write(&self, dir: &Path, file_name: &str) -> Result<PathBuf, ReportError> {
        let html = self.to_html(dir)?;
        let path = dir.join(file_name);
        std::fs::write(&path, html).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_report() -> Report {
        Report {
            title: "small_cnn <run>".into(),
            data_description: "synthetic: 300 / 100 / 100 images".into(),
            synthetic: true,
            notes: vec!["label noise 0.2".into()],
            hyper_parameters: vec![("optimizer".into(), "adam".into())],
            model_summary: "layer  type\nconv1  Conv2d<3, 16, 3, 1, 1>".into(),
            epochs: vec![EpochRow {
                epoch: 1,
                train_loss: 2.5,
                train_acc: 0.25,
                val_acc: 0.2,
                learning_rate: 0.001,
                seconds: 1.5,
                train_images_per_sec: 900.0,
            }],
            best_epoch: 1,
            best_val_acc: 0.2,
            test_acc: 0.1875,
            figures: vec![Figure {
                title: "Curves".into(),
                file: "curves.png".into(),
                caption: "loss & accuracy".into(),
            }],
            confused_pairs: vec![("fish".into(), "people".into(), 7)],
            files: vec![("metrics.json".into(), "numbers".into())],
        }
    }

    #[test]
    fn html_has_every_section_and_embeds_the_picture() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("curves.png"), b"\x89PNG fake").unwrap();
        let path = sample_report().write(dir.path(), "report.html").unwrap();
        let html = std::fs::read_to_string(path).unwrap();
        for needle in [
            "<h1>small_cnn &lt;run&gt;</h1>",
            "id=\"synthetic\"",
            "label noise 0.2",
            "<th class=\"l\">optimizer</th><td class=\"l\">adam</td>",
            "Conv2d&lt;3, 16, 3, 1, 1&gt;",
            "<td>1</td><td>2.5000</td><td>25.00 %</td><td>20.00 %</td>",
            "id=\"test-acc\">18.75 %</span>",
            "id=\"curves\"",
            &format!("data:image/png;base64,{}", base64(b"\x89PNG fake")),
            "loss &amp; accuracy",
            "<td>1</td><td class=\"l\">fish</td><td class=\"l\">people</td><td>7</td>",
            "<code>metrics.json</code>",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn a_missing_picture_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = sample_report().to_html(dir.path()).unwrap_err();
        assert!(err.to_string().contains("curves.png"), "{err}");
        let real = Report {
            synthetic: false,
            ..Report::default()
        };
        assert!(
            !real
                .to_html(dir.path())
                .unwrap()
                .contains("id=\"synthetic\"")
        );
    }
}
