//! [`Dims`]: `in_dims` / `out_dims` as a prefix of the input or output tree.

use func_core::{Error, Result, TreeDef};
use std::fmt;

/// Which dimension of each tensor leaf is mapped over: torch.func's
/// `in_dims`/`out_dims`, a prefix of the value's tree.
///
/// - `Dims::All(Some(d))` maps dimension `d` (negative counts from the end) of
///   every leaf below; `Dims::All(None)` leaves them unbatched.
/// - `Dims::Seq` matches a tuple, array or vector element by element;
///   `Dims::Map` matches a map key by key.
///
/// Conversions make the common cases short: `0` or `Some(0)` is
/// `All(Some(0))`, `None` is `All(None)`, and tuples of those are `Seq`:
///
/// ```
/// use func_batch::Dims;
/// let d: Dims = (None, Some(0), Some(-1)).into();
/// assert_eq!(d.to_string(), "(None, 0, -1)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dims {
    /// The same choice for every leaf of the subtree.
    All(Option<isize>),
    /// One entry per element of a sequence.
    Seq(Vec<Dims>),
    /// One entry per key of a map.
    Map(Vec<(String, Dims)>),
}

impl Default for Dims {
    fn default() -> Self {
        Dims::All(Some(0))
    }
}

impl From<Option<isize>> for Dims {
    fn from(d: Option<isize>) -> Dims {
        Dims::All(d)
    }
}

impl From<isize> for Dims {
    fn from(d: isize) -> Dims {
        Dims::All(Some(d))
    }
}

impl From<Vec<Dims>> for Dims {
    fn from(v: Vec<Dims>) -> Dims {
        Dims::Seq(v)
    }
}

impl From<Vec<Option<isize>>> for Dims {
    fn from(v: Vec<Option<isize>>) -> Dims {
        Dims::Seq(v.into_iter().map(Dims::All).collect())
    }
}

macro_rules! dims_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Into<Dims>),+> From<($($t,)+)> for Dims {
            fn from(t: ($($t,)+)) -> Dims {
                Dims::Seq(vec![$(t.$i.into()),+])
            }
        }
    };
}

dims_tuple!(A 0);
dims_tuple!(A 0, C 1);
dims_tuple!(A 0, C 1, D 2);
dims_tuple!(A 0, C 1, D 2, E 3);
dims_tuple!(A 0, C 1, D 2, E 3, F 4);
dims_tuple!(A 0, C 1, D 2, E 3, F 4, G 5);

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dims::All(Some(d)) => write!(f, "{d}"),
            Dims::All(None) => write!(f, "None"),
            Dims::Seq(v) => {
                write!(f, "(")?;
                for (i, d) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{d}")?;
                }
                write!(f, ")")
            }
            Dims::Map(v) => {
                write!(f, "{{")?;
                for (i, (k, d)) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {d}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

impl Dims {
    /// One choice per leaf of `tree`, in flatten order.
    ///
    /// # Errors
    ///
    /// When this prefix does not match the tree's structure; `what` is
    /// `"in_dims"` or `"out_dims"`.
    pub fn per_leaf(&self, tree: &TreeDef, what: &str) -> Result<Vec<Option<isize>>> {
        let mut out = Vec::new();
        // torch accepts a one-element tuple for a lone tensor or map (`out_dims=(1,)`
        // for a function with one output): it matches the whole value.
        let whole = match (self, tree) {
            (Dims::Seq(ds), TreeDef::Leaf(_) | TreeDef::Map(_)) if ds.len() == 1 => &ds[0],
            _ => self,
        };
        if !whole.collect(tree, &mut out) {
            return Err(Error::transform(
                "vmap",
                format!(
                    "{what} is not compatible with the structure of the {}: {what} has structure {self}, but the {} \
                     have structure {tree}. Give one entry per element (or one value for a whole subtree).",
                    if what == "in_dims" { "inputs" } else { "outputs" },
                    if what == "in_dims" { "inputs" } else { "outputs" },
                ),
            ));
        }
        Ok(out)
    }

    fn collect(&self, tree: &TreeDef, out: &mut Vec<Option<isize>>) -> bool {
        match (self, tree) {
            (Dims::All(d), t) => {
                fill(t, *d, out);
                true
            }
            (Dims::Seq(ds), TreeDef::Seq(ts)) => {
                ds.len() == ts.len() && ds.iter().zip(ts).all(|(d, t)| d.collect(t, out))
            }
            (Dims::Map(ds), TreeDef::Map(ts)) => {
                ds.len() == ts.len() && ds.iter().zip(ts).all(|((kd, d), (kt, t))| kd == kt && d.collect(t, out))
            }
            _ => false,
        }
    }
}

fn fill(t: &TreeDef, d: Option<isize>, out: &mut Vec<Option<isize>>) {
    match t {
        TreeDef::Leaf(_) => out.push(d),
        TreeDef::Nothing => {}
        TreeDef::Seq(v) => v.iter().for_each(|c| fill(c, d, out)),
        TreeDef::Map(v) => v.iter().for_each(|(_, c)| fill(c, d, out)),
    }
}
