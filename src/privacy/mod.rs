//! What the privacy policy promises, carried out: the retention job, the shortening of stored
//! addresses, and first-party site analytics.

pub mod address;
pub mod analytics;
pub mod retention;
