//! The transform laws for anyone's code: [`check_laws`] for a function of a
//! tensor tree, [`check_laws_prop`] for the same as a property over
//! strategies, and [`check_custom_op`] for a custom op's own rules.
//!
//! JAX's `check_grads` and torch's `gradcheck` compare derivatives with
//! finite differences. These laws do that too, and also check batching
//! (vmap against a loop), the agreement of forward and reverse mode, and
//! second derivatives, so that a wrong rule anywhere shows up, with the law,
//! the input and the worst element in the report.
//!
//! # Examples
//!
//! ```
//! use func_core::{DType, Tensor};
//! use func_testkit::{LawOptions, RefBackend, check_laws};
//!
//! type T = Tensor<RefBackend>;
//! let w = T::from_vec(vec![0.5f64, -1.0, 2.0, 0.25, 1.5, -0.75], [3, 2]);
//! let x = T::from_vec(vec![0.3f64, -0.2, 0.9], [3]);
//! // A small model: its laws hold, and the report counts each check.
//! let report = check_laws(|(w, x): &(T, T)| x.matmul(w).tanh().sum(), &(w, x), &LawOptions::default())
//!     .unwrap_or_else(|e| panic!("{e}"));
//! assert!(report.total() > 0);
//! println!("{report}");
//! ```

use crate::derivatives::{
    hessian_matrix, jacobian_pairs, probe_like as probe, second_order_products, vjp_jvp_products,
};
use crate::transform_laws::guarded;
use func_autodiff::{jvp, vjp};
use func_batch::{Dims, VmapOptions, try_vmap};
use func_core::{Backend, CustomOp, CustomRule, DType, Tensor, TensorTree};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

mod check;
mod prop;

pub use check::check_laws;
pub use prop::{check_custom_op, check_laws_prop};

/// One law of [`check_laws`] and [`check_custom_op`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum UserLaw {
    /// `vmap(f)` equals stacking `f` over copies of the inputs, for in_dims
    /// 0, -1 and None per leaf.
    Vmap,
    /// The JVP equals central finite differences.
    JvpFiniteDifferences,
    /// `<u, J v> = <J^T u, v>`: reverse mode agrees with forward mode.
    VjpJvp,
    /// `jacfwd(f)` equals `jacrev(f)`.
    JacfwdJacrev,
    /// The Hessian of a scalar function is symmetric.
    HessianSymmetry,
    /// The inner-product law for `x -> J(x)^T u`: second derivatives agree.
    SecondOrder,
    /// A custom op's JVP rule equals differentiating its forward.
    CustomJvp,
    /// A custom op's VJP rule equals differentiating its forward.
    CustomVjp,
    /// A custom op's batching rule equals a loop over the batch.
    CustomBatch,
}

impl fmt::Display for UserLaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            UserLaw::Vmap => "vmap against a loop",
            UserLaw::JvpFiniteDifferences => "jvp against central differences",
            UserLaw::VjpJvp => "vjp/jvp inner product",
            UserLaw::JacfwdJacrev => "jacfwd against jacrev",
            UserLaw::HessianSymmetry => "Hessian symmetry",
            UserLaw::SecondOrder => "second-order inner product",
            UserLaw::CustomJvp => "custom JVP rule against the forward's derivative",
            UserLaw::CustomVjp => "custom VJP rule against the forward's derivative",
            UserLaw::CustomBatch => "custom batching rule against a loop",
        };
        f.write_str(name)
    }
}

/// Which laws run, and how close is close enough.
#[derive(Clone, Debug)]
pub struct LawOptions {
    /// Run the vmap law.
    pub vmap: bool,
    /// Run the first-order laws (finite differences, vjp/jvp, jacfwd/jacrev).
    pub first_order: bool,
    /// Run the second-order laws (Hessian symmetry, second order).
    pub second_order: bool,
    /// Laws to skip, for a rule that differs from the forward's derivative
    /// by design (a clipped or straight-through gradient).
    pub skip: Vec<UserLaw>,
    /// Relative tolerance of exact laws for f64 results, per element:
    /// `|got - expected| <= rtol * (1 + |expected|)`.
    pub rtol_f64: f64,
    /// The same for f32 results.
    pub rtol_f32: f64,
    /// Relative tolerance of the finite-difference law (f64; f32 uses
    /// `1e4` times it, capped at `1e-2`).
    pub fd_rtol: f64,
    /// The finite-difference step (default: `1e-6` for f64, `1e-2` for f32).
    /// The law runs only where two steps agree, away from kinks.
    pub eps: Option<f64>,
    /// Batch size of the vmap law.
    pub batch: usize,
}

impl Default for LawOptions {
    fn default() -> Self {
        LawOptions {
            vmap: true,
            first_order: true,
            second_order: true,
            skip: vec![],
            rtol_f64: 1e-10,
            rtol_f32: 1e-4,
            fd_rtol: 1e-5,
            eps: None,
            batch: 3,
        }
    }
}

impl LawOptions {
    fn runs(&self, law: UserLaw) -> bool {
        !self.skip.contains(&law)
    }
    fn rtol(&self, dtype: DType) -> f64 {
        if dtype == DType::F64 { self.rtol_f64 } else { self.rtol_f32 }
    }
}

/// What the laws checked: the number of compared values per law.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LawReport {
    /// Compared elements (or inner products) per law.
    pub checked: BTreeMap<UserLaw, usize>,
}

impl LawReport {
    /// All comparisons.
    pub fn total(&self) -> usize {
        self.checked.values().sum()
    }
    /// Comparisons of one law.
    pub fn count(&self, law: UserLaw) -> usize {
        self.checked.get(&law).copied().unwrap_or(0)
    }
    fn add(&mut self, law: UserLaw, n: usize) {
        *self.checked.entry(law).or_default() += n;
    }
}

impl fmt::Display for LawReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (law, n)) in self.checked.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{law}: {n}")?;
        }
        Ok(())
    }
}

/// A law that failed: which, on what input, and the worst element.
#[derive(Clone, Debug, PartialEq)]
pub struct LawFailure {
    /// The law.
    pub law: UserLaw,
    /// What was compared (`"output 0, in_dims [0, None]"`).
    pub what: String,
    /// The inputs, shown.
    pub input: String,
    /// Index of the worst element in the compared tensor (empty for a
    /// scalar comparison).
    pub index: Vec<usize>,
    /// The expected value there.
    pub expected: f64,
    /// The value got there.
    pub got: f64,
    /// The tolerance there.
    pub tolerance: f64,
    /// A panic or error raised while checking, if that is what failed.
    pub error: Option<String>,
}

impl fmt::Display for LawFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "law failed: {} ({})", self.law, self.what)?;
        match &self.error {
            Some(e) => write!(f, ": {e}")?,
            None => write!(
                f,
                "\n  worst element {:?}: got {:e}, expected {:e}, |difference| {:e} > tolerance {:e}",
                self.index,
                self.got,
                self.expected,
                (self.got - self.expected).abs(),
                self.tolerance
            )?,
        }
        write!(f, "\n  on input:\n{}", self.input)
    }
}

impl std::error::Error for LawFailure {}
