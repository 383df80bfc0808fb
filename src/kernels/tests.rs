//! The fast kernels against the reference loops, under every instruction set this CPU runs.

use super::{
    ConvDims, Isa, PoolDims, batch_norm, conv, conv_strided, gelu, linear, pool, reference, run_on,
};
use crate::Float;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random<T: Float>(n: usize, rng: &mut StdRng) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
        .collect()
}

/// max |a - b| relative to the largest |b| (at least 1).
fn rel_diff<T: Float>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.to_f64().abs()));
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x.to_f64() - y.to_f64()).abs()));
    diff / scale
}

fn tolerance<T: Float>() -> f64 {
    if size_of::<T>() == 4 { 1e-5 } else { 1e-12 }
}

/// A random convolution problem: sizes `lo..lo + extra_h` by `lo..lo + extra_w` (with `lo`
/// the smallest input the window fits), `1..max_batch` samples, inputs, output gradients,
/// weights and biases.
struct ConvCase<T> {
    d: ConvDims,
    batch: usize,
    x: Vec<T>,
    dy: Vec<T>,
    weight: Vec<T>,
    bias: Vec<T>,
}

fn random_conv_case<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    rng: &mut StdRng,
    (extra_h, extra_w, max_batch): (usize, usize, usize),
) -> ConvCase<T> {
    let lo = K.saturating_sub(2 * P).max(1);
    let (h, w) = (
        rng.random_range(lo..lo + extra_h),
        rng.random_range(lo..lo + extra_w),
    );
    let d = ConvDims {
        h,
        w,
        oh: (h + 2 * P - K) / S + 1,
        ow: (w + 2 * P - K) / S + 1,
    };
    let batch = rng.random_range(1..max_batch);
    ConvCase {
        d,
        batch,
        x: random::<T>(batch * d.in_len(IC), rng),
        dy: random::<T>(batch * d.out_len(OC), rng),
        weight: random::<T>(K * K * IC * OC, rng),
        bias: random::<T>(OC, rng),
    }
}

/// One convolution configuration, random spatial sizes and batch, every Isa and pixel block.
fn check_conv<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..3 {
        let ConvCase {
            d,
            batch,
            x,
            dy,
            weight,
            bias,
        } = random_conv_case::<T, IC, OC, K, S, P>(&mut rng, (9, 9, 5));
        let (il, ol) = (d.in_len(IC), d.out_len(OC));

        let mut y_ref = vec![T::ZERO; batch * ol];
        let mut dx_ref = vec![T::ZERO; batch * il];
        for ((x, y), (dy, dx)) in x
            .chunks(il)
            .zip(y_ref.chunks_mut(ol))
            .zip(dy.chunks(ol).zip(dx_ref.chunks_mut(il)))
        {
            reference::conv_forward::<T, IC, OC, K, S, P>(d, x, &weight, &bias, y);
            reference::conv_input_grad::<T, IC, OC, K, S, P>(d, dy, &weight, dx);
        }
        let mut dw_ref = vec![T::ZERO; K * K * IC * OC];
        for (tap, dw) in dw_ref.chunks_mut(IC * OC).enumerate() {
            reference::conv_weight_grad_block::<T, IC, OC, K, S, P>(
                d,
                tap / K,
                tap % K,
                &x,
                &dy,
                dw,
            );
        }
        let mut db_ref = vec![T::ZERO; OC];
        reference::bias_grad(&dy, &mut db_ref);
        let mut weight_t = vec![T::ZERO; weight.len()];
        conv::transpose_taps::<T, IC, OC>(&weight, &mut weight_t);

        let ctx = format!(
            "Conv2d<{IC},{OC},{K},{S},{P}> {}x{} batch {batch} {}",
            d.h,
            d.w,
            T::NAME
        );
        for isa in Isa::available() {
            let mut y = vec![T::ZERO; y_ref.len()];
            macro_rules! forward_pb {
                ($($pb:literal)*) => {$(
                    y.fill(T::ZERO);
                    run_on(isa, #[inline(always)] || {
                        conv::forward::<T, IC, OC, K, S, P, $pb>(d, &x, &weight, &bias, &mut y)
                    });
                    assert_eq!(y, y_ref, "forward PB {} {isa:?} {ctx}", $pb);
                )*};
            }
            forward_pb!(1 3 8 16);

            let mut dx = vec![T::ZERO; dx_ref.len()];
            macro_rules! input_grad_pb {
                ($($pb:literal)*) => {$(
                    run_on(isa, #[inline(always)] || {
                        conv::input_grad::<T, IC, OC, K, S, P, $pb>(d, &dy, &weight_t, &mut dx)
                    });
                    let e = rel_diff(&dx, &dx_ref);
                    assert!(e < tolerance::<T>(), "input grad PB {} {isa:?} {ctx}: {e}", $pb);
                )*};
            }
            input_grad_pb!(1 2 4 8);

            let mut dw = vec![T::ZERO; dw_ref.len()];
            // Runs of 3 rows, which cross kernel positions when IC is not a multiple of 3.
            for (run, dw) in dw.chunks_mut(3 * OC).enumerate() {
                run_on(
                    isa,
                    #[inline(always)]
                    || {
                        conv::weight_grad_rows::<T, IC, OC, K, S, P, 1>(
                            d,
                            run * 3,
                            &x,
                            &dy,
                            dw.as_chunks_mut::<OC>().0,
                        )
                    },
                );
            }
            // One chain of fused multiply-adds per value in the reference's order.
            assert_eq!(dw, dw_ref, "weight grad {isa:?} {ctx}");

            let mut dw = vec![T::ZERO; dw_ref.len()];
            run_on(
                isa,
                #[inline(always)]
                || {
                    conv::weight_grad_window::<T, IC, OC, K, S, P>(
                        d,
                        &x,
                        &dy,
                        dw.as_chunks_mut::<OC>().0,
                    )
                },
            );
            let e = rel_diff(&dw, &dw_ref);
            assert!(
                e < tolerance::<T>(),
                "weight grad window {isa:?} {ctx}: {e}"
            );

            let mut db = vec![T::ZERO; OC];
            run_on(
                isa,
                #[inline(always)]
                || conv::bias_grad::<T, OC>(&dy, &mut db),
            );
            let e = rel_diff(&db, &db_ref);
            assert!(e < tolerance::<T>(), "bias grad {isa:?} {ctx}: {e}");
        }

        // The batch drivers (detected Isa, blocks chosen from the sizes, rayon).
        let mut y = vec![T::ZERO; y_ref.len()];
        let mut scratch = vec![T::ZERO; conv::scratch_len::<T>(IC, OC, K, S, P)];
        conv::forward_batch::<T, IC, OC, K, S, P>(
            d,
            batch,
            &x,
            &weight,
            &bias,
            &mut y,
            &mut scratch,
        );
        if super::winograd::applies::<T>(IC, OC, K, S, P) {
            // Winograd's transforms round differently from the direct sums.
            let e = rel_diff(&y, &y_ref);
            assert!(
                e < WINOGRAD_TOLERANCE,
                "forward_batch (Winograd) {ctx}: {e}"
            );
        } else {
            assert_eq!(y, y_ref, "forward_batch {ctx}");
        }
        let mut dw = vec![T::ZERO; dw_ref.len()];
        let mut partial = vec![T::ZERO; dw_ref.len()];
        conv::weight_grad_batch::<T, IC, OC, K, S, P>(
            d,
            &x,
            &dy,
            &mut dw,
            &mut partial,
            &mut scratch,
        );
        assert!(
            rel_diff(&dw, &dw_ref) < tolerance::<T>(),
            "weight_grad_batch {ctx}"
        );
        let mut dx = vec![T::ZERO; dx_ref.len()];
        let mut weight_t = vec![T::ZERO; weight.len()];
        conv::input_grad_weights::<T, IC, OC, K, S, P>(&weight, &mut weight_t);
        conv::input_grad_batch::<T, IC, OC, K, S, P>(
            d,
            batch,
            &dy,
            &weight_t,
            &mut dx,
            &mut scratch,
        );
        assert!(
            rel_diff(&dx, &dx_ref) < tolerance::<T>(),
            "input_grad_batch {ctx}"
        );
    }
}

fn check_convs<T: Float>() {
    check_conv::<T, 3, 16, 3, 1, 1>(1);
    check_conv::<T, 16, 32, 3, 2, 0>(2);
    check_conv::<T, 2, 5, 4, 2, 3>(3);
    check_conv::<T, 1, 7, 5, 3, 2>(4);
    check_conv::<T, 4, 20, 1, 1, 0>(5);
    check_conv::<T, 3, 33, 2, 2, 1>(6);
    check_conv::<T, 6, 70, 3, 1, 2>(7);
    // Edge shapes: channel counts that are not multiples of the vector width (1, 3, 5, 17,
    // 33, 100), kernels 1, 3 and 5, strides 1 and 2, paddings 0, 1 and 2.
    check_conv::<T, 1, 17, 5, 1, 2>(8);
    check_conv::<T, 5, 33, 3, 2, 1>(9);
    check_conv::<T, 17, 5, 1, 1, 0>(10);
    check_conv::<T, 33, 100, 3, 1, 0>(11);
    check_conv::<T, 100, 3, 1, 2, 0>(12);
    check_conv::<T, 3, 1, 5, 2, 2>(13);
    // Wide layers: the tap-by-tap forward kernel, also for the input gradient (the forward
    // pass of the turned kernel: 64 -> 32 and 32 -> 64 channels).
    check_conv::<T, 32, 64, 3, 1, 1>(14);
    check_conv::<T, 64, 32, 5, 1, 2>(15);
    // Strided input gradients by phase: a padding as large as the kernel allows, a kernel
    // smaller than its stride, 5x5 of stride 3.
    check_conv::<T, 32, 5, 4, 2, 3>(16);
    check_conv::<T, 32, 8, 2, 3, 0>(17);
    check_conv::<T, 64, 3, 5, 3, 2>(18);
}

/// The zoo's shapes (what networks users write are made of) against the reference: the
/// hand-written kernels for wide layers (chunks of channels), 1x1 and 5x5 kernels, stride 2.
fn check_zoo_convs<T: Float>() {
    check_conv::<T, 16, 16, 3, 1, 1>(21);
    check_conv::<T, 16, 32, 3, 2, 1>(22);
    check_conv::<T, 32, 64, 3, 2, 1>(23);
    check_conv::<T, 64, 64, 3, 1, 1>(24);
    check_conv::<T, 16, 32, 1, 2, 0>(25);
    check_conv::<T, 32, 64, 1, 2, 0>(26);
    check_conv::<T, 64, 128, 3, 1, 1>(27);
    check_conv::<T, 1, 8, 5, 1, 0>(28);
    check_conv::<T, 24, 8, 3, 1, 1>(29);
}

/// The weight copies the input gradient reads, against their definitions: every tap
/// transposed (`[kh][kw][oc][ic]`), and for stride 1 also turned by 180 degrees, at channel
/// counts that are not multiples of the 8 x 8 blocks and at 128 (where the blocks matter).
#[test]
fn input_grad_weights_are_the_transposed_or_turned_kernel() {
    fn check<const IC: usize, const OC: usize, const K: usize, const S: usize, const P: usize>() {
        let weight: Vec<f32> = (0..K * K * IC * OC).map(|i| i as f32).collect();
        let mut got = vec![f32::NAN; weight.len()];
        conv::input_grad_weights::<f32, IC, OC, K, S, P>(&weight, &mut got);
        let turned = S == 1;
        for kh in 0..K {
            for kw in 0..K {
                let (th, tw) = if turned {
                    (K - 1 - kh, K - 1 - kw)
                } else {
                    (kh, kw)
                };
                for ic in 0..IC {
                    for oc in 0..OC {
                        let want = weight[((kh * K + kw) * IC + ic) * OC + oc];
                        let at = ((th * K + tw) * OC + oc) * IC + ic;
                        assert_eq!(
                            got[at], want,
                            "{IC}->{OC} {K}x{K} s{S} tap {kh},{kw} {ic}->{oc}"
                        );
                    }
                }
            }
        }
        let mut plain = vec![f32::NAN; weight.len()];
        conv::transpose_taps::<f32, IC, OC>(&weight, &mut plain);
        if !turned {
            assert_eq!(plain, got);
        }
    }
    check::<13, 10, 3, 1, 1>();
    check::<13, 10, 3, 2, 1>();
    check::<3, 17, 5, 1, 0>();
    check::<128, 128, 3, 1, 1>();
    check::<9, 128, 1, 2, 0>();
}

#[test]
fn zoo_conv_kernels_match_the_reference() {
    check_zoo_convs::<f32>();
}

#[test]
fn conv_kernels_match_the_reference_f32() {
    check_convs::<f32>();
}

#[test]
fn conv_kernels_match_the_reference_f64() {
    check_convs::<f64>();
}

/// The largest difference allowed between Winograd's forward pass and the `f32` reference
/// loops, relative to the largest output: the two round differently (measured: at most 1.1e-6).
const WINOGRAD_TOLERANCE: f64 = 2e-6;
/// The largest difference allowed between Winograd's results and the exact values, relative to
/// the largest one. Measured in the tests below: at most 3.7e-7 for the forward pass and 6.2e-7
/// for the weight gradient, where the direct `f32` loops (one chain of up to 576 products per
/// output, of up to 1,248 per weight) are up to 1.0e-6 and 1.3e-6 away.
const WINOGRAD_EXACT_TOLERANCE: f64 = 1e-6;

/// The image sizes of the Winograd tests: partial tiles (odd heights and widths), images
/// smaller than a tile, blocks of 16 tiles that span tile rows, last blocks with fewer tiles.
const WINOGRAD_SIZES: [(usize, usize); 8] = [
    (1, 1),
    (1, 2),
    (2, 3),
    (5, 7),
    (8, 8),
    (9, 15),
    (16, 16),
    (13, 32),
];

/// Winograd's F(2x2, 3x3) forward pass against the exact values, and the same bits under
/// every instruction set (vector steps against the generic ones) and thread count. The sizes
/// leave partial tiles (odd heights and widths), images smaller than a tile, blocks of 16
/// tiles that span tile rows and last blocks with fewer tiles.
#[test]
fn winograd_forward_matches_the_exact_values_with_the_same_bits_everywhere() {
    fn check<const IC: usize, const OC: usize>(seed: u64) {
        use super::winograd;
        let mut rng = StdRng::seed_from_u64(seed);
        for (h, w) in WINOGRAD_SIZES {
            let d = ConvDims { h, w, oh: h, ow: w };
            let batch = 3;
            let x = random::<f32>(batch * d.in_len(IC), &mut rng);
            let weight = random::<f32>(9 * IC * OC, &mut rng);
            let bias = random::<f32>(OC, &mut rng);
            let ctx = format!("{IC}->{OC} {h}x{w}");
            // The exact values (to f64's precision) of the f32 problem.
            let exact = {
                let [x, weight, bias] = [&x, &weight, &bias].map(|v| v.iter().map(|&v| v as f64));
                let (x, weight, bias): (Vec<_>, Vec<_>, Vec<_>) =
                    (x.collect(), weight.collect(), bias.collect());
                let mut y = vec![0.0f64; batch * d.out_len(OC)];
                for (x, y) in x.chunks(d.in_len(IC)).zip(y.chunks_mut(d.out_len(OC))) {
                    reference::conv_forward::<f64, IC, OC, 3, 1, 1>(d, x, &weight, &bias, y);
                }
                y
            };
            let mut u = vec![0.0f32; winograd::transformed_len(IC, OC)];
            let u = winograd::transformed_mut::<f32, IC, OC>(&mut u);
            winograd::transform_weights::<f32, IC, OC>(&weight, u);
            let u = &*u;
            // NaN where nothing was written.
            let generic_on = |isa: Isa| {
                let mut y = vec![f32::NAN; exact.len()];
                run_on(
                    isa,
                    #[inline(always)]
                    || winograd::forward(d, &x, u, &bias, &mut y, &winograd::Generic),
                );
                y
            };
            let generic = generic_on(Isa::Portable);
            let as_f64: Vec<f64> = generic.iter().map(|&v| v as f64).collect();
            let e = rel_diff(&as_f64, &exact);
            assert!(e < WINOGRAD_EXACT_TOLERANCE, "{ctx}: {e}");
            for isa in Isa::available() {
                assert_eq!(generic_on(isa), generic, "generic steps {isa:?} {ctx}");
                #[cfg(target_arch = "x86_64")]
                {
                    let mut y = vec![f32::NAN; exact.len()];
                    let ran = super::simd::winograd_forward(isa, d, &x, u, &bias, &mut y);
                    assert_eq!(ran, isa != Isa::Portable, "{isa:?}");
                    if ran {
                        assert_eq!(y, generic, "vector steps {isa:?} {ctx}");
                    }
                }
            }
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a thread pool");
                let mut y = vec![f32::NAN; exact.len()];
                pool.install(|| {
                    let mut scratch =
                        vec![f32::NAN; conv::forward_scratch_len::<f32>(IC, OC, 3, 1, 1)];
                    conv::forward_batch::<f32, IC, OC, 3, 1, 1>(
                        d,
                        batch,
                        &x,
                        &weight,
                        &bias,
                        &mut y,
                        &mut scratch,
                    )
                });
                assert_eq!(y, generic, "forward_batch, {threads} threads, {ctx}");
            }
        }
    }
    check::<16, 16>(41);
    check::<16, 32>(42);
    check::<32, 16>(43);
    check::<48, 64>(44);
    check::<64, 64>(45);
    check::<128, 128>(46);
}

/// Winograd's weight gradient against the exact values, and the same bits under every
/// instruction set (the transformed sums of the vector steps against the generic ones) and
/// thread count, at the sizes of the forward test.
#[test]
fn winograd_weight_grad_matches_the_exact_values_with_the_same_bits_everywhere() {
    fn check<const IC: usize, const OC: usize>(seed: u64) {
        use super::winograd;
        let mut rng = StdRng::seed_from_u64(seed);
        for (h, w) in WINOGRAD_SIZES {
            let d = ConvDims { h, w, oh: h, ow: w };
            let batch = 3;
            let x = random::<f32>(batch * d.in_len(IC), &mut rng);
            let dy = random::<f32>(batch * d.out_len(OC), &mut rng);
            let ctx = format!("{IC}->{OC} {h}x{w}");
            // The exact values (to f64's precision) of the f32 problem.
            let exact = {
                let (x, dy): (Vec<f64>, Vec<f64>) = (
                    x.iter().map(|&v| v as f64).collect(),
                    dy.iter().map(|&v| v as f64).collect(),
                );
                let mut dw = vec![0.0f64; 9 * IC * OC];
                for (tap, dw) in dw.chunks_mut(IC * OC).enumerate() {
                    reference::conv_weight_grad_block::<f64, IC, OC, 3, 1, 1>(
                        d,
                        tap / 3,
                        tap % 3,
                        &x,
                        &dy,
                        dw,
                    );
                }
                dw
            };
            let sums_on = |isa: Isa| {
                let mut m = vec![0.0f32; winograd::transformed_len(IC, OC)];
                let sums = winograd::transformed_mut::<f32, IC, OC>(&mut m);
                run_on(
                    isa,
                    #[inline(always)]
                    || winograd::weight_grad_transformed(d, &x, &dy, sums, &winograd::Generic),
                );
                m
            };
            let generic = sums_on(Isa::Portable);
            for isa in Isa::available() {
                assert_eq!(sums_on(isa), generic, "generic steps {isa:?} {ctx}");
                #[cfg(target_arch = "x86_64")]
                {
                    let mut m = vec![0.0f32; winograd::transformed_len(IC, OC)];
                    let sums = winograd::transformed_mut::<f32, IC, OC>(&mut m);
                    let ran = super::simd::winograd_weight_grad(isa, d, &x, &dy, sums);
                    assert_eq!(ran, isa != Isa::Portable, "{isa:?}");
                    if ran {
                        assert_eq!(m, generic, "vector steps {isa:?} {ctx}");
                    }
                }
            }
            let mut first: Option<Vec<f32>> = None;
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a thread pool");
                let mut dw = vec![f32::NAN; 9 * IC * OC];
                let mut partial = vec![f32::NAN; dw.len()];
                // Its contents on entry do not matter.
                let mut scratch = vec![f32::NAN; conv::scratch_len::<f32>(IC, OC, 3, 1, 1)];
                pool.install(|| {
                    conv::weight_grad_batch::<f32, IC, OC, 3, 1, 1>(
                        d,
                        &x,
                        &dy,
                        &mut dw,
                        &mut partial,
                        &mut scratch,
                    )
                });
                let as_f64: Vec<f64> = dw.iter().map(|&v| v as f64).collect();
                let e = rel_diff(&as_f64, &exact);
                assert!(e < WINOGRAD_EXACT_TOLERANCE, "{threads} threads {ctx}: {e}");
                match &first {
                    None => first = Some(dw),
                    Some(first) => assert_eq!(&dw, first, "{threads} threads {ctx}"),
                }
            }
        }
    }
    check::<16, 16>(51);
    check::<16, 32>(52);
    check::<32, 16>(53);
    check::<48, 64>(54);
    check::<64, 64>(55);
    check::<128, 128>(56);
}

/// Which convolutions Winograd's kernels take: `f32`, 3x3, stride 1, padding 1, channels in
/// multiples of 16 up to 128.
#[test]
fn winograd_applies_to_3x3_stride_1_f32_layers_of_16_to_128_channels() {
    use super::winograd::applies;
    assert!(applies::<f32>(16, 16, 3, 1, 1));
    assert!(applies::<f32>(32, 64, 3, 1, 1));
    assert!(!applies::<f64>(16, 16, 3, 1, 1));
    assert!(!applies::<f32>(3, 16, 3, 1, 1));
    assert!(!applies::<f32>(16, 24, 3, 1, 1));
    assert!(!applies::<f32>(16, 32, 3, 2, 1));
    assert!(!applies::<f32>(16, 16, 3, 1, 0));
    assert!(!applies::<f32>(16, 16, 5, 1, 2));
    assert!(applies::<f32>(64, 128, 3, 1, 1));
    assert!(applies::<f32>(128, 128, 3, 1, 1));
    assert!(!applies::<f32>(128, 256, 3, 1, 1));
}

fn check_linear<T: Float, const IN: usize, const OUT: usize>(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for batch in [1, 3, 4, 9, 13] {
        let x = random::<T>(batch * IN, &mut rng);
        let dy = random::<T>(batch * OUT, &mut rng);
        let weight = random::<T>(IN * OUT, &mut rng);
        let bias = random::<T>(OUT, &mut rng);
        let mut y_ref = vec![T::ZERO; batch * OUT];
        let mut dx_ref = vec![T::ZERO; batch * IN];
        for s in 0..batch {
            reference::linear_forward::<T, IN, OUT>(
                &x[s * IN..][..IN],
                &weight,
                &bias,
                &mut y_ref[s * OUT..][..OUT],
            );
            reference::linear_input_grad::<T, IN, OUT>(
                &dy[s * OUT..][..OUT],
                &weight,
                &mut dx_ref[s * IN..][..IN],
            );
        }
        let mut dw_ref = vec![T::ZERO; IN * OUT];
        for (i, row) in dw_ref.chunks_mut(OUT).enumerate() {
            reference::linear_weight_grad_row::<T, IN, OUT>(i, &x, &dy, row);
        }
        let ctx = format!("Linear<{IN},{OUT}> batch {batch} {}", T::NAME);
        for isa in Isa::available() {
            let mut y = vec![T::ZERO; y_ref.len()];
            run_on(
                isa,
                #[inline(always)]
                || linear::forward::<T, IN, OUT, 4>(&x, &weight, &bias, &mut y),
            );
            assert_eq!(y, y_ref, "forward {isa:?} {ctx}");
            let mut dw = vec![T::ZERO; dw_ref.len()];
            run_on(
                isa,
                #[inline(always)]
                || linear::weight_grad_rows::<T, IN, OUT>(0, &x, &dy, dw.as_chunks_mut().0),
            );
            assert_eq!(dw, dw_ref, "weight grad {isa:?} {ctx}");
            let mut weight_t = vec![T::ZERO; weight.len()];
            run_on(
                isa,
                #[inline(always)]
                || linear::transpose_rows::<T, IN, OUT>(0, &weight, &mut weight_t),
            );
            // Every sample and column block shape: each output sums over `o` in the
            // reference's order, so all are bit-identical to it.
            macro_rules! input_grad_blocks {
                ($($nb:literal x $iw:literal),*) => {$(
                    let mut dx = vec![T::ZERO; dx_ref.len()];
                    run_on(
                        isa,
                        #[inline(always)]
                        || linear::input_grad::<T, IN, OUT, $nb, $iw>(&dy, &weight_t, &mut dx),
                    );
                    assert_eq!(dx, dx_ref, "input grad {}x{} {isa:?} {ctx}", $nb, $iw);
                )*};
            }
            input_grad_blocks!(1 x 1, 4 x 64, 2 x 32, 3 x 16);
            // The vector kernels where they apply.
            let mut y = vec![T::ZERO; y_ref.len()];
            linear::forward_on::<T, IN, OUT>(isa, &x, &weight, &bias, &mut y);
            assert_eq!(y, y_ref, "forward_on {isa:?} {ctx}");
            let mut dx = vec![T::ZERO; dx_ref.len()];
            linear::input_grad_on::<T, IN, OUT>(isa, &dy, &weight_t, &mut dx);
            assert_eq!(dx, dx_ref, "input_grad_on {isa:?} {ctx}");
        }
        let mut y = vec![T::ZERO; y_ref.len()];
        linear::forward_batch::<T, IN, OUT>(batch, &x, &weight, &bias, &mut y);
        assert_eq!(y, y_ref, "forward_batch {ctx}");
        let mut dw = vec![T::ZERO; dw_ref.len()];
        linear::weight_grad_batch::<T, IN, OUT>(&x, &dy, &mut dw);
        assert_eq!(dw, dw_ref, "weight_grad_batch {ctx}");
        let mut dx = vec![T::ZERO; dx_ref.len()];
        let mut weight_t = vec![T::ZERO; weight.len()];
        linear::transpose_batch::<T, IN, OUT>(&weight, &mut weight_t);
        linear::input_grad_batch::<T, IN, OUT>(batch, &dy, &weight_t, &mut dx);
        assert_eq!(dx, dx_ref, "input_grad_batch {ctx}");
    }
}

#[test]
fn linear_kernels_match_the_reference() {
    check_linear::<f32, 37, 100>(1);
    check_linear::<f32, 5, 3>(2);
    check_linear::<f32, 64, 20>(3);
    // The SmallCnn's layers; whole and partial registers, tiles and single registers.
    check_linear::<f32, 1568, 100>(6);
    check_linear::<f32, 100, 20>(7);
    check_linear::<f32, 9, 136>(8);
    check_linear::<f32, 3, 1>(9);
    check_linear::<f64, 37, 100>(4);
    check_linear::<f64, 17, 130>(5);
}

fn check_pool<T: Float>(seed: u64) {
    // Bit patterns, so that NaNs compare equal and -0 differs from +0.
    let bits = |v: &[T]| v.iter().map(|g| g.to_f64().to_bits()).collect::<Vec<_>>();
    let mut rng = StdRng::seed_from_u64(seed);
    // Channel counts of whole vector groups (16, 32) and with leftovers (random), for
    // overlapping (3/2, 4/2), adjacent (2/2, 1/1) and gapped (2/3) windows.
    let configs = [
        (2, 2, 32),
        (2, 2, 0),
        (3, 2, 16),
        (4, 2, 0),
        (2, 3, 16),
        (2, 3, 0),
        (1, 1, 16),
    ];
    for (pool_size, s, c) in configs {
        let (h, w, c) = (
            rng.random_range(4..10),
            rng.random_range(4..10),
            if c == 0 { rng.random_range(1..20) } else { c },
        );
        let d = PoolDims {
            h,
            w,
            c,
            oh: (h - pool_size) / s + 1,
            ow: (w - pool_size) / s + 1,
            pool: pool_size,
            s,
        };
        let batch = rng.random_range(1..4);
        let (il, ol) = (h * w * c, d.oh * d.ow * c);
        // Coarse values so that ties (first maximum wins) happen, and a few NaNs (which win).
        let x: Vec<T> = (0..batch * il)
            .map(|_| match rng.random_range(0..40) {
                0 => T::from_f64(f64::NAN),
                v => T::from_f64((v % 4) as f64),
            })
            .collect();
        let mut dy = random::<T>(batch * ol, &mut rng);
        // A gradient of -0 comes out as +0 from the reference's `0 + g`.
        dy[0] = -T::ZERO;
        let mut y_ref = vec![T::ZERO; batch * ol];
        let mut dx_ref = vec![T::ZERO; batch * il];
        for b in 0..batch {
            reference::pool_forward(d, &x[b * il..][..il], &mut y_ref[b * ol..][..ol]);
            reference::pool_backward(
                d,
                &x[b * il..][..il],
                &dy[b * ol..][..ol],
                &mut dx_ref[b * il..][..il],
            );
        }
        for isa in Isa::available() {
            let mut y = vec![T::ZERO; y_ref.len()];
            let mut dx = vec![T::ZERO; dx_ref.len()];
            run_on(
                isa,
                #[inline(always)]
                || pool::forward(d, &x, &mut y),
            );
            // The vector kernel where it applies.
            pool::backward_on(isa, d, &x, &dy, &mut dx);
            assert_eq!(bits(&y), bits(&y_ref), "pool forward {isa:?} {d:?}");
            assert_eq!(bits(&dx), bits(&dx_ref), "pool backward {isa:?} {d:?}");
        }
        let mut y = vec![T::ZERO; y_ref.len()];
        let mut dx = vec![T::ZERO; dx_ref.len()];
        pool::forward_batch(d, batch, &x, &mut y);
        pool::backward_batch(d, batch, &x, &dy, &mut dx);
        assert_eq!(bits(&y), bits(&y_ref), "pool batch forward {d:?}");
        assert_eq!(bits(&dx), bits(&dx_ref), "pool batch backward {d:?}");
    }
}

#[test]
fn pool_kernels_match_the_reference() {
    check_pool::<f32>(1);
    check_pool::<f64>(2);
}

#[test]
fn tanh_approx_is_f32_accurate() {
    let mut worst = 0.0f64;
    for i in -200_000..=200_000 {
        let u = i as f64 * 1e-4; // -20 .. 20
        let t = gelu::tanh_approx(u as f32) as f64;
        worst = worst.max((t - u.tanh()).abs());
    }
    assert!(worst < 5e-7, "worst |tanh_approx - tanh| = {worst}");
    assert_eq!(gelu::tanh_approx(f32::MAX), 1.0);
    assert_eq!(gelu::tanh_approx(-f32::INFINITY), -1.0);
}

#[test]
fn gelu_kernels_match_the_exact_gelu() {
    use crate::layers::Gelu;
    use crate::{Image, Layer, Mode};
    let mut rng = StdRng::seed_from_u64(7);
    let mut x: Vec<f32> = (0..40_000).map(|_| rng.random_range(-8.0..8.0)).collect();
    x.extend([
        0.0,
        1e-30,
        -1e-30,
        19.9,
        20.1,
        -19.9,
        -20.1,
        1e20,
        -1e20,
        f32::MAX,
        -f32::MAX,
    ]);
    let dy: Vec<f32> = x.iter().map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut y = vec![0.0; x.len()];
    let mut dx = vec![0.0; x.len()];
    type G = Gelu<f32>;
    type S = Image<1, 1, 40_011>;
    <G as Layer<S, f32>>::forward(&mut Gelu::default(), &x, &mut y, 1, Mode::Train);
    <G as Layer<S, f32>>::backward(&mut Gelu::default(), &x, &y, &dy, Some(&mut dx), 1);
    for i in 0..x.len() {
        let xv = x[i] as f64;
        // The exact GELU and derivative in f64.
        let exact = if xv.abs() > 20.0 {
            xv.max(0.0)
        } else {
            0.5 * xv * (1.0 + (0.797_884_560_802_865_4 * (xv + 0.044_715 * xv.powi(3))).tanh())
        };
        let exact_d = {
            let h = 1e-3 * xv.abs().max(1.0);
            let f = |v: f64| {
                0.5 * v * (1.0 + (0.797_884_560_802_865_4 * (v + 0.044_715 * v.powi(3))).tanh())
            };
            if xv.abs() > 20.0 {
                if xv > 0.0 { 1.0 } else { 0.0 }
            } else {
                (f(xv + h) - f(xv - h)) / (2.0 * h)
            }
        };
        let scale = xv.abs().max(1.0);
        assert!(
            ((y[i] as f64) - exact).abs() <= 1e-6 * scale,
            "gelu({xv}) = {} vs {exact}",
            y[i]
        );
        assert!(dx[i].is_finite(), "derivative at {xv}");
        if xv.abs() < 1e6 {
            let d = dx[i] as f64 / dy[i] as f64;
            assert!((d - exact_d).abs() < 1e-5, "gelu'({xv}) = {d} vs {exact_d}");
        }
    }
}

/// The batch drivers give bit-identical results for 1, 2 and 3 threads (samples are split
/// differently; every weight-gradient sum still runs over the batch in order inside one task).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = StdRng::seed_from_u64(11);
    let d = ConvDims {
        h: 12,
        w: 12,
        oh: 5,
        ow: 5,
    };
    let batch = 7;
    let x = random::<f32>(batch * d.in_len(16), &mut rng);
    let dy = random::<f32>(batch * d.out_len(32), &mut rng);
    let weight = random::<f32>(9 * 16 * 32, &mut rng);
    let bias = random::<f32>(32, &mut rng);
    let d1 = ConvDims {
        oh: 12,
        ow: 12,
        ..d
    };
    let x1 = random::<f32>(batch * d1.in_len(3), &mut rng);
    let dy1 = random::<f32>(batch * d1.out_len(16), &mut rng);
    let w1 = vec![0.0f32; 9 * 3 * 16];
    let fx = random::<f32>(batch * 60, &mut rng);
    let fdy = random::<f32>(batch * 10, &mut rng);
    let fw = random::<f32>(600, &mut rng);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        pool.install(|| {
            let mut y = vec![0.0; batch * d.out_len(32)];
            let mut dw = vec![0.0; weight.len()];
            let mut dx = vec![0.0; x.len()];
            conv::forward_batch::<f32, 16, 32, 3, 2, 0>(
                d,
                batch,
                &x,
                &weight,
                &bias,
                &mut y,
                &mut [],
            );
            let mut partial = vec![0.0; weight.len()];
            conv::weight_grad_batch::<f32, 16, 32, 3, 2, 0>(
                d,
                &x,
                &dy,
                &mut dw,
                &mut partial,
                &mut [],
            );
            // A first layer's sizes: the kernel that splits the batch into two halves.
            let mut dw1 = vec![0.0; w1.len()];
            let mut partial = vec![0.0; w1.len()];
            conv::weight_grad_batch::<f32, 3, 16, 3, 1, 1>(
                d1,
                &x1,
                &dy1,
                &mut dw1,
                &mut partial,
                &mut [],
            );
            let mut weight_t = vec![0.0; weight.len()];
            conv::input_grad_weights::<f32, 16, 32, 3, 2, 0>(&weight, &mut weight_t);
            conv::input_grad_batch::<f32, 16, 32, 3, 2, 0>(
                d,
                batch,
                &dy,
                &weight_t,
                &mut dx,
                &mut [],
            );
            let mut fdw = vec![0.0; fw.len()];
            let mut fdx = vec![0.0; fx.len()];
            linear::weight_grad_batch::<f32, 60, 10>(&fx, &fdy, &mut fdw);
            let mut fw_t = vec![0.0; fw.len()];
            linear::transpose_batch::<f32, 60, 10>(&fw, &mut fw_t);
            linear::input_grad_batch::<f32, 60, 10>(batch, &fdy, &fw_t, &mut fdx);
            (y, dw, dw1, dx, fdw, fdx)
        })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

/// The hand-written SIMD kernels against the generic ones compiled for the same instruction set
/// (AVX-512 and AVX2, when this CPU has them): the same operations in the same order, so
/// bit-identical results (random sizes, batches and edges).
#[cfg(target_arch = "x86_64")]
fn check_simd_conv<
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    seed: u64,
    isa: Isa,
) {
    use super::simd;
    if !isa.is_supported() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..4 {
        // Rows up to 40 wide, so that whole 16-pixel blocks occur.
        let ConvCase {
            d,
            batch,
            x,
            dy,
            weight,
            bias,
        } = random_conv_case::<f32, IC, OC, K, S, P>(&mut rng, (12, 40, 4));
        let mut weight_t = vec![0.0; weight.len()];
        conv::transpose_taps::<f32, IC, OC>(&weight, &mut weight_t);
        let ctx = format!("Conv2d<{IC},{OC},{K},{S},{P}> {d:?} batch {batch} {isa:?}");

        let mut y = vec![0.0; batch * d.out_len(OC)];
        if simd::conv_forward::<f32, IC, OC, K, S, P>(isa, d, &x, &weight, &bias, &mut y) {
            let mut y_generic = vec![0.0; y.len()];
            run_on(
                isa,
                #[inline(always)]
                || conv::forward::<f32, IC, OC, K, S, P, 4>(d, &x, &weight, &bias, &mut y_generic),
            );
            assert_eq!(y, y_generic, "forward {ctx}");
        }

        let mut dw = vec![0.0; weight.len()];
        if simd::conv_weight_grad_window::<f32, IC, OC, K, S, P>(isa, d, &x, &dy, &mut dw) {
            let mut dw_generic = vec![0.0; weight.len()];
            run_on(
                isa,
                #[inline(always)]
                || {
                    conv::weight_grad_window::<f32, IC, OC, K, S, P>(
                        d,
                        &x,
                        &dy,
                        dw_generic.as_chunks_mut::<OC>().0,
                    )
                },
            );
            assert_eq!(dw, dw_generic, "weight grad window {ctx}");
        }

        // Two tasks of whole 4-row blocks, as the batch driver splits them, then of 8-row
        // blocks (the tiles of 8 rows) where `IC` allows.
        for block in [4, 8] {
            let mut dw = vec![0.0; weight.len()];
            let half = (K * K * IC / block).div_ceil(2) * block;
            let (first, second) = dw.split_at_mut(half.min(K * K * IC) * OC);
            let task = |first_row: usize, dw: &mut [f32]| {
                dw.is_empty()
                    || if block == 4 {
                        simd::conv_weight_grad_rows::<f32, IC, OC, K, S, P, 4>(
                            isa, d, first_row, &x, &dy, dw,
                        )
                    } else {
                        simd::conv_weight_grad_rows::<f32, IC, OC, K, S, P, 8>(
                            isa, d, first_row, &x, &dy, dw,
                        )
                    }
            };
            if !(task(0, first) && task(half, second)) {
                continue;
            }
            let mut dw_generic = vec![0.0; weight.len()];
            run_on(
                isa,
                #[inline(always)]
                || {
                    conv::weight_grad_rows::<f32, IC, OC, K, S, P, 1>(
                        d,
                        0,
                        &x,
                        &dy,
                        dw_generic.as_chunks_mut::<OC>().0,
                    )
                },
            );
            assert_eq!(dw, dw_generic, "weight grad rows, blocks of {block}, {ctx}");
        }

        let mut dx = vec![0.0; x.len()];
        if simd::conv_input_grad::<f32, IC, OC, K, S, P>(isa, d, &dy, &weight_t, &mut dx) {
            let mut dx_generic = vec![0.0; x.len()];
            run_on(
                isa,
                #[inline(always)]
                || conv::input_grad::<f32, IC, OC, K, S, P, 2>(d, &dy, &weight_t, &mut dx_generic),
            );
            assert_eq!(dx, dx_generic, "input grad {ctx}");
        }

        // The strided input gradient by phase writes every value (NaN on entry), and gives
        // the generic kernel's bits with another block size.
        let mut dx = vec![f32::NAN; x.len()];
        if S > 1
            && simd::conv_input_grad_strided::<f32, IC, OC, K, S, P>(
                isa, d, &dy, &weight_t, &mut dx,
            )
        {
            let mut dx_generic = vec![f32::NAN; x.len()];
            run_on(
                isa,
                #[inline(always)]
                || {
                    conv_strided::input_grad::<f32, IC, OC, K, S, P, 3>(
                        d,
                        &dy,
                        &weight_t,
                        &mut dx_generic,
                    )
                },
            );
            assert_eq!(dx, dx_generic, "strided input grad {ctx}");
        }
    }
}

/// The hand-written kernels of `isa` against the generic ones, bit for bit, on every shape
/// family they cover.
#[cfg(target_arch = "x86_64")]
fn check_simd_convs(isa: Isa) {
    check_simd_conv::<3, 16, 3, 1, 1>(1, isa);
    check_simd_conv::<16, 32, 3, 2, 0>(2, isa);
    check_simd_conv::<16, 48, 5, 2, 2>(3, isa);
    check_simd_conv::<32, 64, 3, 1, 1>(4, isa);
    check_simd_conv::<16, 16, 1, 1, 0>(5, isa);
    check_simd_conv::<5, 32, 2, 3, 1>(6, isa);
    check_simd_conv::<1, 16, 5, 2, 2>(7, isa);
    check_simd_conv::<2, 8, 3, 1, 1>(8, isa);
    check_simd_conv::<8, 24, 3, 2, 1>(9, isa);
    // Wide layers in chunks, 1x1 kernels, 8 output channels, 8-channel input gradients.
    check_simd_conv::<64, 128, 3, 1, 1>(10, isa);
    check_simd_conv::<32, 64, 1, 2, 0>(11, isa);
    check_simd_conv::<64, 32, 1, 1, 0>(12, isa);
    check_simd_conv::<1, 8, 5, 1, 0>(13, isa);
    check_simd_conv::<24, 8, 3, 1, 1>(14, isa);
    check_simd_conv::<4, 48, 3, 2, 2>(15, isa);
    // The tap-by-tap forward kernel: stride 2, 5x5 with a padding of 2.
    check_simd_conv::<32, 32, 3, 2, 1>(16, isa);
    check_simd_conv::<64, 32, 5, 1, 2>(17, isa);
    // Fewer output channels than a register has lanes (masked loads and stores): the turned
    // input gradient of 3->16 runs as 16->3, and 1 to 7 output channels in general.
    check_simd_conv::<16, 3, 3, 1, 1>(18, isa);
    check_simd_conv::<5, 7, 3, 2, 1>(19, isa);
    check_simd_conv::<8, 1, 1, 1, 0>(20, isa);
    check_simd_conv::<3, 5, 5, 1, 2>(21, isa);
    // ResNet-20's 3x3 layers: edge columns in tiles, weight-gradient tiles of 16 rows
    // (and 8 where a task's rows end mid-tap).
    check_simd_conv::<16, 16, 3, 1, 1>(22, isa);
    check_simd_conv::<32, 32, 3, 1, 1>(23, isa);
    check_simd_conv::<64, 64, 3, 1, 1>(24, isa);
    // The strided input gradient by phase (32 and more input channels): ResNet's 32->64, a
    // wide 5x5 of stride 3, and a kernel smaller than its stride (phases no tap reaches).
    check_simd_conv::<32, 64, 3, 2, 1>(25, isa);
    check_simd_conv::<64, 16, 5, 3, 2>(26, isa);
    check_simd_conv::<32, 8, 2, 3, 0>(27, isa);
}

// One test per instruction set, so that the two run in parallel (each is the slowest test of
// an unoptimised test build).
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_kernels_match_the_generic_ones_bit_for_bit() {
    check_simd_convs(Isa::Avx512);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_kernels_match_the_generic_ones_bit_for_bit() {
    check_simd_convs(Isa::Avx2);
}

/// 32 or more input channels at stride 1 run tap by tap or in tiles of 7 pixels by 32 output
/// channels depending on the rows' interior width (the switch is at 14 columns): both paths
/// against the generic kernel, at widths on both sides of it and with leftover pixels after the
/// tiles.
#[cfg(target_arch = "x86_64")]
#[test]
fn wide_forward_in_tiles_or_tap_by_tap_matches_the_generic_kernel() {
    fn check<const IC: usize, const OC: usize>(isa: Isa, h: usize, w: usize, seed: u64) {
        use super::simd;
        let mut rng = StdRng::seed_from_u64(seed);
        let d = ConvDims { h, w, oh: h, ow: w };
        let batch = 2;
        let x = random::<f32>(batch * d.in_len(IC), &mut rng);
        let weight = random::<f32>(9 * IC * OC, &mut rng);
        let bias = random::<f32>(OC, &mut rng);
        let mut y = vec![0.0; batch * d.out_len(OC)];
        let ran = simd::conv_forward::<f32, IC, OC, 3, 1, 1>(isa, d, &x, &weight, &bias, &mut y);
        assert_eq!(ran, isa.is_supported(), "{isa:?}");
        if ran {
            let mut y_generic = vec![0.0; y.len()];
            run_on(
                isa,
                #[inline(always)]
                || conv::forward::<f32, IC, OC, 3, 1, 1, 4>(d, &x, &weight, &bias, &mut y_generic),
            );
            assert_eq!(y, y_generic, "{IC}->{OC} {h}x{w} {isa:?}");
        }
    }
    for isa in [Isa::Avx512, Isa::Avx2] {
        // Interior widths 6, 13 (tap by tap), 14, 21, 31 (tiles; 31 leaves 2 + 1 pixels).
        for (seed, (h, w)) in [(8, 8), (9, 15), (16, 16), (5, 23), (12, 33)]
            .into_iter()
            .enumerate()
        {
            let seed = seed as u64;
            check::<32, 32>(isa, h, w, seed);
            check::<64, 32>(isa, h, w, seed + 10);
            check::<64, 128>(isa, h, w, seed + 20);
            if h <= 9 {
                // 128 input channels: the taps' weights take 32 KB, the rows run in larger
                // chunks.
                check::<128, 128>(isa, h, w, seed + 30);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_kernels_run_where_they_apply_and_fall_back_elsewhere() {
    use super::simd;
    // The kernels run for the SmallCnn's layers on every vector instruction set this CPU has.
    let d = ConvDims {
        h: 32,
        w: 32,
        oh: 32,
        ow: 32,
    };
    let (x, mut y, w, b) = (vec![0.0; 3072], vec![0.0; 16384], vec![0.0; 432], [0.0; 16]);
    let mut dw = vec![0.0; 432];
    let d2 = ConvDims {
        oh: 15,
        ow: 15,
        ..d
    };
    let (dy2, w2, mut dx2) = (vec![0.0; 7200], vec![0.0; 4608], vec![0.0; 16384]);
    for isa in [Isa::Avx512, Isa::Avx2] {
        let ran = simd::conv_forward::<f32, 3, 16, 3, 1, 1>(isa, d, &x, &w, &b, &mut y)
            && simd::conv_input_grad::<f32, 16, 32, 3, 2, 0>(isa, d2, &dy2, &w2, &mut dx2);
        assert_eq!(ran, isa.is_supported(), "{isa:?}");
        // conv1's kernel row of gradients (9 x 16 values): in one pass on AVX-512, in two
        // passes of 8 channels on AVX2.
        let ran = simd::conv_weight_grad_window::<f32, 3, 16, 3, 1, 1>(isa, d, &x, &y, &mut dw);
        assert_eq!(ran, isa.is_supported(), "{isa:?}");
    }
    // f64, the portable build and channel counts the kernels do not cover fall back to the
    // generic ones.
    let d = ConvDims {
        h: 4,
        w: 4,
        oh: 4,
        ow: 4,
    };
    let falls_back = !simd::conv_forward::<f64, 3, 16, 3, 1, 1>(
        Isa::detected(),
        d,
        &[0.0; 48],
        &[0.0; 432],
        &[0.0; 16],
        &mut [0.0; 256],
    ) && !simd::conv_forward::<f32, 3, 20, 3, 1, 1>(
        Isa::detected(),
        d,
        &[0.0; 48],
        &[0.0; 540],
        &[0.0; 20],
        &mut [0.0; 320],
    ) && !simd::conv_forward::<f32, 3, 16, 3, 1, 1>(
        Isa::Portable,
        d,
        &[0.0; 48],
        &[0.0; 432],
        &[0.0; 16],
        &mut [0.0; 256],
    );
    assert!(falls_back);
}

/// The same convolution gives the same bits under AVX-512, AVX2 and the portable build (each
/// with its own kernels and block sizes), as the module docs promise.
#[cfg(target_arch = "x86_64")]
#[test]
fn instruction_sets_give_the_same_bits() {
    use super::simd;
    fn all<const IC: usize, const OC: usize, const K: usize, const S: usize, const P: usize>(
        isa: Isa,
        case: &ConvCase<f32>,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let ConvCase {
            d,
            x,
            dy,
            weight,
            bias,
            ..
        } = case;
        let d = *d;
        let mut weight_t = vec![0.0; weight.len()];
        conv::transpose_taps::<f32, IC, OC>(weight, &mut weight_t);
        let mut y = vec![0.0; dy.len()];
        if !simd::conv_forward::<f32, IC, OC, K, S, P>(isa, d, x, weight, bias, &mut y) {
            run_on(
                isa,
                #[inline(always)]
                || conv::forward::<f32, IC, OC, K, S, P, 4>(d, x, weight, bias, &mut y),
            );
        }
        let mut dw = vec![0.0; weight.len()];
        if !simd::conv_weight_grad_window::<f32, IC, OC, K, S, P>(isa, d, x, dy, &mut dw) {
            run_on(
                isa,
                #[inline(always)]
                || {
                    conv::weight_grad_window::<f32, IC, OC, K, S, P>(
                        d,
                        x,
                        dy,
                        dw.as_chunks_mut::<OC>().0,
                    )
                },
            );
        }
        let mut dw_rows = vec![0.0; weight.len()];
        if !(IC.is_multiple_of(4)
            && simd::conv_weight_grad_rows::<f32, IC, OC, K, S, P, 4>(
                isa,
                d,
                0,
                x,
                dy,
                &mut dw_rows,
            ))
        {
            run_on(
                isa,
                #[inline(always)]
                || {
                    conv::weight_grad_rows::<f32, IC, OC, K, S, P, 1>(
                        d,
                        0,
                        x,
                        dy,
                        dw_rows.as_chunks_mut::<OC>().0,
                    )
                },
            );
        }
        let mut dx = vec![0.0; x.len()];
        if !simd::conv_input_grad::<f32, IC, OC, K, S, P>(isa, d, dy, &weight_t, &mut dx) {
            run_on(
                isa,
                #[inline(always)]
                || conv::input_grad::<f32, IC, OC, K, S, P, 2>(d, dy, &weight_t, &mut dx),
            );
        }
        (y, dw, dw_rows, dx)
    }
    let mut rng = StdRng::seed_from_u64(21);
    for _ in 0..3 {
        let case1 = random_conv_case::<f32, 3, 16, 3, 1, 1>(&mut rng, (12, 40, 4));
        let case2 = random_conv_case::<f32, 16, 32, 3, 2, 0>(&mut rng, (12, 40, 4));
        let case3 = random_conv_case::<f32, 64, 128, 3, 1, 1>(&mut rng, (8, 12, 3));
        let case4 = random_conv_case::<f32, 1, 8, 5, 1, 0>(&mut rng, (8, 30, 3));
        let portable = (
            all::<3, 16, 3, 1, 1>(Isa::Portable, &case1),
            all::<16, 32, 3, 2, 0>(Isa::Portable, &case2),
            all::<64, 128, 3, 1, 1>(Isa::Portable, &case3),
            all::<1, 8, 5, 1, 0>(Isa::Portable, &case4),
        );
        for isa in Isa::available() {
            let got = (
                all::<3, 16, 3, 1, 1>(isa, &case1),
                all::<16, 32, 3, 2, 0>(isa, &case2),
                all::<64, 128, 3, 1, 1>(isa, &case3),
                all::<1, 8, 5, 1, 0>(isa, &case4),
            );
            assert_eq!(got, portable, "{isa:?}");
        }
    }
}

/// A BatchNorm pass's mean, variance, output, weight and bias gradients, input gradient.
type BatchNormResults<T> = (Vec<T>, Vec<T>, Vec<T>, Vec<T>, Vec<T>, Vec<T>);

/// BatchNorm with batch statistics, forward and backward, through the kernels' per-sample
/// passes compiled for `isa` (the vector kernels where they apply; no threads):
/// `(mean, var, y, weight_grad, bias_grad, dx)`.
fn batch_norm_serial<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    dy: &[T],
    batch: usize,
    weight: &[T],
    bias: &[T],
    batch_statistics: bool,
) -> BatchNormResults<T> {
    let sample = x.len() / batch;
    let eps = T::from_f64(1e-5);
    let mut stats = vec![T::ZERO; 2 * batch * C];
    batch_norm::samples_stats::<T, C>(isa, x, sample, &mut stats);
    let (mut mean, mut var) = (vec![T::ZERO; C], vec![T::ZERO; C]);
    batch_norm::combine_stats::<T, C>(&stats, sample / C, &mut mean, &mut var);
    let mut inv_std = vec![T::ZERO; C];
    batch_norm::inv_std(&var, eps, &mut inv_std);
    let normalization = batch_norm::scale_shift::<T, C>(weight, bias, &mean, &inv_std);
    let [scale, shift] = &normalization;
    let mut y = vec![T::ZERO; x.len()];
    batch_norm::normalize_on::<T, C, RELU>(isa, x, &mut y, scale, shift);
    let mut m = [T::ZERO; C];
    m.copy_from_slice(&mean);
    let mut sums = vec![T::ZERO; 2 * batch * C];
    batch_norm::samples_grad_sums::<T, C, RELU>(isa, x, dy, sample, &m, &normalization, &mut sums);
    let (mut sdy, mut sdyx) = ([T::ZERO; C], [T::ZERO; C]);
    for s in sums.chunks_exact(2 * C) {
        for c in 0..C {
            sdy[c] += s[c];
            sdyx[c] += s[C + c];
        }
    }
    let bias_grad = sdy.to_vec();
    let weight_grad: Vec<T> = (0..C).map(|c| sdyx[c] * inv_std[c]).collect();
    let coef = batch_norm::input_grad_coefficients::<T, C>(
        weight,
        &mean,
        &inv_std,
        &weight_grad,
        &bias_grad,
        x.len() / C,
        batch_statistics,
    );
    let mut dx = vec![T::ZERO; x.len()];
    batch_norm::input_grad_on::<T, C, RELU>(isa, x, dy, &mut dx, &coef, &normalization);
    (mean, var, y, weight_grad, bias_grad, dx)
}

/// The same through the batch drivers (threads, the detected instruction set).
fn batch_norm_batched<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    dy: &[T],
    batch: usize,
    weight: &[T],
    bias: &[T],
    batch_statistics: bool,
) -> BatchNormResults<T> {
    let eps = T::from_f64(1e-5);
    let mut stats = vec![T::ZERO; 2 * batch * C];
    let (mut mean, mut var) = (vec![T::ZERO; C], vec![T::ZERO; C]);
    batch_norm::batch_stats::<T, C>(x, batch, &mut stats, &mut mean, &mut var);
    let mut inv_std = vec![T::ZERO; C];
    batch_norm::inv_std(&var, eps, &mut inv_std);
    let normalization = batch_norm::scale_shift::<T, C>(weight, bias, &mean, &inv_std);
    let [scale, shift] = &normalization;
    let mut y = vec![T::ZERO; x.len()];
    batch_norm::normalize_batch::<T, C, RELU>(x, &mut y, scale, shift);
    let (mut weight_grad, mut bias_grad) = (vec![T::ZERO; C], vec![T::ZERO; C]);
    batch_norm::param_grads::<T, C, RELU>(
        x,
        dy,
        batch,
        &mean,
        &inv_std,
        &normalization,
        &mut stats,
        &mut weight_grad,
        &mut bias_grad,
    );
    let coef = batch_norm::input_grad_coefficients::<T, C>(
        weight,
        &mean,
        &inv_std,
        &weight_grad,
        &bias_grad,
        x.len() / C,
        batch_statistics,
    );
    let mut dx = vec![T::ZERO; x.len()];
    batch_norm::input_grad_batch::<T, C, RELU>(x, dy, &mut dx, &coef, &normalization);
    (mean, var, y, weight_grad, bias_grad, dx)
}

/// BatchNorm kernels of `C` channels on `h x w` maps, `batch` samples: against the reference
/// loops (tolerance), bit-identical under every instruction set and for 1, 2 and 3 threads.
fn check_batch_norm<T: Float, const C: usize>(h: usize, w: usize, batch: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let len = batch * h * w * C;
    // An offset, so that the variance is small against the mean's square.
    let x: Vec<T> = random::<T>(len, &mut rng)
        .into_iter()
        .map(|v| v + T::from_f64(3.0))
        .collect();
    let dy = random::<T>(len, &mut rng);
    let weight: Vec<T> = random::<T>(C, &mut rng)
        .into_iter()
        .map(|v| v + T::from_f64(1.5))
        .collect();
    let bias = random::<T>(C, &mut rng);
    let eps = T::from_f64(1e-5);
    let case = format!("C {C} {h}x{w} batch {batch}");
    for batch_statistics in [true, false] {
        let portable = batch_norm_serial::<T, C, false>(
            Isa::Portable,
            &x,
            &dy,
            batch,
            &weight,
            &bias,
            batch_statistics,
        );
        let (mean, var, y, wg, bg, dx) = &portable;
        let mut y_ref = vec![T::ZERO; len];
        let (mean_ref, var_ref) =
            reference::batch_norm_forward(C, &x, &weight, &bias, eps, &mut y_ref);
        assert!(rel_diff(mean, &mean_ref) < tolerance::<T>(), "mean {case}");
        assert!(rel_diff(var, &var_ref) < tolerance::<T>(), "var {case}");
        assert!(rel_diff(y, &y_ref) < 4.0 * tolerance::<T>(), "y {case}");
        let inv_std: Vec<T> = var.iter().map(|&v| T::ONE / (v + eps).sqrt()).collect();
        let (mut wg_ref, mut bg_ref, mut dx_ref) =
            (vec![T::ZERO; C], vec![T::ZERO; C], vec![T::ZERO; len]);
        reference::batch_norm_backward(
            C,
            &x,
            &dy,
            &weight,
            mean,
            &inv_std,
            batch_statistics,
            &mut wg_ref,
            &mut bg_ref,
            Some(&mut dx_ref),
        );
        assert!(
            rel_diff(wg, &wg_ref) < 4.0 * tolerance::<T>(),
            "weight grad {case}"
        );
        assert!(rel_diff(bg, &bg_ref) < tolerance::<T>(), "bias grad {case}");
        assert!(rel_diff(dx, &dx_ref) < 16.0 * tolerance::<T>(), "dx {case}");
        // The fused ReLU: the bits of the normalisation, then ReLU (`if y < 0 { 0 } else
        // { y }`), whose backward (`dy * 1` above 0, `dy * 0` elsewhere) feeds BatchNorm's.
        let relu_y: Vec<T> = y
            .iter()
            .map(|&v| if v < T::ZERO { T::ZERO } else { v })
            .collect();
        let relu_dy: Vec<T> = dy
            .iter()
            .zip(y)
            .map(|(&g, &v)| g * if v > T::ZERO { T::ONE } else { T::ZERO })
            .collect();
        let (_, _, _, relu_wg, relu_bg, relu_dx) = batch_norm_serial::<T, C, false>(
            Isa::Portable,
            &x,
            &relu_dy,
            batch,
            &weight,
            &bias,
            batch_statistics,
        );
        let fused_want = (mean.clone(), var.clone(), relu_y, relu_wg, relu_bg, relu_dx);
        let bits = |r: &BatchNormResults<T>| {
            [&r.0, &r.1, &r.2, &r.3, &r.4, &r.5]
                .map(|v| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>())
        };
        assert!(
            y.iter().any(|&v| v < T::ZERO) && y.iter().any(|&v| v > T::ZERO),
            "the ReLU cuts: {case}"
        );
        let stats = batch_statistics;
        let serial = |isa| {
            (
                batch_norm_serial::<T, C, false>(isa, &x, &dy, batch, &weight, &bias, stats),
                batch_norm_serial::<T, C, true>(isa, &x, &dy, batch, &weight, &bias, stats),
            )
        };
        let batched = || {
            (
                batch_norm_batched::<T, C, false>(&x, &dy, batch, &weight, &bias, stats),
                batch_norm_batched::<T, C, true>(&x, &dy, batch, &weight, &bias, stats),
            )
        };
        for isa in Isa::available() {
            let (got, fused) = serial(isa);
            assert!(got == portable, "{isa:?} {case}");
            assert_eq!(bits(&fused), bits(&fused_want), "fused ReLU {isa:?} {case}");
        }
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            let (got, fused) = pool.install(batched);
            assert!(got == portable, "{threads} threads {case}");
            let what = format!("fused ReLU, {threads} threads {case}");
            assert_eq!(bits(&fused), bits(&fused_want), "{what}");
        }
    }
}

#[test]
fn batch_norm_kernels_match_the_reference() {
    // Channel counts that are and are not multiples of the vector width, odd maps, one pixel,
    // one sample, pixel counts that are and are not multiples of 4, large enough for threads.
    check_batch_norm::<f32, 16>(32, 32, 9, 1);
    check_batch_norm::<f32, 3>(5, 7, 3, 2);
    check_batch_norm::<f32, 17>(3, 5, 4, 3);
    check_batch_norm::<f32, 64>(8, 8, 13, 4);
    check_batch_norm::<f32, 32>(16, 16, 10, 5);
    check_batch_norm::<f32, 5>(1, 1, 7, 6);
    check_batch_norm::<f32, 8>(2, 2, 1, 7);
    check_batch_norm::<f32, 24>(9, 11, 2, 8);
    check_batch_norm::<f64, 16>(6, 6, 5, 9);
    check_batch_norm::<f64, 3>(7, 3, 2, 10);
}

/// The masked loads and stores of a partial register read and write exactly their first `n`
/// values: the lanes after them load as zero, and the values after them in memory keep their
/// bits.
#[cfg(target_arch = "x86_64")]
#[test]
fn partial_registers_touch_only_their_lanes() {
    use super::simd::{Avx2, Avx512, Lanes};
    fn check<L: Lanes>() {
        if !L::ISA.is_supported() {
            return;
        }
        for n in 1..L::N {
            let source: Vec<f32> = (0..n).map(|i| i as f32 + 0.5).collect();
            let mut target = vec![-7.0f32; L::N + 1];
            let mut lanes = vec![f32::NAN; L::N];
            run_on(
                L::ISA,
                #[inline(always)]
                || {
                    // SAFETY: `run_on` runs this on `L`'s instruction set, which this CPU has
                    // (checked above).
                    unsafe {
                        let v = L::load_first(&source, n);
                        L::store(&mut lanes, v);
                        L::store_first(&mut target[1..], v, n);
                    }
                },
            );
            assert_eq!(lanes[..n], source[..], "{:?} n {n}", L::ISA);
            assert!(lanes[n..].iter().all(|&v| v == 0.0), "{:?} n {n}", L::ISA);
            assert_eq!(target[0], -7.0);
            assert_eq!(target[1..=n], source[..]);
            assert!(
                target[n + 1..].iter().all(|&v| v == -7.0),
                "{:?} n {n}",
                L::ISA
            );
        }
    }
    check::<Avx512>();
    check::<Avx2>();
}
