//! Admin operations: groups (to be written).
