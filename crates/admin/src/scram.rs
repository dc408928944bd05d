//! Admin operations: scram (to be written).
