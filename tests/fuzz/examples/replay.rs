//! Replays saved inputs of a target on stable, printing each decoded: `cargo run --example replay -- <target> <file>...`.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: replay <target> <file>...");
    for file in args {
        let data = std::fs::read(&file).expect("read the input");
        println!("== {file}\n{}", skiff_fuzz::describe(&target, &data));
        let start = Instant::now();
        skiff_fuzz::run(&target, &data);
        println!("== ran in {:?}", start.elapsed());
    }
}
