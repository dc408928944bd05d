//! Admin operations: acls (to be written).
