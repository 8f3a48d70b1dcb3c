//! `waymark-approval`: the `waymark` command line with the approval workflow registered.

fn main() -> std::process::ExitCode {
    waymark::main_with(waymark_example_approval::registry())
}
