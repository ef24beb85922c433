//! MAML on sine regression (functorch's examples/maml_regression):
//! `cargo run --release --example maml_sine`.
//!
//! An MLP 1-40-40-1 learns an initialisation from which one SGD step (inner
//! lr 0.1) on K = 20 points of a new sine `A sin(x + phase)` fits it. Each
//! outer step samples 4 tasks; the per-task gradients of the query loss after
//! the inner step (a gradient through a gradient) come from
//! `vmap(grad(task_loss))`; Adam (lr 1e-3) takes their mean. The outer loss
//! is printed as it falls, and a PNG plot of a few adapted fits against the
//! true sines is written to target/maml_sine.png.

use func::backend::Cpu;
use func::nn::loss::{Reduction, mse_loss};
use func::nn::optim::Adam;
use func::nn::{Linear, ReLU, Sequential};
use func::prelude::*;
use plotters::prelude::*;
use std::f64::consts::PI;

const TASKS: usize = 4;
const K: usize = 20;
const INNER_LR: f64 = 0.1;

type Params = StateDict<Cpu>;

/// Amplitudes and phases of `n` tasks, and `K` points x in [-5, 5) per task
/// for the support and the query sets.
fn sample_tasks(n: usize, g: &mut Generator) -> (Tensor, Tensor, Tensor, Tensor) {
    let a = Tensor::rand([n, 1, 1], DType::F32, g) * 0.4 + 0.1;
    let phase = Tensor::rand([n, 1, 1], DType::F32, g) * PI;
    let x1 = Tensor::rand([n, K, 1], DType::F32, g) * 10.0 - 5.0;
    let x2 = Tensor::rand([n, K, 1], DType::F32, g) * 10.0 - 5.0;
    let y1 = &a * (&x1 + &phase).sin();
    let y2 = &a * (&x2 + &phase).sin();
    (x1, y1, x2, y2)
}

fn main() {
    let mut g = Generator::new(0);
    let net = Sequential::<Cpu>::new()
        .append(Linear::new(1, 40, &mut g))
        .append(ReLU::new())
        .append(Linear::new(40, 40, &mut g))
        .append(ReLU::new())
        .append(Linear::new(40, 1, &mut g));
    let mut params = net.parameter_dict();

    // The parameters after one inner SGD step on the support set.
    let adapt = |p: &Params, x1: &Tensor, y1: &Tensor| -> Params {
        let inner = |p: &Params| mse_loss(&functional_call(&net, p, x1), y1, Reduction::Mean);
        let g = grad(inner)(p);
        p.iter().map(|(k, v)| (k.clone(), v - &(&g[k] * INNER_LR))).collect()
    };
    let task_loss = |(p, x1, y1, x2, y2): &(Params, Tensor, Tensor, Tensor, Tensor)| {
        let adapted = adapt(p, x1, y1);
        mse_loss(&functional_call(&net, &adapted, x2), y2, Reduction::Mean)
    };
    let opts = VmapOptions::new().in_dims((None, Some(0), Some(0), Some(0), Some(0)));
    let per_task_grads = vmap_with(grad(task_loss), opts.clone());
    let per_task_losses = vmap_with(task_loss, opts);

    let opt = Adam::new(1e-3);
    let mut state = opt.init(&params);
    let iterations = 3000;
    let mut first = None;
    let mut recent = 0.0;
    for it in 0..=iterations {
        let (x1, y1, x2, y2) = sample_tasks(TASKS, &mut g);
        let batch = (params.clone(), x1, y1, x2, y2);
        let (grads, ..) = per_task_grads(&batch);
        let mean_grads: Params = grads.iter().map(|(k, v)| (k.clone(), v.mean_dims(&[0], false))).collect();
        let loss = per_task_losses(&batch).mean().item::<f32>();
        recent += loss as f64;
        (params, state) = opt.step(&params, &mean_grads, &state);
        if it % 250 == 0 {
            let avg = if it == 0 { recent } else { recent / 250.0 };
            println!("iteration {it:5}: outer loss (mean of the last 250) {avg:.4}");
            first.get_or_insert(avg);
            recent = 0.0;
        }
    }
    // The loss on fresh tasks, before and after adaptation.
    let (x1, y1, x2, y2) = sample_tasks(100, &mut g);
    let after = per_task_losses(&(params.clone(), x1.clone(), y1.clone(), x2.clone(), y2.clone())).mean().item::<f32>();
    println!("100 new tasks: query loss after one step {after:.4} (first outer loss {:.4})", first.unwrap_or(0.0));
    assert!((after as f64) < first.unwrap_or(f64::INFINITY), "the outer loss did not fall");

    // Plot three adapted fits against the true sines.
    let path = std::path::Path::new("target").join("maml_sine.png");
    std::fs::create_dir_all("target").expect("create target/");
    let root = BitMapBackend::new(&path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).expect("draw");
    let mut chart = ChartBuilder::on(&root).margin(20).build_cartesian_2d(-5f32..5f32, -0.6f32..0.6f32).expect("chart");
    chart.draw_series(LineSeries::new([(-5.0, 0.0), (5.0, 0.0)], BLACK.mix(0.3))).expect("draw");
    let grid = Tensor::linspace(-5.0, 5.0, 200, DType::F32).reshape(&[200, 1]);
    let xs = grid.to_vec::<f32>();
    let colors = [RED, BLUE, GREEN];
    let (a, ph) = (Tensor::from_vec(vec![0.5f32, 0.3, 0.15], [3]), Tensor::from_vec(vec![0.0f32, 1.5, 3.0], [3]));
    for (i, color) in colors.iter().enumerate() {
        let (ai, pi) = (a.select(0, i as isize), ph.select(0, i as isize));
        let sx = Tensor::rand([K, 1], DType::F32, &mut g) * 10.0 - 5.0;
        let sy = &ai * (&sx + &pi).sin();
        let adapted = adapt(&params, &sx, &sy);
        let fit = functional_call(&net, &adapted, &grid).to_vec::<f32>();
        let truth = (&ai * (&grid + &pi).sin()).to_vec::<f32>();
        chart
            .draw_series(LineSeries::new(xs.iter().copied().zip(truth), color.mix(0.4).stroke_width(2)))
            .expect("draw");
        chart.draw_series(LineSeries::new(xs.iter().copied().zip(fit), color.stroke_width(2))).expect("draw");
        let pts: Vec<(f32, f32)> = sx.to_vec::<f32>().into_iter().zip(sy.to_vec::<f32>()).collect();
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled()))).expect("draw");
    }
    root.present().expect("write the PNG");
    println!("wrote {} (faint: true sines; solid: fits after one step from the 20 dots)", path.display());
}
