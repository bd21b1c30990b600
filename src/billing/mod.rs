//! Money, wallets and limits: amounts in integer micro-units of the configured currency, the
//! in-memory reservations that keep concurrent requests from overdrawing a wallet, and the
//! fair-use rate limits.

pub mod limits;
pub mod money;
pub mod service;
pub mod wallet;

pub use money::Money;
