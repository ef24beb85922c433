//! The interpreter stack: how transforms see every operation.
//!
//! NOTE: [stackless interpreters] This follows current JAX ("stackless",
//! autodidax2) and functorch's DynamicLayer stack:
//! - Each thread has a *current interpreter* ([`Frame`]); with none, operations
//!   evaluate on the backend.
//! - Each transform *call* makes a new [`Level`] and a frame whose parent is
//!   the current one, installs it with an RAII guard ([`with_interpreter`]),
//!   runs the user function and removes it; the guard also restores the state
//!   when the function panics.
//! - Every tensor operation builds a [`Primitive`] and calls [`bind`]. Bind
//!   walks from the current frame toward the root and hands the primitive to
//!   the first interpreter that owns one of the operands (an idle level
//!   forwards untouched, at the cost of a comparison). The rule then runs with
//!   the current frame set to that interpreter's parent, so its own operations
//!   go one level down, where enclosing transforms see and transform them.
//!   Factories (no operands) go to the current interpreter itself.
//! - An interpreter unwraps only tracers of its own level: anything else is a
//!   constant to it. Captured outer tracers, nesting in any order and freedom
//!   from perturbation confusion all follow.
//! - Each level has a liveness flag. A tracer used after its transform
//!   returned (it escaped through a closure or a global) panics with a message
//!   naming the transform, like JAX's `UnexpectedTracerError`.

use crate::{Backend, Error, Primitive, Result, Tensor};
use smallvec::SmallVec;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static NEXT_LEVEL: AtomicU64 = AtomicU64::new(1);

/// The outputs of one primitive: one tensor, except for custom ops
/// ([`Primitive::Custom`]), which may have several. Inline for one output,
/// so the common case does not allocate.
pub type Outputs<B> = SmallVec<[Tensor<B>; 1]>;

struct LevelInner {
    id: u64,
    transform: &'static str,
    alive: AtomicBool,
}

/// The unique tag of one transform call. Tracers carry the level that owns
/// them; levels increase monotonically, so an inner call has a larger id.
#[derive(Clone)]
pub struct Level(Arc<LevelInner>);

impl Level {
    /// A fresh, live level for a call of `transform` (e.g. `"vmap"`).
    pub fn new(transform: &'static str) -> Level {
        Level(Arc::new(LevelInner {
            id: NEXT_LEVEL.fetch_add(1, Ordering::Relaxed),
            transform,
            alive: AtomicBool::new(true),
        }))
    }

    /// The numeric id (unique per process).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The name of the transform that made this level.
    pub fn transform(&self) -> &'static str {
        self.0.transform
    }

    /// Whether the transform call is still running.
    pub fn is_alive(&self) -> bool {
        self.0.alive.load(Ordering::Acquire)
    }

    /// Mark the level dead; its tracers can no longer be used.
    pub fn kill(&self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

impl PartialEq for Level {
    fn eq(&self, other: &Level) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Level {}

impl fmt::Debug for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.0.transform, self.0.id)
    }
}

/// A transform's interpreter: the rules that process primitives whose
/// operands include its tracers.
///
/// Implemented by each transform crate (vmap, jvp, vjp, functionalize). A
/// rule is written in [`Tensor`] operations: when [`process`](Self::process)
/// runs, the current frame is already the parent, so those operations are
/// seen by the enclosing transforms.
pub trait Interpreter<B: Backend>: Send + Sync {
    /// The level this interpreter owns.
    fn level(&self) -> &Level;

    /// Apply the rule of `prim` to `args` (some of which are this level's
    /// tracers, unless `prim` is a factory) and return the results, usually
    /// tracers of this level: one, or for a [`Primitive::Custom`] as many as
    /// the op has outputs.
    ///
    /// # Errors
    ///
    /// Errors of the rule's own operations, or a transform-specific misuse
    /// (e.g. a random operation under vmap in randomness error mode).
    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>>;

    /// Write `src` into `dst` in place (`dst.copy_(src)`); both have `dst`'s
    /// shape and dtype, and at least one is this level's tracer. `op` names
    /// the in-place operation the user called (`add_`, `copy_`, ...).
    ///
    /// A `dst` of this level is always an alias root: a write into a view of
    /// this level arrives as a write of the view's whole root, and the views
    /// of `dst` are re-derived after this returns (NOTE: [writes through
    /// traced views]). Rebinding `dst` ([`Tensor::rebind_tracer`]) is thus a
    /// complete implementation.
    ///
    /// # Errors
    ///
    /// When the write cannot be expressed at this level (under vmap: a
    /// batched value written into an unbatched tensor).
    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()>;

    /// `t` (this level's tracer) is being read back to the host by `op`
    /// (`item`, `to_vec`, a bool for control flow). Return the value one level
    /// down to read instead, or an error explaining why it cannot be read.
    ///
    /// # Errors
    ///
    /// When reading is data-dependent control flow this transform cannot
    /// follow (vmap).
    fn lower_for_read(&self, t: &Tensor<B>, op: &str) -> Result<Tensor<B>>;
}

/// One installed interpreter and its parent: a node of the thread's stack.
/// Private: the stack changes only through [`with_interpreter`] (and
/// [`bind`] running a rule one level down), which keep it balanced.
pub(crate) struct Frame<B: Backend> {
    interp: Arc<dyn Interpreter<B>>,
    parent: Option<Arc<Frame<B>>>,
}

/// A frame of some backend, type-erased. The frame's own `Arc` is erased, so
/// installing one is a reference-count increment, never an allocation (this
/// runs on every rule dispatch).
type AnyFrame = Arc<dyn Any + Send + Sync>;

/// Per-thread slots, one per backend type used on the thread (a program may
/// nest transforms over two backends: each backend's stack is its own).
/// Entries are never removed, so after the first use a slot change does
/// not allocate.
type Slots = RefCell<Vec<Slot>>;

/// The frames of one backend type on this thread.
struct Slot {
    key: TypeId,
    /// The current frame.
    current: Option<AnyFrame>,
    /// The frame whose interpreter's rule is running (see [`reenter`]).
    owner: Option<AnyFrame>,
}

thread_local! {
    /// The frames of each backend type. One thread-local for both frames,
    /// so that running a rule (which sets both, and restores both) is one
    /// access each way.
    static SLOTS: Slots = const { RefCell::new(Vec::new()) };
}

/// Which of a slot's frames to read.
#[derive(Clone, Copy)]
enum Which {
    Current,
    Owner,
}

/// The `which` frame of backend `B`.
fn get_slot<B: Backend>(which: Which) -> Option<Arc<Frame<B>>> {
    SLOTS.with(|c| {
        let c = c.borrow();
        let slot = c.iter().find(|s| s.key == TypeId::of::<B>())?;
        let f = match which {
            Which::Current => slot.current.as_ref(),
            Which::Owner => slot.owner.as_ref(),
        }?;
        if f.is::<Frame<B>>() { f.clone().downcast::<Frame<B>>().ok() } else { None }
    })
}

/// Replace the frames of the slot of `key` that are given (`Some`),
/// returning what was there. The caller drops the old frames after the
/// borrow ends: dropping a frame may drop an interpreter, whose destructor
/// may run tensor code.
fn replace_slot(key: TypeId, current: Option<Option<AnyFrame>>, owner: Option<Option<AnyFrame>>) -> Saved {
    SLOTS.with(|c| {
        let mut c = c.borrow_mut();
        let i = match c.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => {
                c.push(Slot { key, current: None, owner: None });
                c.len() - 1
            }
        };
        let slot = &mut c[i];
        Saved {
            key,
            current: current.map(|f| std::mem::replace(&mut slot.current, f)),
            owner: owner.map(|f| std::mem::replace(&mut slot.owner, f)),
        }
    })
}

/// A slot's previous frames, to put back (`None`: left unchanged).
struct Saved {
    key: TypeId,
    current: Option<Option<AnyFrame>>,
    owner: Option<Option<AnyFrame>>,
}

/// The current frame for backend `B` on this thread (`None`: evaluate on the
/// backend).
pub(crate) fn current_frame<B: Backend>() -> Option<Arc<Frame<B>>> {
    get_slot::<B>(Which::Current)
}

/// RAII guard that sets the current frame (and the rule's owner) and
/// restores the previous ones on drop (also when unwinding from a panic).
pub(crate) struct FrameGuard {
    prev: Option<Saved>,
    level: Option<Level>,
}

impl Drop for FrameGuard {
    fn drop(&mut self) {
        if let Some(Saved { key, current, owner }) = self.prev.take() {
            drop(replace_slot(key, current, owner));
        }
        if let Some(level) = &self.level {
            level.kill();
        }
    }
}

/// Make `frame` current until the guard drops.
pub(crate) fn set_frame<B: Backend>(frame: Option<Arc<Frame<B>>>) -> FrameGuard {
    FrameGuard { prev: Some(replace_slot(TypeId::of::<B>(), Some(frame.map(|f| f as AnyFrame)), None)), level: None }
}

/// Run the rule of `owner`'s interpreter: the current frame becomes the
/// parent, and `owner` is remembered for [`reenter`].
fn enter_rule<B: Backend>(owner: &Arc<Frame<B>>) -> FrameGuard {
    let parent = owner.parent.clone().map(|f| f as AnyFrame);
    let prev = replace_slot(TypeId::of::<B>(), Some(parent), Some(Some(owner.clone() as AnyFrame)));
    FrameGuard { prev: Some(prev), level: None }
}

/// Run `f` with the interpreter whose rule is running installed again as the
/// current interpreter, so operations in `f` on that interpreter's tracers
/// reach its rules. A transform uses it to derive a rule for a custom op it
/// has no rule for, by running the op's forward on its own tracers (NOTE:
/// [custom op rules]). Outside of a rule, `f` runs unchanged.
pub fn reenter<B: Backend, R>(f: impl FnOnce() -> R) -> R {
    let owner = get_slot::<B>(Which::Owner);
    match owner {
        Some(frame) => {
            let _guard = set_frame(Some(frame));
            f()
        }
        None => f(),
    }
}

/// Run `f` with `interp` installed as the current interpreter (its parent is
/// the interpreter current now). On return, or on a panic inside `f`, the
/// previous state is restored and `interp`'s level is killed, so any tracer
/// of it that escaped panics when used.
///
/// # Examples
///
/// A transform body looks like this (see the test interpreters in this crate
/// for complete ones):
///
/// ```
/// use func_core::{bind_multi, with_interpreter, Interpreter, Level, Outputs, Primitive, Result, Tensor};
/// use func_testkit::RefBackend;
/// use std::sync::Arc;
/// type T = Tensor<RefBackend>;
///
/// /// An identity transform: its tracer wraps the value one level down.
/// struct Identity(Level);
/// impl Interpreter<RefBackend> for Identity {
///     fn level(&self) -> &Level { &self.0 }
///     fn process(&self, prim: &Primitive, args: &[&T]) -> Result<Outputs<RefBackend>> {
///         let inner: Vec<T> = args.iter().map(|a| a.with_tracer_data(&self.0, |d: &T| d.clone()).unwrap_or_else(|| (*a).clone())).collect();
///         let ys = bind_multi(prim.clone(), &inner.iter().collect::<Vec<_>>())?;
///         Ok(ys.into_iter().map(|y| Tensor::new_tracer(&self.0, y.shape().clone(), y.dtype(), y)).collect())
///     }
///     fn copy_into(&self, dst: &T, src: &T, _op: &str) -> Result<()> {
///         let d = dst.tracer_data::<T>(&self.0).map(|d| (*d).clone()).unwrap_or_else(|| dst.clone());
///         d.try_copy_(&src.tracer_data::<T>(&self.0).map(|s| (*s).clone()).unwrap_or_else(|| src.clone()))
///     }
///     fn lower_for_read(&self, t: &T, _op: &str) -> Result<T> {
///         Ok(t.tracer_data::<T>(&self.0).map(|d| (*d).clone()).unwrap_or_else(|| t.clone()))
///     }
/// }
///
/// let x = T::from_vec(vec![1.0f64, 2.0], [2]);
/// let level = Level::new("identity");
/// let interp = Arc::new(Identity(level.clone()));
/// let y = with_interpreter::<RefBackend, _>(interp, || {
///     let xt = T::new_tracer(&level, x.shape().clone(), x.dtype(), x.clone());
///     let yt = (&xt * &xt).sum();
///     yt.tracer_data::<T>(&level).map(|d| (*d).clone()).unwrap()
/// });
/// assert_eq!(y.item::<f64>(), 5.0);
/// assert!(!level.is_alive());
/// ```
pub fn with_interpreter<B: Backend, R>(interp: Arc<dyn Interpreter<B>>, f: impl FnOnce() -> R) -> R {
    let level = interp.level().clone();
    let parent = current_frame::<B>();
    let frame = Arc::new(Frame { interp, parent });
    let prev = replace_slot(TypeId::of::<B>(), Some(Some(frame as AnyFrame)), None);
    let _guard = FrameGuard { prev: Some(prev), level: Some(level) };
    f()
}

/// Evaluate `prim` on `args` through the interpreter stack: the entry point
/// of every tensor operation with one output.
///
/// # Errors
///
/// What the owning interpreter's rule or the backend kernel reports; for a
/// custom op with other than one output, an error pointing to
/// [`bind_multi`].
///
/// # Panics
///
/// When an operand is a tracer whose transform has returned (it escaped) or
/// that belongs to a transform not running on this thread.
pub fn bind<B: Backend>(prim: Primitive, args: &[&Tensor<B>]) -> Result<Tensor<B>> {
    // Only a custom op can return other than one output; its name is read
    // here, before `prim` moves (not for every op: this is the hot path).
    let custom = if let Primitive::Custom(c) = &prim { Some(c.name()) } else { None };
    let outs = bind_multi(prim, args)?;
    let n = outs.len();
    let mut it = outs.into_iter();
    match (it.next(), n) {
        (Some(t), 1) => Ok(t),
        _ => Err(Error::invalid(
            custom.unwrap_or("bind"),
            format!("expected one output but the operation returned {n}; use bind_multi"),
        )),
    }
}

/// [`bind`] for a primitive with any number of outputs (a custom op).
///
/// # Errors
///
/// What the owning interpreter's rule, the backend kernel or the custom op's
/// forward reports.
///
/// # Panics
///
/// As [`bind`].
pub fn bind_multi<B: Backend>(prim: Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
    if let Primitive::ViewCopy(view) = &prim
        && !view.is_view()
    {
        return Err(Error::invalid(
            "view_copy",
            format!(
                "`{}` is not a view primitive, so it has no copying form; build view copies with \
                 Primitive::view_copy, which accepts reshape, permute, broadcast_to, slice, diagonal and \
                 stop_gradient",
                view.name()
            ),
        ));
    }
    if let (Primitive::Reshape { shape }, Some(x)) = (&prim, args.first()) {
        // NOTE: [view or copy]
        if x.numel() == shape.numel() && !x.reshapes_to(shape) {
            let c = bind(Primitive::Copy, &[x])?;
            return bind(prim, &[&c]).map(|t| [t].into());
        }
    }
    // The chain is walked by reference: `top` keeps every frame below it
    // alive (each holds its parent), so no level costs a reference count.
    let top = current_frame::<B>();
    let mut frame = top.as_ref();
    while let Some(f) = frame {
        let id = f.interp.level().id();
        if prim.is_factory() || args.iter().any(|a| a.level_id() == Some(id)) {
            let out = {
                let _guard = enter_rule(f);
                f.interp.process(&prim, args)?
            };
            if let (Some(x), Some(y)) = (args.first(), out.first()) {
                crate::alias::attach(&prim, x, y, id);
            }
            return Ok(out);
        }
        frame = f.parent.as_ref();
    }
    for a in args {
        check_concrete(a, || prim.name());
    }
    match &prim {
        Primitive::Custom(c) => {
            // The forward runs on concrete tensors with no interpreter
            // installed: its operations evaluate directly.
            let op = c.typed::<B>()?;
            let inputs: Vec<Tensor<B>> = args.iter().map(|a| (*a).clone()).collect();
            let _guard = set_frame::<B>(None);
            let outs = op.forward(&inputs)?;
            if let Some(t) = outs.iter().find(|t| t.level().is_some()) {
                return Err(Error::invalid(
                    c.name(),
                    format!(
                        "custom op `{}`: its forward returned a tracer (shape {}) on concrete inputs: it used a \
                         tensor captured from a running transform. Pass every tensor the forward uses as an input.",
                        c.name(),
                        t.shape()
                    ),
                ));
            }
            Ok(outs.into())
        }
        _ => Ok([crate::eval::eval(&prim, args)?].into()),
    }
}

/// In-place write `dst.copy_(src)` through the interpreter stack (`src`
/// already has `dst`'s shape and dtype).
pub(crate) fn bind_copy<B: Backend>(dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
    let mut frame = current_frame::<B>();
    while let Some(f) = frame {
        let id = f.interp.level().id();
        if dst.level_id() == Some(id) || src.level_id() == Some(id) {
            let owned = dst.level_id() == Some(id);
            if let Some(alias) = dst.alias().filter(|_| owned) {
                // NOTE: [writes through traced views]
                return crate::alias::write_through_view(dst, alias, src, op);
            }
            {
                let _guard = set_frame(f.parent.clone());
                f.interp.copy_into(dst, src, op)?;
            }
            return if owned { crate::alias::refresh_views(dst) } else { Ok(()) };
        }
        frame = f.parent.clone();
    }
    check_concrete(dst, || op);
    check_concrete(src, || op);
    crate::eval::write_concrete(dst, src, op)
}

/// Lower `t` through the interpreters until it is concrete, for reading it
/// back to the host in `op`.
pub(crate) fn lower_for_read<B: Backend>(t: &Tensor<B>, op: &str) -> Result<Tensor<B>> {
    let mut t = t.clone();
    loop {
        let Some(id) = t.level_id() else { return Ok(t) };
        let mut frame = current_frame::<B>();
        let mut found = None;
        while let Some(f) = frame {
            if f.interp.level().id() == id {
                found = Some(f);
                break;
            }
            frame = f.parent.clone();
        }
        match found {
            Some(f) => {
                let _guard = set_frame(f.parent.clone());
                t = f.interp.lower_for_read(&t, op)?;
            }
            None => {
                check_concrete(&t, || op);
                return Err(Error::invalid(op, "tracer outside its transform"));
            }
        }
    }
}

fn check_concrete<'a, B: Backend>(t: &Tensor<B>, op: impl FnOnce() -> &'a str) {
    if let Some(level) = t.level() {
        let op = op();
        if level.is_alive() {
            panic!(
                "{op}: got a tracer of a {} transform (level {}) that is still running, but outside of it: \
                 it was used on another thread or from a transform that does not nest inside it. \
                 Pass tensors into the transformed function as arguments instead of sharing tracers.",
                level.transform(),
                level.id()
            );
        }
        panic!(
            "{op}: encountered an escaped tracer of a {} transform (level {}). The tracer was created inside \
             the transformed function and used after the transform returned, for example by storing it in a \
             variable captured from outside or returning it through a side channel. Return every value you \
             need from the transformed function instead.",
            level.transform(),
            level.id()
        );
    }
}
