//! Numerical gradients and relative errors, as the notebook's `grad_check`: the way to prove that a
//! layer's backward pass is right.

use crate::layer::fill_normal;
use crate::{Float, Init, Layer, Mode, NamePath, ParamKind, Shape};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The notebook's `rel_error`: `max |x - y| / max(1e-8, |x| + |y|)` over all elements.
///
/// ```
/// use constnet::grad_check::rel_error;
/// assert_eq!(rel_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
/// assert!((rel_error(&[1.0], &[1.1]) - 0.1 / 2.1).abs() < 1e-12);
/// ```
pub fn rel_error<T: Float>(x: &[T], y: &[T]) -> f64 {
    assert_eq!(x.len(), y.len(), "rel_error: lengths differ");
    x.iter()
        .zip(y)
        .map(|(&a, &b)| {
            let (a, b) = (a.to_f64(), b.to_f64());
            (a - b).abs() / (a.abs() + b.abs()).max(1e-8)
        })
        .fold(0.0, f64::max)
}

/// numpy's `linspace(a, b, n)`: `n` evenly spaced values from `a` to `b` inclusive, as the notebook
/// uses to fill tensors with known values.
///
/// ```
/// use constnet::grad_check::linspace;
/// assert_eq!(linspace(-0.3, 0.3, 3), [-0.3, 0.0, 0.3]);
/// ```
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    let step = (b - a) / (n - 1) as f64;
    (0..n)
        .map(|i| if i == n - 1 { b } else { a + step * i as f64 })
        .collect()
}

/// The numerical gradient of a scalar function at `x` by central differences with step `h`
/// (the notebook's `eval_numerical_gradient`). `f` is called with `x` changed in one place at a time;
/// `x` is restored on return.
///
/// ```
/// use constnet::grad_check::numerical_gradient;
/// let mut x = [1.0, -2.0];
/// let g = numerical_gradient(&mut x, |x| x[0] * x[0] + 3.0 * x[1], 1e-5);
/// assert!((g[0] - 2.0).abs() < 1e-8 && (g[1] - 3.0).abs() < 1e-8);
/// ```
pub fn numerical_gradient(x: &mut [f64], mut f: impl FnMut(&[f64]) -> f64, h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let old = x[i];
            x[i] = old + h;
            let plus = f(x);
            x[i] = old - h;
            let minus = f(x);
            x[i] = old;
            (plus - minus) / (2.0 * h)
        })
        .collect()
}

/// The numerical gradient of `sum(f(x) * upstream)` at `x`: the gradient of an array function
/// against an upstream gradient (the notebook's `eval_numerical_gradient_array`).
pub fn numerical_gradient_array(
    x: &mut [f64],
    mut f: impl FnMut(&[f64]) -> Vec<f64>,
    upstream: &[f64],
    h: f64,
) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let old = x[i];
            x[i] = old + h;
            let plus = f(x);
            x[i] = old - h;
            let minus = f(x);
            x[i] = old;
            assert_eq!(
                plus.len(),
                upstream.len(),
                "upstream gradient length differs from f(x)"
            );
            // Differences first, as the notebook: outputs that x[i] does not touch cancel exactly.
            let sum: f64 = plus
                .iter()
                .zip(&minus)
                .zip(upstream)
                .map(|((p, m), u)| (p - m) * u)
                .sum();
            sum / (2.0 * h)
        })
        .collect()
}

/// Gradient check of one layer in f64: random parameters, input and upstream gradient (from
/// `seed`), analytic gradients from `backward` against numerical ones. Returns `(what, rel_error)`
/// for the input and each trained parameter.
pub fn layer_gradient_errors<In: Shape, L: Layer<In, f64>>(
    batch: usize,
    seed: u64,
) -> Vec<(String, f64)> {
    gradient_errors_at_scale::<In, L>(batch, seed, 1.0)
}

/// As [`layer_gradient_errors`], with parameters drawn from N(0, `std`^2).
fn gradient_errors_at_scale<In: Shape, L: Layer<In, f64>>(
    batch: usize,
    seed: u64,
    std: f64,
) -> Vec<(String, f64)> {
    let (analytic, numeric) = gradients_at_scale::<In, L>(batch, seed, std, 1e-5);
    analytic
        .into_iter()
        .zip(numeric)
        .map(|((what, a), (_, n))| (what, rel_error(&a, &n)))
        .collect()
}

/// Analytic and numerical gradients, `(what, values)` for the input and each trained
/// parameter, with parameters drawn from N(0, `std`^2).
type Gradients = Vec<(String, Vec<f64>)>;

fn gradients_at_scale<In: Shape, L: Layer<In, f64>>(
    batch: usize,
    seed: u64,
    std: f64,
    h: f64,
) -> (Gradients, Gradients) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut layer = L::default();
    layer.init(Init::Normal { std }, &mut rng);
    layer.visit_params_mut(&mut NamePath::root(), &mut |_, p| {
        if p.kind != ParamKind::Buffer {
            fill_normal(p.value, std, &mut rng);
        }
    });
    let mut x = vec![0.0; batch * In::LEN];
    fill_normal(&mut x, 1.0, &mut rng);
    let mut upstream = vec![0.0; batch * L::Out::LEN];
    fill_normal(&mut upstream, 1.0, &mut rng);

    let mut y = vec![0.0; upstream.len()];
    layer.forward(&x, &mut y, batch, Mode::Train);
    let mut dx = vec![0.0; x.len()];
    layer.backward(&x, &y, &upstream, Some(&mut dx), batch);

    let mut out = vec![0.0; upstream.len()];
    let mut run = |layer: &mut L, x: &[f64]| {
        layer.forward(x, &mut out, batch, Mode::Train);
        out.clone()
    };
    let (mut analytic_out, mut numeric_out) = (Vec::new(), Vec::new());
    let mut x_probe = x.clone();
    let numeric = numerical_gradient_array(&mut x_probe, |x| run(&mut layer, x), &upstream, h);
    analytic_out.push(("input".to_string(), dx));
    numeric_out.push(("input".to_string(), numeric));

    // Every trained parameter, nested layers' included, by its full name.
    let mut analytic: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    layer.visit_params(&mut NamePath::root(), &mut |path, p| {
        if p.kind != ParamKind::Buffer {
            analytic.push((path.param_name(p.name), p.value.to_vec(), p.grad.to_vec()));
        }
    });
    for (name, mut values, grad) in analytic {
        let numeric = numerical_gradient_array(
            &mut values,
            |v| {
                layer.visit_params_mut(&mut NamePath::root(), &mut |path, p| {
                    if path.param_name(p.name) == name {
                        p.value.copy_from_slice(v);
                    }
                });
                run(&mut layer, &x)
            },
            &upstream,
            h,
        );
        analytic_out.push((name.clone(), grad));
        numeric_out.push((name, numeric));
    }
    (analytic_out, numeric_out)
}

/// Asserts that every gradient of the layer passes the notebook's bound (relative error < 1e-6);
/// see [`layer_gradient_errors`].
///
/// ```
/// use constnet::grad_check::assert_layer_gradients;
/// use constnet::{layers::Linear, Image};
/// assert_layer_gradients::<Image<1, 1, 4>, Linear<4, 3, f64>>(2, 7);
/// ```
pub fn assert_layer_gradients<In: Shape, L: Layer<In, f64>>(batch: usize, seed: u64) {
    for (what, error) in layer_gradient_errors::<In, L>(batch, seed) {
        assert!(
            error < 1e-6,
            "{}: gradient of {what} has relative error {error:e} (seed {seed})",
            L::default().signature()
        );
    }
}

#[cfg(test)]
pub(crate) use assert_layer_gradients as check_layer;

/// Gradient check of a composition of several layers (a nested network, a residual block):
/// analytic against numerical gradients by the relative error of the whole gradient vector,
/// `|a - n| / (|a| + |n|)` in the Euclidean norm, which must stay under `bound`.
///
/// Why not the element-wise [`rel_error`] with unit-scale parameters and a step of 1e-5: through
/// several saturating layers the loss curves sharply, so the central difference's truncation
/// error (of order h^2 times the third derivative) reaches 1e-6 relative, and some gradient
/// elements cancel to nearly 0, where rounding alone makes their relative error large. Here the
/// parameters have standard deviation 0.5, the step is 1e-6, and the error is measured on the
/// whole vector; a wrong gradient still gives an error near 1.
#[cfg(test)]
pub(crate) fn check_composed<In: Shape, L: Layer<In, f64>>(batch: usize, seed: u64, bound: f64) {
    let (analytic, numeric) = gradients_at_scale::<In, L>(batch, seed, 0.5, 1e-6);
    for ((what, a), (_, n)) in analytic.iter().zip(&numeric) {
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let diff: Vec<f64> = a.iter().zip(n).map(|(a, n)| a - n).collect();
        let error = norm(&diff) / (norm(a) + norm(n)).max(1e-300);
        assert!(
            error < bound,
            "{}: gradient of {what} has relative error {error:e} (seed {seed})",
            L::default().signature()
        );
    }
}
