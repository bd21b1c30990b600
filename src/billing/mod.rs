//! Money and prices: amounts in integer micro-units of the configured currency, and the Stripe
//! calls and webhooks through which credit is bought.

pub mod money;
pub mod stripe;

pub use money::Money;
