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
    (
        $(#[$attr:meta])*
        $vis:vis struct $net:ident {
            input: $input:ty,
            $($body:tt)*
        }
    ) => {
        $crate::__net_layers! {
            @head [$(#[$attr])* $vis struct $net; $input]
            @forward []
            @backward []
            @prev input;
            $($body)*
        }
    };
}

/// Internal: collects the layers of [`net!`] one by one (each with the name of the layer before
/// it), then writes the struct and its impls.
#[doc(hidden)]
#[macro_export]
macro_rules! __net_layers {
    // One more layer: remember it with its predecessor, in order and in reverse order.
    (
        @head $head:tt
        @forward [$($forward:tt)*]
        @backward [$($backward:tt)*]
        @prev $prev:ident;
        $(#[$lattr:meta])* $name:ident : $kind:ident $(< $($arg:tt),* >)? $(, $($rest:tt)*)?
    ) => {
        $crate::__net_layers! {
            @head $head
            @forward [$($forward)* ([$(#[$lattr])*] $prev $name $kind [$($($arg)*)?])]
            @backward [($prev $name $kind [$($($arg)*)?]) $($backward)*]
            @prev $name;
            $($($rest)*)?
        }
    };
    // All layers collected.
    (
        @head [$(#[$attr:meta])* $vis:vis struct $net:ident; $input:ty]
        @forward [$( ([$(#[$lattr:meta])*] $prev:ident $name:ident $kind:ident [$($arg:tt)*]) )+]
        @backward [$( ($bprev:ident $bname:ident $bkind:ident [$($barg:tt)*]) )+]
        @prev $last:ident;
    ) => {
        $(#[$attr])*
        $vis struct $net<T: $crate::Float = f32> {
            $(
                $(#[$lattr])*
                pub $name: $kind<$({$arg},)* T>,
            )+
            buffers: $crate::network::Buffers<T>,
        }

        // Stage shapes are type aliases named after the layer that produces them (`input` is the
        // network's input); the anonymous const keeps them out of the caller's namespace.
        #[allow(non_camel_case_types, unused_braces, clippy::all)]
        const _: () = {
            type input = $input;
            const _: () = ::core::assert!(
                <input as $crate::Shape>::LEN > 0,
                "the network input shape has a dimension of 0"
            );
            $(
                type $name = <$kind<$({$arg},)* f32> as $crate::Layer<$prev, f32>>::Out;
                const _: () = match <$kind<$({$arg},)* f32> as $crate::Layer<$prev, f32>>::FIT {
                    ::core::result::Result::Ok(()) => (),
                    ::core::result::Result::Err(misfit) => ::core::panic!("{}", misfit.message(::core::stringify!($name)).to_str()),
                };
            )+

            impl<T: $crate::Float> $net<T> {
                /// A network with He-initialised weights and zero biases, drawn from `seed`.
                pub fn new(seed: u64) -> Self {
                    Self::with_init($crate::Init::He, seed)
                }

                /// A network initialised with `init`, drawn from `seed`.
                pub fn with_init(init: $crate::Init, seed: u64) -> Self {
                    let mut net = $net {
                        $( $name: ::core::default::Default::default(), )+
                        buffers: ::core::default::Default::default(),
                    };
                    let mut rng = $crate::network::seeded_rng(seed);
                    $crate::Network::<T>::init(&mut net, init, &mut rng);
                    net
                }
            }

            impl<T: $crate::Float> $crate::Network<T> for $net<T> {
                type Input = input;
                type Output = $crate::Image<
                    { <$last as $crate::Shape>::H },
                    { <$last as $crate::Shape>::W },
                    { <$last as $crate::Shape>::C },
                >;

                fn init(&mut self, init: $crate::Init, rng: &mut $crate::network::StdRng) {
                    $( <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::init(&mut self.$name, init, rng); )+
                }

                fn forward(
                    &mut self,
                    input: &$crate::Tensor<input, T>,
                    mode: $crate::Mode,
                ) -> &[T] {
                    // On a pool thread, so that the layers' parallel loops fork there.
                    $crate::kernels::on_pool(move || {
                        let batch = input.batch();
                        let layers = [$(::core::stringify!($name)),+].len();
                        self.buffers.start(layers, input.as_slice(), batch);
                        let mut stage = 0;
                        $(
                            let (x, y) = self.buffers.forward_pair(stage, batch * <$name as $crate::Shape>::LEN);
                            <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::forward(&mut self.$name, x, y, batch, mode);
                            stage += 1;
                        )+
                        let _ = stage;
                        self.buffers.output()
                    })
                }

                fn backward(&mut self, grad_output: &[T]) {
                    self.run_backward(grad_output, false);
                }

                fn backward_with_input_grad(&mut self, grad_output: &[T]) -> &[T] {
                    self.run_backward(grad_output, true);
                    self.buffers.input_grad()
                }

                fn params<'a>(
                    &'a self,
                    f: &mut dyn FnMut(&'static str, $crate::Param<'a, T>),
                ) {
                    $(
                        <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::params(
                            &self.$name,
                            &mut |p| f(::core::stringify!($name), p),
                        );
                    )+
                }

                fn params_mut<'a>(
                    &'a mut self,
                    f: &mut dyn FnMut(&'static str, $crate::ParamMut<'a, T>),
                ) {
                    $(
                        <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::params_mut(
                            &mut self.$name,
                            &mut |p| f(::core::stringify!($name), p),
                        );
                    )+
                }

                fn layers(&self) -> ::std::vec::Vec<$crate::LayerInfo> {
                    ::std::vec![$(
                        $crate::LayerInfo {
                            name: ::core::stringify!($name),
                            signature: $crate::layer::signature(
                                <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::KIND,
                                <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::ARGS,
                            ),
                            output: $crate::shape::dims::<$name>(),
                            params: {
                                let mut n = 0;
                                <$kind<$({$arg},)* T> as $crate::Layer<$prev, T>>::params(
                                    &self.$name,
                                    &mut |p| if p.kind != $crate::ParamKind::Buffer { n += p.value.len() },
                                );
                                n
                            },
                        }
                    ),+]
                }
            }

            impl<T: $crate::Float> $net<T> {
                fn run_backward(&mut self, grad_output: &[T], want_input_grad: bool) {
                    // On a pool thread, as in `forward`.
                    $crate::kernels::on_pool(move || {
                        let batch = self.buffers.batch();
                        self.buffers.start_backward(grad_output);
                        let mut stage = [$(::core::stringify!($bname)),+].len();
                        $(
                            stage -= 1;
                            let (x, y, dy, dx) = self.buffers.backward_views(stage);
                            let dx = if stage > 0 || want_input_grad { Some(dx) } else { None };
                            <$bkind<$({$barg},)* T> as $crate::Layer<$bprev, T>>::backward(&mut self.$bname, x, y, dy, dx, batch);
                        )+
                    })
                }
            }
        };
    };
}
