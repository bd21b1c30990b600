//! Money and prices: amounts in integer micro-units of the configured currency.

pub mod money;

pub use money::Money;
