//! Times parsing every template of a chart directory (a profiling aid).
fn main() {
    let dir = std::env::args().nth(1).expect("a chart directory");
    let mut texts = Vec::new();
    for e in walk(std::path::Path::new(&dir)) {
        if e.to_string_lossy().contains("/templates/") {
            texts.push((
                e.to_string_lossy().to_string(),
                std::fs::read_to_string(&e).unwrap_or_default(),
            ));
        }
    }
    let t = std::time::Instant::now();
    for _ in 0..20 {
        let mut set = gitops_helm::template::Templates::new(
            std::rc::Rc::new(gitops_helm::funcs::helm_funcs()),
            gitops_helm::template::MissingKey::Zero,
        );
        for (n, s) in &texts {
            set.parse(n, s).expect("parses");
        }
    }
    eprintln!("{:?} per parse of {} files", t.elapsed() / 20, texts.len());
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let e = e.path();
        if e.is_dir() {
            out.extend(walk(&e));
        } else {
            out.push(e);
        }
    }
    out
}
