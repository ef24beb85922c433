//! The operator overloads (`+`, `-`, `*`, `/` between tensors and with `f64`
//! scalars, on values and references, and unary `-`), each the panicking
//! form of a binary operation.

use super::ok;
use crate::eval::constant;
use crate::{Backend, BinaryOp, DType, Tensor};
use std::ops;

macro_rules! binop_impls {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<B: Backend> ops::$trait<&Tensor<B>> for &Tensor<B> {
            type Output = Tensor<B>;
            /// # Panics
            ///
            /// When the shapes do not broadcast (the message names both).
            fn $method(self, rhs: &Tensor<B>) -> Tensor<B> {
                ok(self.try_binary(BinaryOp::$op, rhs))
            }
        }
        impl<B: Backend> ops::$trait<Tensor<B>> for Tensor<B> {
            type Output = Tensor<B>;
            fn $method(self, rhs: Tensor<B>) -> Tensor<B> {
                ok(self.try_binary(BinaryOp::$op, &rhs))
            }
        }
        impl<B: Backend> ops::$trait<&Tensor<B>> for Tensor<B> {
            type Output = Tensor<B>;
            fn $method(self, rhs: &Tensor<B>) -> Tensor<B> {
                ok(self.try_binary(BinaryOp::$op, rhs))
            }
        }
        impl<B: Backend> ops::$trait<Tensor<B>> for &Tensor<B> {
            type Output = Tensor<B>;
            fn $method(self, rhs: Tensor<B>) -> Tensor<B> {
                ok(self.try_binary(BinaryOp::$op, &rhs))
            }
        }
        impl<B: Backend> ops::$trait<f64> for &Tensor<B> {
            type Output = Tensor<B>;
            fn $method(self, rhs: f64) -> Tensor<B> {
                ok(self.try_binary_scalar(BinaryOp::$op, rhs))
            }
        }
        impl<B: Backend> ops::$trait<f64> for Tensor<B> {
            type Output = Tensor<B>;
            fn $method(self, rhs: f64) -> Tensor<B> {
                ok(self.try_binary_scalar(BinaryOp::$op, rhs))
            }
        }
        impl<B: Backend> ops::$trait<&Tensor<B>> for f64 {
            type Output = Tensor<B>;
            fn $method(self, rhs: &Tensor<B>) -> Tensor<B> {
                let dtype = if rhs.dtype().is_float() { rhs.dtype() } else { DType::F32 };
                ok(constant::<B>(self, dtype).and_then(|c| c.try_binary(BinaryOp::$op, rhs)))
            }
        }
        impl<B: Backend> ops::$trait<Tensor<B>> for f64 {
            type Output = Tensor<B>;
            fn $method(self, rhs: Tensor<B>) -> Tensor<B> {
                self.$method(&rhs)
            }
        }
    };
}

binop_impls!(Add, add, Add);
binop_impls!(Sub, sub, Sub);
binop_impls!(Mul, mul, Mul);
binop_impls!(Div, div, Div);

impl<B: Backend> ops::Neg for &Tensor<B> {
    type Output = Tensor<B>;
    fn neg(self) -> Tensor<B> {
        Tensor::neg(self)
    }
}

impl<B: Backend> ops::Neg for Tensor<B> {
    type Output = Tensor<B>;
    fn neg(self) -> Tensor<B> {
        Tensor::neg(&self)
    }
}
