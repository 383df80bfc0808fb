//! Colour maps for matrices and single-channel images.

/// matplotlib's `Blues` colour map at nine evenly spaced points, from 0 (light) to 1 (dark).
const BLUES: [[u8; 3]; 9] = [
    [247, 251, 255],
    [222, 235, 247],
    [198, 219, 239],
    [158, 202, 225],
    [107, 174, 214],
    [66, 146, 198],
    [33, 113, 181],
    [8, 81, 156],
    [8, 48, 107],
];

/// The `Blues` colour of `t` in [0, 1] (clamped; NaN counts as 0), linearly interpolated.
pub(crate) fn blues(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let x = t * (BLUES.len() - 1) as f64;
    let i = (x.floor() as usize).min(BLUES.len() - 2);
    let f = x - i as f64;
    let mut rgb = [0u8; 3];
    for (c, out) in rgb.iter_mut().enumerate() {
        let a = f64::from(BLUES[i][c]);
        let b = f64::from(BLUES[i + 1][c]);
        *out = (a + (b - a) * f).round() as u8;
    }
    rgb
}

/// Grey level of `t` in [0, 1] (clamped; NaN counts as 0).
pub(crate) fn gray(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let v = (t * 255.0).round() as u8;
    [v, v, v]
}

/// The minimum and maximum of the finite values (`(0, 0)` when there are none).
pub(crate) fn finite_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// `(v - lo) / (hi - lo)`, or 0.5 when the range is empty.
pub(crate) fn normalize(v: f64, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blues_ends_and_middle() {
        assert_eq!(blues(0.0), [247, 251, 255]);
        assert_eq!(blues(1.0), [8, 48, 107]);
        assert_eq!(blues(0.5), [107, 174, 214]);
        assert_eq!(blues(f64::NAN), blues(0.0));
        assert_eq!(blues(7.0), blues(1.0));
    }

    #[test]
    fn range_skips_non_finite_values() {
        assert_eq!(
            finite_range([1.0, f64::NAN, -2.0, f64::INFINITY]),
            (-2.0, 1.0)
        );
        assert_eq!(finite_range([]), (0.0, 0.0));
        assert_eq!(normalize(0.0, (-2.0, 2.0)), 0.5);
        assert_eq!(normalize(3.0, (3.0, 3.0)), 0.5);
        assert_eq!(gray(1.0), [255, 255, 255]);
    }
}
