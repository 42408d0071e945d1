//! The store conformance suite against both backends.

mod memory {
    firebell_testkit::store_conformance_suite!(firebell_testkit::conformance::memory_backend);
}

mod redis {
    firebell_testkit::store_conformance_suite!(firebell_testkit::conformance::redis_backend);
}
