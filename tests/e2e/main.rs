//! End-to-end tests through real transports: the HTTP server, and the `waymark` binary for
//! stdio and the CLI. One test binary (matklad's "one integration-test binary per crate").

mod cli;
mod cli_first_run;
mod cli_workflow;
mod crash;
mod http;
mod machinery;
mod serve;
mod sharing;
mod stdio;
mod support;
