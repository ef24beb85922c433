//! The backend-agreement law: the optimized CPU backend agrees with the
//! reference backend on every op of the catalogue.

use func_core::{BinaryOp, CmpOp, ReduceOp, UnaryOp};
use func_testkit::{Op, catalogue, check_backend};

#[test]
fn cpu_agrees_with_the_reference_backend() {
    check_backend::<func_cpu::Cpu>();
}

#[test]
fn the_catalogue_covers_every_elementwise_op_and_reduction() {
    let ops: Vec<Op> = catalogue().into_iter().map(|info| info.op).collect();
    for u in UnaryOp::ALL {
        assert!(ops.contains(&Op::Unary(u)), "no catalogue entry for unary {u:?}");
    }
    for b in BinaryOp::ALL {
        assert!(ops.contains(&Op::Binary(b)), "no catalogue entry for binary {b:?}");
    }
    for c in CmpOp::ALL {
        assert!(ops.contains(&Op::Compare(c)), "no catalogue entry for comparison {c:?}");
    }
    for r in ReduceOp::ALL {
        assert!(ops.contains(&Op::ReduceAll(r)), "no catalogue entry for reduction {r:?} over all dims");
        for keepdim in [false, true] {
            assert!(
                ops.contains(&Op::Reduce { op: r, keepdim }),
                "no catalogue entry for {r:?} over dims, keepdim {keepdim}"
            );
        }
    }
}
