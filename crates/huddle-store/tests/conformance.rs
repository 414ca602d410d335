//! The in-memory backend passes the conformance suite.

use huddle_store::InMemoryStore;

mod memory {
    use super::*;
    huddle_store::conformance_suite!(async { (InMemoryStore::new(), ()) });
}

mod memory_behind_a_quiet_fault_wrapper {
    use super::*;
    use huddle_store::Faulty;
    // A wrapper with nothing armed must be transparent.
    huddle_store::conformance_suite!(async { (Faulty::new(InMemoryStore::new()), ()) });
}
