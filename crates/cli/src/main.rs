#[cfg(windows)]
compile_error!(
    "auditgraph does not support Windows; supported platforms are Linux and macOS (x86_64 and aarch64)."
);

fn main() {
    println!("auditgraph {}", auditgraph_core::version::AUDITGRAPH_VERSION);
}
