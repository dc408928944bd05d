//! Support for ferrokafka's integration tests: a running broker per test run.
