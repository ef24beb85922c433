//! The catalogue's coverage of [`Primitive`]: every primitive names the
//! entries that run it.
//!
//! [`entries_for`] matches on every `Primitive` variant with no catch-all
//! arm, so a new primitive does not compile until it names its catalogue
//! entries; the tests check that each named entry exists, for an example of
//! every arm (the `coverage!` table pairs each arm with its examples, so no
//! arm goes untested).

use super::table::{cast_name, cmp_scalar_name, reduce_name};
use func_core::{ArgReduceOp, Primitive};

/// The table: one row per `Primitive` arm, with examples of the arm (for
/// the tests) and the names of the catalogue entries that run it.
macro_rules! coverage {
    ($($pat:pat => $examples:expr => $names:expr;)*) => {
        /// The names of the catalogue entries that run primitive `p` (a
        /// view's copying form, [`Primitive::ViewCopy`], is run by its
        /// view's entries under `functionalize`).
        ///
        /// # Panics
        ///
        /// For a cast to a dtype the catalogue has no entry for.
        pub fn entries_for(p: &Primitive) -> Vec<&'static str> {
            match p {
                $($pat => $names,)*
            }
        }

        /// Examples of every arm of [`entries_for`], in order.
        #[cfg(test)]
        pub(crate) fn examples() -> Vec<Vec<Primitive>> {
            vec![$($examples),*]
        }
    };
}

coverage! {
    Primitive::Full { .. } => vec![Primitive::Full { shape: [2].into(), value: 1.0, dtype: DType::F64 }] => vec!["full"];
    Primitive::Arange { .. } => vec![Primitive::Arange { start: 0.0, step: 1.0, len: 3, dtype: DType::F64 }]
        => vec!["arange", "arange_range"];
    Primitive::Random { .. } => vec![Primitive::Random {
        dist: Distribution::Uniform { low: 0.0, high: 1.0 },
        shape: [2].into(),
        dtype: DType::F64,
        seed: 0,
    }] => vec!["rand", "randn", "random_uniform", "random_normal"];
    Primitive::Unary(op) => UnaryOp::ALL.map(Primitive::Unary).to_vec() => vec![op.name()];
    Primitive::Binary(op) => BinaryOp::ALL.map(Primitive::Binary).to_vec() => vec![op.name()];
    Primitive::Compare(op) => CmpOp::ALL.map(Primitive::Compare).to_vec()
        => vec![op.name(), cmp_scalar_name(*op)];
    Primitive::Select => vec![Primitive::Select] => vec!["where"];
    Primitive::Cast(dtype) => [DType::F32, DType::F64, DType::I64, DType::Bool].map(Primitive::Cast).to_vec()
        => vec![cast_name(*dtype)];
    Primitive::Copy => vec![Primitive::Copy] => vec!["deep_copy", "contiguous"];
    Primitive::Reduce { op, keepdim, .. } => ReduceOp::ALL
        .iter()
        .flat_map(|&op| [false, true].map(|keepdim| Primitive::Reduce { op, axes: [0].into_iter().collect(), keepdim }))
        .collect::<Vec<_>>()
        => vec![reduce_name(*op, *keepdim), op.name()];
    Primitive::ArgReduce { op, keepdim, .. } => [ArgReduceOp::ArgMax, ArgReduceOp::ArgMin]
        .iter()
        .flat_map(|&op| [false, true].map(|keepdim| Primitive::ArgReduce { op, axis: 0, keepdim }))
        .collect::<Vec<_>>()
        => vec![match (op, keepdim) {
            (ArgReduceOp::ArgMax, false) => "argmax",
            (ArgReduceOp::ArgMax, true) => "argmax_keepdim",
            (ArgReduceOp::ArgMin, false) => "argmin",
            (ArgReduceOp::ArgMin, true) => "argmin_keepdim",
        }];
    Primitive::Cumsum { .. } => vec![Primitive::Cumsum { axis: 0 }] => vec!["cumsum"];
    Primitive::Matmul => vec![Primitive::Matmul]
        => vec!["matmul", "matmul_batched", "matmul_vector", "dot", "outer", "linear"];
    Primitive::Addmm => vec![Primitive::Addmm] => vec!["addmm", "linear_bias"];
    Primitive::Reshape { .. } => vec![Primitive::Reshape { shape: [2].into() }] => vec!["reshape", "flatten"];
    Primitive::Permute { .. } => vec![Primitive::Permute { perm: [1, 0].into_iter().collect() }]
        => vec!["permute", "transpose", "t", "movedim"];
    Primitive::BroadcastTo { .. } => vec![Primitive::BroadcastTo { shape: [2].into() }] => vec!["broadcast_to", "expand"];
    Primitive::Slice { .. } => vec![Primitive::Slice { axis: 0, start: 0, stop: 1, step: 1 }]
        => vec!["slice", "narrow", "select"];
    Primitive::Diagonal { .. } => vec![Primitive::Diagonal { offset: 0, dim1: 0, dim2: 1 }] => vec!["diagonal"];
    Primitive::Concat { .. } => vec![Primitive::Concat { axis: 0 }] => vec!["cat", "stack"];
    Primitive::Pad { .. } => vec![Primitive::Pad { pads: [(1, 1)].into_iter().collect(), value: 0.0 }]
        => vec!["pad", "pad_value"];
    Primitive::Flip { .. } => vec![Primitive::Flip { axes: [0].into_iter().collect() }] => vec!["flip"];
    Primitive::Gather { .. } => vec![Primitive::Gather { axis: 0 }] => vec!["gather", "index_select"];
    Primitive::ScatterAdd { .. } => vec![Primitive::ScatterAdd { axis: 0 }] => vec!["scatter_add"];
    Primitive::Im2col(_) => vec![Primitive::Im2col(GEOM)] => vec!["unfold", "conv2d"];
    Primitive::Col2im(_) => vec![Primitive::Col2im(GEOM)] => vec!["fold", "conv2d", "conv_transpose2d"];
    Primitive::Conv2d { .. } => vec![Primitive::Conv2d { geom: GEOM, groups: 1 }, Primitive::Conv2d { geom: GEOM, groups: 2 }]
        => vec!["conv2d", "conv2d_bias", "conv2d_large", "conv_transpose2d"];
    Primitive::ConvTranspose2d { .. } => vec![Primitive::ConvTranspose2d { geom: GEOM, groups: 1 }]
        => vec!["conv_transpose2d", "conv_transpose2d_bias", "conv2d", "conv2d_large"];
    Primitive::StopGradient => vec![Primitive::StopGradient] => vec!["stop_gradient"];
    Primitive::Custom(_) => vec![Primitive::Custom(crate::custom_examples::log1pexp::<crate::RefBackend>().op_ref())]
        => vec!["log1pexp", "round_ste", "clip_gradient"];
    Primitive::ViewCopy(view) => vec![Primitive::ViewCopy(Box::new(Primitive::Slice { axis: 0, start: 0, stop: 1, step: 1 }))]
        => entries_for(view);
}

#[cfg(test)]
use func_core::{BinaryOp, CmpOp, ConvGeom, DType, Distribution, ReduceOp, UnaryOp};

/// A window geometry for the examples.
#[cfg(test)]
const GEOM: ConvGeom = ConvGeom { h: 4, w: 4, kernel: (2, 2), stride: (1, 1), padding: (0, 0), dilation: (1, 1) };

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;
    use std::collections::HashSet;

    #[test]
    fn every_primitive_has_catalogue_entries() {
        let names: HashSet<&str> = catalogue().iter().map(|i| i.name).collect();
        let mut missing = Vec::new();
        for (arm, examples) in examples().into_iter().enumerate() {
            assert!(!examples.is_empty(), "arm {arm} of `entries_for` has no example");
            for p in examples {
                let entries = entries_for(&p);
                assert!(!entries.is_empty(), "primitive {} names no catalogue entry", p.name());
                missing
                    .extend(entries.into_iter().filter(|e| !names.contains(e)).map(|e| format!("{} -> {e}", p.name())));
            }
        }
        assert!(missing.is_empty(), "primitives name catalogue entries that do not exist:\n{}", missing.join("\n"));
    }

    #[test]
    fn each_example_belongs_to_its_arm() {
        // Every example of an arm maps to the same entries as the arm's
        // first example up to its parameters: the examples of different
        // arms have different primitive kinds.
        let kinds: Vec<HashSet<std::mem::Discriminant<Primitive>>> =
            examples().iter().map(|ex| ex.iter().map(std::mem::discriminant).collect()).collect();
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(k.len(), 1, "arm {i}: examples of several primitive kinds");
            for (j, other) in kinds.iter().enumerate().skip(i + 1) {
                assert!(k.is_disjoint(other), "arms {i} and {j} have examples of the same primitive kind");
            }
        }
    }
}
