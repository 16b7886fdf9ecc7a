//! The stock `nexus`: the command line of confd-cli with the shipped bricks
//! linked. A product with bricks of its own builds its binary the same way.

use confd_bricks as _;

fn main() {
    confd_cli::main()
}
