//! Money, wallets and limits: amounts in integer micro-units of the configured currency, the
//! in-memory reservations that keep concurrent requests from overdrawing a wallet, the fair-use
//! rate limits, and the Stripe calls and webhooks through which credit is bought.

pub mod alert;
pub mod limits;
pub mod service;
pub mod stripe;
pub mod topup;
pub mod wallet;

use crate::config::ModelPrice;
use crate::money::Money;

/// A model's rate card with every default filled in: what the pricing page, `/v1/models` and the
/// meter all use, so they cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCard {
    /// Per million tokens.
    pub input: Money,
    pub cached_input: Money,
    pub cache_creation: Money,
    pub output: Money,
    pub reasoning: Money,
    /// Per request.
    pub request_fee: Money,
}

impl RateCard {
    pub fn of(price: &ModelPrice) -> RateCard {
        RateCard {
            input: price.input,
            cached_input: price.cached_input(),
            cache_creation: price.cache_creation(),
            output: price.output,
            reasoning: price.reasoning(),
            request_fee: price.request_fee(),
        }
    }
}
