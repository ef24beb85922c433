#!/usr/bin/env python3
"""Known values of func-rs's elementwise unary functions, for the test
func-testkit/tests/special_values.rs.

Each value is computed with mpmath at 256-bit precision (or exactly, with
fractions, for the rounding functions), then correctly rounded to f64 and to
f32 here, independently of the library's own formulas. Edge cases (signed
zeros, infinities, NaN, domain boundaries) follow IEEE 754 / C99 Annex F.

Run from anywhere:  python3 special_values.py  (needs mpmath; writes
special_values.json next to this script). The tests never run Python.

Each case holds the op name, the f64 input `x` and its expected result
`f64`, and the input rounded to f32 `x32` with the exact result at `x32`
rounded to f32 `f32`. Floats are Python reprs ("inf", "-inf", "nan", "-0.0").
"""

import json
import math
import os
from fractions import Fraction

import mpmath

mpmath.mp.prec = 256
INF = math.inf
NAN = math.nan


def to_fraction(y):
    """The exact value of a finite mpf."""
    sign, man, exp, _ = mpmath.mpf(y)._mpf_
    q = Fraction(man) * Fraction(2) ** exp
    return -q if sign else q


def round_f64(q):
    """Correctly rounded f64 of an exact rational (int / int division is
    correctly rounded in CPython)."""
    if q == 0:
        return 0.0
    try:
        return q.numerator / q.denominator
    except OverflowError:
        return INF if q > 0 else -INF


def exponent(a):
    """floor(log2(a)) for a positive rational."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return e


def round_f32(q):
    """Correctly rounded (half to even) f32 of an exact rational, as a float."""
    if q == 0:
        return 0.0
    sign = -1.0 if q < 0 else 1.0
    a = abs(q)
    quantum = Fraction(2) ** (max(exponent(a), -126) - 23)
    r = round(a / quantum) * quantum
    if r >= Fraction(2) ** 128:
        return sign * INF
    return sign * float(r)


def is_neg(x):
    return math.copysign(1.0, x) < 0


# Finite inputs: an mpmath function, or None for a domain error (NaN), or
# a float for an exact special result. Zero results take the sign the
# function gives to zero (see `zero_sign`).
def sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def finite(op, x):
    m = mpmath.mpf(x)
    if op == "neg":
        return -m
    if op == "abs":
        return abs(m)
    if op == "relu":
        return m if x > 0 else mpmath.mpf(0)
    if op == "sign":
        return mpmath.mpf(1 if x > 0 else -1 if x < 0 else 0)
    if op == "exp":
        return mpmath.exp(m)
    if op == "log":
        return -INF if x == 0 else NAN if x < 0 else mpmath.log(m)
    if op == "sin":
        return mpmath.sin(m)
    if op == "cos":
        return mpmath.cos(m)
    if op == "tanh":
        return mpmath.tanh(m)
    if op == "sqrt":
        return NAN if x < 0 else mpmath.sqrt(m)
    if op == "sigmoid":
        return sigmoid(m)
    if op == "log1p":
        return -INF if x == -1 else NAN if x < -1 else mpmath.log1p(m)
    if op == "expm1":
        return mpmath.expm1(m)
    if op == "erf":
        return mpmath.erf(m)
    q = Fraction(x)
    if op == "floor":
        return mpmath.mpf(math.floor(q))
    if op == "ceil":
        return mpmath.mpf(math.ceil(q))
    if op == "round":
        return mpmath.mpf(round(q))  # Fraction rounds half to even
    raise ValueError(op)


NON_FINITE = {
    # op: (f(+inf), f(-inf)); f(nan) is nan for every op.
    "neg": (-INF, INF),
    "abs": (INF, INF),
    "sign": (1.0, -1.0),
    "exp": (INF, 0.0),
    "log": (INF, NAN),
    "sin": (NAN, NAN),
    "cos": (NAN, NAN),
    "tanh": (1.0, -1.0),
    "sqrt": (INF, NAN),
    "sigmoid": (1.0, 0.0),
    "log1p": (INF, NAN),
    "expm1": (INF, -1.0),
    "erf": (1.0, -1.0),
    "floor": (INF, -INF),
    "ceil": (INF, -INF),
    "round": (INF, -INF),
    "relu": (INF, 0.0),
}

# The sign of a zero result: the input's for odd functions and roundings
# (IEEE 754: sin(-0) = -0, sqrt(-0) = -0, ceil(-0.5) = -0, ...), the
# opposite for neg, + otherwise.
ODD = {"sin", "tanh", "sqrt", "log1p", "expm1", "erf", "floor", "ceil", "round", "sign"}


def zero_sign(op, x):
    if op in ODD:
        return -1.0 if is_neg(x) else 1.0
    if op == "neg":
        return 1.0 if is_neg(x) else -1.0
    return 1.0


def expected(op, x, rounding):
    if math.isnan(x):
        return NAN
    if math.isinf(x):
        return NON_FINITE[op][0 if x > 0 else 1]
    y = finite(op, x)
    if isinstance(y, float):
        return y
    if y != 0 and mpmath.mag(y) > 1100:
        r = INF if y > 0 else -INF  # beyond every float's range
    elif y != 0 and mpmath.mag(y) < -1200:
        r = 0.0  # below every float's smallest subnormal
    else:
        r = rounding(to_fraction(y))
    if r == 0:
        r = math.copysign(0.0, zero_sign(op, x))
    return r


COMMON = [0.0, -0.0, 5e-324, -1e-310, 1e-300, 1e-20, 1e-8, -1e-8, 0.1, 0.5, -0.5, 0.7, 1.0, -1.0, 1.5, 2.0,
          -2.5, 3.0, 10.0, -10.0, 100.0, -100.0, 1e10, -1e10, 1e300, -1e300, INF, -INF, NAN]

INPUTS = {
    "neg": COMMON,
    "abs": COMMON,
    "sign": [x for x in COMMON if not math.isnan(x)],
    "exp": COMMON + [-1e-20, 20.0, -20.0, 88.5, 88.8, -87.0, -103.0, -104.0, 700.0, 709.78, 710.0, -708.0,
                     -740.0, -745.0, -746.0, 0.6931471805599453],
    "log": [x for x in COMMON] + [0.999999, 1.0000001, 2.718281828459045, 4.0, 1e-310, 1e308, 1.7976931348623157e308],
    "sin": COMMON + [3.141592653589793, 1.5707963267948966, 6.283185307179586, 1e6, 1e22, -1e22, 12345.678,
                     0.001, 1e-4],
    "cos": COMMON + [3.141592653589793, 1.5707963267948966, 6.283185307179586, 1e6, 1e22, -1e22, 12345.678,
                     0.001, 1e-4],
    "tanh": COMMON + [1e-4, 0.25, -0.75, 5.0, 9.0, 19.0, 20.0, -22.0, 400.0],
    "sqrt": COMMON + [0.25, 4.0, 1e-310, 3.0e38, 1.7976931348623157e308],
    "sigmoid": COMMON + [20.0, -20.0, 30.0, -30.0, 36.7, -36.7, 50.0, -50.0, -80.0, -87.0, 700.0, -700.0,
                         1e-4],
    "log1p": COMMON + [-0.5, -0.999999, -0.9999999999999999, 1e-10, -1e-10, 1e-17, 1e-4, 1e300, -1.0000001,
                       -2.0],
    "expm1": COMMON + [1e-10, -1e-10, 1e-17, 1e-4, -1e-4, 0.25, 20.0, -40.0, -800.0, 88.0, 88.8, 709.0, 710.0],
    "erf": COMMON + [0.25, 0.75, 1.25, 2.5, 3.5, 4.0, 5.0, 5.5, 5.9, 6.0, 6.5, 27.0, -3.0, -4.5, -5.9, -6.0,
                     1e-4, -1e-4],
    "floor": COMMON + [2.5, -1.5, 0.49999999999999994, -0.49999999999999994, 3.7, -3.7, 4503599627370495.5,
                       4503599627370497.0, -4503599627370495.5, 8388607.5, -8388607.5, 8388609.0, 1e16],
    "ceil": COMMON + [2.5, -1.5, 0.49999999999999994, -0.49999999999999994, 3.7, -3.7, 4503599627370495.5,
                      4503599627370497.0, -4503599627370495.5, 8388607.5, -8388607.5, 8388609.0, 1e16],
    "round": COMMON + [2.5, 3.5, -1.5, -3.5, 0.49999999999999994, -0.49999999999999994, 3.7, -3.7,
                       4503599627370495.5, 4503599627370496.5, 4503599627370497.0, -4503599627370495.5,
                       8388607.5, -8388607.5, 8388608.5, 8388609.0, 1e16, 5.5, 6.5, -6.5],
    "relu": COMMON + [-5e-324, -1e-300, 1e-310, 3.0e38, -3.0e38, 1.7976931348623157e308],
}


def f32_input(x):
    if math.isnan(x) or math.isinf(x):
        return x
    r = round_f32(Fraction(x))
    if r == 0:
        r = math.copysign(0.0, x)
    return r


def main():
    cases = []
    for op, xs in INPUTS.items():
        for x in xs:
            x32 = f32_input(x)
            cases.append({
                "op": op,
                "x": repr(x),
                "f64": repr(expected(op, x, round_f64)),
                "x32": repr(x32),
                "f32": repr(expected(op, x32, round_f32)),
            })
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "special_values.json")
    with open(out, "w") as f:
        json.dump({"source": "func-testkit/data/special_values.py (mpmath %s, 256-bit)" % mpmath.__version__,
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print("wrote %d cases to %s" % (len(cases), out))


if __name__ == "__main__":
    main()
