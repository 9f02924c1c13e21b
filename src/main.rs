//! `paceline`: the command line over the paceline crates.
fn main() {
    println!("paceline {}", env!("CARGO_PKG_VERSION"));
}
