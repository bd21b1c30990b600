//! Authentication building blocks: password hashing, random tokens and their hashes, sessions,
//! CSRF and origin checks, and sign-in throttling.

pub mod password;
pub mod throttle;
pub mod token;
pub mod totp;
