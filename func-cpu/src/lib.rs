//! func-cpu: the optimized CPU backend of func-rs.
//!
//! [`Cpu`] implements [`func_core::Backend`] with storage [`CpuStorage`]
//! (a `Vec` of `f32`, `f64`, `i64` or `bool`). Users normally get it through
//! the `func` facade, whose tensors run on it by default; the kernels can
//! also be driven through the trait directly:
//!
//! ```
//! use func_core::{Backend, BinaryOp, HostData, Layout};
//! use func_cpu::Cpu;
//!
//! let x = Cpu.from_host(HostData::F32(vec![1., 2., 3., 4., 5., 6.]))?;
//! // View the [2, 3] buffer as its [3, 2] transpose: no copy, just strides.
//! let t = Layout::contiguous([2, 3]).permute(&[1, 0]);
//! assert_eq!(Cpu.to_host(&x, &t)?, HostData::F32(vec![1., 4., 2., 5., 3., 6.]));
//! let y = Cpu.binary(BinaryOp::Add, &x, &t, &x, &t)?;
//! assert_eq!(Cpu.to_host(&y, &Layout::contiguous([3, 2]))?, HostData::F32(vec![2., 8., 4., 10., 6., 12.]));
//! # Ok::<(), func_core::Error>(())
//! ```
//!
//! # Performance design
//!
//! - **Strided iteration without per-element branching.** Every operand
//!   comes with a [`Layout`]; the kernels coalesce the dimensions of all
//!   operands jointly (dropping size-1 dimensions, merging dimensions that
//!   are contiguous with each other), walk the outer dimensions with an
//!   odometer, and run a tight inner loop specialized on the inner strides:
//!   unit stride (vectorized slice loops), stride 0 (a broadcast scalar) or
//!   a general stride. Contiguous tensors and scalar-broadcast operands
//!   therefore reduce to one flat loop. Short runs (a broadcast 16-element
//!   row) come to a kernel a line at a time, the runs of the last outer
//!   dimension together, so the dispatch on the strides is paid once per
//!   line; a row repeated over a dense operand (a bias) is first expanded
//!   to a ~1024-element pattern, so the loop setup is paid once per
//!   pattern.
//! - **Parallelism only where it pays.** Elementwise work above 128K
//!   elements is split over the threads, the calling thread taking the
//!   first share; smaller tensors never touch the thread pool, so an
//!   operation on a one-element tensor costs tens of nanoseconds. (A
//!   sleeping thread of the pool takes tens of microseconds to wake on the
//!   two-vCPU benchmark machine: splitting a 64K-element `mul` made it 11
//!   µs against 5.9 on one thread, and a 262K-element one 38-47 µs against
//!   38, while 1M elements ran in 63-67 µs against 93. So the bound was
//!   512K until the pool kept a worker awake between kernels (next item);
//!   since then 128K has been faster: `vmap(hessian)` over 64 inputs of 16
//!   0.26 -> 0.17-0.22 ms, its [64, 16, 16, 16] products no longer waiting
//!   for a second thread, psg_mlp_b64 1.19 -> 1.07 ms, the Jacobian rows
//!   3-10% faster. 64K made those Jacobian rows twice as slow.) A kernel
//!   whose operand is the output of a kernel just split over the threads
//!   is split from 32K elements, so that each thread reads the share its
//!   own core's cache holds (NOTE: [work where its data is] in par.rs):
//!   the ensembles' bias adds and `relu`s after their products, 5% of the
//!   workload.
//! - **A worker that lingers.** Each parallel kernel keeps one worker of
//!   the pool polling for work for [`spin_time`] (1 ms by default;
//!   [`set_spin_time`], or `FUNC_CPU_SPIN_US`) after it, so that the next
//!   kernel finds it awake: waking a sleeping worker cost 65-78 µs on the
//!   two-vCPU benchmark VM, so a 256^3 product split in two took 0.12-0.15
//!   ms, and 0.11 ms with a lingering worker; psg_mlp_b64 went from 1.29 to
//!   1.03-1.15 ms (NOTE: [lingering worker] in par.rs). This is OpenMP's
//!   spin-wait before blocking; the polling worker yields its core to any
//!   other thread that wants it. Likewise the calling thread, done with its
//!   share of a kernel, spins for the pool's shares instead of blocking
//!   (NOTE: [the caller spins]): matmul_f32_256 0.126-0.133 -> 0.103-0.108
//!   ms, psg_mlp_b64 to 0.97-1.07 ms. A kernel's share for the pool is
//!   handed straight to the lingering worker rather than queued in rayon,
//!   which would also wake the other, sleeping worker: three threads on two
//!   vCPUs made the 256^3 product 0.13-0.24 ms in about half the processes
//!   (NOTE: [handed to the lingering worker]).
//! - **Reductions** over axes that all have size 1 (the batch of one of a
//!   per-sample gradient) are a strided map, one element per output (a
//!   `[20, 10, 1, 32, 288]` sum over its unit axis: 3.9 ms on the general
//!   path, 0.45 ms). Others coalesce kept and reduced axes separately: reducing
//!   trailing axes folds contiguous runs with several accumulators, reducing
//!   leading or middle axes accumulates whole rows into the output, and with
//!   few outputs the reduced elements are split across threads (combined in a
//!   fixed order, so results are deterministic).
//! - **Matmul** calls a blocked GEMM with the operands' own row and column
//!   strides (transposed views are not copied), with beta = 0 into an
//!   output that is not zero-filled first. An unbatched right operand is
//!   folded into one large product. Rank-1 products (`k = 1`, the
//!   per-sample weight gradients of a batched `grad`) are written directly,
//!   each output element once, and with non-temporal AVX-512 stores when
//!   the whole output is larger than a quarter of the last-level cache (at
//!   least 64 MiB), which then does not read each line before writing it
//!   (NOTE: [streamed stores] in stream.rs: the 302 MB of psg_cnn_b64's
//!   per-sample fc1 gradients 19.0 -> 6.5 ms, the row 63.5 -> 51.4 ms, on a
//!   2-core Sapphire Rapids VM); products of at most 1024 multiply-adds use
//!   direct loops, and a single row times a matrix (`m = 1`) is a dot
//!   product per output down contiguous columns of `b` (or a sum of its
//!   scaled rows), reading `b` once: `[1, 2048] @ [2048, 32]` with a
//!   column-major `b` took 84-107 µs as a GEMM, 7.2 µs so. A matrix times
//!   a single column (`n = 1`) is likewise a dot product per row of `a`,
//!   or a sum of its scaled columns. These loops are compiled for AVX-512F
//!   or AVX2 when the CPU has them, and sum blocks of 16 outputs in
//!   registers: the Lennard-Jones model's thin products `[16, 1000] @
//!   [1000, 1]`, `[1, 1000] @ [1000, 16]` and `[1000, 16] @ [16, 1]` took
//!   6.2, 3.7 and 4.7 µs, now 1.3, 1.4 and 2.9 µs. One row or one column
//!   takes these loops at every size, the smallest too (MAML's batched
//!   `[40, 20]^T @ [20, 1]`: 2.9 -> 1.3 µs). `x @ w^T` with few
//!   rows and many output columns is computed as `(w x^T)^T` into scratch
//!   and copied back, because `gemm` gathers the operand it reads against
//!   the grain into panels, and `x` is then the smaller (NOTE: [transposed
//!   product] in matmul.rs: `[64,784] @ [784,128]^T` 140 -> 125 µs on one
//!   thread). A product of two column-major operands never reaches this
//!   backend as such: func-core computes it as `(b^T a^T)^T` over
//!   row-major operands and returns the transposed view (its NOTE:
//!   [output layout]). The GEMM's kernel tile is 16 output columns high
//!   (it computes a row-major product as its transpose), so a width just
//!   past a multiple of 16 pays a whole tile for a few columns: when both
//!   operands are contiguous along a long `k` (a Gram matrix of Jacobians,
//!   `J1 J2^T`), the full tiles go to the GEMM one 1024-slice of `k` at a
//!   time and the last one to four columns are dot products over the slice
//!   while it is in cache (NOTE: [tail columns] in matmul.rs: the NTK's
//!   `[200, 216320] @ [216320, 50]` 29.1 -> 27.0-28.2 ms, `[200, 9216] @
//!   [9216, 50]` 1.44 -> 1.34 ms).
//! - **`addmm`** (`c + a @ b`, a linear layer with its bias) adds `c` to
//!   each block of output rows as soon as the product has written it, on
//!   the thread that wrote it, in AVX-512 or AVX2 vectors when the CPU has them
//!   (NOTE: [bias epilogue] in matmul.rs): no second pass reads the
//!   product back and writes a new buffer. The ensemble's second layer,
//!   `[10, 128, 128] @ [10, 128, 64]` with a bias per output row, took
//!   83.0 µs as a product and an add, 77.5 µs fused, against 71.8 µs for
//!   the product alone; the Lennard-Jones model's `[1000, 16] @ [16, 16]^T`
//!   with its bias `[16]` 9.0, 7.5 and 5.9 µs (best of 21 loops, two
//!   threads). A bias row shorter than 128 elements is repeated in a local
//!   buffer and added to several rows per loop, in whole vectors.
//! - **One threading layer.** rayon is the only thread pool: both GEMM
//!   libraries run single-threaded inside a call (matrixmultiply without
//!   its `threading` feature, `gemm` with `Parallelism::None`), a batch of
//!   products runs its products as rayon tasks, and a single large product
//!   is cut into row blocks, one task each (or, under 128 rows, into
//!   column blocks: each thread then runs full-height kernel tiles against
//!   its half of `b`; `[64, 784] @ [784, 128]^T` took 100-105 µs by rows,
//!   81-90 by columns, `[64, 1024] @ [1024, 1024]^T` 1.7-2.1 ms against
//!   1.2-1.4, and psg_mlp_b64 ran 1.27-1.37 ms against 1.33-1.90 in four of
//!   five alternating runs). (With two pools, the ten GEMMs
//!   of a vmapped ensemble on two cores spent a third of their time in the
//!   scheduler.) A mid-size product (under 2^25 multiply-adds) runs its
//!   first block on the calling thread: handing both blocks of a 256^3
//!   product to the pool ran it at one-thread speed (0.33 ms) in about half
//!   the processes on the two-vCPU benchmark machine, the caller's
//!   participation at 0.15-0.18 ms in every one of eight. A product whose
//!   contraction is at least 64 times its larger output side (a Gram
//!   matrix of Jacobians, `J1 J2^T`) is split along `k` instead, one slice
//!   per thread into its own output, summed at the end: the NTK
//!   workload's 200 x 216320 x 50 product ran in 29.7-31.2 ms against
//!   32.8-36.5 ms split by rows.
//! - **GEMM choice: the `gemm` crate, and `matrixmultiply` for one shape
//!   class.** Both are pure Rust and read arbitrary strides. `gemm` (with
//!   its `x86-v4` feature: AVX-512 kernels, picked at run time) is the
//!   default; `matrixmultiply` takes the products whose right operand is
//!   column-major with a column stride that is a multiple of 4 KiB (`x @
//!   w^T` with 1024 or 9216 inputs in f32), which `gemm` reads unpacked
//!   with every row in the same cache sets, unless the product has at
//!   least 128 rows: then that operand is copied once with padded columns
//!   and `gemm` reads the copy (NOTE: [aliasing columns] in matmul.rs: the
//!   NTK's `[200,9216] @ [9216,50]^T` 2.5-2.7 -> 1.4-1.6 ms, copy
//!   included, on a 2-core AMD EPYC with AVX-512). Measured on the benchmark
//!   machine (2 cores, AVX-512, shared and loaded), one thread, median ms,
//!   `matrixmultiply` / `gemm`, f32 unless noted, `^T` an operand read
//!   through its transpose:
//!
//!   | product (as the workloads issue it) | matrixmultiply | gemm |
//!   |---|---|---|
//!   | 256x256x256 | 0.325 | 0.295 |
//!   | 1024x1024x1024 | 34.6 | 28.6 |
//!   | ensemble, 10 x (64x784 @ 784x128^T) | 2.10 | 1.61 |
//!   | the same, f64 | 3.23 | 3.26 |
//!   | ensemble, 10 x (64x128 @ 128x128^T) | 0.286 | 0.235 |
//!   | the same, f64 | 0.425 | 0.421 |
//!   | ensemble, 10 x (64x128 @ 128x10^T) | 0.062 | 0.035 |
//!   | the same, f64 | 0.068 | 0.056 |
//!   | CNN conv1, 64 x (32x9 @ 9x676) | 0.396 | 0.382 |
//!   | CNN conv2, 64 x (64x288 @ 288x576) | 25.7 | 25.0 |
//!   | CNN conv1 weight grad, 64 x (32x676 @ 676x9^T) | 1.22 | 0.69 |
//!   | CNN conv2 weight grad, 64 x (64x576 @ 576x288^T) | 37.1 | 32.7 |
//!   | CNN conv2 input grad, 64 x (288x64^T @ 64x576) | 24.3 | 24.0 |
//!   | CNN fc1, 64x9216 @ 9216x128^T | 2.96 | 4.69 |
//!   | CNN fc1 input grad, 64x128 @ 128x9216 | 1.72 | 1.70 |
//!   | 64xk @ kx128^T, k = 784 / 1000 / 2000 | 0.257 / 0.310 / 0.539 | 0.139 / 0.180 / 0.477 |
//!   | the same, k = 1024 / 2048 (4 KiB strides) | 0.431 / 0.632 | 0.614 / 1.176 |
//!
//!   *A packing cache* for an operand shared across a batch (the ensemble's
//!   minibatch, packed once per model today) was bounded by timing one
//!   product with the batch folded into `n` (the shared operand packed
//!   once): 1.62 ms against 1.61 ms for the ten products with `gemm`
//!   (1.99 against 2.10 with matrixmultiply). Packing is under 5% of these
//!   products, so no cache is kept. On two threads (a quieter run; one
//!   thread gave the same order as above), running a batch's products as
//!   rayon tasks, each on one thread, beat splitting each product across
//!   both threads: ensemble 10 x 64x784x128 in 0.73 ms as tasks against
//!   1.59 ms with `gemm`'s own `Parallelism::Rayon(2)`, CNN conv2 weight
//!   grad 10.1 against 18.7 ms; a single 256x256x256 ran in 0.151 ms
//!   (`gemm`, two threads) against 0.165 ms (matrixmultiply, two row
//!   blocks) and 0.303 ms on one thread. One exception was left for
//!   later: CNN conv1 (`k = 9`) ran in 0.163 ms as matrixmultiply tasks
//!   against 0.343 ms with `gemm`. The
//!   comparison is `examples/gemm_compare.rs` (`cargo run --release -p
//!   func-cpu --example gemm_compare`).
//!
//!   *Small f32 products run in register tiles* when the CPU has AVX-512F,
//!   or AVX2 with FMA:
//!   above the direct loops' 1024 and up to 2^17 multiply-adds (2^19 for
//!   a contraction of at most 64, where `gemm`'s packing weighs more: the
//!   Lennard-Jones model's `[1000, 16] @ [16, 16]` 7.3 -> 5.7 µs on a
//!   Sapphire Rapids VM), with at least four rows (NOTE: [small tiles] in
//!   tiles.rs). Four rows by up to
//!   three 16-lane vectors of columns are summed in registers over the
//!   whole contraction, with fused multiply-adds; rows of `a` are read in
//!   place through their strides; `b` is read in place when its rows are
//!   contiguous, else copied row-major first, into a buffer each thread
//!   keeps (a column-major `b`, `x @ w^T`, transposed in 16 x 16 blocks in
//!   registers); the last vector of a
//!   row is loaded and stored under a lane mask. µs per `Tensor::matmul`
//!   call, best of 2000, `gemm` / tiles (one run, repeated with the same
//!   order): 80x40x40 3.94 / 3.31; 80x40x40^T 4.31 / 3.76; 4 x (20x40x40^T)
//!   6.46 / 5.41; 4 x (40x20x40), `a` transposed, 5.23 / 3.75; 4 x
//!   (40x40x20^T) 6.90 / 5.96; 64x16x16^T 1.16 / 0.88; 64x31x33 2.84 /
//!   2.22; 64x128x10 3.79 / 2.82. At 2^19 (64x128x64) both ran at about
//!   100 GFLOP/s on one thread. An earlier version in portable Rust, left
//!   to the compiler to vectorize, was no faster than `gemm` and was not
//!   kept: the compiler kept the sums in memory (51 µs for 80x40x40), so
//!   these loops are written with intrinsics, once, over a small trait of
//!   vector operations that each instruction set implements. With AVX2
//!   (16 registers of 8 lanes) a tile is six rows by two vectors, as
//!   `gemm`'s own AVX2 kernel, and only the last vector of a row is
//!   loaded and stored under a mask (`vmaskmovps`). On a 2-core AMD EPYC
//!   (Zen 3, AVX2), µs per `Tensor::matmul` call, best of 400, `gemm` /
//!   tiles, two runs: 80x40x40 5.6-5.7 / 4.7-4.9; 80x40x40^T 6.4 / 4.7-4.8;
//!   4 x (20x40x40) 7.0-7.1 / 5.6-5.7; 4 x (20x40x40^T) 9.7-9.9 / 6.5-6.6;
//!   64x31x33 4.7 / 3.4; `[1000, 16] @ [16, 16]` 10.6-11.1 / 8.6;
//!   `[64, 2048] @ [2048, 10]` 40-45 / 35-36. f64 products and CPUs with
//!   neither keep the GEMM. A product at most one vector (16 or 8) columns
//!   wide is tiled at any height (with a right operand of at most 2^17
//!   elements), in tiles of eight rows, so that a tile has eight
//!   independent sums to hide the multiply-add's latency (NOTE: [narrow
//!   tiles] in tiles.rs): `[1000, 16] @ [16, 16]` 6.1 -> 5.2 µs, the
//!   weight gradient `[1000, 16]^T @ [1000, 16]` 6.7 -> 6.3 µs, `[64,
//!   2048] @ [2048, 10]` 49 -> 22 µs. A long contraction of operands
//!   contiguous along `k` whose width ends one to four columns past a
//!   multiple of 16 (`J1 J2^T` of the NTK workload, 50 wide) takes those
//!   columns as dot products, slice by slice of `k`, in register tiles of
//!   four rows (NOTE: [tail columns] in matmul.rs): `[200, 216320] @
//!   [216320, 50]^T` 210-233 -> 235-251 GFLOP/s on two threads.
//! - **Buffer cache.** Freed buffers of 16 KiB and more are kept by size
//!   class and reused, up to a bound (a quarter of physical memory, at
//!   most 4 GiB, by default), so a steady loop
//!   of transform calls does no page faults after its first iteration.
//!   Smaller buffers are kept per thread, up to 1 MiB of each type,
//!   without a lock: an eager one-element add went from 0.237 to 0.202 us
//!   with this and two fewer atomic operations per new tensor. See
//!   [`cache`] for the size classes, the bound ([`cache::set_limit`]) and
//!   how to release it ([`cache::empty`]). Outputs that a kernel writes in
//!   full (elementwise maps, copies, GEMM with beta = 0, im2col without
//!   padding) are never zero-filled first. Fresh buffers of 4 MiB and more
//!   ([`cache::HUGE_BYTES`]) are advised to transparent huge pages on
//!   Linux, so the first write faults once per 2 MiB, not once per 4 KiB:
//!   on the NTK-by-vector-products workload, whose batched im2col columns
//!   are 900 MB, page-fault handling was a fifth of the time, and the row
//!   went from 1.14-1.25 s to 0.65-0.93 s with the advice. Smaller
//!   buffers, and each operation's small objects (tensor handles, tracer
//!   data), come from the global allocator: the README's benchmark section
//!   gives what a faster one does for workloads of many small operations.
//! - **Batch folding.** Trailing batch dims over which the right operand of
//!   a batched matmul is broadcast fold into the rows of one product, so a
//!   shared weight meets a tall matrix once rather than many thin ones.
//! - **im2col/col2im** precompute the in-image range of each kernel tap, so
//!   the inner loops are branch-free copies or adds, one (n, c) plane per
//!   task (so a fresh buffer's first touch is shared by the threads too).
//!   A tap's short rows are copied inline, not by a C library call each
//!   (NOTE: [short rows] in conv.rs), and columns larger than the
//!   streaming threshold are written plane by plane into a scratch buffer
//!   in the cache and streamed out (NOTE: [streamed columns]): the
//!   NTK-by-vector-products workload, 903 MB of columns a call, went from
//!   0.61 to 0.53-0.56 s a call.
//! - **Convolution by samples.** A batch of at least four images per
//!   thread is convolved one image at a time on each thread: its columns
//!   into a buffer the thread reuses, then its products while they are in
//!   the cache, so the batch's columns (`kh * kw` times the input) are
//!   never in memory at once (NOTE: [convolution by samples] in conv.rs).
//!   The NTK-by-vector-products workload went from 1.55 to 1.00 s a call.
//!   Transposed convolutions (a convolution's input gradient) fold each
//!   sample's columns the same way.
//! - **Transposed operands of elementwise maps.** A stack of transposed
//!   matrices meeting an operand that reads in the output's order (dense,
//!   or a broadcast row or column) is copied first, in register-transposed
//!   blocks, and the map then reads both in order (NOTE: [one operand
//!   transposed] in strided.rs): MAML's `[4, 40, 20]` cotangent sums 3.0
//!   -> 2.0 µs.
//!
//! - **Vectorized f32 transcendentals.** f32 `sin`, `cos`, `exp` and
//!   `tanh` (and `sigmoid` through `exp`) are branch-free functions that
//!   a loop vectorizes, not one C library call per element, each within
//!   one unit in the last place of the correctly rounded value (tested on
//!   dense grids against the f64 library functions, and by exhaustive
//!   sweeps, ignored by default, of every f32 of the f32-lane forms'
//!   ranges). A dense input of any size is mapped by a loop compiled for
//!   AVX-512F or AVX2 when the CPU has them (runtime detection; eight f64
//!   lanes with AVX-512F took the Lennard-Jones training step, which is
//!   mostly `tanh`, from 0.99 to 0.91 ms); from 8K elements it is split
//!   over the threads, one share each (`tanh` of 4M elements: 4.6 ms on
//!   the generic strided path, 1.2-1.5 ms). Where the CPU has FMA, those
//!   loops compute in f32 lanes with fused multiply-adds (Rust does not
//!   contract `a * b + c` itself): `tanh` of `[1000, 16]` 11.3 -> 7.5 µs
//!   (NOTE: [fused tanh] in vmath.rs); `sin` and `cos` with pi/2 split in
//!   four f32 parts for |x| < 8192, 2048 elements 2.9 -> 1.6 µs (NOTE:
//!   [trig in f32 lanes]); `exp` 4.0 -> 1.4 µs and `sigmoid`, once a
//!   branch per element in a baseline loop, 20.9 -> 1.8 µs (NOTE: [exp in
//!   f32 lanes]). A strided input is then copied and mapped densely, so
//!   every layout gets the same values. Without FMA, `sin`, `cos` and
//!   `exp` reduce and evaluate in f64 (musl's reduction and polynomials
//!   for `sin` and `cos`). `sin` and `cos` of arguments past the f32-lane
//!   range are redone in f64, and beyond 4.2e8 in magnitude, or of NaN,
//!   by the library, for the whole tensor. The Hessian-vector product of
//!   `sum(sin(x))` on 2048 elements took 0.051 ms with the library's
//!   `sinf`, 0.022 ms with the f64 forms, and 0.018 ms with the f32 lanes
//!   (each in one run of the benchmark comparison).
//!
//! Binary elementwise kernels (`map2`: arithmetic, the fused backward
//! products, comparisons) below the parallel threshold run their loops
//! compiled for AVX2 when the CPU has it, dense or strided, so that the
//! short runs of a broadcast product (16 elements per row in a `D = 16`
//! Hessian) take 8 lanes per instruction, not 4. Larger ones are bound by
//! memory, where the wider stores gained nothing and lost up to 15%.
//!
//! A copy of transposed matrices (`contiguous()` of a transpose, the rows a
//! one-hot basis picks from `w^T`) goes in bands of 8 output rows, 8 x 8
//! blocks transposed in AVX registers for 4- and 8-byte elements (NOTE:
//! [transposing copy] in the source). One thread, best of 5: `[2048, 32]^T`
//! f32 28 -> 20 µs, `[784, 128]^T` 71 -> 16 µs, `[1024, 1024]^T` 0.58 ->
//! 0.35 ms; `jacfwd` from 32 to 2048 outputs, whose tangents are rows of
//! `w^T`, 0.063 -> 0.042 ms.
//!
//! Other elementwise math uses the reference definitions of [`UnaryOp`] and
//! [`BinaryOp`] (bit-identical results); f64 uses the library functions
//! throughout; [`random`](func_core::Backend::random)
//! uses [`func_core::random::sample`], so streams agree with every other
//! backend.
#![deny(missing_docs)]

pub mod cache;
mod conv;
mod elem;
#[cfg(test)]
mod gemm_tests;
mod kernels;
mod matmul;
mod par;
mod stream;
mod strided;
#[cfg(test)]
mod tests;
mod tiles;
mod vmath;

pub use par::{DEFAULT_SPIN, SPIN_ENV, set_spin_time, spin_time};

use elem::Elem;
use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, ConvGeom, DType, Distribution, Error, HostData, Layout, ReduceOp, Result,
    UnaryOp,
};
use kernels::err;

/// The CPU backend (see the [crate documentation](crate)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu;

/// A CPU buffer: a vector of one element type.
#[derive(Clone, Debug, PartialEq)]
pub enum CpuStorage {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `bool` elements.
    Bool(Vec<bool>),
}

/// Evaluate `$body` with `$v` bound to the storage's elements, whatever their type.
macro_rules! each {
    ($s:expr, |$v:ident| $body:expr) => {
        each!(@ $s, $v, $body, F32 F64 I64 Bool)
    };
    (@ $s:expr, $v:ident, $body:expr, $($V:ident)*) => {
        match $s {
            $(CpuStorage::$V($v) => {
                let $v = &$v[..];
                $body
            })*
        }
    };
}

/// Evaluate `$body` with `$x`, `$y` bound to the elements of two storages of one dtype.
macro_rules! pair {
    ($op:expr, $a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {
        pair!(@ $op, $a, $b, $x, $y, $body, F32 F64 I64 Bool)
    };
    (@ $op:expr, $a:expr, $b:expr, $x:ident, $y:ident, $body:expr, $($V:ident)*) => {
        match ($a, $b) {
            $((CpuStorage::$V($x), CpuStorage::$V($y)) => {
                let ($x, $y) = (&$x[..], &$y[..]);
                $body
            })*
            (x, y) => Err(err($op, format!("operand dtypes differ: {} and {}", x.dtype(), y.dtype()))),
        }
    };
}

/// Evaluate `$body` with the type alias `$T` set to the element type of `$dt`.
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        with_dtype!(@ $dt, $T, $body, F32 f32, F64 f64, I64 i64, Bool bool)
    };
    (@ $dt:expr, $T:ident, $body:expr, $($V:ident $t:ty),*) => {
        match $dt {
            $(DType::$V => {
                type $T = $t;
                $body
            })*
            other => Err(func_core::Error::dtype("cpu", other, "the cpu backend has no kernels for this dtype")),
        }
    };
}

/// A freed storage returns its buffer to the [buffer cache](cache).
impl Drop for CpuStorage {
    fn drop(&mut self) {
        match self {
            CpuStorage::F32(v) => cache::give(std::mem::take(v)),
            CpuStorage::F64(v) => cache::give(std::mem::take(v)),
            CpuStorage::I64(v) => cache::give(std::mem::take(v)),
            CpuStorage::Bool(v) => cache::give(std::mem::take(v)),
        }
    }
}

impl CpuStorage {
    /// The address of the first element (NOTE: [work where its data is] in
    /// par.rs).
    fn addr(&self) -> usize {
        each!(self, |v| v.as_ptr() as usize)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        each!(self, |v| elem_dtype(v))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each!(self, |v| v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn elem_dtype<T: Elem>(_: &[T]) -> DType {
    T::DTYPE
}

/// Check that every element of `l` lies inside `s`.
///
/// This is the check the kernels' `unsafe` blocks (the gemm in
/// `matmul`) and their unchecked offset arithmetic rely on: the span of a
/// layout never overflows (NOTE: [layout invariant] in func-core), so
/// `span <= len` bounds every element the layout addresses, and every
/// offset fits in `isize` (`len <= isize::MAX` for a `Vec`).
fn check(op: &str, s: &CpuStorage, l: &Layout) -> Result<()> {
    if l.storage_span() <= s.len() {
        Ok(())
    } else {
        Err(err(op, format!("layout {l:?} reaches past the storage of {} elements", s.len())))
    }
}

fn same_shape(op: &str, a: &Layout, b: &Layout) -> Result<()> {
    if a.dims() == b.dims() { Ok(()) } else { Err(Error::shape_mismatch(op, a.shape(), b.shape(), "must be equal")) }
}

fn write_into<T: Elem>(dst: &mut CpuStorage, dl: &Layout, src: &[T], sl: &Layout) -> Result<()> {
    let got = dst.dtype();
    let dst =
        T::slice_mut(dst).ok_or_else(|| err("write_strided", format!("dtypes differ: {got} and {}", T::DTYPE)))?;
    kernels::write(dst, dl, src, sl)
}

fn i64_index<'a>(op: &str, idx: &'a CpuStorage, il: &Layout) -> Result<&'a [i64]> {
    check(op, idx, il)?;
    match idx {
        CpuStorage::I64(v) => Ok(v),
        other => Err(err(op, format!("indices must be i64, got {}", other.dtype()))),
    }
}

impl Backend for Cpu {
    type Storage = CpuStorage;

    fn default_instance() -> func_core::Result<Self> {
        Ok(Cpu)
    }

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn storage_dtype(&self, s: &CpuStorage) -> DType {
        s.dtype()
    }

    fn storage_len(&self, s: &CpuStorage) -> usize {
        s.len()
    }

    fn from_host(&self, data: HostData) -> Result<CpuStorage> {
        Ok(match data {
            HostData::F32(v) => CpuStorage::F32(v),
            HostData::F64(v) => CpuStorage::F64(v),
            HostData::I64(v) => CpuStorage::I64(v),
            HostData::Bool(v) => CpuStorage::Bool(v),
        })
    }

    fn to_host(&self, s: &CpuStorage, l: &Layout) -> Result<HostData> {
        check("to_host", s, l)?;
        each!(s, |v| strided::copy(v, l).map(Elem::host))
    }

    fn full(&self, value: f64, dtype: DType, numel: usize) -> Result<CpuStorage> {
        with_dtype!(dtype, T => strided::out_filled(numel, T::from_f64(value)).map(T::wrap))
    }

    fn unary(&self, op: UnaryOp, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        check(op.name(), s, l)?;
        par::near(&[s.addr()], || each!(s, |v| Elem::unary(op, v, l).map(Elem::wrap)))
    }

    fn binary(&self, op: BinaryOp, a: &CpuStorage, la: &Layout, b: &CpuStorage, lb: &Layout) -> Result<CpuStorage> {
        check(op.name(), a, la)?;
        check(op.name(), b, lb)?;
        same_shape(op.name(), la, lb)?;
        par::near(&[a.addr(), b.addr()], || {
            pair!(op.name(), a, b, |x, y| Elem::binary(op, x, la, y, lb).map(Elem::wrap))
        })
    }

    fn compare(&self, op: CmpOp, a: &CpuStorage, la: &Layout, b: &CpuStorage, lb: &Layout) -> Result<CpuStorage> {
        check(op.name(), a, la)?;
        check(op.name(), b, lb)?;
        same_shape(op.name(), la, lb)?;
        par::near(&[a.addr(), b.addr()], || {
            pair!(op.name(), a, b, |x, y| kernels::compare(op, x, la, y, lb).map(CpuStorage::Bool))
        })
    }

    fn select(
        &self,
        cond: &CpuStorage,
        lc: &Layout,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<CpuStorage> {
        for (s, l) in [(cond, lc), (a, la), (b, lb)] {
            check("select", s, l)?;
        }
        same_shape("select", lc, la)?;
        same_shape("select", la, lb)?;
        let CpuStorage::Bool(c) = cond else {
            return Err(err("select", format!("condition must be bool, got {}", cond.dtype())));
        };
        par::near(&[cond.addr(), a.addr(), b.addr()], || {
            pair!("select", a, b, |x, y| kernels::select(c, lc, x, la, y, lb).map(Elem::wrap))
        })
    }

    fn reduce(&self, op: ReduceOp, s: &CpuStorage, l: &Layout, axes: &[usize]) -> Result<CpuStorage> {
        check(op.name(), s, l)?;
        par::near(&[s.addr()], || each!(s, |v| Elem::reduce(op, v, l, axes).map(Elem::wrap)))
    }

    fn arg_reduce(&self, op: ArgReduceOp, s: &CpuStorage, l: &Layout, axis: usize) -> Result<CpuStorage> {
        check(op.name(), s, l)?;
        each!(s, |v| kernels::arg_reduce(op, v, l, axis).map(CpuStorage::I64))
    }

    fn cumsum(&self, s: &CpuStorage, l: &Layout, axis: usize) -> Result<CpuStorage> {
        check("cumsum", s, l)?;
        each!(s, |v| Elem::cumsum(v, l, axis).map(Elem::wrap))
    }

    fn matmul(&self, a: &CpuStorage, la: &Layout, b: &CpuStorage, lb: &Layout) -> Result<CpuStorage> {
        check("matmul", a, la)?;
        check("matmul", b, lb)?;
        pair!("matmul", a, b, |x, y| Elem::matmul(x, la, y, lb).map(Elem::wrap))
    }

    fn addmm(
        &self,
        c: &CpuStorage,
        lc: &Layout,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<CpuStorage> {
        check("addmm", c, lc)?;
        check("addmm", a, la)?;
        check("addmm", b, lb)?;
        fn typed<T: Elem>(
            c: &CpuStorage,
            lc: &Layout,
            x: &[T],
            la: &Layout,
            y: &[T],
            lb: &Layout,
        ) -> Result<CpuStorage> {
            let z = T::slice(c).ok_or_else(|| {
                err("addmm", format!("input dtype {} differs from the matrices' {}", c.dtype(), T::DTYPE))
            })?;
            T::addmm(z, lc, x, la, y, lb).map(T::wrap)
        }
        pair!("addmm", a, b, |x, y| typed(c, lc, x, la, y, lb))
    }

    fn cast(&self, s: &CpuStorage, l: &Layout, dtype: DType) -> Result<CpuStorage> {
        check("cast", s, l)?;
        if s.dtype() == dtype {
            return self.copy_strided(s, l);
        }
        par::near(&[s.addr()], || each!(s, |v| with_dtype!(dtype, T => kernels::cast(v, l).map(T::wrap))))
    }

    fn copy_strided(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        check("copy_strided", s, l)?;
        par::near(&[s.addr()], || each!(s, |v| strided::copy(v, l).map(Elem::wrap)))
    }

    fn write_strided(&self, dst: &mut CpuStorage, dl: &Layout, src: &CpuStorage, sl: &Layout) -> Result<()> {
        check("write_strided", dst, dl)?;
        check("write_strided", src, sl)?;
        each!(src, |s| write_into(dst, dl, s, sl))
    }

    fn concat(&self, parts: &[(&CpuStorage, &Layout)], axis: usize) -> Result<CpuStorage> {
        let Some((first, _)) = parts.first() else {
            return Err(err("concat", "no tensors to join"));
        };
        with_dtype!(first.dtype(), T => {
            let typed = parts
                .iter()
                .map(|&(s, l)| {
                    check("concat", s, l)?;
                    T::slice(s).map(|v| (v, l)).ok_or_else(|| err("concat", "parts have different dtypes"))
                })
                .collect::<Result<Vec<_>>>()?;
            kernels::concat(&typed, axis).map(T::wrap)
        })
    }

    fn pad(&self, s: &CpuStorage, l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<CpuStorage> {
        check("pad", s, l)?;
        each!(s, |v| kernels::pad(v, l, pads, value).map(Elem::wrap))
    }

    fn flip(&self, s: &CpuStorage, l: &Layout, axes: &[usize]) -> Result<CpuStorage> {
        check("flip", s, l)?;
        each!(s, |v| kernels::flip(v, l, axes).map(Elem::wrap))
    }

    fn gather(&self, s: &CpuStorage, l: &Layout, axis: usize, idx: &CpuStorage, il: &Layout) -> Result<CpuStorage> {
        check("gather", s, l)?;
        let idx = i64_index("gather", idx, il)?;
        each!(s, |v| kernels::gather(v, l, axis, idx, il).map(Elem::wrap))
    }

    fn scatter_add(
        &self,
        base: &CpuStorage,
        bl: &Layout,
        axis: usize,
        idx: &CpuStorage,
        il: &Layout,
        src: &CpuStorage,
        sl: &Layout,
    ) -> Result<CpuStorage> {
        check("scatter_add", base, bl)?;
        check("scatter_add", src, sl)?;
        let idx = i64_index("scatter_add", idx, il)?;
        pair!("scatter_add", base, src, |b, s| Elem::scatter_add(b, bl, axis, idx, il, s, sl).map(Elem::wrap))
    }

    fn conv2d(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<CpuStorage> {
        check("conv2d", x, xl)?;
        check("conv2d", w, wl)?;
        // By samples (NOTE: [convolution by samples] in conv.rs), or, for a
        // batch too small to share by samples, through the batch's columns
        // and a product split by rows.
        match pair!("conv2d", x, w, |a, b| Ok(Elem::conv2d(a, xl, b, wl, geom, groups)?.map(Elem::wrap)))? {
            Some(out) => Ok(out),
            None => func_core::conv2d_by_columns(self, x, xl, w, wl, geom, groups),
        }
    }

    fn conv_transpose2d(
        &self,
        y: &CpuStorage,
        yl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<CpuStorage> {
        check("conv_transpose2d", y, yl)?;
        check("conv_transpose2d", w, wl)?;
        // By samples (NOTE: [convolution by samples] in conv.rs), or through
        // the batch's columns.
        match pair!("conv_transpose2d", y, w, |a, b| {
            Ok(Elem::conv_transpose2d(a, yl, b, wl, geom, groups)?.map(Elem::wrap))
        })? {
            Some(out) => Ok(out),
            None => func_core::conv_transpose2d_by_columns(self, y, yl, w, wl, geom, groups),
        }
    }

    fn im2col(&self, s: &CpuStorage, l: &Layout, geom: &ConvGeom) -> Result<CpuStorage> {
        check("im2col", s, l)?;
        each!(s, |v| conv::im2col(v, l, geom).map(Elem::wrap))
    }

    fn col2im(&self, s: &CpuStorage, l: &Layout, geom: &ConvGeom) -> Result<CpuStorage> {
        check("col2im", s, l)?;
        each!(s, |v| Elem::col2im(v, l, geom).map(Elem::wrap))
    }

    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<CpuStorage> {
        self.from_host(func_core::random::sample(dist, dtype, numel, seed)?)
    }
}
