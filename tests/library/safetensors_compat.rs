//! constnet's own safetensors reader and writer (`constnet::safetensors`) against the reference
//! `safetensors` crate: files either writes, the other reads, metadata included; and 1,000
//! mutated headers that must give an error or agree with the reference, never a panic.

use constnet::safetensors::{Dtype, SafeTensors, TensorView, serialize};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

fn le_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn le_f64(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn reference_dtype(d: Dtype) -> safetensors::Dtype {
    match d {
        Dtype::Bool => safetensors::Dtype::BOOL,
        Dtype::U8 => safetensors::Dtype::U8,
        Dtype::I8 => safetensors::Dtype::I8,
        Dtype::U16 => safetensors::Dtype::U16,
        Dtype::I16 => safetensors::Dtype::I16,
        Dtype::F16 => safetensors::Dtype::F16,
        Dtype::BF16 => safetensors::Dtype::BF16,
        Dtype::U32 => safetensors::Dtype::U32,
        Dtype::I32 => safetensors::Dtype::I32,
        Dtype::F32 => safetensors::Dtype::F32,
        Dtype::U64 => safetensors::Dtype::U64,
        Dtype::I64 => safetensors::Dtype::I64,
        Dtype::F64 => safetensors::Dtype::F64,
    }
}

/// A file with every kind of tensor constnet writes or reads, names that need escaping, and
/// metadata.
fn sample() -> Vec<u8> {
    let conv = le_f32(&(0..54).map(|i| i as f32 * 0.25 - 3.0).collect::<Vec<_>>());
    let bias = le_f64(&[1e-300, -0.0, f64::MAX]);
    let half: Vec<u8> = [0x3c00u16, 0xbc00]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let count = 12345i64.to_le_bytes();
    serialize(
        [
            TensorView {
                name: "conv1.weight",
                dtype: Dtype::F32,
                shape: &[3, 3, 2, 3],
                data: &conv,
            },
            TensorView {
                name: "fc.bias \"quoted\" \\ ü\n",
                dtype: Dtype::F64,
                shape: &[3],
                data: &bias,
            },
            TensorView {
                name: "half",
                dtype: Dtype::F16,
                shape: &[2, 1],
                data: &half,
            },
            TensorView {
                name: "bn1.num_batches_tracked",
                dtype: Dtype::I64,
                shape: &[],
                data: &count,
            },
            TensorView {
                name: "empty",
                dtype: Dtype::F32,
                shape: &[0, 4],
                data: &[],
            },
        ],
        &[
            ("layout", "constnet-nhwc"),
            ("note", "tab\there, \"quote\", 🦀"),
        ],
    )
    .unwrap()
}

#[test]
fn files_we_write_are_read_by_the_reference_crate() {
    let bytes = sample();
    let ours = SafeTensors::parse(&bytes).unwrap();
    let theirs = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(theirs.len(), ours.len());
    for t in ours.tensors() {
        let r = theirs.tensor(t.name).unwrap();
        assert_eq!(r.dtype(), reference_dtype(t.dtype), "{}", t.name);
        assert_eq!(r.shape(), t.shape, "{}", t.name);
        assert_eq!(r.data(), t.data, "{}", t.name);
    }
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    assert_eq!(metadata.len(), 2);
    assert_eq!(metadata["layout"], "constnet-nhwc");
    assert_eq!(metadata["note"], "tab\there, \"quote\", 🦀");
}

#[test]
fn files_the_reference_crate_writes_are_read_by_us() {
    let a = le_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = le_f64(&[-0.5]);
    let bf: Vec<u8> = [0x4049u16, 0xc000]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let ints: Vec<u8> = [7i32, -8].iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = vec![
        (
            "layer2.0.conv1.weight",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 3], &a).unwrap(),
        ),
        (
            "b/ü \"x\"",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![], &b).unwrap(),
        ),
        (
            "bf",
            safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, vec![2], &bf).unwrap(),
        ),
        (
            "ints",
            safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![1, 2], &ints)
                .unwrap(),
        ),
    ];
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("escapes".to_string(), "a\\b\"c\u{1}d\u{7f}".to_string()),
    ]);
    let bytes = safetensors::serialize(tensors, Some(metadata)).unwrap();

    let f = SafeTensors::parse(&bytes).unwrap();
    assert_eq!(f.len(), 4);
    let w = f.tensor("layer2.0.conv1.weight").unwrap();
    assert_eq!((w.dtype, w.shape), (Dtype::F32, &[2, 3][..]));
    assert_eq!(w.to_f64().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let s = f.tensor("b/ü \"x\"").unwrap();
    assert_eq!(
        (s.dtype, s.shape, s.to_f64().unwrap()),
        (Dtype::F64, &[][..], vec![-0.5])
    );
    assert_eq!(f.tensor("bf").unwrap().to_f64().unwrap(), [3.140625, -2.0]);
    let i = f.tensor("ints").unwrap();
    assert_eq!((i.dtype, i.data), (Dtype::I32, &ints[..]));
    assert_eq!(f.metadata("format"), Some("pt"));
    assert_eq!(f.metadata("escapes"), Some("a\\b\"c\u{1}d\u{7f}"));
}

/// One random change to the header (or its length field).
fn mutate(bytes: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut out = bytes.to_vec();
    let pick = |rng: &mut StdRng| 8 + rng.random_range(0..header_len);
    // Bytes that matter to JSON and to the format.
    const INTERESTING: &[u8] = b"{}[]\":,\\0123456789-.eE uFn\x00\x1f\xff";
    for _ in 0..rng.random_range(1..=3) {
        match rng.random_range(0..7) {
            0 => {
                let i = pick(rng);
                out[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            1 => {
                let i = pick(rng);
                out[i] = rng.random();
            }
            2 => {
                let i = pick(rng);
                out.remove(i);
            }
            3 => {
                let i = pick(rng);
                out.insert(i, INTERESTING[rng.random_range(0..INTERESTING.len())]);
            }
            4 => {
                // Duplicate a slice of the header elsewhere in it.
                let a = pick(rng);
                let b = (a + rng.random_range(1..40)).min(8 + header_len);
                let piece = out[a..b].to_vec();
                let at = pick(rng);
                out.splice(at..at, piece);
            }
            5 => {
                let delta = rng.random_range(-3i64..=3);
                let n = (header_len as i64 + delta).max(0) as u64;
                out[..8].copy_from_slice(&n.to_le_bytes());
            }
            _ => {
                let keep = rng.random_range(0..out.len());
                out.truncate(keep);
            }
        }
        if out.len() < 8 + header_len {
            break;
        }
    }
    out
}

#[test]
fn a_thousand_mutated_headers_give_errors_or_agree_with_the_reference() {
    let original = sample();
    let mut rng = StdRng::seed_from_u64(2024);
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0..1000 {
        let bytes = mutate(&original, &mut rng);
        let ours = std::panic::catch_unwind(|| SafeTensors::parse(&bytes).map(|f| f.len()));
        let Ok(ours) = ours else {
            panic!(
                "round {round}: the parser panicked on {:?}",
                String::from_utf8_lossy(&bytes)
            );
        };
        match ours {
            Ok(_) => {
                accepted += 1;
                // Whatever we accept, the reference accepts with the same tensors.
                let f = SafeTensors::parse(&bytes).unwrap();
                let theirs = safetensors::SafeTensors::deserialize(&bytes).unwrap_or_else(|e| {
                    panic!(
                        "round {round}: accepted by us, not by the reference ({e}): {:?}",
                        String::from_utf8_lossy(&bytes)
                    )
                });
                assert_eq!(theirs.len(), f.len(), "round {round}");
                for t in f.tensors() {
                    let r = theirs.tensor(t.name).unwrap();
                    assert_eq!((r.shape(), r.data()), (t.shape, t.data), "round {round}");
                    assert_eq!(r.dtype(), reference_dtype(t.dtype), "round {round}");
                }
            }
            Err(e) => {
                rejected += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Both outcomes occur: the mutations are neither all fatal nor all harmless.
    assert!(
        accepted >= 20 && rejected >= 500,
        "{accepted} accepted, {rejected} rejected"
    );
}
