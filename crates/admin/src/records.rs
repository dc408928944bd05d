//! Admin operations: records (to be written).
