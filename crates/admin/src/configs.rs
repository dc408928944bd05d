//! Admin operations: configs (to be written).
