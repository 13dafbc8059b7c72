//! The `yjaudit` command: everything lives in the library.

#[global_allocator]
static ALLOCATOR: yjaudit::memory::HugePagesForLargeBlocks = yjaudit::memory::HugePagesForLargeBlocks;

fn main() -> std::process::ExitCode {
    yjaudit::cli::main(std::env::args_os())
}
