//! A catalogue entry ([`OpInfo`]): an op with its name, properties and
//! sample strategy, and the laws ([`Law`]) an entry may be exempt from.

use super::Op;
use crate::strategies::Sample;
use proptest::strategy::BoxedStrategy;
use std::fmt;
use std::sync::Arc;

/// How the comparison tolerance of an op grows with its inputs: the
/// magnitude `m` of each output element, in the tolerance
/// `rtol * (1 + |expected| + m)` (see [`check_backend`](crate::check_backend)
/// for the whole comparison). Every rule is per element, or per reduced row
/// broadcast to the row's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// No accumulation (`m = 0`): the tolerance is relative to the expected
    /// value only.
    Elementwise,
    /// Each output element is a sum of products of inputs (sum, matmul,
    /// conv, ...): the magnitude of an element is that element of the op
    /// applied (in f64) to the absolute values of the float arguments.
    AbsOp,
    /// A sum (or mean) of non-negative terms, possibly under a root (norms,
    /// mse): rounding errors are relative to the result, `m = |expected|`.
    Relative,
    /// A nonlinear function of reductions along the op's dims (softmax,
    /// log-softmax, logsumexp, var, cross entropy): `m` is computed from the
    /// absolute values of the elements of the same reduced row, per op (see
    /// [`check_backend`](crate::check_backend)).
    Rows,
}

type Sampler = Arc<dyn Fn() -> BoxedStrategy<Sample> + Send + Sync>;

/// Which arguments of an op are parameters it reads on the host (dims,
/// sizes, seeds, the shape carrier of a factory): they stay unbatched and
/// undifferentiated under the transform laws, and a graph cannot take them
/// as inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostParams {
    /// None: every argument is data.
    None,
    /// The argument at this position (when the op is given that many).
    At(usize),
    /// The last argument, after any number of data arguments (`cat`).
    Last,
    /// Every argument (a factory: it has no data argument).
    All,
}

impl HostParams {
    /// For each of `n` arguments, whether it is a host parameter.
    pub fn mask(self, n: usize) -> Vec<bool> {
        let mut p = vec![false; n];
        match self {
            HostParams::None => {}
            HostParams::At(i) => {
                if i < n {
                    p[i] = true;
                }
            }
            HostParams::Last => {
                if let Some(last) = p.last_mut() {
                    *last = true;
                }
            }
            HostParams::All => p.iter_mut().for_each(|x| *x = true),
        }
        p
    }
}

/// One catalogue entry: an op, its name, properties and sample strategy.
#[derive(Clone)]
pub struct OpInfo {
    /// Unique name, e.g. `"matmul_batched"`.
    pub name: &'static str,
    /// The operation.
    pub op: Op,
    /// Whether the output depends differentiably (almost everywhere) on the
    /// float arguments, so gradient laws apply (for float samples). False for
    /// piecewise-constant ops (floor, sign, comparisons, argmax, casts to
    /// integers), factories and fills.
    pub differentiable: bool,
    /// How the agreement tolerance scales.
    pub scale: Scale,
    /// Laws that do not hold for this op by design, or that cannot check it
    /// meaningfully, each with the reason (set with
    /// [`exempt`](OpInfo::exempt)); the transform laws skip them for it.
    pub exemptions: Vec<(Law, &'static str)>,
    /// Which arguments are parameters the op reads on the host (set with
    /// [`host`](OpInfo::host); [`HostParams::None`] by default).
    pub host: HostParams,
    /// The argument that is index or condition data (i64 or bool data that
    /// is batched but never differentiated: `where`'s condition, `gather`'s
    /// index, a loss's target), set with [`index_arg`](OpInfo::index_arg).
    pub index_arg: Option<usize>,
    /// Whether the op writes into (a copy of) its first argument, so that
    /// under vmap that argument must be batched whenever another one is
    /// (set with [`writes_first`](OpInfo::writes_first)).
    pub writes_first: bool,
    /// Whether the op returns a view of its first argument, sharing its
    /// storage when the layout allows (set with [`view`](OpInfo::view));
    /// the aliasing law runs on these.
    pub view: bool,
    /// Whether the op draws random numbers from a seed (set with
    /// [`random`](OpInfo::random)): a backend with its own generator is
    /// checked for the distribution's support, not the values, and the
    /// transform laws leave it to vmap's randomness tests.
    pub random: bool,
    sampler: Sampler,
}

/// One of the laws [`check_transforms`](crate::check_transforms) checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Law {
    /// `vmap(f)` equals stacking `f` over slices.
    Vmap,
    /// Chunked vmap equals unchunked vmap.
    ChunkedVmap,
    /// Two nested vmap levels equal a double loop.
    NestedVmap,
    /// jvp equals central finite differences.
    JvpFiniteDifferences,
    /// `<u, J v> = <J^T u, v>` between vjp and jvp.
    VjpJvp,
    /// jacfwd equals jacrev.
    JacfwdJacrev,
    /// The Hessian of a scalar function is symmetric.
    HessianSymmetry,
    /// `<w, H v> = <H^T w, v>` for jvp and vjp of a vjp.
    SecondOrder,
}

impl Law {
    /// Every law.
    pub const ALL: [Law; 8] = [
        Law::Vmap,
        Law::ChunkedVmap,
        Law::NestedVmap,
        Law::JvpFiniteDifferences,
        Law::VjpJvp,
        Law::JacfwdJacrev,
        Law::HessianSymmetry,
        Law::SecondOrder,
    ];

    /// A short description.
    pub fn name(self) -> &'static str {
        match self {
            Law::Vmap => "vmap vs a loop",
            Law::ChunkedVmap => "chunked vmap vs vmap",
            Law::NestedVmap => "nested vmap vs a double loop",
            Law::JvpFiniteDifferences => "jvp vs finite differences",
            Law::VjpJvp => "<u, J v> = <J^T u, v>",
            Law::JacfwdJacrev => "jacfwd vs jacrev",
            Law::HessianSymmetry => "symmetric Hessian",
            Law::SecondOrder => "second-order inner products",
        }
    }

    /// Whether the law differentiates.
    pub fn is_derivative(self) -> bool {
        !matches!(self, Law::Vmap | Law::ChunkedVmap | Law::NestedVmap)
    }
}

impl fmt::Debug for OpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpInfo")
            .field("name", &self.name)
            .field("op", &self.op)
            .field("differentiable", &self.differentiable)
            .field("scale", &self.scale)
            .field("exemptions", &self.exemptions)
            .field("host", &self.host)
            .field("index_arg", &self.index_arg)
            .field("writes_first", &self.writes_first)
            .field("view", &self.view)
            .field("random", &self.random)
            .finish_non_exhaustive()
    }
}

impl OpInfo {
    /// An entry from its parts, with the default properties: every
    /// argument is data, none is an index, no write into the first
    /// argument, not a view, not random, no exemption. The builder methods
    /// below set the others.
    pub fn new(
        name: &'static str,
        op: Op,
        differentiable: bool,
        scale: Scale,
        sampler: impl Fn() -> BoxedStrategy<Sample> + Send + Sync + 'static,
    ) -> OpInfo {
        OpInfo {
            name,
            op,
            differentiable,
            scale,
            exemptions: Vec::new(),
            host: HostParams::None,
            index_arg: None,
            writes_first: false,
            view: false,
            random: false,
            sampler: Arc::new(sampler),
        }
    }

    /// Mark the arguments the op reads on the host.
    pub fn host(mut self, host: HostParams) -> OpInfo {
        self.host = host;
        self
    }

    /// Mark argument `i` as index or condition data.
    pub fn index_arg(mut self, i: usize) -> OpInfo {
        self.index_arg = Some(i);
        self
    }

    /// Mark the op as writing into its first argument.
    pub fn writes_first(mut self) -> OpInfo {
        self.writes_first = true;
        self
    }

    /// Mark the op as returning a view of its first argument.
    pub fn view(mut self) -> OpInfo {
        self.view = true;
        self
    }

    /// Mark the op as random (a function of its seed argument).
    pub fn random(mut self) -> OpInfo {
        self.random = true;
        self
    }

    /// Whether the op is a factory: it has no data argument to batch or
    /// differentiate.
    pub fn is_factory(&self) -> bool {
        self.host == HostParams::All
    }

    /// For each of `n` arguments, whether it is a host parameter (see
    /// [`host`](OpInfo::host)).
    pub fn host_params(&self, n: usize) -> Vec<bool> {
        self.host.mask(n)
    }

    /// For each of `n` arguments, whether it is index or condition data
    /// (see [`index_arg`](OpInfo::index_arg)).
    pub fn index_args(&self, n: usize) -> Vec<bool> {
        (0..n).map(|i| self.index_arg == Some(i)).collect()
    }

    /// Exempt the op from `law`, for `reason` (an op whose custom derivative
    /// intentionally differs from its forward's, such as a straight-through
    /// estimator).
    pub fn exempt(mut self, law: Law, reason: &'static str) -> OpInfo {
        self.exemptions.push((law, reason));
        self
    }

    /// Whether the op is exempt from `law`.
    pub fn is_exempt(&self, law: Law) -> bool {
        self.exemptions.iter().any(|(l, _)| *l == law)
    }

    /// The strategy generating this op's sample inputs.
    pub fn sample(&self) -> BoxedStrategy<Sample> {
        (self.sampler)()
    }
}
