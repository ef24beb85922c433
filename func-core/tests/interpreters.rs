//! The interpreter machinery, exercised with a small counting interpreter:
//! nesting, escaped tracers, and clean state after a panic.

use func_core::{DType, Interpreter, Level, Outputs, Primitive, Result, Tensor, bind_multi, with_interpreter};
use func_testkit::RefBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type T = Tensor<RefBackend>;

/// An identity transform that counts the primitives it processes. Its
/// tracer wraps the value one level down.
struct Counter {
    level: Level,
    count: AtomicUsize,
    names: std::sync::Mutex<Vec<&'static str>>,
}

impl Counter {
    fn unwrap(&self, t: &T) -> T {
        t.with_tracer_data(&self.level, |d: &T| d.clone()).unwrap_or_else(|| t.clone())
    }
    fn wrap(&self, t: T) -> T {
        Tensor::new_tracer(&self.level, t.shape().clone(), t.dtype(), t)
    }
}

impl Interpreter<RefBackend> for Counter {
    fn level(&self) -> &Level {
        &self.level
    }
    fn process(&self, prim: &Primitive, args: &[&T]) -> Result<Outputs<RefBackend>> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.names.lock().unwrap().push(prim.name());
        let inner: Vec<T> = args.iter().map(|a| self.unwrap(a)).collect();
        let refs: Vec<&T> = inner.iter().collect();
        Ok(bind_multi(prim.clone(), &refs)?.into_iter().map(|y| self.wrap(y)).collect())
    }
    fn copy_into(&self, dst: &T, src: &T, _op: &str) -> Result<()> {
        self.unwrap(dst).try_copy_(&self.unwrap(src))
    }
    fn lower_for_read(&self, t: &T, _op: &str) -> Result<T> {
        Ok(self.unwrap(t))
    }
}

/// Run `f` under a fresh counter; returns the output (unwrapped) and the
/// counter.
fn counted(x: &T, f: impl FnOnce(&T) -> T) -> (T, Arc<Counter>) {
    let c = Arc::new(Counter { level: Level::new("count"), count: AtomicUsize::new(0), names: Default::default() });
    let out = with_interpreter(c.clone(), || {
        let xt = c.wrap(x.clone());
        let y = f(&xt);
        c.unwrap(&y)
    });
    (out, c)
}

fn vec_of(t: &T) -> Vec<f64> {
    t.to_vec::<f64>()
}

#[test]
fn counts_the_primitives_of_a_function() {
    let x = T::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
    let (y, c) = counted(&x, |x| (x * x).sum());
    assert_eq!(vec_of(&y), vec![14.0]);
    assert_eq!(c.count.load(Ordering::SeqCst), 2);
    assert_eq!(*c.names.lock().unwrap(), vec!["mul", "sum"]);
}

#[test]
fn a_constant_operation_is_not_seen_by_an_idle_level() {
    let x = T::from_vec(vec![1.0f64, 2.0], [2]);
    let k = T::from_vec(vec![3.0f64, 4.0], [2]);
    let (y, c) = counted(&x, |x| {
        let k2 = &k + &k; // no tracer involved: forwarded untouched
        x * &k2
    });
    assert_eq!(vec_of(&y), vec![6.0, 16.0]);
    assert_eq!(*c.names.lock().unwrap(), vec!["mul"]);
}

#[test]
fn two_nested_interpreters_each_see_their_operations() {
    let x = T::from_vec(vec![1.0f64, 2.0], [2]);
    let mut inner_counter = None;
    let (y, outer) = counted(&x, |xo| {
        let (yi, inner) = counted(xo, |xi| xi.exp() + xi);
        inner_counter = Some(inner);
        // The inner level's rules issued their ops at the outer level.
        yi.sin()
    });
    let inner = inner_counter.unwrap();
    assert_eq!(*inner.names.lock().unwrap(), vec!["exp", "add"]);
    assert_eq!(*outer.names.lock().unwrap(), vec!["exp", "add", "sin"]);
    let expect: Vec<f64> = [1.0f64, 2.0].iter().map(|v| (v.exp() + v).sin()).collect();
    assert_eq!(vec_of(&y), expect);
}

#[test]
fn an_outer_tracer_captured_by_an_inner_function_is_a_constant_to_the_inner_level() {
    let x = T::from_vec(vec![2.0f64], [1]);
    let z = T::from_vec(vec![5.0f64], [1]);
    let mut inner_names = vec![];
    let (_, outer) = counted(&x, |xo| {
        let (r, inner) = counted(&z, |zi| zi * xo);
        inner_names = inner.names.lock().unwrap().clone();
        r
    });
    assert_eq!(inner_names, vec!["mul"]);
    assert_eq!(*outer.names.lock().unwrap(), vec!["mul"]);
}

#[test]
fn an_escaped_tracer_panics_naming_the_transform() {
    let x = T::from_vec(vec![1.0f64], [1]);
    let mut leaked: Option<T> = None;
    let _ = counted(&x, |xt| {
        leaked = Some(xt.clone());
        xt.clone()
    });
    let leaked = leaked.unwrap();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| leaked.exp())).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("escaped tracer"), "{msg}");
    assert!(msg.contains("count transform"), "{msg}");
    assert!(msg.contains("Return every value"), "{msg}");
}

#[test]
fn a_panic_inside_a_transformed_function_leaves_the_state_clean() {
    let x = T::from_vec(vec![1.0f64], [1]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        counted(&x, |xt| {
            let _ = xt.exp();
            panic!("user code failed");
        })
    }));
    assert!(r.is_err());
    // No interpreter is left installed: a factory, which would go to the
    // current interpreter (and come back as its tracer), makes concrete data.
    let z = T::zeros([2], DType::F64);
    assert!(z.is_concrete() && z.level().is_none());
    assert_eq!(vec_of(&z), vec![0.0, 0.0]);
    // Operations evaluate directly again.
    assert_eq!(vec_of(&(&x + &x)), vec![2.0]);
}

#[test]
fn in_place_operations_reach_the_storage_through_an_interpreter() {
    let base = T::zeros([2, 3], func_core::DType::F64);
    let (_, c) = counted(&base, |b| {
        let row = b.select(0, 1);
        row.add_(&T::scalar(2.0f64));
        b.clone()
    });
    assert_eq!(vec_of(&base), vec![0.0, 0.0, 0.0, 2.0, 2.0, 2.0]);
    assert!(c.names.lock().unwrap().contains(&"add"));
}

#[test]
fn scalar_constants_are_primitives_that_interpreters_see() {
    use func_testkit::record_primitives;
    type T = Tensor<func_testkit::RefBackend>;
    let x = T::from_vec(vec![1.0f64, 2.0], [2]);
    let (y, names) = record_primitives(|x: &T| x * 2.0, &x);
    assert_eq!(y.to_vec::<f64>(), vec![2.0, 4.0]);
    assert_eq!(names, vec!["full", "broadcast_to", "mul"]);
    let (_, names) = record_primitives(|x: &T| 1.0 - x, &x);
    assert_eq!(names[0], "full", "{names:?}");
    let (y, names) = record_primitives(
        |x: &T| {
            let y = x.deep_copy();
            y.fill_(3.0);
            y
        },
        &x,
    );
    assert_eq!(y.to_vec::<f64>(), vec![3.0, 3.0]);
    assert!(names.contains(&"full"), "{names:?}");
    let (_, names) = record_primitives(|x: &T| x.clamp(Some(0.0), Some(1.5)), &x);
    // Both bounds (and the comparisons' constants) are seen.
    assert!(names.iter().filter(|n| **n == "full").count() >= 2, "{names:?}");
}

#[test]
fn a_custom_op_with_several_outputs_is_one_primitive_to_an_interpreter() {
    // Forward in Tensor ops, no rules: an identity interpreter forwards the
    // op whole (one primitive, two outputs), and at the bottom the forward
    // evaluates with no interpreter installed.
    let op = func_core::CustomFn::<RefBackend>::new("split_sum", |x| vec![x[0].sum(), &x[0] * &x[1]]);
    let x = T::from_vec(vec![1.0f64, 2.0], [2]);
    let y = T::from_vec(vec![3.0f64, 4.0], [2]);
    let (out, c) = counted(&x, |xt| {
        let o = op.call(&[xt, &y]);
        assert_eq!(o.len(), 2);
        assert!(o.iter().all(|t| t.level().is_some()), "both outputs are the interpreter's tracers");
        o[1].clone()
    });
    assert_eq!(vec_of(&out), vec![3.0, 8.0]);
    assert_eq!(c.count.load(Ordering::SeqCst), 1);
    assert_eq!(*c.names.lock().unwrap(), vec!["split_sum"]);
    // Outside any transform the op returns both outputs directly.
    let o = op.call(&[&x, &y]);
    assert_eq!(vec_of(&o[0]), vec![3.0]);
    // No interpreter is left installed: a factory is concrete.
    assert!(T::zeros([1], DType::F64).is_concrete());
}

#[test]
fn reenter_outside_a_rule_runs_unchanged() {
    let x = T::from_vec(vec![2.0f64], [1]);
    let y = func_core::reenter::<RefBackend, _>(|| &x * &x);
    assert_eq!(vec_of(&y), vec![4.0]);
}

/// `with_tracer_data` reads a tracer's data in place: `Some` only for a
/// tracer of the given level holding that type, and the data current after
/// a rebind; `tracer_data` agrees on every case.
#[test]
fn tracer_data_is_read_in_place_only_at_its_level_and_type() {
    let x = T::from_vec(vec![1.0f64, 2.0], [2]);
    let (a, b) = (Level::new("a"), Level::new("b"));
    let t = T::new_tracer(&a, x.shape().clone(), x.dtype(), x.clone());
    let read = |t: &T, l: &Level| t.with_tracer_data(l, |d: &T| d.to_vec::<f64>());
    let mut checked = 0;
    let mut agree = |t: &T, l: &Level, want: Option<Vec<f64>>| {
        assert_eq!(read(t, l), want);
        assert_eq!(t.tracer_data::<T>(l).map(|d| d.to_vec::<f64>()), want, "tracer_data agrees");
        checked += 1;
    };
    agree(&t, &a, Some(vec![1.0, 2.0]));
    agree(&t, &b, None);
    agree(&x, &a, None);
    assert_eq!(t.with_tracer_data(&a, |d: &String| d.len()), None, "another data type");
    // A rebind is seen by the next read.
    let u = T::new_tracer(&a, x.shape().clone(), x.dtype(), T::from_vec(vec![5.0f64, 6.0], [2]));
    t.rebind_tracer(&u).unwrap();
    agree(&t, &a, Some(vec![5.0, 6.0]));
    assert_eq!(checked, 4);
}
