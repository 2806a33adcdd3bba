//! Helm chart rendering for gitops-rs.
//!
//! [`template`] is Go's `text/template`; [`funcs`] adds Sprig and Helm's own functions; [`chart`] loads
//! charts and renders them as `helm template` does.

pub mod template;
pub mod funcs;
pub mod chart;
