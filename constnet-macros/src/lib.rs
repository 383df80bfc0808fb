//! The `net!` macro of [constnet](https://docs.rs/constnet): use it through `constnet::net!`,
//! whose documentation describes the syntax. This crate only parses the declaration and writes
//! the code; the shape checks themselves are constants of the `constnet` crate.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, GenericParam, Generics, Ident, LitInt, Token, Type, Visibility, braced,
    parse_macro_input,
};

/// A network declaration; see `constnet::net!`.
#[proc_macro]
pub fn net(input: TokenStream) -> TokenStream {
    let def = parse_macro_input!(input as NetDef);
    match def.expand() {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// `[attrs] vis struct Name<const A: usize, ..> { [input: Shape,] name: Layer [= init], .. }`
struct NetDef {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    generics: Generics,
    input: Option<Type>,
    layers: Vec<LayerDef>,
}

/// One layer: `[attrs] name: Type [= initialiser]`; `name` is an identifier or an index.
struct LayerDef {
    attrs: Vec<Attribute>,
    /// The name in parameter paths (`conv1`, `0`).
    text: String,
    /// The struct field (`conv1`, `_0`).
    field: Ident,
    span: Span,
    ty: Type,
    init: Option<Expr>,
    /// `#[transparent]`: the layer adds no name of its own to its parameters' paths.
    transparent: bool,
}

impl Parse for NetDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let generics: Generics = input.parse()?;
        if let Some(where_clause) = &generics.where_clause {
            return Err(syn::Error::new(
                where_clause.span(),
                "net!: a network takes no where clause",
            ));
        }
        for param in &generics.params {
            match param {
                GenericParam::Const(c) if c.ident == "T" => {
                    return Err(syn::Error::new(
                        c.ident.span(),
                        "net!: `T` is the network's element type; name this parameter otherwise",
                    ));
                }
                GenericParam::Const(_) => {}
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "net!: a network takes const parameters only (`const N: usize`); its element type `T` is added by the macro",
                    ));
                }
            }
        }
        let body;
        braced!(body in input);
        let mut shape = None;
        let mut layers: Vec<LayerDef> = Vec::new();
        while !body.is_empty() {
            let mut attrs = body.call(Attribute::parse_outer)?;
            let before = attrs.len();
            attrs.retain(|a| !a.path().is_ident("transparent"));
            let transparent = attrs.len() != before;
            let (text, field, span) = if body.peek(LitInt) {
                let index: LitInt = body.parse()?;
                let value: usize = index.base10_parse()?;
                let field = format_ident!("_{}", value, span = index.span());
                (value.to_string(), field, index.span())
            } else {
                let ident = body.call(Ident::parse_any)?;
                (ident.unraw().to_string(), ident.clone(), ident.span())
            };
            body.parse::<Token![:]>()?;
            let ty: Type = body.parse()?;
            let init = if body.peek(Token![=]) {
                body.parse::<Token![=]>()?;
                Some(body.parse::<Expr>()?)
            } else {
                None
            };
            if text == "input" {
                if !layers.is_empty() || shape.is_some() {
                    return Err(syn::Error::new(
                        span,
                        "net!: `input` names the network's input shape and comes first",
                    ));
                }
                if let Some(init) = init {
                    return Err(syn::Error::new(
                        init.span(),
                        "net!: the input shape takes no initialiser",
                    ));
                }
                shape = Some(ty);
            } else {
                if text.starts_with("__") {
                    return Err(syn::Error::new(
                        span,
                        "net!: names starting with `__` are reserved",
                    ));
                }
                if layers.iter().any(|l| l.text == text) {
                    return Err(syn::Error::new(
                        span,
                        format!("net!: two layers are named `{text}`"),
                    ));
                }
                layers.push(LayerDef {
                    attrs,
                    text,
                    field,
                    span,
                    ty,
                    init,
                    transparent,
                });
            }
            if body.is_empty() {
                break;
            }
            body.parse::<Token![,]>()?;
        }
        if layers.is_empty() {
            return Err(syn::Error::new(
                name.span(),
                "net!: a network needs at least one layer",
            ));
        }
        Ok(NetDef {
            attrs,
            vis,
            name,
            generics,
            input: shape,
            layers,
        })
    }
}

impl NetDef {
    fn expand(&self) -> syn::Result<Tokens> {
        let krate = quote!(::constnet);
        let NetDef {
            attrs, vis, name, ..
        } = self;
        let name_text = name.to_string();
        let n = self.layers.len();

        // Const parameters: as declared (with defaults), for impls, as arguments.
        let declared: Vec<&GenericParam> = self.generics.params.iter().collect();
        let mut impl_params = Vec::new();
        let mut args = Vec::new();
        let mut usize_args = Vec::new();
        for param in &self.generics.params {
            if let GenericParam::Const(c) = param {
                let (ident, ty) = (&c.ident, &c.ty);
                impl_params.push(quote!(const #ident: #ty));
                args.push(quote!(#ident));
                if quote!(#ty).to_string() == "usize" {
                    usize_args.push(quote!(#ident));
                }
            }
        }
        let this = quote!(#name<#(#args,)* T>);
        // A network with an input shape and no const parameters is a layer for that input only,
        // with concrete stage shapes; the others are layers for any input `In`.
        let concrete = match (&self.input, self.generics.params.is_empty()) {
            (Some(shape), true) => Some(shape),
            _ => None,
        };
        let (in_ty, in_param) = match concrete {
            Some(shape) => (quote!(#shape), quote!()),
            None => (quote!(In), quote!(In: #krate::Shape,)),
        };
        let this_f32 = quote!(#name<#(#args,)* f32>);
        let layers_trait = format_ident!("__constnet_layers_{}", name);
        let stages_trait = format_ident!("__ConstnetStages{}", name);

        let fields: Vec<&Ident> = self.layers.iter().map(|l| &l.field).collect();
        let texts: Vec<&String> = self.layers.iter().map(|l| &l.text).collect();
        let assoc: Vec<Ident> = self
            .layers
            .iter()
            .map(|l| format_ident!("L_{}", l.text))
            .collect();
        let stages: Vec<Ident> = self
            .layers
            .iter()
            .map(|l| format_ident!("S_{}", l.text))
            .collect();
        // The layer type (element type T) and its input shape, for layer k.
        let layer_ty = |k: usize| {
            let a = &assoc[k];
            quote!(<#this as #layers_trait>::#a)
        };
        let stage_in = |k: usize, shape: Tokens, net: &Tokens| {
            if k == 0 {
                shape
            } else {
                let s = &stages[k - 1];
                quote!(<#net as #stages_trait<#shape>>::#s)
            }
        };
        let last_stage = &stages[n - 1];

        // The struct, and the trait naming its layer types (so that each layer type is written
        // once in the expansion: one mistake in it gives one error).
        let field_decls = self.layers.iter().zip(&assoc).map(|(l, a)| {
            let LayerDef {
                attrs, field, ty, ..
            } = l;
            let written = quote!(#ty)
                .to_string()
                .replace(" < ", "<")
                .replace(" >", ">")
                .replace(" ,", ",");
            let doc = format!("`{}`", written.replace("< ", "<"));
            let hint = if attrs.iter().any(|a| a.path().is_ident("doc")) {
                quote!(#[doc = ""] #[doc = #doc])
            } else {
                quote!(#[doc = #doc])
            };
            quote!(#(#attrs)* #hint pub #field: <#this as #layers_trait>::#a,)
        });
        let assoc_decls = assoc.iter().map(|a| quote!(#[doc(hidden)] type #a;));
        let assoc_defs = self.layers.iter().zip(&assoc).map(|(l, a)| {
            let ty = &l.ty;
            quote_spanned!(ty.span()=> type #a = <#ty as #krate::layer::WithFloat<T>>::Layer;)
        });
        let stage_decls = stages.iter().map(|s| quote!(type #s: #krate::Shape;));
        let stage_defs = (0..n).map(|k| {
            let s = &stages[k];
            match concrete {
                // Each stage a concrete `Image` computed by constants from the one before: the
                // type checker never follows a chain of projections as deep as the network
                // (a 170-layer chain would pass its recursion limit).
                Some(shape) => {
                    let a = &assoc[k];
                    let l = quote!(<#this_f32 as #layers_trait>::#a);
                    let input = stage_in(k, quote!(#shape), &this_f32);
                    let out = quote!(<<#l as #krate::Layer<#input, f32>>::Out as #krate::Shape>);
                    quote!(type #s = #krate::Image<{ #out::H }, { #out::W }, { #out::C }>;)
                }
                None => {
                    let l = layer_ty(k);
                    let input = stage_in(k, in_ty.clone(), &this);
                    quote!(type #s = <#l as #krate::Layer<#input, T>>::Out;)
                }
            }
        });
        let inits = self.layers.iter().map(|l| {
            let field = &l.field;
            match &l.init {
                Some(init) => quote!(#field: #init,),
                None => quote!(#field: ::core::default::Default::default(),),
            }
        });

        let path_names: Vec<String> = self
            .layers
            .iter()
            .map(|l| {
                if l.transparent {
                    String::new()
                } else {
                    l.text.clone()
                }
            })
            .collect();
        let fits = (0..n).map(|k| {
            let (l, text) = (layer_ty(k), &path_names[k]);
            let input = stage_in(k, in_ty.clone(), &this);
            quote!((#text, <#l as #krate::Layer<#input, T>>::FIT),)
        });
        let child_inits = (0..n).map(|k| {
            let (l, f) = (layer_ty(k), fields[k]);
            let input = stage_in(k, in_ty.clone(), &this);
            quote!(<#l as #krate::Layer<#input, T>>::init(&mut self.#f, init, rng);)
        });
        let transparent: Vec<bool> = self.layers.iter().map(|l| l.transparent).collect();
        // Pushes the layer's name around `call`, unless it is transparent.
        let named = |k: usize, call: Tokens| {
            let text = texts[k];
            if transparent[k] {
                call
            } else {
                quote! {
                    path.push(#krate::layer::Segment::Name(#text));
                    #call
                    path.pop();
                }
            }
        };
        let visits = (0..n).map(|k| {
            let (l, f) = (layer_ty(k), fields[k]);
            let input = stage_in(k, in_ty.clone(), &this);
            named(
                k,
                quote!(<#l as #krate::Layer<#input, T>>::visit_params(&self.#f, path, f);),
            )
        });
        let visits_mut = (0..n).map(|k| {
            let (l, f) = (layer_ty(k), fields[k]);
            let input = stage_in(k, in_ty.clone(), &this);
            named(
                k,
                quote!(<#l as #krate::Layer<#input, T>>::visit_params_mut(&mut self.#f, path, f);),
            )
        });
        let describes = (0..n).map(|k| {
            let (l, f) = (layer_ty(k), fields[k]);
            let input = stage_in(k, in_ty.clone(), &this);
            if transparent[k] {
                quote!(#krate::network::describe_transparent::<#input, T, #l>(&self.#f, path, rows);)
            } else {
                named(k, quote!(<#l as #krate::Layer<#input, T>>::describe(&self.#f, path, rows);))
            }
        });

        // forward and backward through the layers, with the intermediate outputs in `__net`.
        let call = |k: usize| {
            let l = layer_ty(k);
            let input = stage_in(k, in_ty.clone(), &this);
            quote!(<#l as #krate::Layer<#input, T>>)
        };
        let len_of = |k: usize| {
            let s = &stages[k];
            quote!(batch * <<#this as #stages_trait<#in_ty>>::#s as #krate::Shape>::LEN)
        };
        let (forward_body, backward_body) = if n == 1 {
            let (c, f) = (call(0), fields[0]);
            (
                quote!(#c::forward(&mut self.#f, input, output, batch, mode);),
                quote!(#c::backward_pooled(&mut self.#f, input, output, grad_output, grad_input, batch, pool);),
            )
        } else {
            let stages_n = n - 1;
            let (c0, f0, len0) = (call(0), fields[0], len_of(0));
            let middle_forward = (1..n - 1).map(|k| {
                let (c, f, len) = (call(k), fields[k], len_of(k));
                quote! {
                    let (x, y) = self.__net.forward_pair(#k, #len);
                    #c::forward(&mut self.#f, x, y, batch, mode);
                }
            });
            let middle_backward = (1..n - 1).rev().map(|k| {
                let (c, f) = (call(k), fields[k]);
                quote! {
                    let (x, y, dy, dx) = self.__net.middle_backward(#k);
                    #c::backward_pooled(&mut self.#f, x, y, dy, ::core::option::Option::Some(dx), batch, pool);
                }
            });
            let (cl, fl) = (call(n - 1), fields[n - 1]);
            (
                quote! {
                    self.__net.stages(#stages_n);
                    let y = self.__net.first_output(#len0);
                    #c0::forward(&mut self.#f0, input, y, batch, mode);
                    #(#middle_forward)*
                    let x = self.__net.last_input();
                    #cl::forward(&mut self.#fl, x, output, batch, mode);
                },
                quote! {
                    self.__net.lend_grads(pool);
                    let (x, dx) = self.__net.last_backward();
                    #cl::backward_pooled(&mut self.#fl, x, output, grad_output, ::core::option::Option::Some(dx), batch, pool);
                    #(#middle_backward)*
                    let (y, dy) = self.__net.first_backward();
                    #c0::backward_pooled(&mut self.#f0, input, y, dy, grad_input, batch, pool);
                    self.__net.return_grads(pool);
                },
            )
        };

        // infer through `&self`: two buffers of the widest intermediate output, used in turn,
        // then the children's scratch (one layer runs at a time, so they share it).
        let stage_len = |k: usize| {
            let s = &stages[k];
            quote!(<<#this as #stages_trait<#in_ty>>::#s as #krate::Shape>::LEN)
        };
        let widest = {
            let lens: Vec<Tokens> = (0..n - 1).map(stage_len).collect();
            quote! {{
                let mut widest = 0usize;
                #(if #lens > widest { widest = #lens; })*
                widest
            }}
        };
        let child_scratch = (0..n).map(|k| {
            let c = call(k);
            quote!(inner = ::core::cmp::Ord::max(inner, #c::infer_scratch(batch));)
        });
        let infer_scratch_body = quote! {
            let mut inner = 0usize;
            #(#child_scratch)*
            2 * batch * #widest + inner
        };
        let infer_tapped_body = if n == 1 {
            let (c, f) = (call(0), fields[0]);
            let step = named(
                0,
                quote!(#c::infer_tapped(&self.#f, input, output, batch, scratch, path, tap);),
            );
            quote! {
                #step
                tap(path, output);
            }
        } else {
            let buffer = |k: usize| {
                if k.is_multiple_of(2) {
                    quote!(__a)
                } else {
                    quote!(__b)
                }
            };
            let steps = (0..n).map(|k| {
                let (c, f) = (call(k), fields[k]);
                let x = if k == 0 {
                    quote!(input)
                } else {
                    let (buf, len) = (buffer(k - 1), stage_len(k - 1));
                    quote!(&#buf[..batch * #len])
                };
                let y = if k == n - 1 {
                    quote!(output)
                } else {
                    let (buf, len) = (buffer(k), stage_len(k));
                    quote!(&mut #buf[..batch * #len])
                };
                named(
                    k,
                    quote!(#c::infer_tapped(&self.#f, #x, #y, batch, __inner, path, tap);),
                )
            });
            quote! {
                let __widest = batch * #widest;
                let (__a, __rest) = scratch.split_at_mut(__widest);
                let (__b, __inner) = __rest.split_at_mut(__widest);
                #(#steps)*
                tap(path, output);
            }
        };

        let mut out = quote! {
            #(#attrs)*
            #vis struct #name<#(#declared,)* T: #krate::Float = f32> {
                #(#field_decls)*
                __net: #krate::network::NetState<T>,
            }

            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #vis trait #layers_trait {
                #(#assoc_decls)*
            }
        };

        let layer_impl = quote! {
            impl<#(#impl_params,)* T: #krate::Float> #layers_trait for #this {
                #(#assoc_defs)*
            }

            #[doc(hidden)]
            pub trait #stages_trait<In> {
                #(#stage_decls)*
            }

            impl<#in_param #(#impl_params,)* T: #krate::Float> #stages_trait<#in_ty> for #this {
                #(#stage_defs)*
            }

            impl<#(#impl_params,)* T: #krate::Float> ::core::default::Default for #this {
                fn default() -> Self {
                    #name {
                        #(#inits)*
                        __net: ::core::default::Default::default(),
                    }
                }
            }

            impl<#(#impl_params,)* T: #krate::Float, U: #krate::Float> #krate::layer::WithFloat<U> for #this {
                type Layer = #name<#(#args,)* U>;
            }

            impl<#(#impl_params,)* T: #krate::Float> #krate::network::HasNetState<T> for #this {
                fn net_state(&mut self) -> &mut #krate::network::NetState<T> {
                    &mut self.__net
                }
                fn net_state_ref(&self) -> &#krate::network::NetState<T> {
                    &self.__net
                }
            }

            impl<#in_param #(#impl_params,)* T: #krate::Float> #krate::Layer<#in_ty, T> for #this {
                type Out = #krate::shape::IfFits<<#this as #stages_trait<#in_ty>>::#last_stage, Self, #in_ty, T>;
                const KIND: &'static str = #name_text;
                const ARGS: &'static [usize] = &[#(#usize_args),*];
                const FIT: ::core::result::Result<(), #krate::Misfit> =
                    #krate::shape::first_misfit(&[#(#fits)*]);

                fn init(&mut self, init: #krate::Init, rng: &mut #krate::network::StdRng) {
                    #(#child_inits)*
                }

                fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, mode: #krate::Mode) {
                    #forward_body
                }

                fn backward(
                    &mut self,
                    input: &[T],
                    output: &[T],
                    grad_output: &[T],
                    grad_input: ::core::option::Option<&mut [T]>,
                    batch: usize,
                ) {
                    let mut pool = self.__net.take_pool();
                    <Self as #krate::Layer<#in_ty, T>>::backward_pooled(
                        self, input, output, grad_output, grad_input, batch, &mut pool,
                    );
                    self.__net.put_pool(pool);
                }

                fn backward_pooled(
                    &mut self,
                    input: &[T],
                    output: &[T],
                    grad_output: &[T],
                    grad_input: ::core::option::Option<&mut [T]>,
                    batch: usize,
                    pool: &mut #krate::network::GradPool<T>,
                ) {
                    #backward_body
                }

                fn infer(&self, input: &[T], output: &mut [T], batch: usize, scratch: &mut [T]) {
                    let mut path = #krate::layer::NamePath::root();
                    <Self as #krate::Layer<#in_ty, T>>::infer_tapped(
                        self, input, output, batch, scratch, &mut path, &mut |_, _| {},
                    );
                }

                fn infer_scratch(batch: usize) -> usize {
                    #infer_scratch_body
                }

                fn infer_tapped(
                    &self,
                    input: &[T],
                    output: &mut [T],
                    batch: usize,
                    scratch: &mut [T],
                    path: &mut #krate::layer::NamePath,
                    tap: &mut #krate::layer::Tap<'_, T>,
                ) {
                    #infer_tapped_body
                }

                fn visit_params<'a>(
                    &'a self,
                    path: &mut #krate::layer::NamePath,
                    f: &mut dyn FnMut(&#krate::layer::NamePath, #krate::Param<'a, T>),
                ) {
                    #(#visits)*
                }

                fn visit_params_mut<'a>(
                    &'a mut self,
                    path: &mut #krate::layer::NamePath,
                    f: &mut dyn FnMut(&#krate::layer::NamePath, #krate::ParamMut<'a, T>),
                ) {
                    #(#visits_mut)*
                }

                fn describe(
                    &self,
                    path: &mut #krate::layer::NamePath,
                    rows: &mut ::std::vec::Vec<#krate::LayerInfo>,
                ) {
                    #krate::network::container_row::<#in_ty, T, Self>(self, path, rows);
                    #(#describes)*
                }
            }
        };

        let network_impl = match &self.input {
            None => quote!(),
            Some(shape) => {
                let generic = !self.generics.params.is_empty();
                let output = if generic {
                    quote!(<Self as #krate::Layer<#shape, T>>::Out)
                } else {
                    let last =
                        quote!(<<#this_f32 as #krate::Layer<#shape, f32>>::Out as #krate::Shape>);
                    quote!(#krate::Image<{ #last::H }, { #last::W }, { #last::C }>)
                };
                // Non-generic networks: each layer's fit is a constant that `cargo check`
                // evaluates, reported at the layer's own line. Generic ones are checked where
                // a concrete network is built (see `net!`'s docs).
                let checks = if generic {
                    quote!()
                } else {
                    let each = self.layers.iter().enumerate().map(|(k, layer)| {
                        let a = &assoc[k];
                        let l = quote!(<#this_f32 as #layers_trait>::#a);
                        let input = stage_in(k, quote!(#shape), &this_f32);
                        let text = &layer.text;
                        let located = if layer.transparent {
                            quote_spanned!(layer.span=> if misfit.depth == 0 { misfit.within(#text) } else { misfit })
                        } else {
                            quote_spanned!(layer.span=> misfit.within(#text))
                        };
                        quote_spanned! {layer.span=>
                            const _: () = match <#l as #krate::Layer<#input, f32>>::FIT {
                                ::core::result::Result::Ok(()) => (),
                                ::core::result::Result::Err(misfit) => ::core::panic!("{}", #located.report().to_str()),
                            };
                        }
                    });
                    quote! {
                        const _: () = ::core::assert!(
                            <#shape as #krate::Shape>::LEN > 0,
                            "the network input shape has a dimension of 0"
                        );
                        #(#each)*
                    }
                };
                let build_check = if generic {
                    quote! {
                        const {
                            if let ::core::result::Result::Err(misfit) = <#this as #krate::Layer<#shape, T>>::FIT {
                                ::core::panic!("{}", misfit.report().to_str());
                            }
                        }
                    }
                } else {
                    quote!()
                };
                quote! {
                    #checks

                    impl<#(#impl_params),*> #this_f32 {
                        /// Whether every layer fits, as a constant: `const _: () =
                        /// Net::CHECK;` makes `cargo check` report a misfit of this network
                        /// (a network with const parameters, for the arguments given).
                        pub const CHECK: () = match <Self as #krate::Layer<#shape, f32>>::FIT {
                            ::core::result::Result::Ok(()) => (),
                            ::core::result::Result::Err(misfit) => ::core::panic!("{}", misfit.report().to_str()),
                        };
                    }

                    impl<#(#impl_params,)* T: #krate::Float> #this {
                        /// A network with He-initialised weights and zero biases, drawn from `seed`.
                        pub fn new(seed: u64) -> Self {
                            Self::with_init(#krate::Init::He, seed)
                        }

                        /// A network initialised with `init`, drawn from `seed`.
                        pub fn with_init(init: #krate::Init, seed: u64) -> Self {
                            #build_check
                            let mut net: Self = ::core::default::Default::default();
                            let mut rng = #krate::network::seeded_rng(seed);
                            <Self as #krate::Network<T>>::init(&mut net, init, &mut rng);
                            net
                        }
                    }

                    impl<#(#impl_params,)* T: #krate::Float> #krate::Network<T> for #this {
                        type Input = #shape;
                        type Output = #output;

                        fn init(&mut self, init: #krate::Init, rng: &mut #krate::network::StdRng) {
                            <Self as #krate::Layer<#shape, T>>::init(self, init, rng);
                        }

                        fn forward(&mut self, input: &#krate::Tensor<#shape, T>, mode: #krate::Mode) -> &[T] {
                            #krate::network::run_forward::<#shape, T, Self>(self, input.as_slice(), input.batch(), mode)
                        }

                        fn backward(&mut self, grad_output: &[T]) {
                            #krate::network::run_backward::<#shape, T, Self>(self, grad_output, false);
                        }

                        fn backward_with_input_grad(&mut self, grad_output: &[T]) -> &[T] {
                            #krate::network::run_backward::<#shape, T, Self>(self, grad_output, true);
                            &self.__net.top().grad_input
                        }

                        fn infer_scratch_len(&self, batch: usize) -> usize {
                            <Self as #krate::Layer<#shape, T>>::infer_scratch(batch)
                        }

                        fn infer_into(
                            &self,
                            input: &[T],
                            output: &mut [T],
                            batch: usize,
                            scratch: &mut [T],
                            tap: ::core::option::Option<&mut #krate::layer::Tap<'_, T>>,
                        ) {
                            let mut path = #krate::layer::NamePath::root();
                            match tap {
                                ::core::option::Option::Some(tap) => {
                                    <Self as #krate::Layer<#shape, T>>::infer_tapped(
                                        self, input, output, batch, scratch, &mut path, tap,
                                    )
                                }
                                ::core::option::Option::None => {
                                    <Self as #krate::Layer<#shape, T>>::infer(self, input, output, batch, scratch)
                                }
                            }
                        }

                        fn params<'a>(
                            &'a self,
                            f: &mut dyn FnMut(&#krate::layer::NamePath, #krate::Param<'a, T>),
                        ) {
                            let mut path = #krate::layer::NamePath::root();
                            <Self as #krate::Layer<#shape, T>>::visit_params(self, &mut path, f);
                        }

                        fn params_mut<'a>(
                            &'a mut self,
                            f: &mut dyn FnMut(&#krate::layer::NamePath, #krate::ParamMut<'a, T>),
                        ) {
                            let mut path = #krate::layer::NamePath::root();
                            <Self as #krate::Layer<#shape, T>>::visit_params_mut(self, &mut path, f);
                        }

                        fn layers(&self) -> ::std::vec::Vec<#krate::LayerInfo> {
                            let mut rows = ::std::vec::Vec::new();
                            let mut path = #krate::layer::NamePath::root();
                            <Self as #krate::Layer<#shape, T>>::describe(self, &mut path, &mut rows);
                            rows
                        }
                    }
                }
            }
        };

        out.extend(quote! {
            #[allow(non_camel_case_types, non_snake_case, unused_braces, unused_qualifications, private_interfaces, private_bounds, clippy::all)]
            const _: () = {
                #layer_impl
                #network_impl
            };
        });
        Ok(out)
    }
}
