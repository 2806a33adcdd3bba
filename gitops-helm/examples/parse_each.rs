//! temporary: parse cost per template file
use gitops_helm::template::{MissingKey, Templates};
use std::rc::Rc;
fn main() {
    let mut rows = Vec::new();
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap();
        let funcs = Rc::new(gitops_helm::funcs::helm_funcs());
        let n = 20;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let mut set = Templates::new(funcs.clone(), MissingKey::Zero);
            let _ = set.parse("x", &text);
        }
        let el = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        rows.push((el, text.len(), text.matches("{{").count(), path));
    }
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    let tot: f64 = rows.iter().map(|r| r.0).sum();
    println!("total {tot:.0} us");
    for (el, len, acts, p) in rows.iter().take(25) {
        println!(
            "{el:8.1} us {len:7} B {acts:5} actions {:6.2} us/action  {p}",
            el / (*acts).max(1) as f64
        );
    }
}
