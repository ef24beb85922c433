//! Custom operations with their own transform rules: torch's
//! `autograd.Function` (with `vmap` / `generate_vmap_rule`) and JAX's
//! `custom_jvp` / `custom_vjp`.
//!
//! A custom operation takes several tensors and returns several tensors. Its
//! forward is written in [`Tensor`] operations (or, for an *opaque* op, in
//! anything else: host code, direct backend calls). It may carry a JVP rule,
//! a VJP rule and a batching rule, each written in Tensor operations so that
//! they nest (a VJP rule is itself differentiated by an enclosing `jvp`,
//! batched by an enclosing `vmap`).
//!
//! Calling the op binds one [`Primitive::Custom`](crate::Primitive::Custom)
//! holding a [`CustomOpRef`]: every transform's exhaustive match has one arm
//! for it, which runs the op's rule.
//!
//! NOTE: [custom op rules] What a transform does when the op has no rule
//! for it:
//! - **vmap** without a batching rule runs the forward on the batch tracers,
//!   so the forward's Tensor operations are batched by their own rules
//!   (torch's `generate_vmap_rule=True`).
//! - **jvp** without a JVP rule differentiates the forward's Tensor
//!   operations (JAX linearizes the forward the same way).
//! - **vjp** without a VJP rule transposes the JVP rule when there is one
//!   (the JVP rule is linear in the tangents; its transpose is the VJP of
//!   `t -> jvp(x, t)`, as JAX's `custom_jvp` gives reverse mode), and
//!   otherwise differentiates the forward's Tensor operations.
//! - An opaque op (forward not in Tensor operations) with no rule for a
//!   transform is an error naming the op and the transform.
//!
//! Most users build a custom op with [`CustomFn`]; implementing
//! [`CustomOp`] directly is for ops that hold state of their own.
//!
//! # Examples
//!
//! A numerically stable `log1pexp` (`log(1 + e^x)`): the naive derivative
//! `e^x / (1 + e^x)` is `inf / inf = NaN` at `x = 100`; the custom JVP
//! `sigmoid(x)` is finite.
//!
//! ```
//! use func_core::{CustomFn, Tensor};
//! use func_testkit::RefBackend;
//! type T = Tensor<RefBackend>;
//!
//! let log1pexp = CustomFn::<RefBackend>::new("log1pexp", |x| vec![x[0].exp().log1p()])
//!     .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].sigmoid())]);
//! let x = T::from_vec(vec![0.0f64, 100.0], [2]);
//! let y = log1pexp.call(&[&x]).remove(0);
//! assert_eq!(y.to_vec::<f64>(), vec![2f64.ln(), 100.0]);
//! ```

use crate::{Backend, Error, Result, Tensor};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A transform rule a custom op may provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CustomRule {
    /// Forward mode: output tangents from input tangents.
    Jvp,
    /// Reverse mode: input cotangents from output cotangents.
    Vjp,
    /// vmap: the op on inputs with a batch dimension at 0.
    Batch,
}

impl CustomRule {
    /// The transform that uses the rule, for messages.
    pub fn transform(self) -> &'static str {
        match self {
            CustomRule::Jvp => "jvp",
            CustomRule::Vjp => "vjp",
            CustomRule::Batch => "vmap",
        }
    }

    fn described(self) -> &'static str {
        match self {
            CustomRule::Jvp => "JVP rule",
            CustomRule::Vjp => "VJP rule",
            CustomRule::Batch => "batching rule",
        }
    }

    fn method(self) -> &'static str {
        match self {
            CustomRule::Jvp => "jvp` (or `CustomFn::with_jvp`",
            CustomRule::Vjp => "vjp` (or `CustomFn::with_vjp`",
            CustomRule::Batch => "batch` (or `CustomFn::with_batch`",
        }
    }
}

/// The error for a custom op that has no rule for a transform and whose
/// forward cannot be traced to derive one.
pub fn missing_rule(name: &str, rule: CustomRule) -> Error {
    Error::transform(
        rule.transform(),
        format!(
            "custom op `{name}` has no {} and its forward is not written in Tensor ops, so none can be derived; \
             implement `CustomOp::{})",
            rule.described(),
            rule.method()
        ),
    )
}

/// Input cotangents or output tangents: `None` is a symbolic zero.
pub type MaybeTensors<B> = Vec<Option<Tensor<B>>>;

/// A custom operation and its rules, for backend `B`.
///
/// Every rule is written in [`Tensor`] operations on the values it is given
/// (one level below the transform that calls it), so the rules nest under
/// other transforms. See the [module docs](self) for what each transform does
/// when a rule is missing.
pub trait CustomOp<B: Backend>: Send + Sync + 'static {
    /// The op's name, used in messages and graph printing.
    fn name(&self) -> &'static str;

    /// The outputs for `inputs`.
    ///
    /// # Errors
    ///
    /// What the computation reports.
    fn forward(&self, inputs: &[Tensor<B>]) -> Result<Vec<Tensor<B>>>;

    /// Whether [`forward`](Self::forward) is written in Tensor operations, so
    /// that running it on a transform's tracers derives a missing rule.
    /// `false` for forwards that call the backend or the host directly.
    fn forward_is_traceable(&self) -> bool {
        true
    }

    /// Whether the op provides `rule`.
    fn has_rule(&self, rule: CustomRule) -> bool {
        let _ = rule;
        false
    }

    /// The tangents of the outputs, given the inputs, the outputs and the
    /// inputs' tangents (`None`: zero).
    ///
    /// # Errors
    ///
    /// By default, that the rule is missing.
    fn jvp(
        &self,
        inputs: &[Tensor<B>],
        outputs: &[Tensor<B>],
        tangents: &[Option<Tensor<B>>],
    ) -> Result<MaybeTensors<B>> {
        let _ = (inputs, outputs, tangents);
        Err(missing_rule(self.name(), CustomRule::Jvp))
    }

    /// The cotangents of the inputs, given the inputs, the outputs and the
    /// outputs' cotangents (`None`: zero).
    ///
    /// # Errors
    ///
    /// By default, that the rule is missing.
    fn vjp(
        &self,
        inputs: &[Tensor<B>],
        outputs: &[Tensor<B>],
        cotangents: &[Option<Tensor<B>>],
    ) -> Result<MaybeTensors<B>> {
        let _ = (inputs, outputs, cotangents);
        Err(missing_rule(self.name(), CustomRule::Vjp))
    }

    /// The op on a batch: `inputs[i]` carries the batch (of `size`) at
    /// dimension 0 when `in_batched[i]`. Returns the outputs and, for each,
    /// whether it carries the batch at dimension 0.
    ///
    /// # Errors
    ///
    /// By default, that the rule is missing.
    fn batch(&self, inputs: &[Tensor<B>], in_batched: &[bool], size: usize) -> Result<(Vec<Tensor<B>>, Vec<bool>)> {
        let _ = (inputs, in_batched, size);
        Err(missing_rule(self.name(), CustomRule::Batch))
    }
}

/// The type-erased handle to a custom op that [`Primitive::Custom`]
/// carries. Two handles are equal when they refer to the same op object.
///
/// [`Primitive::Custom`]: crate::Primitive::Custom
#[derive(Clone)]
pub struct CustomOpRef {
    name: &'static str,
    // Holds an `Arc<dyn CustomOp<B>>` for the backend the op was made for.
    erased: Arc<dyn Any + Send + Sync>,
}

impl CustomOpRef {
    /// The handle of `op`.
    pub fn new<B: Backend>(op: Arc<dyn CustomOp<B>>) -> CustomOpRef {
        CustomOpRef { name: op.name(), erased: Arc::new(op) }
    }

    /// The op's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The op with its rules for backend `B`.
    ///
    /// # Errors
    ///
    /// When the op was made for another backend.
    pub fn typed<B: Backend>(&self) -> Result<&Arc<dyn CustomOp<B>>> {
        self.erased.downcast_ref::<Arc<dyn CustomOp<B>>>().ok_or_else(|| {
            Error::invalid(
                self.name,
                format!(
                    "custom op `{}` was defined for another backend than {}; define it for the backend of its \
                     inputs",
                    self.name,
                    std::any::type_name::<B>()
                ),
            )
        })
    }
}

impl PartialEq for CustomOpRef {
    fn eq(&self, other: &CustomOpRef) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.erased), Arc::as_ptr(&other.erased))
    }
}

impl fmt::Debug for CustomOpRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomOp({})", self.name)
    }
}

type ForwardFn<B> = dyn Fn(&[Tensor<B>]) -> Vec<Tensor<B>> + Send + Sync;
type TangentFn<B> = dyn Fn(&[Tensor<B>], &[Tensor<B>], &[Option<Tensor<B>>]) -> MaybeTensors<B> + Send + Sync;
type BatchFn<B> = dyn Fn(&[Tensor<B>], &[bool], usize) -> (Vec<Tensor<B>>, Vec<bool>) + Send + Sync;

struct Closures<B: Backend> {
    name: &'static str,
    forward: Arc<ForwardFn<B>>,
    traceable: bool,
    jvp: Option<Arc<TangentFn<B>>>,
    vjp: Option<Arc<TangentFn<B>>>,
    batch: Option<Arc<BatchFn<B>>>,
}

impl<B: Backend> Clone for Closures<B> {
    fn clone(&self) -> Self {
        Closures {
            name: self.name,
            forward: self.forward.clone(),
            traceable: self.traceable,
            jvp: self.jvp.clone(),
            vjp: self.vjp.clone(),
            batch: self.batch.clone(),
        }
    }
}

impl<B: Backend> CustomOp<B> for Closures<B> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn forward(&self, inputs: &[Tensor<B>]) -> Result<Vec<Tensor<B>>> {
        Ok((self.forward)(inputs))
    }

    fn forward_is_traceable(&self) -> bool {
        self.traceable
    }

    fn has_rule(&self, rule: CustomRule) -> bool {
        match rule {
            CustomRule::Jvp => self.jvp.is_some(),
            CustomRule::Vjp => self.vjp.is_some(),
            CustomRule::Batch => self.batch.is_some(),
        }
    }

    fn jvp(
        &self,
        inputs: &[Tensor<B>],
        outputs: &[Tensor<B>],
        tangents: &[Option<Tensor<B>>],
    ) -> Result<MaybeTensors<B>> {
        match &self.jvp {
            Some(f) => Ok(f(inputs, outputs, tangents)),
            None => Err(missing_rule(self.name, CustomRule::Jvp)),
        }
    }

    fn vjp(
        &self,
        inputs: &[Tensor<B>],
        outputs: &[Tensor<B>],
        cotangents: &[Option<Tensor<B>>],
    ) -> Result<MaybeTensors<B>> {
        match &self.vjp {
            Some(f) => Ok(f(inputs, outputs, cotangents)),
            None => Err(missing_rule(self.name, CustomRule::Vjp)),
        }
    }

    fn batch(&self, inputs: &[Tensor<B>], in_batched: &[bool], size: usize) -> Result<(Vec<Tensor<B>>, Vec<bool>)> {
        match &self.batch {
            Some(f) => Ok(f(inputs, in_batched, size)),
            None => Err(missing_rule(self.name, CustomRule::Batch)),
        }
    }
}

/// A custom operation built from closures: a forward and optional rules.
///
/// Rules are written in Tensor operations on the values they are given and
/// use `None` for a zero tangent or cotangent:
/// - [`with_jvp`](Self::with_jvp): `(inputs, outputs, input tangents) ->
///   output tangents`;
/// - [`with_vjp`](Self::with_vjp): `(inputs, outputs, output cotangents) ->
///   input cotangents`;
/// - [`with_batch`](Self::with_batch): `(inputs, in_batched, batch size) ->
///   (outputs, out_batched)`, the batch at dimension 0.
///
/// Cloning is cheap and keeps the op's identity.
///
/// # Examples
///
/// `clip_gradient`: the identity forward, with the cotangent clipped to
/// `[-1, 1]` (a custom VJP; JAX's `custom_vjp` example).
///
/// ```
/// use func_core::{CustomFn, Tensor};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
///
/// let clip = CustomFn::<RefBackend>::new("clip_gradient", |x| vec![x[0].deep_copy()])
///     .with_vjp(|_x, _y, g| vec![g[0].as_ref().map(|g| g.clamp(Some(-1.0), Some(1.0)))]);
/// let x = T::from_vec(vec![0.5f64, -3.0], [2]);
/// assert_eq!(clip.call(&[&x])[0].to_vec::<f64>(), vec![0.5, -3.0]);
/// ```
pub struct CustomFn<B: Backend> {
    rules: Arc<Closures<B>>,
    handle: CustomOpRef,
}

impl<B: Backend> Clone for CustomFn<B> {
    fn clone(&self) -> Self {
        CustomFn { rules: self.rules.clone(), handle: self.handle.clone() }
    }
}

impl<B: Backend> fmt::Debug for CustomFn<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomFn")
            .field("name", &self.rules.name)
            .field("traceable_forward", &self.rules.traceable)
            .field("jvp", &self.rules.jvp.is_some())
            .field("vjp", &self.rules.vjp.is_some())
            .field("batch", &self.rules.batch.is_some())
            .finish()
    }
}

impl<B: Backend> CustomFn<B> {
    /// A custom op named `name` whose `forward` is written in Tensor
    /// operations (missing rules are derived from it).
    pub fn new(name: &'static str, forward: impl Fn(&[Tensor<B>]) -> Vec<Tensor<B>> + Send + Sync + 'static) -> Self {
        let rules =
            Arc::new(Closures { name, forward: Arc::new(forward), traceable: true, jvp: None, vjp: None, batch: None });
        let handle = CustomOpRef::new::<B>(rules.clone());
        CustomFn { rules, handle }
    }

    /// A custom op whose `forward` is not written in Tensor operations (it
    /// reads values to the host, or calls the backend directly). It only
    /// ever runs on concrete tensors, and each transform needs its rule.
    pub fn opaque(
        name: &'static str,
        forward: impl Fn(&[Tensor<B>]) -> Vec<Tensor<B>> + Send + Sync + 'static,
    ) -> Self {
        let mut f = Self::new(name, forward);
        f.edit(|r| r.traceable = false);
        f
    }

    fn edit(&mut self, e: impl FnOnce(&mut Closures<B>)) {
        let mut r = (*self.rules).clone();
        e(&mut r);
        self.rules = Arc::new(r);
        self.handle = CustomOpRef::new::<B>(self.rules.clone());
    }

    /// Add a JVP rule: `(inputs, outputs, input tangents) -> output
    /// tangents`, linear in the tangents.
    pub fn with_jvp(
        mut self,
        jvp: impl Fn(&[Tensor<B>], &[Tensor<B>], &[Option<Tensor<B>>]) -> MaybeTensors<B> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|r| r.jvp = Some(Arc::new(jvp)));
        self
    }

    /// Add a VJP rule: `(inputs, outputs, output cotangents) -> input
    /// cotangents`.
    pub fn with_vjp(
        mut self,
        vjp: impl Fn(&[Tensor<B>], &[Tensor<B>], &[Option<Tensor<B>>]) -> MaybeTensors<B> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|r| r.vjp = Some(Arc::new(vjp)));
        self
    }

    /// Add a batching rule: `(inputs, in_batched, size) -> (outputs,
    /// out_batched)`, batch dimensions at 0.
    pub fn with_batch(
        mut self,
        batch: impl Fn(&[Tensor<B>], &[bool], usize) -> (Vec<Tensor<B>>, Vec<bool>) + Send + Sync + 'static,
    ) -> Self {
        self.edit(|r| r.batch = Some(Arc::new(batch)));
        self
    }

    /// The op's name.
    pub fn name(&self) -> &'static str {
        self.rules.name
    }

    /// The handle a [`Primitive::Custom`](crate::Primitive::Custom) carries.
    pub fn op_ref(&self) -> CustomOpRef {
        self.handle.clone()
    }

    /// The op as a trait object: its forward and rules can be called
    /// directly (to check them against each other, for example).
    pub fn as_op(&self) -> Arc<dyn CustomOp<B>> {
        self.rules.clone()
    }

    /// Apply the op to `inputs`.
    ///
    /// # Errors
    ///
    /// What the forward or a transform's rule reports, a missing rule (see
    /// the [module docs](self)), or a rule returning the wrong number of
    /// values.
    pub fn try_call(&self, inputs: &[&Tensor<B>]) -> Result<Vec<Tensor<B>>> {
        Ok(crate::bind_multi(crate::Primitive::Custom(self.op_ref()), inputs)?.into_vec())
    }

    /// Apply the op to `inputs`.
    ///
    /// # Panics
    ///
    /// Where [`try_call`](Self::try_call) returns an error, with its message.
    pub fn call(&self, inputs: &[&Tensor<B>]) -> Vec<Tensor<B>> {
        self.try_call(inputs).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Apply a custom op object (one that implements [`CustomOp`] itself) to
/// `inputs`.
///
/// # Errors
///
/// As [`CustomFn::try_call`].
pub fn call_custom<B: Backend>(op: Arc<dyn CustomOp<B>>, inputs: &[&Tensor<B>]) -> Result<Vec<Tensor<B>>> {
    Ok(crate::bind_multi(crate::Primitive::Custom(CustomOpRef::new(op)), inputs)?.into_vec())
}

/// Check that a rule of custom op `name` returned `got` values where `want`
/// are expected (used by the transforms).
///
/// # Errors
///
/// When the counts differ, naming the op, the transform and the rule.
pub fn check_count(name: &str, transform: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(Error::transform(
        transform,
        format!("custom op `{name}`: its {what} returned {got} values, but {want} were expected"),
    ))
}
