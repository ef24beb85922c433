//! The functionalize transform: its interpreter and the public functions.
//!
//! NOTE: [functionalize rebinds] A functionalize tracer wraps the value one
//! level down. Every primitive is bound one level down on the unwrapped
//! values, so the levels below see only out-of-place operations:
//! - an in-place write into a tracer of this level (an input, a factory
//!   output, any value computed inside) arrives at
//!   [`copy_into`](func_core::Interpreter::copy_into) as a write of a whole
//!   alias root, already computed out of place by func-core (NOTE: [writes
//!   through traced views] there), and rebinds the tracer to the new value;
//!   func-core then re-derives every live view of the root, so sibling views
//!   see the write;
//! - with [`Remove::MutationsAndViews`], each view primitive is bound below
//!   as its copying form ([`Primitive::ViewCopy`], torch's `view_copy`):
//!   the values below share no storage, while at this level the result is
//!   still a view, so writes through it reach its base;
//! - at exit, every input whose tracer was rebound is written back into the
//!   caller's tensor (`copy_`), as torch.func does. A write-back is the one
//!   in-place operation the levels below see.
//!
//! DESIGN.md sketches functionalize with per-tensor alias groups whose views
//! resync lazily by generation; func-core already keeps, for every transform,
//! each view tracer's root and chain of view primitives and re-derives the
//! views of a root right after it is written, so functionalize reuses that
//! machinery (eager re-derivation) instead of keeping a second one.
//!
//! Writes into a tensor captured from outside the function (not an input,
//! not created inside) are not the function's to remove: they are applied
//! to that tensor one level down, as without functionalize.

use func_core::{Backend, Interpreter, Level, Outputs, Primitive, Result, Tensor, TensorTree, bind_multi};
use std::sync::Arc;

/// What [`functionalize_with`] removes (torch.func's `remove` argument).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Remove {
    /// In-place operations become out-of-place operations (the default,
    /// torch's `remove="mutations"`). Views stay views.
    #[default]
    Mutations,
    /// In-place operations and views: every view operation becomes its
    /// copying form (`slice_copy`, `permute_copy`, ...), torch's
    /// `remove="mutations_and_views"`.
    MutationsAndViews,
}

/// The data of a functionalize tracer: the value one level down.
struct Wrapped<B: Backend>(Tensor<B>);

struct FunctionalizeInterp {
    level: Level,
    remove: Remove,
}

impl FunctionalizeInterp {
    fn wrap<B: Backend>(&self, value: Tensor<B>) -> Tensor<B> {
        Tensor::new_tracer(&self.level, value.shape().clone(), value.dtype(), Wrapped(value))
    }

    fn unwrap<B: Backend>(&self, t: &Tensor<B>) -> Tensor<B> {
        match t.tracer_data::<Wrapped<B>>(&self.level) {
            Some(w) => w.0.clone(),
            None => t.clone(),
        }
    }
}

impl<B: Backend> Interpreter<B> for FunctionalizeInterp {
    fn level(&self) -> &Level {
        &self.level
    }

    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        let values: Vec<Tensor<B>> = args.iter().map(|a| self.unwrap(a)).collect();
        let refs: Vec<&Tensor<B>> = values.iter().collect();
        // NOTE: [functionalize rebinds] Every primitive has the same rule:
        // bind it below (a view as its copy when views are removed) and own
        // the results, so later writes into them are this level's.
        let below = match (self.remove, prim) {
            (Remove::MutationsAndViews, p) if p.is_view() => Primitive::ViewCopy(Box::new(p.clone())),
            (_, p) => p.clone(),
        };
        Ok(bind_multi(below, &refs)?.into_iter().map(|y| self.wrap(y)).collect())
    }

    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, _op: &str) -> Result<()> {
        let value = self.unwrap(src);
        if dst.level() == Some(&self.level) {
            // NOTE: [functionalize rebinds]
            dst.rebind_tracer(&self.wrap(value))
        } else {
            // A tensor captured from outside: write it one level down.
            dst.try_copy_(&value)
        }
    }

    fn lower_for_read(&self, t: &Tensor<B>, _op: &str) -> Result<Tensor<B>> {
        Ok(self.unwrap(t))
    }
}

/// `functionalize(f)`: `f` with its in-place operations turned into
/// out-of-place ones (`remove = Mutations`, torch.func's default). See
/// [`functionalize_with`].
///
/// # Panics
///
/// The returned function panics when `f` panics, or when a mutation of an
/// input cannot be written back into the caller's tensor (see
/// [`try_functionalize`] for the `Result` form).
///
/// # Examples
///
/// vmap cannot write a batched value into a tensor created unbatched inside
/// the function; functionalize makes the write a rebinding, which it can:
///
/// ```
/// use func_batch::vmap;
/// use func_core::{DType, Tensor};
/// use func_functionalize::functionalize;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
///
/// let f = |x: &T| {
///     let y = T::zeros([3], DType::F64);
///     y.copy_(x);
///     y
/// };
/// let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
/// assert_eq!(vmap(functionalize(f))(&xs).to_vec::<f64>(), xs.to_vec::<f64>());
/// ```
pub fn functionalize<B, X, Y, F>(f: F) -> impl Fn(&X) -> Y + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    functionalize_with(f, Remove::Mutations)
}

/// `functionalize(f, remove=...)`: run `f` with every in-place operation
/// replaced by its out-of-place form and a rebinding of the tensor, and,
/// with [`Remove::MutationsAndViews`], every view replaced by a copy.
///
/// The result computes what `f` computes, including the mutations `f` makes
/// to its inputs: those are applied to the caller's tensors when `f`
/// returns (NOTE: [functionalize rebinds]).
///
/// # Panics
///
/// As [`functionalize`].
///
/// # Examples
///
/// ```
/// use func_core::Tensor;
/// use func_functionalize::{Remove, functionalize_with};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
///
/// // Doubles the first two elements of x in place, through a view.
/// let f = |x: &T| {
///     x.slice(0, 0, 2, 1).mul_scalar_(2.0);
///     x.sum()
/// };
/// let x = T::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
/// let total = functionalize_with(f, Remove::MutationsAndViews)(&x);
/// assert_eq!(total.item::<f64>(), 9.0);
/// assert_eq!(x.to_vec::<f64>(), vec![2.0, 4.0, 3.0]); // written back, as torch.func
/// ```
pub fn functionalize_with<B, X, Y, F>(f: F, remove: Remove) -> impl Fn(&X) -> Y + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let f = Arc::new(f);
    move |x: &X| call(&*f, remove, x).unwrap_or_else(|e| panic!("{e}"))
}

/// The `Result` form of [`functionalize_with`].
///
/// # Errors
///
/// When a mutation of an input cannot be written back into the caller's
/// tensor: the caller passed a broadcast (stride-0) or otherwise
/// overlapping view, or a transform outside cannot express the write (under
/// vmap, a batched value written into an unbatched input). A panic inside
/// `f` propagates.
///
/// # Examples
///
/// ```
/// use func_core::{Shape, Tensor};
/// use func_functionalize::{Remove, try_functionalize};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
///
/// let f = try_functionalize(|x: &T| x.add_scalar_(1.0), Remove::Mutations);
/// // A broadcast view shares one memory location among its elements.
/// let x = T::from_vec(vec![1.0f64], [1]).broadcast_to(Shape::from([3]));
/// let err = f(&x).unwrap_err();
/// assert!(err.to_string().contains("broadcast view"));
/// ```
pub fn try_functionalize<B, X, Y, F>(f: F, remove: Remove) -> impl Fn(&X) -> Result<Y> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let f = Arc::new(f);
    move |x: &X| call(&*f, remove, x)
}

fn call<B, X, Y, F>(f: &F, remove: Remove, x: &X) -> Result<Y>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let interp = Arc::new(FunctionalizeInterp { level: Level::new("functionalize"), remove });
    let it = interp.clone();
    func_core::with_interpreter::<B, _>(interp, move || {
        let leaves = x.leaves();
        // One tracer per distinct input tensor: the same handle passed twice
        // is one tensor, and a write through either is seen by both.
        let mut tracers: Vec<Tensor<B>> = Vec::with_capacity(leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            let t = match leaves[..i].iter().position(|l| l.same_handle(leaf)) {
                Some(j) => tracers[j].clone(),
                None => it.wrap(leaf.clone()),
            };
            tracers.push(t);
        }
        let initial: Vec<Option<Arc<Wrapped<B>>>> =
            tracers.iter().map(|t| t.tracer_data::<Wrapped<B>>(&it.level)).collect();
        let y = f(&x.rebuild(&mut tracers.clone().into_iter()));
        let outs: Vec<Tensor<B>> = y.leaves().iter().map(|l| it.unwrap(l)).collect();
        // Mutated inputs: write the final value into the caller's tensor.
        for (i, ((leaf, t), init)) in leaves.iter().zip(&tracers).zip(&initial).enumerate() {
            if leaves[..i].iter().any(|l| l.same_handle(leaf)) {
                continue;
            }
            let now = t.tracer_data::<Wrapped<B>>(&it.level);
            let changed = match (&now, init) {
                (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
                _ => false,
            };
            if let (true, Some(now)) = (changed, now) {
                leaf.try_copy_(&now.0).map_err(|e| {
                    func_core::Error::transform(
                        "functionalize",
                        format!(
                            "the function mutated its input {i} (shape {}), and writing the new value back into \
                             the caller's tensor failed: {e}",
                            leaf.shape()
                        ),
                    )
                })?;
            }
        }
        Ok(y.rebuild(&mut outs.into_iter()))
    })
}
