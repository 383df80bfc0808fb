//! The shape machinery: per-sample shapes as types, output sizes as associated constants, and
//! the compile-time fit check that turns a misfit into an error in plain numbers.
//!
//! # Why this design
//!
//! Stable Rust cannot compute a type from const generics (`Image<{ (H + 2 * P - K) / S + 1 }, ..>`
//! inside a generic impl needs the unstable `generic_const_exprs`), and typenum's type-level
//! numbers cover only some sizes and print as `UInt<UInt<UTerm, B1>, B0>`. What stable Rust *can*
//! do is compute associated constants from other associated constants. So:
//!
//! * A shape is a type implementing [`Shape`], whose constants `H`, `W`, `C` give the sizes of
//!   one sample (the batch size is a run-time value). [`Image<H, W, C>`] is the concrete shape;
//!   [`ConvOut`], [`PoolOut`], [`GlobalPoolOut`] and [`Flat`] are shapes *computed* from an
//!   input shape.
//! * Each layer says, for an input shape, what its output shape is and whether it fits
//!   ([`crate::Layer::FIT`], a `Result<(), Misfit>` constant).
//! * The [`net!`](crate::net!) macro evaluates every layer's `FIT` in a non-generic
//!   `const _: () = ...;` item. Such items are evaluated by `cargo check`, so a network whose
//!   layers do not fit does not even pass `cargo check`, and [`Misfit::report`] formats the
//!   error (with `const_panic`) as, for example:
//!   `` layer `fc1`: Linear<1567, 100> expects 1567 input features, but its input is 1x1x1568 = 1568 ``.
//! * A post-monomorphisation assert inside a generic function would not do: `cargo check` never
//!   monomorphises, so it would only fail in `cargo build`.
//!
//! Loops in the layers run to these constants, so after monomorphisation every bound is a
//! literal: the compiler unrolls and vectorises as if the sizes were written by hand.

// A `Misfit` (a few hundred bytes) only ever exists in constants that the compiler evaluates:
// its size costs nothing at run time.
#![allow(clippy::result_large_err)]

use const_panic::{ArrayString, FmtArg, PanicVal};
use std::marker::PhantomData;

/// The shape of one sample: height, width and channels (NHWC without the N).
///
/// A vector of features (after [`crate::layers::Flatten`] or [`crate::layers::Linear`]) is the
/// shape `1 x 1 x features`.
pub trait Shape: 'static {
    /// Height.
    const H: usize;
    /// Width.
    const W: usize;
    /// Channels (or features).
    const C: usize;
    /// Number of elements of one sample.
    const LEN: usize = Self::H * Self::W * Self::C;
}

/// A concrete shape: `H x W x C`, stored row-major with channels last (NHWC).
///
/// ```
/// use constnet::{Image, Shape};
/// assert_eq!(<Image<32, 32, 3> as Shape>::LEN, 3072);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Image<const H: usize, const W: usize, const C: usize>;

impl<const H: usize, const W: usize, const C: usize> Shape for Image<H, W, C> {
    const H: usize = H;
    const W: usize = W;
    const C: usize = C;
}

/// The output of a convolution with `OUT_C` filters of size `K`, stride `S` and padding `P` on
/// the shape `In`: `(H + 2P - K) / S + 1` in each direction.
pub struct ConvOut<In, const OUT_C: usize, const K: usize, const S: usize, const P: usize>(
    PhantomData<fn() -> In>,
);

impl<In: Shape, const OUT_C: usize, const K: usize, const S: usize, const P: usize> Shape
    for ConvOut<In, OUT_C, K, S, P>
{
    const H: usize = window_out_len(In::H, K, S, P);
    const W: usize = window_out_len(In::W, K, S, P);
    const C: usize = OUT_C;
}

/// The output of a max or average pooling with window `POOL` and stride `S` on the shape `In`:
/// `(H - POOL) / S + 1` in each direction, channels unchanged.
pub struct PoolOut<In, const POOL: usize, const S: usize>(PhantomData<fn() -> In>);

impl<In: Shape, const POOL: usize, const S: usize> Shape for PoolOut<In, POOL, S> {
    const H: usize = window_out_len(In::H, POOL, S, 0);
    const W: usize = window_out_len(In::W, POOL, S, 0);
    const C: usize = In::C;
}

/// The output of a global pooling on the shape `In`: `1 x 1 x C`, one value per channel.
///
/// An empty input (an upstream layer that does not fit) gives the empty `1 x 1 x 0`, so that the
/// layers downstream stay silent and one mistake gives one error.
pub struct GlobalPoolOut<In>(PhantomData<fn() -> In>);

impl<In: Shape> Shape for GlobalPoolOut<In> {
    const H: usize = 1;
    const W: usize = 1;
    const C: usize = if In::LEN == 0 { 0 } else { In::C };
}

/// The shape `In` flattened to `1 x 1 x (H * W * C)`.
pub struct Flat<In>(PhantomData<fn() -> In>);

impl<In: Shape> Shape for Flat<In> {
    const H: usize = 1;
    const W: usize = 1;
    const C: usize = In::LEN;
}

/// Output length of a sliding window of size `window`, stride `stride` and zero padding
/// `padding` on `len` positions: `(len + 2 * padding - window) / stride + 1`, or 0 where the
/// window does not fit or the stride is 0 (the layer's fit check reports those).
pub const fn window_out_len(len: usize, window: usize, stride: usize, padding: usize) -> usize {
    let padded = len + 2 * padding;
    if stride == 0 || window == 0 || window > padded {
        0
    } else {
        (padded - window) / stride + 1
    }
}

/// The dims of a shape as `[H, W, C]`.
pub const fn dims<S: Shape>() -> [usize; 3] {
    [S::H, S::W, S::C]
}

/// How deep a misfit's layer may sit inside nested networks and still be named in full.
pub const MAX_DEPTH: usize = 12;

/// Why a layer does not fit its input. Built by the layers' `FIT` constants and reported, at
/// compile time, with [`Misfit::report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misfit {
    /// Where the layer sits inside the layer that reports it, outermost first (e.g. `["0",
    /// "conv2"]` for a misfit found inside a nested block); empty for the reporting layer itself.
    /// Containers prepend their field's name with [`Misfit::within`].
    pub path: [&'static str; MAX_DEPTH],
    /// How many entries of `path` are used.
    pub depth: usize,
    /// The layer's type name, e.g. `"Conv2d"`.
    pub kind: &'static str,
    /// The layer's const-generic arguments, e.g. `[3, 16, 3, 1, 1]`.
    pub args: &'static [usize],
    /// The input shape `[H, W, C]` the layer was given.
    pub input: [usize; 3],
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a layer's fit; see [`Misfit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The layer expects this many input channels.
    Channels {
        /// Channels the layer expects.
        expected: usize,
    },
    /// The layer expects this many input features (the input's `H * W * C`).
    Features {
        /// Features the layer expects.
        expected: usize,
    },
    /// A kernel or pooling window larger than the (padded) input.
    WindowTooLarge {
        /// The window's size.
        window: usize,
        /// The padding on each side.
        padding: usize,
    },
    /// A stride of 0.
    ZeroStride,
    /// A size parameter (named) that is 0.
    ZeroSize {
        /// The parameter's name, e.g. `"kernel size"`.
        what: &'static str,
    },
    /// A residual connection whose branch and shortcut give different shapes.
    BranchMismatch {
        /// The branch's output `[H, W, C]`.
        branch: [usize; 3],
        /// The shortcut's output `[H, W, C]`.
        shortcut: [usize; 3],
    },
    /// A repeated block whose output shape differs from its input's.
    RepeatChangesShape {
        /// The block's output `[H, W, C]`.
        gives: [usize; 3],
    },
}

impl Misfit {
    /// A misfit of the reporting layer itself (empty path).
    pub const fn new(
        kind: &'static str,
        args: &'static [usize],
        input: [usize; 3],
        problem: Problem,
    ) -> Self {
        Misfit {
            path: [""; MAX_DEPTH],
            depth: 0,
            kind,
            args,
            input,
            problem,
        }
    }

    /// The same misfit seen from one level up: `name` (the field or index under which the
    /// reporting layer sits) is put in front of the path. Past [`MAX_DEPTH`] levels the
    /// outermost names are kept and the innermost dropped.
    pub const fn within(mut self, name: &'static str) -> Self {
        let mut i = if self.depth < MAX_DEPTH {
            self.depth
        } else {
            MAX_DEPTH - 1
        };
        while i > 0 {
            self.path[i] = self.path[i - 1];
            i -= 1;
        }
        self.path[0] = name;
        if self.depth < MAX_DEPTH {
            self.depth += 1;
        }
        self
    }

    /// The misfit as a one-line message naming the layer by its path (set with
    /// [`Misfit::within`]), e.g.
    /// `` layer `fc1`: Linear<1567, 100> expects 1567 input features, but its input is 1x1x1568 = 1568 ``
    /// or `` layer `layer2.0`: the branch gives 16x16x32 but the shortcut gives 32x32x16 ``.
    ///
    /// A `const fn`, so that the [`net!`](crate::net!) macro can put it in a compile error.
    pub const fn report(&self) -> ArrayString<MESSAGE_CAPACITY> {
        let [h, w, c] = self.input;
        // `a.b.c`: at most MAX_DEPTH names and the dots between them.
        let mut name = [PanicVal::EMPTY; 2 * MAX_DEPTH];
        let mut i = 0;
        while i < self.depth {
            if i > 0 {
                name[2 * i - 1] = text(".");
            }
            name[2 * i] = text(self.path[i]);
            i += 1;
        }

        // `Kind<a, b, c>`: at most 5 arguments, unused slots stay empty.
        let mut sig = [PanicVal::EMPTY; 12];
        sig[0] = text(self.kind);
        let mut i = 0;
        while i < self.args.len() && i < 5 {
            sig[1 + 2 * i] = text(if i == 0 { "<" } else { ", " });
            sig[2 + 2 * i] = num(self.args[i]);
            i += 1;
        }
        if !self.args.is_empty() {
            sig[11] = text(">");
        }
        let open: &[PanicVal<'_>] = &[text("layer `")];
        let close: &[PanicVal<'_>] = &[text("`: ")];
        let input: &[PanicVal<'_>] = &[num(h), text("x"), num(w), text("x"), num(c)];
        let sig: &[PanicVal<'_>] = match self.problem {
            // These messages speak of the combinator's parts, not of its signature.
            Problem::BranchMismatch { .. } | Problem::RepeatChangesShape { .. } => &[],
            _ => &sig,
        };
        let parts: [&[PanicVal<'_>]; 6] = match self.problem {
            Problem::Channels { expected } => [
                &[text(" expects "), num(expected)],
                &[text(" input channels, but its input is ")],
                input,
                &[text(" ("), num(c), text(" channels)")],
                &[],
                &[],
            ],
            Problem::Features { expected } => [
                &[text(" expects "), num(expected)],
                &[text(" input features, but its input is ")],
                input,
                &[text(" = "), num(h * w * c)],
                &[],
                &[],
            ],
            Problem::WindowTooLarge { window, padding } => [
                &[text(" has a "), num(window), text("x"), num(window)],
                &[
                    text(" window, larger than its input "),
                    num(h),
                    text("x"),
                    num(w),
                ],
                &[text(" with padding "), num(padding), text(" (")],
                &[
                    num(h + 2 * padding),
                    text("x"),
                    num(w + 2 * padding),
                    text(")"),
                ],
                &[],
                &[],
            ],
            Problem::ZeroStride => [&[text(" has a stride of 0")], &[], &[], &[], &[], &[]],
            Problem::BranchMismatch {
                branch: [bh, bw, bc],
                shortcut: [sh, sw, sc],
            } => [
                &[text("the branch gives ")],
                &[num(bh), text("x"), num(bw), text("x"), num(bc)],
                &[text(" but the shortcut gives ")],
                &[num(sh), text("x"), num(sw), text("x"), num(sc)],
                &[],
                &[],
            ],
            Problem::RepeatChangesShape {
                gives: [gh, gw, gc],
            } => [
                &[text(
                    "a repeated block must keep its input's shape, but it turns ",
                )],
                input,
                &[text(" into ")],
                &[num(gh), text("x"), num(gw), text("x"), num(gc)],
                &[],
                &[],
            ],
            Problem::ZeroSize { what } => [
                &[text(" has "), text(what), text(" 0")],
                &[],
                &[],
                &[],
                &[],
                &[],
            ],
        };
        let [a, b, c, d, e, f] = parts;
        match ArrayString::concat_panicvals(&[open, &name, close, sig, a, b, c, d, e, f]) {
            Some(message) => message,
            None => ArrayString::new("a layer does not fit its input (message too long to show)"),
        }
    }
}

/// Room for a [`Misfit::report`].
pub const MESSAGE_CAPACITY: usize = 384;

const fn num(n: usize) -> PanicVal<'static> {
    PanicVal::from_usize(n, FmtArg::DISPLAY)
}

const fn text(s: &str) -> PanicVal<'_> {
    PanicVal::write_str(s)
}

/// `Ok` when a window of size `window` with `stride` and `padding` fits the shape `In`, else the
/// misfit to report. Shared by the convolution and pooling layers.
pub const fn check_window<In: Shape>(
    kind: &'static str,
    args: &'static [usize],
    window: usize,
    stride: usize,
    padding: usize,
) -> Result<(), Misfit> {
    if window == 0 {
        Err(Misfit::new(
            kind,
            args,
            dims::<In>(),
            Problem::ZeroSize {
                what: "window size",
            },
        ))
    } else if stride == 0 {
        Err(Misfit::new(kind, args, dims::<In>(), Problem::ZeroStride))
    } else if window > In::H + 2 * padding || window > In::W + 2 * padding {
        Err(Misfit::new(
            kind,
            args,
            dims::<In>(),
            Problem::WindowTooLarge { window, padding },
        ))
    } else {
        Ok(())
    }
}

/// The shape `S` if the layer `L` fits the input `In`, else an empty shape (0x0x0), so that
/// the layers after a misfitting block stay silent: one mistake gives one error. The output
/// shape of every [`net!`](crate::net!) network and combinator.
pub struct IfFits<S, L, In, T>(PhantomData<Marker<S, L, In, T>>);

/// Owns no value of the types (and keeps `IfFits` `Send`, `Sync` and free of drop checks).
type Marker<S, L, In, T> = fn() -> (S, L, In, T);

impl<S: Shape, L: crate::Layer<In, T> + 'static, In: Shape, T: crate::Float> Shape
    for IfFits<S, L, In, T>
{
    const H: usize = if L::FIT.is_ok() { S::H } else { 0 };
    const W: usize = if L::FIT.is_ok() { S::W } else { 0 };
    const C: usize = if L::FIT.is_ok() { S::C } else { 0 };
}

/// The first misfit of a sequence of layers, each named (an empty name adds nothing to the
/// path: a transparent layer): what a container's `FIT` is.
pub const fn first_misfit(fits: &[(&'static str, Result<(), Misfit>)]) -> Result<(), Misfit> {
    let mut i = 0;
    while i < fits.len() {
        if let Err(misfit) = fits[i].1 {
            return Err(if fits[i].0.is_empty() {
                misfit
            } else {
                misfit.within(fits[i].0)
            });
        }
        i += 1;
    }
    Ok(())
}

/// Whether two shapes have the same dims.
pub const fn same_dims<A: Shape, B: Shape>() -> bool {
    A::H == B::H && A::W == B::W && A::C == B::C
}

/// Whether an upstream layer has already failed its fit (its computed output is empty): the
/// layers downstream stay silent, so that one mistake gives one error.
pub const fn upstream_failed<In: Shape>() -> bool {
    In::LEN == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_the_floor_formula() {
        // The notebook's output-size check: [32, 28, 28, 3] through Conv2d<3, 16, 4, 2, 3> gives [32, 16, 16, 16].
        type Out = ConvOut<Image<28, 28, 3>, 16, 4, 2, 3>;
        assert_eq!(dims::<Out>(), [16, 16, 16]);
        assert_eq!(dims::<PoolOut<Image<8, 8, 1>, 4, 2>>(), [3, 3, 1]);
        assert_eq!(dims::<Flat<Image<7, 7, 32>>>(), [1, 1, 1568]);
        assert_eq!(window_out_len(5, 6, 1, 0), 0);
        assert_eq!(window_out_len(5, 3, 0, 0), 0);
        assert_eq!(window_out_len(7, 3, 3, 1), 3);
    }

    #[test]
    fn global_pooling_keeps_the_channels() {
        assert_eq!(dims::<GlobalPoolOut<Image<8, 6, 64>>>(), [1, 1, 64]);
        assert_eq!(dims::<GlobalPoolOut<Image<1, 1, 3>>>(), [1, 1, 3]);
        // A failed layer upstream (empty output) stays empty.
        assert_eq!(
            dims::<GlobalPoolOut<PoolOut<Image<3, 3, 8>, 4, 2>>>(),
            [1, 1, 0]
        );
    }

    #[test]
    fn check_window_reports_each_problem() {
        let args: &'static [usize] = &[1, 1, 5, 1, 0];
        let err = check_window::<Image<4, 4, 1>>("Conv2d", args, 5, 1, 0);
        assert_eq!(
            err.map_err(|m| m.problem),
            Err(Problem::WindowTooLarge {
                window: 5,
                padding: 0
            })
        );
        assert!(check_window::<Image<4, 4, 1>>("Conv2d", args, 5, 1, 1).is_ok());
        let err = check_window::<Image<4, 4, 1>>("Conv2d", args, 3, 0, 0);
        assert_eq!(err.map_err(|m| m.problem), Err(Problem::ZeroStride));
    }
}
