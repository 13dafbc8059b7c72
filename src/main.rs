//! The `yjaudit` command: everything lives in the library.

fn main() -> std::process::ExitCode {
    yjaudit::cli::main(std::env::args_os())
}
