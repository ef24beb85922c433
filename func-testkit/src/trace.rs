//! Recording the primitives a function runs, for tests that check *how* a
//! transform computes (one batched matmul, never a loop), not just what.

use func_core::{
    Backend, Interpreter, Level, Outputs, Primitive, Result, Tensor, TensorTree, bind_multi, with_interpreter,
};
use std::sync::{Arc, Mutex};

/// An identity transform that records the name of every primitive it sees.
struct Recorder {
    level: Level,
    names: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn unwrap<B: Backend>(&self, t: &Tensor<B>) -> Tensor<B> {
        t.tracer_data::<Tensor<B>>(&self.level).map(|d| (*d).clone()).unwrap_or_else(|| t.clone())
    }

    fn wrap<B: Backend>(&self, t: Tensor<B>) -> Tensor<B> {
        Tensor::new_tracer(&self.level, t.shape().clone(), t.dtype(), t)
    }
}

impl<B: Backend> Interpreter<B> for Recorder {
    fn level(&self) -> &Level {
        &self.level
    }

    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).push(prim.name());
        let inner: Vec<Tensor<B>> = args.iter().map(|a| self.unwrap(a)).collect();
        let refs: Vec<&Tensor<B>> = inner.iter().collect();
        Ok(bind_multi(prim.clone(), &refs)?.into_iter().map(|y| self.wrap(y)).collect())
    }

    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, _op: &str) -> Result<()> {
        self.unwrap(dst).try_copy_(&self.unwrap(src))
    }

    fn lower_for_read(&self, t: &Tensor<B>, _op: &str) -> Result<Tensor<B>> {
        Ok(self.unwrap(t))
    }
}

/// Run `f` on `x` and return its output with the names of the primitives
/// that depend on `x`, in order, as an enclosing transform sees them. Inside
/// `f`, transforms' rules run their own primitives: wrapping `vmap(g)` shows
/// what vmap turned `g` into.
///
/// # Examples
///
/// ```
/// use func_core::Tensor;
/// use func_testkit::{RefBackend, record_primitives};
/// type T = Tensor<RefBackend>;
/// let (y, names) = record_primitives(|x: &T| (x * x).sum(), &T::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(names, vec!["mul", "sum"]);
/// assert_eq!(y.item::<f64>(), 5.0);
/// ```
pub fn record_primitives<B, X, Y, F>(f: F, x: &X) -> (Y, Vec<&'static str>)
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: FnOnce(&X) -> Y,
{
    let rec = Arc::new(Recorder { level: Level::new("record_primitives"), names: Mutex::new(Vec::new()) });
    let r = rec.clone();
    let y = with_interpreter::<B, _>(rec.clone(), move || {
        let leaves: Vec<Tensor<B>> = x.leaves().into_iter().map(|l| r.wrap(l)).collect();
        let y = f(&x.rebuild(&mut leaves.into_iter()));
        let outs: Vec<Tensor<B>> = y.leaves().iter().map(|l| r.unwrap(l)).collect();
        y.rebuild(&mut outs.into_iter())
    });
    let names = std::mem::take(&mut *rec.names.lock().unwrap_or_else(|p| p.into_inner()));
    (y, names)
}
