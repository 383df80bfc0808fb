//! Numerical gradients and relative errors, as the notebook's `grad_check`: the way to prove that a
//! layer's backward pass is right.

use crate::layer::fill_normal;
use crate::{Float, Init, Layer, Mode, ParamKind, Shape};
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
    let mut rng = StdRng::seed_from_u64(seed);
    let mut layer = L::default();
    layer.init(Init::Normal { std: 1.0 }, &mut rng);
    layer.params_mut(&mut |p| {
        if p.kind != ParamKind::Buffer {
            fill_normal(p.value, 1.0, &mut rng);
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

    let h = 1e-5;
    let mut out = vec![0.0; upstream.len()];
    let mut run = |layer: &mut L, x: &[f64]| {
        layer.forward(x, &mut out, batch, Mode::Train);
        out.clone()
    };
    let mut errors = Vec::new();
    let mut x_probe = x.clone();
    let numeric = numerical_gradient_array(&mut x_probe, |x| run(&mut layer, x), &upstream, h);
    errors.push(("input".to_string(), rel_error(&dx, &numeric)));

    let mut analytic: Vec<(&'static str, Vec<f64>, Vec<f64>)> = Vec::new();
    layer.params(&mut |p| {
        if p.kind != ParamKind::Buffer {
            analytic.push((p.name, p.value.to_vec(), p.grad.to_vec()));
        }
    });
    for (name, mut values, grad) in analytic {
        let numeric = numerical_gradient_array(
            &mut values,
            |v| {
                layer.params_mut(&mut |p| {
                    if p.name == name {
                        p.value.copy_from_slice(v);
                    }
                });
                run(&mut layer, &x)
            },
            &upstream,
            h,
        );
        errors.push((name.to_string(), rel_error(&grad, &numeric)));
    }
    errors
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
            crate::layer::signature(L::KIND, L::ARGS)
        );
    }
}

#[cfg(test)]
pub(crate) use assert_layer_gradients as check_layer;
