//! Admin operations: cluster (to be written).
