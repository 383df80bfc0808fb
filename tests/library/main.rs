//! The library through its public API, in one test binary: each integration test binary links
//! constnet and compiles the networks it trains again, so one binary for all of them compiles
//! each network once (the allocation tests, which count the whole process's allocations, have
//! their own binary: `tests/alloc/`).
//!
//! - `notebook_parity`: every check of the notebook, in f64, at the notebook's tolerances;
//! - `network_api`: the API that `net!` writes, forward and backward through the whole chain;
//! - `resnet20`: ResNet-20 against PyTorch, its parameters, reproducible training;
//! - `infer`: inference through `&self`, named activations, predictions;
//! - `torch_weights`, `safetensors_compat`: PyTorch weights in and out; the safetensors format;
//! - `train_*`: the training loop, resume, checkpoints, augmentation, data-parallel hook,
//!   regularisation, training on a `Dataset`;
//! - `data_*`: the file loaders, the CIFAR-100 Matlab loader (feature `mat`), the synthetic set.
//! - `shared`: the tiny BatchNorm CNN and the images of bars that several `train_*` modules use.

#[cfg(feature = "mat")]
mod data_cifar;
mod data_loaders;
mod data_synthetic;
mod infer;
mod network_api;
mod notebook_parity;
mod resnet20;
mod safetensors_compat;
mod shared;
mod torch_weights;
mod train_augment;
mod train_checkpoint;
mod train_dataset;
mod train_loop;
mod train_parallel;
mod train_regularization;
mod train_resume;
