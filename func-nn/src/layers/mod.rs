//! The layers.

pub mod linear;
pub mod misc;
pub mod norm;
pub mod sequential;
