//! Many producers, many consumers (coming next).
