//! The `waymark` binary: the built-in workflow types only. A team's own binary calls
//! [`waymark::main_with`] with its registry instead (see `examples/approval`).

fn main() -> std::process::ExitCode {
    waymark::main_with(waymark_engine::Registry::new())
}
