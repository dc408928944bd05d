//! Admin operations: transactions (to be written).
