//! Functional optimizers over parameter trees: [`Sgd`] (momentum, dampening,
//! Nesterov, weight decay) and [`Adam`] (with L2 or decoupled weight decay,
//! AdamW), with torch.optim's update rules.
//!
//! An optimizer does not own parameters: `step(&params, &grads, &state)`
//! returns new parameters and a new state. Parameters, gradients and state
//! are `TensorTree`s (a `StateDict`, a `Vec<Tensor>`, ...), so a step runs
//! under `vmap` to train an ensemble in parallel, over stacked parameters and
//! stacked states.
//!
//! ```
//! use func_autodiff::grad;
//! use func_core::{Tensor, TensorTree};
//! use func_nn::optim::Sgd;
//! type T = Tensor<func_cpu::Cpu>;
//! // Minimise (w - 3)^2.
//! let opt = Sgd::new(0.1).momentum(0.5);
//! let mut w = T::from_vec(vec![0.0f64], [1]);
//! let mut state = opt.init(&w);
//! for _ in 0..100 {
//!     let g = grad(|w: &T| (w - 3.0).square().sum())(&w);
//!     (w, state) = opt.step(&w, &g, &state);
//! }
//! assert!((w.item::<f64>() - 3.0).abs() < 1e-6);
//! ```

use func_core::{Backend, Tensor, TensorTree, TreeDef};

fn check_same<B: Backend, T: TensorTree<B>>(op: &str, params: &T, other: &T, what: &str) {
    let (a, b) = (params.leaves(), other.leaves());
    assert!(
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.dims() == y.dims()),
        "{op}: the {what} tree {} does not match the parameter tree {}",
        other.tree_def(),
        params.tree_def()
    );
}

/// Stochastic gradient descent (torch's `optim.SGD`):
/// `g += weight_decay * p`; with momentum, `buf = g` on the first step and
/// `buf = momentum * buf + (1 - dampening) * g` after, `g = buf` (or
/// `g + momentum * buf` with Nesterov); `p -= lr * g`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (default 0).
    pub momentum: f64,
    /// Dampening of the momentum (default 0).
    pub dampening: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false).
    pub nesterov: bool,
}

/// The state of [`Sgd`]: the momentum buffers (a tree like the parameters)
/// and the number of steps taken. A `TensorTree` of the buffers, so it goes
/// through vmap.
#[derive(Clone, Debug)]
pub struct SgdState<T> {
    /// Steps taken.
    pub step: u64,
    /// Momentum buffers, one per parameter.
    pub momentum_buffer: T,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd { lr, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }

    /// With momentum.
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }

    /// With dampening.
    pub fn dampening(mut self, d: f64) -> Self {
        self.dampening = d;
        self
    }

    /// With weight decay.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    /// With Nesterov momentum.
    pub fn nesterov(mut self, on: bool) -> Self {
        self.nesterov = on;
        self
    }

    /// The initial state for `params` (zero momentum buffers).
    pub fn init<B: Backend, T: TensorTree<B>>(&self, params: &T) -> SgdState<T> {
        SgdState { step: 0, momentum_buffer: params.map_leaves(&mut |p| p.zeros_like()) }
    }

    /// One step: the new parameters and state.
    ///
    /// # Panics
    ///
    /// When the gradient or state trees do not match the parameters, or
    /// Nesterov momentum is asked with momentum 0 or dampening (torch's
    /// error).
    pub fn step<B: Backend, T: TensorTree<B>>(&self, params: &T, grads: &T, state: &SgdState<T>) -> (T, SgdState<T>) {
        check_same("Sgd::step", params, grads, "gradient");
        check_same("Sgd::step", params, &state.momentum_buffer, "momentum buffer");
        assert!(
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            "Sgd: Nesterov momentum requires a momentum and zero dampening"
        );
        let (ps, gs, bufs) = (params.leaves(), grads.leaves(), state.momentum_buffer.leaves());
        let mut new_p = Vec::with_capacity(ps.len());
        let mut new_b = Vec::with_capacity(ps.len());
        for ((p, g), buf) in ps.iter().zip(&gs).zip(&bufs) {
            let mut d = if self.weight_decay != 0.0 { g + &(p * self.weight_decay) } else { g.clone() };
            if self.momentum != 0.0 {
                let b = if state.step == 0 { d.clone() } else { buf * self.momentum + &d * (1.0 - self.dampening) };
                d = if self.nesterov { d + &b * self.momentum } else { b.clone() };
                new_b.push(b);
            } else {
                new_b.push(buf.clone());
            }
            new_p.push(p - &(d * self.lr));
        }
        let params = params.rebuild(&mut new_p.into_iter());
        let momentum_buffer = state.momentum_buffer.rebuild(&mut new_b.into_iter());
        (params, SgdState { step: state.step + 1, momentum_buffer })
    }
}

/// Adam (torch's `optim.Adam`, and `optim.AdamW` with
/// [`decoupled`](Adam::decoupled)): `m = b1 m + (1 - b1) g`,
/// `v = b2 v + (1 - b2) g^2`,
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// `(beta1, beta2)` (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator (default 1e-8).
    pub eps: f64,
    /// Weight decay (default 0): an L2 term in the gradient, or decoupled.
    pub weight_decay: f64,
    /// Decoupled weight decay, `p *= 1 - lr * weight_decay` (AdamW).
    pub decoupled_weight_decay: bool,
}

/// The state of [`Adam`]: first and second moments (trees like the
/// parameters) and the number of steps taken.
#[derive(Clone, Debug)]
pub struct AdamState<T> {
    /// Steps taken.
    pub step: u64,
    /// First moment estimates.
    pub exp_avg: T,
    /// Second moment estimates.
    pub exp_avg_sq: T,
}

impl Adam {
    /// Adam with learning rate `lr` and torch's other defaults.
    pub fn new(lr: f64) -> Self {
        Adam { lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, decoupled_weight_decay: false }
    }

    /// AdamW: decoupled weight decay `weight_decay` (torch's default 0.01).
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Adam { weight_decay, decoupled_weight_decay: true, ..Adam::new(lr) }
    }

    /// With betas.
    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }

    /// With eps.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// With L2 weight decay (or decoupled, after [`decoupled`](Adam::decoupled)).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Decoupled weight decay (AdamW).
    pub fn decoupled(mut self, on: bool) -> Self {
        self.decoupled_weight_decay = on;
        self
    }

    /// The initial state for `params` (zero moments).
    pub fn init<B: Backend, T: TensorTree<B>>(&self, params: &T) -> AdamState<T> {
        AdamState {
            step: 0,
            exp_avg: params.map_leaves(&mut |p| p.zeros_like()),
            exp_avg_sq: params.map_leaves(&mut |p| p.zeros_like()),
        }
    }

    /// One step: the new parameters and state.
    ///
    /// # Panics
    ///
    /// When the gradient or state trees do not match the parameters.
    pub fn step<B: Backend, T: TensorTree<B>>(&self, params: &T, grads: &T, state: &AdamState<T>) -> (T, AdamState<T>) {
        check_same("Adam::step", params, grads, "gradient");
        check_same("Adam::step", params, &state.exp_avg, "exp_avg");
        check_same("Adam::step", params, &state.exp_avg_sq, "exp_avg_sq");
        let (b1, b2) = self.betas;
        let t = state.step + 1;
        let bc1 = 1.0 - b1.powf(t as f64);
        let bc2 = 1.0 - b2.powf(t as f64);
        let step_size = self.lr / bc1;
        let (ps, gs) = (params.leaves(), grads.leaves());
        let (ms, vs) = (state.exp_avg.leaves(), state.exp_avg_sq.leaves());
        let (mut np, mut nm, mut nv) = (Vec::new(), Vec::new(), Vec::new());
        for (((p, g), m), v) in ps.iter().zip(&gs).zip(&ms).zip(&vs) {
            let mut p = p.clone();
            let g = if self.weight_decay != 0.0 && !self.decoupled_weight_decay {
                g + &(&p * self.weight_decay)
            } else {
                g.clone()
            };
            if self.weight_decay != 0.0 && self.decoupled_weight_decay {
                p = &p * (1.0 - self.lr * self.weight_decay);
            }
            let m = m * b1 + &g * (1.0 - b1);
            let v = v * b2 + g.square() * (1.0 - b2);
            let denom = v.sqrt() / bc2.sqrt() + self.eps;
            np.push(p - (&m / &denom) * step_size);
            nm.push(m);
            nv.push(v);
        }
        (
            params.rebuild(&mut np.into_iter()),
            AdamState {
                step: t,
                exp_avg: state.exp_avg.rebuild(&mut nm.into_iter()),
                exp_avg_sq: state.exp_avg_sq.rebuild(&mut nv.into_iter()),
            },
        )
    }
}

impl<B: Backend, T: TensorTree<B>> TensorTree<B> for SgdState<T> {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        self.momentum_buffer.flatten_into(out);
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        SgdState { step: self.step, momentum_buffer: self.momentum_buffer.rebuild(leaves) }
    }
    fn tree_def(&self) -> TreeDef {
        TreeDef::Map(vec![("momentum_buffer".to_string(), self.momentum_buffer.tree_def())])
    }
}

impl<B: Backend, T: TensorTree<B>> TensorTree<B> for AdamState<T> {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        self.exp_avg.flatten_into(out);
        self.exp_avg_sq.flatten_into(out);
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        let exp_avg = self.exp_avg.rebuild(leaves);
        let exp_avg_sq = self.exp_avg_sq.rebuild(leaves);
        AdamState { step: self.step, exp_avg, exp_avg_sq }
    }
    fn tree_def(&self) -> TreeDef {
        TreeDef::Map(vec![
            ("exp_avg".to_string(), self.exp_avg.tree_def()),
            ("exp_avg_sq".to_string(), self.exp_avg_sq.tree_def()),
        ])
    }
}
