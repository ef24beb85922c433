//! Size, stride and offset arithmetic that used to wrap in release builds.
//! Each case is an error (or, for a panicking form, a panic with the
//! error's message), never a wrong result or an out-of-bounds read.

use func_core::{Backend, Conv2dOptions, DType, Error, Layout, Shape};
use func_cpu::Cpu;

type Tensor = func_core::Tensor<Cpu>;

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// `3 * k` wraps to 2 in usize: a [3, k] tensor would have numel 2 and a
/// [k, 1024] broadcast would have numel 2048; matmul then read far past
/// the buffer.
#[test]
fn shape_whose_numel_wraps_is_refused() {
    let k = 6148914691236517206usize;
    assert_eq!(k.wrapping_mul(3), 2);
    assert!(Shape::from([3, k]).try_numel().is_err());

    let e = Tensor::try_zeros([3, k], DType::F32).unwrap_err();
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    assert!(e.to_string().contains("overflows"), "{e}");

    let e = Tensor::ones([1, 1], DType::F32).try_broadcast_to([k, 1024]).unwrap_err();
    assert!(e.to_string().starts_with("broadcast_to"), "{e}");

    // The layouts themselves refuse the shapes.
    assert!(Layout::try_contiguous([3, k]).is_err());
    assert!(Layout::contiguous([1, 1]).try_broadcast_to(&Shape::from([k, 1024])).is_err());

    // The panicking forms panic with the message instead of segfaulting.
    let msg = panic_message(|| {
        let a = Tensor::zeros([3, k], DType::F32);
        let b = Tensor::ones([1, 1], DType::F32).broadcast_to([k, 1024]);
        a.matmul(&b);
    });
    assert!(msg.contains("overflows"), "{msg}");
}

/// Shape [16, 16] with strides [x, x], x = floor(2^64 / 30) + 1: the span
/// 1 + 15x + 15x wraps to 15 and passed a 16-element bounds check.
#[test]
fn layout_whose_span_wraps_is_refused() {
    let x = (u64::MAX / 30) as usize + 1;
    assert_eq!(x.wrapping_mul(30).wrapping_add(1), 15);
    let e = Layout::try_new([16, 16], &[x, x], 0).unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
    let msg = panic_message(|| {
        Layout::new([16, 16], &[x, x], 0);
    });
    assert!(msg.contains("Layout::new"), "{msg}");

    // Spans beyond isize::MAX are refused too, so strides and offsets fit in isize.
    assert!(Layout::try_new([2], &[1usize << 63], 0).is_err());
    assert!(Layout::try_new([1], &[1], isize::MAX as usize).is_err());
    assert!(Layout::try_new([2], &[1usize << 62], 0).is_ok());
    // Mismatched ranks are an error, not a panic.
    assert!(Layout::try_new([2, 2], &[1], 0).is_err());
}

/// A valid layout that does not fit its storage is refused by
/// `from_backend_storage` and by the backend's kernels.
#[test]
fn layouts_past_the_storage_are_refused() {
    let storage = Cpu.full(1.0, DType::F32, 16).unwrap();
    let too_big = Layout::new([16, 16], &[16, 1], 0);
    let e = Tensor::from_backend_storage(Cpu, storage.clone(), too_big.clone()).unwrap_err();
    assert!(e.to_string().contains("256"), "{e}");
    assert!(Cpu.matmul(&storage, &too_big, &storage, &Layout::new([16, 1], &[1, 0], 0)).is_err());
    // addmm checks its input's layout as well as the matrices'.
    let (a, b) = (Layout::new([4, 4], &[4, 1], 0), Layout::new([4, 4], &[4, 1], 0));
    assert!(Cpu.addmm(&storage, &Layout::new([4, 4], &[8, 1], 0), &storage, &a, &storage, &b).is_err());
    assert!(Cpu.addmm(&storage, &Layout::new([4, 4], &[4, 1], 0), &storage, &a, &storage, &b).is_ok());
    let ok = Tensor::from_backend_storage(Cpu, storage, Layout::new([4, 4], &[1, 4], 0)).unwrap();
    assert_eq!(ok.sum().item::<f32>(), 16.0);
}

/// `zeros([1 << 32, 1 << 32])` had numel 0 (2^64 wraps to 0).
#[test]
fn zeros_with_overflowing_numel_is_an_error() {
    let e = Tensor::try_zeros([1 << 32, 1 << 32], DType::F32).unwrap_err();
    assert_eq!(
        e,
        Error::invalid_shape(
            "full",
            &Shape::from([1 << 32, 1 << 32]),
            format!(
                "the number of elements (the product of the sizes) overflows: a tensor holds at most {} elements; \
                 use smaller sizes",
                isize::MAX
            ),
        )
    );
    let msg = panic_message(|| {
        Tensor::zeros([1 << 32, 1 << 32], DType::F32);
    });
    assert_eq!(msg, e.to_string());
}

/// `ones([1, 1]).expand([1 << 32, 1 << 32]).sum()` returned 0.
#[test]
fn expand_with_overflowing_numel_is_an_error() {
    let one = Tensor::ones([1, 1], DType::F32);
    let e = one.try_expand(&[1 << 32, 1 << 32]).unwrap_err();
    assert!(e.to_string().contains("[4294967296, 4294967296]"), "{e}");
    let msg = panic_message(|| {
        Tensor::ones([1, 1], DType::F32).expand(&[1 << 32, 1 << 32]).sum();
    });
    assert_eq!(msg, e.to_string());
    // A large but representable broadcast is a view, and sums correctly.
    let big = one.try_expand(&[1 << 16, 1 << 4]).unwrap();
    assert_eq!(big.sum().item::<f32>(), (1u32 << 20) as f32);
}

/// `narrow(0, usize::MAX, 2)` returned an empty tensor (start + length wrapped to 1).
#[test]
fn narrow_with_overflowing_end_is_an_error() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]);
    let e = x.try_narrow(0, usize::MAX, 2).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("narrow: start ({}) + length (2) exceeds dimension size (3) of dim 0 in shape [3]", usize::MAX)
    );
    assert!(x.try_narrow(0, 2, 2).is_err());
    assert_eq!(x.try_narrow(0, 1, 2).unwrap().to_vec::<f32>(), vec![2.0, 3.0]);
    let msg = panic_message(|| {
        Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).narrow(0, usize::MAX, 2);
    });
    assert_eq!(msg, e.to_string());
}

/// conv2d with padding `usize::MAX / 2 + 1` ran as if the padding were 0
/// (`h + 2 * p` wrapped to `h`).
#[test]
fn conv2d_with_overflowing_padding_is_an_error() {
    let x = Tensor::ones([1, 1, 4, 4], DType::F32);
    let w = Tensor::ones([1, 1, 3, 3], DType::F32);
    let p = usize::MAX / 2 + 1;
    let opts = Conv2dOptions { padding: (p, 0), ..Conv2dOptions::default() };
    let e = x.try_conv2d(&w, None, opts).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("conv2d: invalid shape [1, 1, 4, 4]"), "{msg}");
    assert!(msg.contains(&format!("padding ({p}, 0)")), "{msg}");
    assert!(x.try_unfold((3, 3), (1, 1), (0, p), (1, 1)).is_err());
    // The same convolution with padding 0 works: 2x2 windows of nine ones.
    let y = x.try_conv2d(&w, None, Conv2dOptions::default()).unwrap();
    assert_eq!(y.to_vec::<f32>(), vec![9.0; 4]);
}

/// Pooling with padding `usize::MAX / 2 + 1`: `2 * p` wrapped to 0 and
/// passed the "at most half the kernel" check.
#[test]
fn pooling_with_overflowing_padding_is_an_error() {
    let p = usize::MAX / 2 + 1;
    let msg = panic_message(|| {
        Tensor::ones([1, 1, 4, 4], DType::F32).max_pool2d((2, 2), (2, 2), (p, 0));
    });
    assert!(msg.starts_with("max_pool2d: pad should be at most half of effective kernel size"), "{msg}");
}

/// `try_pad(&[(usize::MAX, 1)], 0.)` panicked with an index message.
#[test]
fn pad_with_overflowing_size_is_an_error() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
    let e = x.try_pad(&[(usize::MAX, 1)], 0.0).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("pad: invalid shape [2]"), "{msg}");
    assert!(msg.contains("overflows"), "{msg}");
    assert!(x.try_pad(&[(0, 0), (0, 0)], 0.0).is_err());
    assert_eq!(x.try_pad(&[(1, 2)], 0.0).unwrap().to_vec::<f32>(), vec![0.0, 1.0, 2.0, 0.0, 0.0]);
}

/// Layout view arithmetic: slices with huge steps and diagonals with
/// extreme offsets stay in range.
#[test]
fn view_arithmetic_stays_in_range() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]);
    assert_eq!(x.slice(0, 0, 3, 1 << 62).to_vec::<f32>(), vec![1.0]);
    assert_eq!(x.slice(0, 1, 3, usize::MAX).to_vec::<f32>(), vec![2.0]);
    let m = Tensor::from_vec((0..6).map(|v| v as f32).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(m.diagonal(isize::MIN, 0, 1).numel(), 0);
    assert_eq!(m.diagonal(isize::MAX, 0, 1).numel(), 0);
    assert_eq!(m.diagonal(1, 0, 1).to_vec::<f32>(), vec![1.0, 5.0]);
    // A slice layout past the end of its dimension is refused.
    assert!(Layout::contiguous([3]).try_slice(0, 0, 4, 1).is_err());
    assert!(Layout::contiguous([3]).try_slice(0, 0, 3, 0).is_err());
}
