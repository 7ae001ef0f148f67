//! Prints the table of implemented syscalls (Markdown) for the README: `cargo run -p skiff-linux --example syscall-table`.

fn main() {
    print!("{}", skiff_linux::dispatch::syscall_table_markdown());
}
