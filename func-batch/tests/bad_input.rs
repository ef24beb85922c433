//! Bad input under vmap: index checks whose values cannot be read back
//! still fail; and random draws with chunking.

use func_batch::{Randomness, VmapOptions, try_vmap, vmap, vmap_with};
use func_core::{DType, Generator, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

fn idx(v: &[i64], shape: &[usize]) -> T {
    T::from_vec(v.to_vec(), shape.to_vec())
}

// ----- one_hot -----------------------------------------------------------------------------------

#[test]
fn one_hot_under_vmap_matches_the_unbatched_result() {
    let labels = idx(&[2, 0, 1, 1], &[2, 2]);
    let batched = vmap(|l: &T| l.one_hot(3, DType::F32))(&labels);
    assert_eq!(batched.dims(), &[2, 2, 3]);
    assert_eq!(batched.to_vec::<f32>(), labels.one_hot(3, DType::F32).to_vec::<f32>());
}

#[test]
fn one_hot_class_out_of_range_fails_under_vmap() {
    // The values are per-sample tracers under vmap; the range check still fails.
    for bad in [3i64, -1] {
        let labels = idx(&[0, 1, 2, bad], &[2, 2]);
        let msg = panic_message(|| {
            vmap(|l: &T| l.one_hot(3, DType::F32))(&labels);
        });
        assert!(msg.contains("one_hot") && msg.contains("out of range") && msg.contains("num_classes (3)"), "{msg}");
    }
}

#[test]
fn one_hot_of_unbatched_labels_inside_vmap_is_checked_by_value() {
    // Labels captured from outside are concrete: the message names the value.
    let labels = idx(&[0, 5], &[2]);
    let x = T::zeros([4, 2], DType::F32);
    let msg = panic_message(|| {
        vmap(|x: &T| x + &labels.one_hot(3, DType::F32).sum_dims(&[1], false))(&x);
    });
    assert!(msg.contains("one_hot") && msg.contains("class value 5"), "{msg}");
}

// ----- cross_entropy -----------------------------------------------------------------------------

#[test]
fn cross_entropy_target_out_of_range_fails_under_vmap() {
    let logits = T::zeros([2, 3, 5], DType::F32);
    let targets = idx(&[0, 1, 2, 3, 4, 12], &[2, 3]);
    let f = |(x, t): &(T, T)| x.cross_entropy(t);
    let msg = panic_message(|| {
        vmap(f)(&(logits.clone(), targets));
    });
    assert!(msg.contains("cross_entropy") && msg.contains("out of bounds") && msg.contains("5 classes"), "{msg}");
    // In range: ln 5 per sample (uniform logits).
    let ok = vmap(f)(&(logits, idx(&[0, 1, 2, 3, 4, 0], &[2, 3]))).to_vec::<f32>();
    for l in ok {
        assert!((l - 5f32.ln()).abs() < 1e-6, "{l}");
    }
}

// ----- randomness with chunks -------------------------------------------------------------------

fn draw(x: &T) -> T {
    // A generator seeded inside f: every chunk sees the same seed.
    x + &T::randn([3], DType::F64, &mut Generator::new(7))
}

fn rows(t: &T) -> Vec<Vec<f64>> {
    t.to_vec::<f64>().chunks(t.dims()[1]).map(<[f64]>::to_vec).collect()
}

#[test]
fn chunked_different_randomness_gives_every_sample_its_own_draw() {
    let x = T::zeros([5, 3], DType::F64);
    let opts = VmapOptions::new().randomness(Randomness::Different);
    let whole = vmap_with(draw, opts.clone())(&x);
    for chunk in [1, 2, 3, 4] {
        let chunked = vmap_with(draw, opts.clone().chunk_size(chunk))(&x);
        let r = rows(&chunked);
        for i in 0..r.len() {
            for j in i + 1..r.len() {
                assert_ne!(r[i], r[j], "chunk_size {chunk}: rows {i} and {j} are equal");
            }
        }
        // Each sample's draw does not depend on the chunking.
        assert_eq!(chunked.to_vec::<f64>(), whole.to_vec::<f64>(), "chunk_size {chunk}");
    }
    // And it is the row-per-sample draw of the seed's stream for the whole batch.
    let direct = T::randn([5, 3], DType::F64, &mut Generator::new(7));
    assert_eq!(whole.to_vec::<f64>(), direct.to_vec::<f64>());
}

#[test]
fn chunked_different_randomness_with_a_nested_vmap() {
    let x = T::zeros([4, 2, 3], DType::F64);
    let opts = VmapOptions::new().randomness(Randomness::Different);
    let inner = move |r: &T| vmap_with(draw, VmapOptions::new().randomness(Randomness::Different))(r);
    let whole = vmap_with(inner, opts.clone())(&x);
    let chunked = vmap_with(inner, opts.chunk_size(3))(&x);
    assert_eq!(chunked.to_vec::<f64>(), whole.to_vec::<f64>());
    let r = rows(&chunked.reshape_to([8, 3]));
    for i in 0..r.len() {
        for j in i + 1..r.len() {
            assert_ne!(r[i], r[j], "rows {i} and {j} are equal");
        }
    }
}

#[test]
fn chunked_same_randomness_repeats_one_draw() {
    let x = T::zeros([5, 3], DType::F64);
    let y = vmap_with(draw, VmapOptions::new().randomness(Randomness::Same).chunk_size(2))(&x);
    let r = rows(&y);
    assert!(r.iter().all(|row| row == &r[0]));
}

#[test]
fn chunked_error_randomness_still_errors() {
    let x = T::zeros([5, 3], DType::F64);
    let f = try_vmap(|x: &T| Ok(draw(x)), VmapOptions::new().chunk_size(2));
    let msg = panic_message(|| {
        let _ = f(&x);
    });
    assert!(msg.contains("randomness error mode"), "{msg}");
}
