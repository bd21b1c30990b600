//! What the privacy policy promises, carried out: the retention job and the shortening of stored
//! addresses.

pub mod address;
pub mod retention;
