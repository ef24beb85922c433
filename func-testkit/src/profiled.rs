//! [`Profiled`]: a backend that wraps another, counting the calls and the
//! time of each kernel, to show where a (transformed) program spends its
//! time.
//!
//! It is also the worked example of a backend with state: each instance
//! owns its table of counts, tensors remember the instance that made them
//! (NOTE: [backend instances] in func-core), and operations on them are
//! counted there, under every transform.
//!
//! # Examples
//!
//! ```
//! use func_core::{Tensor, with_backend};
//! use func_testkit::{Profiled, RefBackend};
//!
//! let prof = Profiled::new(RefBackend);
//! let y = with_backend(prof.clone(), || {
//!     let x = Tensor::<Profiled<RefBackend>>::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
//!     (x.exp() * 2.0).sum()
//! });
//! assert!((y.item::<f64>() - 2.0 * (1f64.exp() + 2f64.exp() + 3f64.exp())).abs() < 1e-12);
//! assert_eq!(prof.calls("unary exp"), 1);
//! println!("{prof}");
//! ```

use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, ConvGeom, DType, Distribution, HostData, Layout, ReduceOp, Result, UnaryOp,
};
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Calls and total time of one kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStat {
    /// Number of calls.
    pub calls: u64,
    /// Time spent inside the wrapped backend.
    pub time: Duration,
}

/// A backend that forwards every call to `B` and counts it, per kernel
/// (`"matmul"`, `"unary exp"`, `"reduce sum"`, ...), in a table owned by the
/// instance. Clones share the table; [`Profiled::new`] makes a new one.
///
/// Thread-safe: kernels called from several threads are all counted.
#[derive(Clone)]
pub struct Profiled<B: Backend> {
    inner: B,
    table: Arc<Mutex<BTreeMap<String, OpStat>>>,
}

impl<B: Backend> fmt::Debug for Profiled<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Profiled<{:?}>", self.inner)
    }
}

impl<B: Backend> Profiled<B> {
    /// Wrap `inner` with a new, empty table.
    pub fn new(inner: B) -> Self {
        Profiled { inner, table: Arc::new(Mutex::new(BTreeMap::new())) }
    }

    /// Whether `self` and `other` share one table (one is a clone of the
    /// other).
    pub fn same_instance(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.table, &other.table)
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The counts so far, by kernel name.
    pub fn stats(&self) -> BTreeMap<String, OpStat> {
        self.lock().clone()
    }

    /// Calls of the kernel `name` so far (0 if never called).
    pub fn calls(&self, name: &str) -> u64 {
        self.lock().get(name).map_or(0, |s| s.calls)
    }

    /// Calls of every kernel so far.
    pub fn total_calls(&self) -> u64 {
        self.lock().values().map(|s| s.calls).sum()
    }

    /// Forget the counts.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, OpStat>> {
        // A panic while the table was locked leaves whole counts behind: use them.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timed<R>(&self, name: impl FnOnce() -> String, f: impl FnOnce(&B) -> R) -> R {
        let start = Instant::now();
        let r = f(&self.inner);
        let time = start.elapsed();
        let mut table = self.lock();
        let entry = table.entry(name()).or_default();
        entry.calls += 1;
        entry.time += time;
        r
    }
}

/// The table, slowest kernel first: calls, total and mean time, share.
impl<B: Backend> fmt::Display for Profiled<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<(String, OpStat)> = self.stats().into_iter().collect();
        rows.sort_by(|a, b| b.1.time.cmp(&a.1.time).then_with(|| a.0.cmp(&b.0)));
        let total: Duration = rows.iter().map(|r| r.1.time).sum();
        writeln!(f, "{:<24} {:>9} {:>12} {:>12} {:>7}", "kernel", "calls", "total ms", "mean us", "share")?;
        for (name, s) in &rows {
            let ms = s.time.as_secs_f64() * 1e3;
            let mean_us = if s.calls == 0 { 0.0 } else { s.time.as_secs_f64() * 1e6 / s.calls as f64 };
            let share = if total.is_zero() { 0.0 } else { 100.0 * s.time.as_secs_f64() / total.as_secs_f64() };
            writeln!(f, "{name:<24} {:>9} {ms:>12.3} {mean_us:>12.2} {share:>6.1}%", s.calls)?;
        }
        write!(
            f,
            "{:<24} {:>9} {:>12.3}",
            "total",
            rows.iter().map(|r| r.1.calls).sum::<u64>(),
            total.as_secs_f64() * 1e3
        )
    }
}

/// One shared default instance per wrapped backend type, so that factories
/// outside any `with_backend` scope are counted in one table.
fn shared_default<B: Backend>() -> Result<Profiled<B>> {
    static DEFAULTS: OnceLock<Mutex<HashMap<TypeId, Box<dyn Any + Send>>>> = OnceLock::new();
    let mut map = DEFAULTS.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&TypeId::of::<B>()).and_then(|b| b.downcast_ref::<Profiled<B>>()) {
        return Ok(p.clone());
    }
    let p = Profiled::new(B::default_instance()?);
    map.insert(TypeId::of::<B>(), Box::new(p.clone()));
    Ok(p)
}

fn lower<T: fmt::Debug>(kind: &str, op: T) -> String {
    format!("{kind} {}", format!("{op:?}").to_lowercase())
}

impl<B: Backend> Backend for Profiled<B> {
    type Storage = B::Storage;

    /// One process-wide instance per `B`, wrapping `B`'s default instance.
    fn default_instance() -> Result<Self> {
        shared_default()
    }
    fn name(&self) -> &'static str {
        "profiled"
    }
    fn storage_dtype(&self, s: &Self::Storage) -> DType {
        self.inner.storage_dtype(s)
    }
    fn storage_len(&self, s: &Self::Storage) -> usize {
        self.inner.storage_len(s)
    }
    fn from_host(&self, data: HostData) -> Result<Self::Storage> {
        self.timed(|| "from_host".into(), |b| b.from_host(data))
    }
    fn to_host(&self, s: &Self::Storage, l: &Layout) -> Result<HostData> {
        self.timed(|| "to_host".into(), |b| b.to_host(s, l))
    }
    fn full(&self, value: f64, dtype: DType, numel: usize) -> Result<Self::Storage> {
        self.timed(|| "full".into(), |b| b.full(value, dtype, numel))
    }
    fn unary(&self, op: UnaryOp, s: &Self::Storage, l: &Layout) -> Result<Self::Storage> {
        self.timed(|| lower("unary", op), |b| b.unary(op, s, l))
    }
    fn binary(
        &self,
        op: BinaryOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        self.timed(|| lower("binary", op), |be| be.binary(op, a, la, b, lb))
    }
    fn compare(
        &self,
        op: CmpOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        self.timed(|| lower("compare", op), |be| be.compare(op, a, la, b, lb))
    }
    fn select(
        &self,
        c: &Self::Storage,
        lc: &Layout,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        self.timed(|| "select".into(), |be| be.select(c, lc, a, la, b, lb))
    }
    fn reduce(&self, op: ReduceOp, s: &Self::Storage, l: &Layout, axes: &[usize]) -> Result<Self::Storage> {
        self.timed(|| lower("reduce", op), |b| b.reduce(op, s, l, axes))
    }
    fn arg_reduce(&self, op: ArgReduceOp, s: &Self::Storage, l: &Layout, axis: usize) -> Result<Self::Storage> {
        self.timed(|| lower("arg_reduce", op), |b| b.arg_reduce(op, s, l, axis))
    }
    fn cumsum(&self, s: &Self::Storage, l: &Layout, axis: usize) -> Result<Self::Storage> {
        self.timed(|| "cumsum".into(), |b| b.cumsum(s, l, axis))
    }
    fn matmul(&self, a: &Self::Storage, la: &Layout, b: &Self::Storage, lb: &Layout) -> Result<Self::Storage> {
        self.timed(|| "matmul".into(), |be| be.matmul(a, la, b, lb))
    }
    fn addmm(
        &self,
        c: &Self::Storage,
        lc: &Layout,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        self.timed(|| "addmm".into(), |be| be.addmm(c, lc, a, la, b, lb))
    }
    fn cast(&self, s: &Self::Storage, l: &Layout, dtype: DType) -> Result<Self::Storage> {
        self.timed(|| "cast".into(), |b| b.cast(s, l, dtype))
    }
    fn copy_strided(&self, s: &Self::Storage, l: &Layout) -> Result<Self::Storage> {
        self.timed(|| "copy_strided".into(), |b| b.copy_strided(s, l))
    }
    fn write_strided(&self, dst: &mut Self::Storage, dl: &Layout, src: &Self::Storage, sl: &Layout) -> Result<()> {
        self.timed(|| "write_strided".into(), |b| b.write_strided(dst, dl, src, sl))
    }
    fn concat(&self, parts: &[(&Self::Storage, &Layout)], axis: usize) -> Result<Self::Storage> {
        self.timed(|| "concat".into(), |b| b.concat(parts, axis))
    }
    fn pad(&self, s: &Self::Storage, l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<Self::Storage> {
        self.timed(|| "pad".into(), |b| b.pad(s, l, pads, value))
    }
    fn flip(&self, s: &Self::Storage, l: &Layout, axes: &[usize]) -> Result<Self::Storage> {
        self.timed(|| "flip".into(), |b| b.flip(s, l, axes))
    }
    fn gather(
        &self,
        s: &Self::Storage,
        l: &Layout,
        axis: usize,
        idx: &Self::Storage,
        il: &Layout,
    ) -> Result<Self::Storage> {
        self.timed(|| "gather".into(), |b| b.gather(s, l, axis, idx, il))
    }
    fn scatter_add(
        &self,
        base: &Self::Storage,
        bl: &Layout,
        axis: usize,
        idx: &Self::Storage,
        il: &Layout,
        src: &Self::Storage,
        sl: &Layout,
    ) -> Result<Self::Storage> {
        self.timed(|| "scatter_add".into(), |b| b.scatter_add(base, bl, axis, idx, il, src, sl))
    }
    fn im2col(&self, s: &Self::Storage, l: &Layout, geom: &ConvGeom) -> Result<Self::Storage> {
        self.timed(|| "im2col".into(), |b| b.im2col(s, l, geom))
    }
    fn col2im(&self, s: &Self::Storage, l: &Layout, geom: &ConvGeom) -> Result<Self::Storage> {
        self.timed(|| "col2im".into(), |b| b.col2im(s, l, geom))
    }
    fn conv2d(
        &self,
        x: &Self::Storage,
        xl: &Layout,
        w: &Self::Storage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<Self::Storage> {
        self.timed(|| "conv2d".into(), |b| b.conv2d(x, xl, w, wl, geom, groups))
    }
    fn conv_transpose2d(
        &self,
        y: &Self::Storage,
        yl: &Layout,
        w: &Self::Storage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<Self::Storage> {
        self.timed(|| "conv_transpose2d".into(), |b| b.conv_transpose2d(y, yl, w, wl, geom, groups))
    }
    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<Self::Storage> {
        self.timed(|| "random".into(), |b| b.random(dist, dtype, numel, seed))
    }
}
