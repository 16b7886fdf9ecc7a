//! The fleet layer against real etcd servers (DESIGN.md §10): one binary, a
//! module per area. Needs `etcd` (Debian's `etcd-server`) on the `PATH`.

// The shipped bricks, registered at link time.
use confd_bricks as _;

mod faults;
mod load;
mod offline;
mod support;
mod watch;
