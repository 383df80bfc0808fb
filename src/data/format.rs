//! [`DataFormat`]: the file formats the loaders read, told apart by [`detect_format`], and
//! [`load`], which reads any of them.

use std::fmt;
use std::str::FromStr;

/// A data set file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataFormat {
    /// MNIST / Fashion-MNIST IDX files (`train-images-idx3-ubyte`, ..., plain or `.gz`).
    Mnist,
    /// CIFAR-10 binary version (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`).
    Cifar10,
    /// CIFAR-100 binary version (`train.bin`, `test.bin`).
    Cifar100,
    /// CIFAR-100 Matlab version (`train.mat`, `test.mat`).
    Cifar100Mat,
    /// A folder of PNG images, one sub-folder per class (`ROOT/<class>/*.png`).
    Folder,
}

impl DataFormat {
    /// Every format, in the order [`detect_format`] tries them.
    pub const ALL: [DataFormat; 5] = [
        DataFormat::Cifar100Mat,
        DataFormat::Cifar100,
        DataFormat::Cifar10,
        DataFormat::Mnist,
        DataFormat::Folder,
    ];

    /// The name used by the programs' `--format`: `mnist`, `cifar10`, `cifar100`,
    /// `cifar100-mat` or `folder`.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Mnist => "mnist",
            DataFormat::Cifar10 => "cifar10",
            DataFormat::Cifar100 => "cifar100",
            DataFormat::Cifar100Mat => "cifar100-mat",
            DataFormat::Folder => "folder",
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`DataFormat::name`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown data format '{0}' (expected mnist, cifar10, cifar100, cifar100-mat or folder)")]
pub struct UnknownFormatName(pub String);

impl FromStr for DataFormat {
    type Err = UnknownFormatName;

    /// Parses a [`DataFormat::name`] (`fashion-mnist` and `idx` are accepted for `mnist`,
    /// `image-folder` for `folder`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "mnist" | "fashion-mnist" | "idx" => DataFormat::Mnist,
            "cifar10" => DataFormat::Cifar10,
            "cifar100" => DataFormat::Cifar100,
            "cifar100-mat" => DataFormat::Cifar100Mat,
            "folder" | "image-folder" => DataFormat::Folder,
            other => return Err(UnknownFormatName(other.to_string())),
        })
    }
}
