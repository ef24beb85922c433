//! [`TensorTree`]: the pytree of func-rs. Transforms take and return trees of
//! tensors: a tensor, tuples, vectors, arrays, options and string-keyed maps
//! (parameter dicts in state-dict names).

use crate::{Backend, Tensor};
use std::collections::BTreeMap;
use std::fmt;

/// The structure of a tree with its leaves removed, for comparing trees and
/// for error messages ("expected (Tensor, Tensor), got Tensor").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeDef {
    /// A tensor leaf, with its shape (for messages; compare with
    /// [`TreeDef::same_structure`] to ignore shapes).
    Leaf(crate::Shape),
    /// A tuple, array or vector of children.
    Seq(Vec<TreeDef>),
    /// A map of named children.
    Map(Vec<(String, TreeDef)>),
    /// No value (`()` or `None`).
    Nothing,
}

impl TreeDef {
    /// Whether two trees have the same structure, ignoring leaf shapes.
    pub fn same_structure(&self, other: &TreeDef) -> bool {
        match (self, other) {
            (TreeDef::Leaf(_), TreeDef::Leaf(_)) | (TreeDef::Nothing, TreeDef::Nothing) => true,
            (TreeDef::Seq(a), TreeDef::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_structure(y))
            }
            (TreeDef::Map(a), TreeDef::Map(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((ka, x), (kb, y))| ka == kb && x.same_structure(y))
            }
            _ => false,
        }
    }
}

impl fmt::Display for TreeDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeDef::Leaf(s) => write!(f, "Tensor{s}"),
            TreeDef::Nothing => write!(f, "()"),
            TreeDef::Seq(c) => {
                write!(f, "(")?;
                for (i, x) in c.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, ")")
            }
            TreeDef::Map(c) => {
                write!(f, "{{")?;
                for (i, (k, x)) in c.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {x}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A value made of tensors: flatten it to its leaves and rebuild it.
///
/// # Examples
///
/// ```
/// use func_core::{Tensor, TensorTree};
/// type T = Tensor<func_testkit::RefBackend>;
/// let (a, b, c) = (T::scalar(1.0f64), T::scalar(2.0f64), T::scalar(3.0f64));
/// let tree = (a, vec![b, c]);
/// let leaves = tree.leaves(); // [a, b, c]
/// let doubled = tree.rebuild(&mut leaves.iter().map(|t| t * 2.0));
/// assert_eq!(doubled.1[1].item::<f64>(), 6.0);
/// assert_eq!(tree.tree_def().to_string(), "(Tensor[], (Tensor[], Tensor[]))");
/// ```
pub trait TensorTree<B: Backend>: Sized {
    /// Append the leaves, depth first, left to right.
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>);

    /// Rebuild a tree of this structure from leaves in flatten order
    /// (`self` is the template: its structure, not its values, is used).
    ///
    /// # Panics
    ///
    /// When the iterator runs out of leaves.
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self;

    /// The structure of this tree.
    fn tree_def(&self) -> TreeDef;

    /// The leaves, held inline when there are at most two: a single tensor's
    /// leaf list allocates nothing (the transforms flatten their inputs and
    /// outputs on every call).
    fn leaves_inline(&self) -> smallvec::SmallVec<[Tensor<B>; 2]> {
        smallvec::SmallVec::from_vec(self.leaves())
    }

    /// The leaves as a vector.
    fn leaves(&self) -> Vec<Tensor<B>> {
        let mut v = Vec::new();
        self.flatten_into(&mut v);
        v
    }

    /// Number of leaves.
    fn num_leaves(&self) -> usize {
        self.leaves().len()
    }

    /// The same structure with `f` applied to each leaf.
    fn map_leaves(&self, f: &mut dyn FnMut(&Tensor<B>) -> Tensor<B>) -> Self {
        let leaves: Vec<Tensor<B>> = self.leaves().iter().map(f).collect();
        self.rebuild(&mut leaves.into_iter())
    }
}

fn next_leaf<B: Backend>(leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Tensor<B> {
    leaves.next().unwrap_or_else(|| panic!("TensorTree::rebuild: ran out of leaves (the leaves do not match the tree)"))
}

impl<B: Backend> TensorTree<B> for Tensor<B> {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        out.push(self.clone());
    }
    fn leaves_inline(&self) -> smallvec::SmallVec<[Tensor<B>; 2]> {
        smallvec::smallvec![self.clone()]
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        next_leaf(leaves)
    }
    fn tree_def(&self) -> TreeDef {
        TreeDef::Leaf(self.shape().clone())
    }
}

impl<B: Backend> TensorTree<B> for () {
    fn flatten_into(&self, _: &mut Vec<Tensor<B>>) {}
    fn rebuild(&self, _: &mut dyn Iterator<Item = Tensor<B>>) -> Self {}
    fn tree_def(&self) -> TreeDef {
        TreeDef::Nothing
    }
}

impl<B: Backend, T: TensorTree<B>> TensorTree<B> for Option<T> {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        if let Some(t) = self {
            t.flatten_into(out)
        }
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        self.as_ref().map(|t| t.rebuild(leaves))
    }
    fn tree_def(&self) -> TreeDef {
        self.as_ref().map_or(TreeDef::Nothing, |t| t.tree_def())
    }
}

impl<B: Backend, T: TensorTree<B>> TensorTree<B> for Vec<T> {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        self.iter().for_each(|t| t.flatten_into(out))
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        self.iter().map(|t| t.rebuild(leaves)).collect()
    }
    fn tree_def(&self) -> TreeDef {
        TreeDef::Seq(self.iter().map(|t| t.tree_def()).collect())
    }
}

impl<B: Backend, T: TensorTree<B>, const N: usize> TensorTree<B> for [T; N] {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        self.iter().for_each(|t| t.flatten_into(out))
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        std::array::from_fn(|i| self[i].rebuild(leaves))
    }
    fn tree_def(&self) -> TreeDef {
        TreeDef::Seq(self.iter().map(|t| t.tree_def()).collect())
    }
}

impl<B: Backend, T: TensorTree<B>> TensorTree<B> for BTreeMap<String, T> {
    fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
        self.values().for_each(|t| t.flatten_into(out))
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
        self.iter().map(|(k, t)| (k.clone(), t.rebuild(leaves))).collect()
    }
    fn tree_def(&self) -> TreeDef {
        TreeDef::Map(self.iter().map(|(k, t)| (k.clone(), t.tree_def())).collect())
    }
}

macro_rules! tuple_tree {
    ($($name:ident $idx:tt),+) => {
        impl<B: Backend, $($name: TensorTree<B>),+> TensorTree<B> for ($($name,)+) {
            fn flatten_into(&self, out: &mut Vec<Tensor<B>>) {
                $(self.$idx.flatten_into(out);)+
            }
            fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor<B>>) -> Self {
                ($(self.$idx.rebuild(leaves),)+)
            }
            fn tree_def(&self) -> TreeDef {
                TreeDef::Seq(vec![$(self.$idx.tree_def()),+])
            }
        }
    };
}

tuple_tree!(A 0);
tuple_tree!(A 0, C 1);
tuple_tree!(A 0, C 1, D 2);
tuple_tree!(A 0, C 1, D 2, E 3);
tuple_tree!(A 0, C 1, D 2, E 3, F 4);
tuple_tree!(A 0, C 1, D 2, E 3, F 4, G 5);
tuple_tree!(A 0, C 1, D 2, E 3, F 4, G 5, H 6);
tuple_tree!(A 0, C 1, D 2, E 3, F 4, G 5, H 6, I 7);

/// A tree whose structure can hold a value of another type at each leaf:
/// the output side of a Jacobian.
///
/// torch.func's `jacrev(f)(x)` is nested as the output structure, then the
/// input structure: for `f` returning `(a, b)`, the Jacobian is
/// `(J_a, J_b)` where each `J` is shaped like the input `x`. In Rust the type
/// of that Jacobian is `Y::Of<X>` for output type `Y` and input type `X`:
/// `Tensor::Of<X> = X` (a one-tensor output keeps the input's shape), tuples,
/// vectors, arrays, options and maps keep their structure, `()::Of<X> = ()`.
///
/// # Examples
///
/// ```
/// use func_core::{JacobianTree, Tensor};
/// use std::collections::BTreeMap;
/// type T = Tensor<func_testkit::RefBackend>;
/// let out = (T::scalar(1.0f64), BTreeMap::from([("w".to_string(), T::scalar(2.0f64))]));
/// // One value per output leaf, nested in the output's structure.
/// let nested: (&str, BTreeMap<String, &str>) = out.nest(&mut ["first", "second"].into_iter());
/// assert_eq!(nested.1["w"], "second");
/// ```
pub trait JacobianTree<B: Backend>: TensorTree<B> {
    /// This tree's structure with a `V` in place of each tensor leaf.
    type Of<V>;

    /// This tree's structure holding the values of `per_leaf`, one per tensor
    /// leaf in flatten order.
    ///
    /// # Panics
    ///
    /// When `per_leaf` runs out of values.
    fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> Self::Of<V>;
}

fn next_value<V>(it: &mut dyn Iterator<Item = V>) -> V {
    it.next().unwrap_or_else(|| panic!("JacobianTree::nest: ran out of values (one is needed per tensor leaf)"))
}

impl<B: Backend> JacobianTree<B> for Tensor<B> {
    type Of<V> = V;
    fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> V {
        next_value(per_leaf)
    }
}

impl<B: Backend> JacobianTree<B> for () {
    type Of<V> = ();
    fn nest<V>(&self, _: &mut dyn Iterator<Item = V>) {}
}

impl<B: Backend, T: JacobianTree<B>> JacobianTree<B> for Option<T> {
    type Of<V> = Option<T::Of<V>>;
    fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> Self::Of<V> {
        self.as_ref().map(|t| t.nest(per_leaf))
    }
}

impl<B: Backend, T: JacobianTree<B>> JacobianTree<B> for Vec<T> {
    type Of<V> = Vec<T::Of<V>>;
    fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> Self::Of<V> {
        self.iter().map(|t| t.nest(per_leaf)).collect()
    }
}

impl<B: Backend, T: JacobianTree<B>, const N: usize> JacobianTree<B> for [T; N] {
    type Of<V> = [T::Of<V>; N];
    fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> Self::Of<V> {
        std::array::from_fn(|i| self[i].nest(per_leaf))
    }
}

impl<B: Backend, T: JacobianTree<B>> JacobianTree<B> for BTreeMap<String, T> {
    type Of<V> = BTreeMap<String, T::Of<V>>;
    fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> Self::Of<V> {
        self.iter().map(|(k, t)| (k.clone(), t.nest(per_leaf))).collect()
    }
}

macro_rules! tuple_jacobian_tree {
    ($($name:ident $idx:tt),+) => {
        impl<B: Backend, $($name: JacobianTree<B>),+> JacobianTree<B> for ($($name,)+) {
            type Of<V> = ($($name::Of<V>,)+);
            fn nest<V>(&self, per_leaf: &mut dyn Iterator<Item = V>) -> Self::Of<V> {
                ($(self.$idx.nest(per_leaf),)+)
            }
        }
    };
}

tuple_jacobian_tree!(A 0);
tuple_jacobian_tree!(A 0, C 1);
tuple_jacobian_tree!(A 0, C 1, D 2);
tuple_jacobian_tree!(A 0, C 1, D 2, E 3);
tuple_jacobian_tree!(A 0, C 1, D 2, E 3, F 4);
tuple_jacobian_tree!(A 0, C 1, D 2, E 3, F 4, G 5);
tuple_jacobian_tree!(A 0, C 1, D 2, E 3, F 4, G 5, H 6);
tuple_jacobian_tree!(A 0, C 1, D 2, E 3, F 4, G 5, H 6, I 7);
