//! `altcheck`: verify, dump and simulate an altpatch kernel's alternatives table.

fn main() {
    eprintln!("altcheck: not yet written");
    std::process::exit(2);
}
