//! One publisher, many subscribers (coming next).
