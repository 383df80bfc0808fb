//! The [`net!`](crate::net!) macro: a network as a struct of named layers, with every layer's fit
//! checked at compile time.

/// Declares a network: a struct with one public field per layer, generic over the element type
/// (`f32` by default), implementing [`Network`](crate::Network).
///
/// The first line names the input shape; each following line is `name: Layer<args>`. Const
/// arguments must be single tokens (`3`, `N`, or `{ N * 2 }`). For every layer the macro
/// evaluates, in a `const` item that `cargo check` evaluates, whether it fits the output of the
/// layer before it; a misfit stops compilation with a message that names the layer and gives both
/// sizes, e.g.
///
/// ```text
/// error[E0080]: evaluation panicked: layer `fc1`: Linear<1567, 100> expects 1567 input features, but its input is 1x1x1568 = 1568
/// ```
///
/// It also writes `new(seed)` (He initialisation) and `with_init(init, seed)` constructors.
/// The names `input` and `buffers` are reserved.
///
/// ```
/// use constnet::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! {
///     /// A small CNN for 8x8 RGB images.
///     pub struct Tiny {
///         input: Image<8, 8, 3>,
///         conv: Conv2d<3, 4, 3, 1, 1>,   // 8x8x4
///         relu: Relu,
///         pool: MaxPool2d<2, 2>,          // 4x4x4
///         flatten: Flatten,               // 1x1x64
///         fc: Linear<64, 10>,
///     }
/// }
///
/// let mut net = Tiny::<f32>::new(42);
/// let x = Tensor::<Image<8, 8, 3>>::zeros(2);
/// let scores = net.forward(&x, Mode::Eval);
/// assert_eq!(scores.len(), 2 * 10);
/// assert_eq!(net.param("fc.weight").map(|w| w.len()), Some(640));
/// ```
#[macro_export]
macro_rules! net {
    ($($declaration:tt)*) => {
        $crate::__net_proc_macro! { $($declaration)* }
    };
}
