//! Helm chart rendering for gitops-rs.
//!
//! [`template`] is Go's `text/template`; [`funcs`] adds Sprig and Helm's own functions; [`chart`] loads
//! charts and renders them as `helm template` does.

mod builder;
pub mod chart;
pub mod funcs;
pub mod template;

pub use builder::{HelmBuilder, RENDER_STACK, with_render_stack};
