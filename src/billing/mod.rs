//! Money, wallets and limits: amounts in integer micro-units of the configured currency, the
//! in-memory reservations that keep concurrent requests from overdrawing a wallet, the fair-use
//! rate limits, and the Stripe calls and webhooks through which credit is bought.

pub mod alert;
pub mod limits;
pub mod money;
pub mod service;
pub mod stripe;
pub mod topup;
pub mod wallet;

pub use money::Money;
