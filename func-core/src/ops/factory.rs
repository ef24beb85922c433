//! Factory functions. They go through the interpreter stack like every other
//! primitive (NOTE: [stackless interpreters]), so vmap applies its randomness
//! mode and functionalize owns what is created inside it.

use super::ok;
use crate::alloc::check_alloc;
use crate::interp::bind;
use crate::{Backend, DType, Distribution, Error, Primitive, Result, Shape, Tensor};

/// A seedable source of seeds for random tensors (torch's `Generator`).
///
/// Each draw advances the state, so successive calls give independent
/// tensors, and the same starting seed gives the same sequence.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Generator};
/// type Tensor = func_core::Tensor<func_testkit::RefBackend>;
/// let mut g = Generator::new(0);
/// let a = Tensor::randn([2, 3], DType::F32, &mut g);
/// let b = Tensor::randn([2, 3], DType::F32, &mut g); // different from a
/// assert_ne!(a.to_vec::<f32>(), b.to_vec::<f32>());
/// let a2 = Tensor::randn([2, 3], DType::F32, &mut Generator::new(0));
/// assert_eq!(a.to_vec::<f32>(), a2.to_vec::<f32>());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    state: u64,
}

impl Generator {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator { state: seed }
    }

    /// The next seed (SplitMix64 step: distinct, well-mixed seeds).
    pub fn next_seed(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl<B: Backend> Tensor<B> {
    /// A tensor of `shape` filled with `value`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidShape`] when the number of elements overflows;
    /// [`Error::OutOfMemory`] when the tensor cannot be allocated.
    pub fn try_full(shape: impl Into<Shape>, value: f64, dtype: DType) -> Result<Tensor<B>> {
        let shape = shape.into();
        check_alloc("full", &shape, dtype)?;
        bind(Primitive::Full { shape, value, dtype }, &[])
    }

    /// A tensor of `shape` filled with `value`.
    ///
    /// # Panics
    ///
    /// As [`try_full`](Self::try_full) errs.
    pub fn full(shape: impl Into<Shape>, value: f64, dtype: DType) -> Tensor<B> {
        ok(Self::try_full(shape, value, dtype))
    }

    /// Zeros.
    ///
    /// # Errors
    ///
    /// As [`try_full`](Self::try_full).
    pub fn try_zeros(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor<B>> {
        Self::try_full(shape, 0.0, dtype)
    }

    /// Zeros.
    ///
    /// # Panics
    ///
    /// As [`try_full`](Self::try_full) errs.
    pub fn zeros(shape: impl Into<Shape>, dtype: DType) -> Tensor<B> {
        Self::full(shape, 0.0, dtype)
    }

    /// Ones.
    ///
    /// # Errors
    ///
    /// As [`try_full`](Self::try_full).
    pub fn try_ones(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor<B>> {
        Self::try_full(shape, 1.0, dtype)
    }

    /// Ones.
    ///
    /// # Panics
    ///
    /// As [`try_full`](Self::try_full) errs.
    pub fn ones(shape: impl Into<Shape>, dtype: DType) -> Tensor<B> {
        Self::full(shape, 1.0, dtype)
    }

    /// Zeros of this tensor's shape and dtype.
    ///
    /// Like every `_like` factory, it is made on this tensor's backend
    /// instance when the tensor is concrete, and on the default instance when
    /// it is a tracer (NOTE: [backend instances]).
    pub fn zeros_like(&self) -> Tensor<B> {
        self.on_own_instance(|| Self::zeros(self.shape().clone(), self.dtype()))
    }

    /// Run the factory `f` on this tensor's instance, if it is concrete.
    fn on_own_instance(&self, f: impl FnOnce() -> Tensor<B>) -> Tensor<B> {
        match self.backend() {
            Some(be) => crate::with_backend(be.clone(), f),
            None => f(),
        }
    }

    /// Ones of this tensor's shape and dtype.
    pub fn ones_like(&self) -> Tensor<B> {
        self.on_own_instance(|| Self::ones(self.shape().clone(), self.dtype()))
    }

    /// `value` in this tensor's shape and dtype.
    pub fn full_like(&self, value: f64) -> Tensor<B> {
        self.on_own_instance(|| Self::full(self.shape().clone(), value, self.dtype()))
    }

    /// torch's `x.new_full(shape, value)`: a tensor of `shape` filled with
    /// `value`, in this tensor's dtype, that belongs to the same transforms
    /// as this tensor. Under vmap it is batched like `self`, so it can take
    /// batched in-place writes (`y = x.new_zeros(..); y.copy_(&x)`), as torch's
    /// `new_zeros` on a batched tensor does; it does not depend on `self`'s
    /// values (its derivative is zero).
    ///
    /// NOTE: [new tensors follow their source] It is made from `self` by
    /// tensor operations (`self` detached, narrowed to no elements, padded
    /// with `value`), so every transform sees it as an ordinary result of
    /// `self` and gives it `self`'s batch dimensions.
    ///
    /// # Errors
    ///
    /// As [`try_full`](Self::try_full).
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::{DType, Tensor};
    /// type T = Tensor<func_testkit::RefBackend>;
    /// let x = T::ones([2], DType::F64);
    /// let y = x.try_new_full([2, 3], 7.0)?;
    /// assert_eq!((y.dims(), y.dtype()), (&[2, 3][..], DType::F64));
    /// assert_eq!(y.to_vec::<f64>(), vec![7.0; 6]);
    /// # Ok::<(), func_core::Error>(())
    /// ```
    pub fn try_new_full(&self, shape: impl Into<Shape>, value: f64) -> Result<Tensor<B>> {
        let shape = shape.into();
        check_alloc("new_full", &shape, self.dtype())?;
        let d = self.detach();
        let d = if d.ndim() == 0 { d.try_reshape_to([1])? } else { d };
        let none = d.try_narrow(0, 0, 0)?.try_reshape_to([0])?;
        none.try_pad(&[(0, shape.numel())], value)?.try_reshape_to(shape)
    }

    /// torch's `x.new_full(shape, value)` ([`try_new_full`](Self::try_new_full)).
    ///
    /// # Panics
    ///
    /// As [`try_new_full`](Self::try_new_full) errs.
    pub fn new_full(&self, shape: impl Into<Shape>, value: f64) -> Tensor<B> {
        ok(self.try_new_full(shape, value))
    }

    /// torch's `x.new_zeros(shape)`: zeros in this tensor's dtype, belonging
    /// to the same transforms ([`try_new_full`](Self::try_new_full)).
    ///
    /// # Panics
    ///
    /// As [`try_new_full`](Self::try_new_full) errs.
    pub fn new_zeros(&self, shape: impl Into<Shape>) -> Tensor<B> {
        self.new_full(shape, 0.0)
    }

    /// torch's `x.new_ones(shape)`: ones in this tensor's dtype, belonging
    /// to the same transforms ([`try_new_full`](Self::try_new_full)).
    ///
    /// # Panics
    ///
    /// As [`try_new_full`](Self::try_new_full) errs.
    pub fn new_ones(&self, shape: impl Into<Shape>) -> Tensor<B> {
        self.new_full(shape, 1.0)
    }

    /// `start, start + step, ...` up to (excluding) `end`.
    ///
    /// # Errors
    ///
    /// When `start`, `end` or `step` is NaN or infinite, when `step` is 0,
    /// when `step` has the wrong sign for the range (torch's checks), or
    /// when the tensor cannot be allocated ([`Error::OutOfMemory`]).
    pub fn try_arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor<B>> {
        if !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("unsupported range: {start} -> {end}; start and end must be finite numbers"),
            ));
        }
        if !step.is_finite() {
            return Err(Error::invalid("arange", format!("step must be a finite number, got {step}")));
        }
        if step == 0.0 {
            return Err(Error::invalid("arange", "step must be nonzero"));
        }
        if (end - start) * step < 0.0 {
            return Err(Error::invalid(
                "arange",
                format!(
                    "upper bound and lower bound inconsistent with step sign: start {start}, end {end}, \
                     step {step}; use a {} step to go from {start} to {end}",
                    if end > start { "positive" } else { "negative" }
                ),
            ));
        }
        let len_f = ((end - start) / step).ceil().max(0.0);
        if !len_f.is_finite() {
            return Err(Error::invalid("arange", format!("unsupported range: {start} -> {end} (step {step})")));
        }
        // Saturates at usize::MAX for huge finite lengths, which check_alloc refuses.
        Self::try_arange_len(start, step, len_f as usize, dtype)
    }

    fn try_arange_len(start: f64, step: f64, len: usize, dtype: DType) -> Result<Tensor<B>> {
        check_alloc("arange", &Shape::from([len]), dtype)?;
        bind(Primitive::Arange { start, step, len, dtype }, &[])
    }

    /// `0, 1, ..., n - 1`.
    ///
    /// # Panics
    ///
    /// When the tensor cannot be allocated ([`Error::OutOfMemory`]).
    pub fn arange(n: usize, dtype: DType) -> Tensor<B> {
        ok(Self::try_arange_len(0.0, 1.0, n, dtype))
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] when the tensor cannot be allocated.
    pub fn try_linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor<B>> {
        let step = if steps > 1 { (end - start) / (steps - 1) as f64 } else { 0.0 };
        Self::try_arange_len(start, step, steps, dtype)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    ///
    /// # Panics
    ///
    /// As [`try_linspace`](Self::try_linspace) errs.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Tensor<B> {
        ok(Self::try_linspace(start, end, steps, dtype))
    }

    /// The `n x n` identity matrix.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidShape`] when `n * n` overflows; [`Error::OutOfMemory`]
    /// (naming `eye` and `[n, n]`) when the matrix cannot be allocated.
    pub fn try_eye(n: usize, dtype: DType) -> Result<Tensor<B>> {
        let shape = Shape::from([n, n]);
        check_alloc("eye", &shape, dtype)?;
        let build = || -> Result<Tensor<B>> {
            let i = Self::try_arange_len(0.0, 1.0, n, DType::I64)?;
            i.unsqueeze(1).try_compare(crate::CmpOp::Eq, &i.unsqueeze(0))?.try_to_dtype(dtype)
        };
        build().map_err(|e| match e {
            Error::OutOfMemory { .. } => {
                Error::out_of_memory("eye", &shape, n.saturating_mul(n), dtype.size_in_bytes().max(1))
            }
            e => e,
        })
    }

    /// The `n x n` identity matrix.
    ///
    /// # Panics
    ///
    /// As [`try_eye`](Self::try_eye) errs.
    pub fn eye(n: usize, dtype: DType) -> Tensor<B> {
        ok(Self::try_eye(n, dtype))
    }

    /// Uniform samples on `[0, 1)`, seeded by `generator`.
    ///
    /// # Panics
    ///
    /// As [`try_random`](Self::try_random) errs.
    pub fn rand(shape: impl Into<Shape>, dtype: DType, generator: &mut Generator) -> Tensor<B> {
        Self::random(Distribution::Uniform { low: 0.0, high: 1.0 }, shape, dtype, generator.next_seed())
    }

    /// Standard normal samples, seeded by `generator`.
    ///
    /// # Panics
    ///
    /// As [`try_random`](Self::try_random) errs.
    pub fn randn(shape: impl Into<Shape>, dtype: DType, generator: &mut Generator) -> Tensor<B> {
        Self::random(Distribution::Normal { mean: 0.0, std: 1.0 }, shape, dtype, generator.next_seed())
    }

    /// Standard normal samples, seeded by `generator`.
    ///
    /// # Errors
    ///
    /// As [`try_random`](Self::try_random).
    pub fn try_randn(shape: impl Into<Shape>, dtype: DType, generator: &mut Generator) -> Result<Tensor<B>> {
        Self::try_random(Distribution::Normal { mean: 0.0, std: 1.0 }, shape, dtype, generator.next_seed())
    }

    /// Samples of `dist` determined by `seed`.
    ///
    /// # Errors
    ///
    /// For a non-float dtype, under vmap in randomness error mode, when the
    /// number of elements overflows, or when the tensor cannot be allocated
    /// ([`Error::OutOfMemory`]).
    pub fn try_random(dist: Distribution, shape: impl Into<Shape>, dtype: DType, seed: u64) -> Result<Tensor<B>> {
        if !dtype.is_float() {
            return Err(Error::dtype("random", dtype, "random tensors must be floating point"));
        }
        let shape = shape.into();
        check_alloc("random", &shape, dtype)?;
        bind(Primitive::Random { dist, shape, dtype, seed }, &[])
    }

    /// Samples of `dist` determined by `seed`.
    ///
    /// # Panics
    ///
    /// As [`try_random`](Self::try_random) errs.
    pub fn random(dist: Distribution, shape: impl Into<Shape>, dtype: DType, seed: u64) -> Tensor<B> {
        ok(Self::try_random(dist, shape, dtype, seed))
    }
}
