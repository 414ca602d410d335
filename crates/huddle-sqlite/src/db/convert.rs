//! Numbers and enums to and from SQL: the encodings shared with the other
//! SQL backend ([`huddle_store::sql`]).

pub(super) use huddle_store::sql::*;
