//! What the privacy policy promises, carried out: the retention job, the shortening of stored
//! addresses, first-party site analytics, and the versions of the policy.

pub mod address;
pub mod analytics;
pub mod policy;
pub mod retention;
