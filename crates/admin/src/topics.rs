//! Admin operations: topics (to be written).
