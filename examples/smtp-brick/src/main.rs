//! The product's own `nexus`: confd's command line with the `smtp` brick
//! linked (and nothing else).

use smtp_brick as _;

fn main() {
    confd_cli::main()
}
