//! Backend instances (NOTE: [backend instances] in func-core): storage
//! carries the instance that made it, operations run on their operands'
//! instance under every transform, factories use the scoped default, and
//! transforms over two backend types nest.

use func_autodiff::{grad, jvp};
use func_batch::vmap;
use func_core::{Backend, DType, Tensor, default_backend, set_default_backend, with_backend};
use func_cpu::Cpu;
use func_testkit::{CheckOptions, Profiled, RefBackend, RngPolicy, check_backend_with};
use std::cell::RefCell;

type P = Profiled<RefBackend>;

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "element {i}: {x} vs {y}");
    }
}

/// A backend with state passes the backend-agreement law on the instance
/// given, with its own random-number policy too.
#[test]
fn a_stateful_backend_passes_check_backend() {
    let prof = Profiled::new(Cpu);
    check_backend_with(prof.clone(), &CheckOptions { cases: 24, ..CheckOptions::default() });
    // Every op ran on the instance under test: its table saw the kernels.
    assert!(prof.calls("matmul") > 0 && prof.calls("im2col") > 0 && prof.calls("conv2d") > 0, "{prof}");
    let own = Profiled::new(Cpu);
    check_backend_with(own.clone(), &CheckOptions { cases: 8, rng: RngPolicy::Own, ..CheckOptions::default() });
    assert!(own.calls("random") > 0, "{own}");
}

/// Operations run on the instance that made their operands, eagerly and
/// under vmap, grad and jvp; the other instance sees nothing. Inside a
/// transform, factories (grad's seed, a tracer's `ones_like`) use the scoped
/// default instance, so the program runs inside `with_backend`, as a torch
/// program runs inside `with torch.device(...)`.
#[test]
fn operations_run_on_their_operands_instance_under_every_transform() {
    let (p1, p2) = (Profiled::new(RefBackend), Profiled::new(RefBackend));
    let x = with_backend(p1.clone(), || Tensor::<P>::from_vec(vec![0.5f64, -1.0, 2.0, 3.0, 0.25, 1.5], [2, 3]));
    let w = with_backend(p1.clone(), || Tensor::<P>::from_vec(vec![1.0f64, 2.0, -1.0], [3, 1]));
    assert!(x.backend().is_some_and(|b| b.same_instance(&p1)));
    let before = p2.total_calls();
    let f = |x: &Tensor<P>| x.matmul(&w).tanh().sum();
    let y = f(&x);
    let (g, per_row, t) = with_backend(p1.clone(), || {
        let g = grad(f)(&x);
        let per_row = vmap(|r: &Tensor<P>| r.matmul(&w).sum())(&x);
        (g, per_row, jvp(f, &x, &x.ones_like()).1)
    });
    // An eager `_like` factory is made on its tensor's instance.
    assert!(x.ones_like().backend().is_some_and(|b| b.same_instance(&p1)));
    assert_eq!(p2.total_calls(), before, "p2 ran kernels of p1's tensors:\n{p2}");
    assert!(p1.calls("matmul") >= 4, "{p1}");
    for out in [&y, &g, &per_row, &t] {
        // Results stay on p1, with their counts in p1's table.
        assert!(out.backend().is_some_and(|b| b.same_instance(&p1)));
    }
    // The numbers are the wrapped backend's: z = x w, y = sum tanh z.
    let z: [f64; 2] = [0.5 - 2.0 - 2.0, 3.0 + 0.5 - 1.5];
    close(&[y.item::<f64>()], &[z[0].tanh() + z[1].tanh()]);
    let dz = z.map(|v| 1.0 - v.tanh() * v.tanh());
    close(&g.to_vec::<f64>(), &[dz[0], 2.0 * dz[0], -dz[0], dz[1], 2.0 * dz[1], -dz[1]]);
    close(&per_row.to_vec::<f64>(), &z);
}

/// Factories use the innermost `with_backend` scope, then the process
/// default, then `Backend::default_instance`; a scope ends on return.
#[test]
fn factories_use_the_scoped_default_instance() {
    let (a, b) = (Profiled::new(RefBackend), Profiled::new(RefBackend));
    let on = |t: &Tensor<P>, p: &P| t.backend().is_some_and(|be| be.same_instance(p));
    with_backend(a.clone(), || {
        let t = Tensor::<P>::zeros([2], DType::F64);
        assert!(a.calls("full") == 1 && on(&t, &a), "{a}");
        with_backend(b.clone(), || {
            let u = Tensor::<P>::ones([3], DType::F64) * 2.0;
            // The factory and the scalar constant are both made on b.
            assert_eq!(b.calls("full"), 2, "{b}");
            assert!(on(&u, &b));
        });
        let _ = Tensor::<P>::zeros([2], DType::F64);
        assert_eq!((a.calls("full"), b.calls("full")), (2, 2));
    });
    // Outside every scope: the shared default instance, not a or b.
    let d = default_backend::<P>().unwrap();
    let before = d.calls("full");
    let _ = Tensor::<P>::zeros([4], DType::F64);
    assert_eq!(d.calls("full"), before + 1);
    assert_eq!((a.calls("full"), b.calls("full")), (2, 2));
}

/// `set_default_backend` replaces the default of one backend type for the
/// whole process (other tests use other types).
#[test]
fn the_process_default_can_be_set() {
    type Q = Profiled<Cpu>;
    let mine = Profiled::new(Cpu);
    set_default_backend::<Q>(mine.clone());
    let t = Tensor::<Q>::arange(5, DType::F32);
    assert_eq!(t.sum().item::<f32>(), 10.0);
    assert_eq!(mine.calls("reduce sum"), 1, "{mine}");
    // A scope still wins over the process default.
    let scoped = Profiled::new(Cpu);
    with_backend(scoped.clone(), || Tensor::<Q>::zeros([1], DType::F64));
    assert_eq!(scoped.calls("full"), 1);
    assert_eq!(mine.calls("full"), 0);
}

/// A transform over one backend type inside a transform over another: each
/// type has its own interpreter stack, so the outer tracers keep working
/// inside the inner transform's function.
#[test]
fn transforms_over_two_backends_nest() {
    let xs = Tensor::<Cpu>::from_vec(vec![0.1f64, 0.7, -1.2], [3]);
    let y = Tensor::<RefBackend>::from_vec(vec![1.0f64, -2.0], [2]);
    let out = vmap(|x: &Tensor<Cpu>| {
        let inner = RefCell::new(None);
        // Inside grad over RefBackend, an operation on the Cpu vmap tracer.
        let g = grad(|y: &Tensor<RefBackend>| {
            *inner.borrow_mut() = Some(x.sin());
            (y * y).sum()
        })(&y);
        let s = inner.borrow_mut().take().expect("the function ran");
        // d/dy sum(y^2) = 2y, summed: 2 * (1 - 2) = -2.
        s * g.sum().item::<f64>()
    })(&xs);
    let want: Vec<f64> = [0.1f64, 0.7, -1.2].iter().map(|v| v.sin() * -2.0).collect();
    close(&out.to_vec::<f64>(), &want);
    // And the other way round: vmap over RefBackend inside grad over Cpu.
    let g = grad(|x: &Tensor<Cpu>| {
        let batched = vmap(|r: &Tensor<RefBackend>| r.exp().sum())(&Tensor::<RefBackend>::ones([2, 2], DType::F64));
        (x * x).sum() * batched.sum().item::<f64>()
    })(&xs);
    let k = 4.0 * 1f64.exp();
    close(&g.to_vec::<f64>(), &[0.2 * k, 1.4 * k, -2.4 * k]);
}

/// The instance is reachable from a tensor, so a backend's state (here its
/// table) is known from the data.
#[test]
fn a_tensor_knows_its_instance() {
    let p = Profiled::new(RefBackend);
    let t = with_backend(p.clone(), || Tensor::<P>::ones([2, 2], DType::F64));
    let view = t.permute(&[1, 0]);
    assert_eq!(view.backend().map(|b| b.name()), Some("profiled"));
    assert!(view.backend().is_some_and(|b| b.same_instance(&p)));
    assert_eq!(RefBackend::default_instance().map(|b| b.name()).ok(), Some("ref"));
}
