//! An amount of money as a signed count of micro-units (1 unit of the currency = 1,000,000).
//!
//! No floating point touches an amount: prices in the config file are read as decimal text and
//! converted digit by digit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Micro-units per whole unit of the currency.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Money {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// The amount as a decimal string with at least two decimals and no trailing zeros beyond
    /// them: `1.25`, `0.125`, `10.00`, `-3.50`.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let units = abs / MICROS_PER_UNIT as u64;
        let frac = format!("{:06}", abs % MICROS_PER_UNIT as u64);
        let trimmed = frac.trim_end_matches('0');
        let frac = if trimmed.len() < 2 {
            &frac[..2]
        } else {
            trimmed
        };
        format!("{sign}{units}.{frac}")
    }

    /// The exact amount written for people: `$1.25`, `€0.125`, `12.00 CHF`. For prices, which
    /// the operator wrote and which may have more digits than a coin.
    pub fn display_in(self, currency: &str) -> String {
        with_currency(&self.to_decimal_string(), currency)
    }

    /// A balance, a limit or a payment: always two decimals, rounded half away from zero to the
    /// nearest cent (`$4.996198` is `$5.00`). Never `-$0.00`.
    pub fn amount_in(self, currency: &str) -> String {
        with_currency(&fixed(self.round_to(CENT), 2), currency)
    }

    /// What requests cost, one or many: two decimals from a cent up (`$0.03`, `$12.40`); below a
    /// cent four decimals, so that a single request's cost still shows (`$0.0026`); below the
    /// last of those digits `<$0.0001`. Zero is `$0.00`.
    pub fn cost_in(self, currency: &str) -> String {
        let abs = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        if abs == 0 {
            return with_currency("0.00", currency);
        }
        let rounded = self.round_to(TEN_THOUSANDTH);
        if rounded.0.unsigned_abs() >= CENT as u64 {
            return self.amount_in(currency);
        }
        if rounded.0 == 0 {
            return format!("<{}", with_currency(&format!("{sign}0.0001"), currency));
        }
        with_currency(&fixed(rounded, 4), currency)
    }

    /// Rounded half away from zero to a multiple of `step` micro-units.
    fn round_to(self, step: i64) -> Money {
        let half = step / 2;
        let abs = self.0.unsigned_abs();
        let step_u = step.unsigned_abs();
        let rounded = (abs + half.unsigned_abs()) / step_u * step_u;
        let rounded = i64::try_from(rounded).unwrap_or(i64::MAX / step * step);
        Money(if self.0 < 0 { -rounded } else { rounded })
    }
}

/// Micro-units in a cent (a hundredth of the unit) and in a ten-thousandth of the unit.
const CENT: i64 = MICROS_PER_UNIT / 100;
const TEN_THOUSANDTH: i64 = MICROS_PER_UNIT / 10_000;

/// `money` written with exactly `decimals` decimals (at most six), cut, not rounded: round first.
fn fixed(money: Money, decimals: usize) -> String {
    let abs = money.0.unsigned_abs();
    let sign = if money.0 < 0 { "-" } else { "" };
    let units = abs / MICROS_PER_UNIT as u64;
    let frac = format!("{:06}", abs % MICROS_PER_UNIT as u64);
    let decimals = decimals.min(6);
    format!("{sign}{units}.{}", &frac[..decimals])
}

/// A decimal number with the currency's symbol in front (`-$3.50`) or its code after (`12.00 CHF`).
fn with_currency(number: &str, currency: &str) -> String {
    let (sign, digits) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    match currency_symbol(currency) {
        Some(symbol) => format!("{sign}{symbol}{digits}"),
        None => format!("{sign}{digits} {currency}"),
    }
}

fn currency_symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseMoneyError {
    #[error("expected a decimal amount like \"1.25\"")]
    Malformed,
    #[error("at most 6 decimal places are allowed")]
    TooPrecise,
    #[error("amount is too large")]
    TooLarge,
}

impl FromStr for Money {
    type Err = ParseMoneyError;

    fn from_str(text: &str) -> Result<Money, ParseMoneyError> {
        let text = text.trim();
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(ParseMoneyError::Malformed);
        }
        if text.ends_with('.') {
            return Err(ParseMoneyError::Malformed);
        }
        if frac.len() > 6 {
            return Err(ParseMoneyError::TooPrecise);
        }
        let whole: i64 = whole.parse().map_err(|_| ParseMoneyError::TooLarge)?;
        let frac_micros: i64 = if frac.is_empty() {
            0
        } else {
            // Right-pad to six digits: "125" is 125_000 micro-units.
            format!("{frac:0<6}")
                .parse()
                .map_err(|_| ParseMoneyError::Malformed)?
        };
        let micros = whole
            .checked_mul(MICROS_PER_UNIT)
            .and_then(|m| m.checked_add(frac_micros))
            .ok_or(ParseMoneyError::TooLarge)?;
        Ok(Money(if negative { -micros } else { micros }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_decimal_string())
    }
}

/// Config files may write prices as strings (`"1.25"`) or as TOML numbers (`1.25`, `3`).
/// A number is read through its shortest decimal text, so `0.1` means exactly 100,000 micro-units.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount like \"1.25\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                if !v.is_finite() {
                    return Err(E::custom(ParseMoneyError::Malformed));
                }
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_text_exactly() {
        assert_eq!("1.25".parse(), Ok(Money(1_250_000)));
        assert_eq!("0.000001".parse(), Ok(Money(1)));
        assert_eq!("10".parse(), Ok(Money(10_000_000)));
        assert_eq!("-3.5".parse(), Ok(Money(-3_500_000)));
        assert_eq!("0.1".parse(), Ok(Money(100_000)));
    }

    #[test]
    fn rejects_what_is_not_an_amount() {
        for bad in ["", ".5", "1.", "1,5", "abc", "1.2.3", "+1", "1e3"] {
            assert_eq!(
                bad.parse::<Money>(),
                Err(ParseMoneyError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            "0.0000001".parse::<Money>(),
            Err(ParseMoneyError::TooPrecise)
        );
        assert_eq!(
            "99999999999999999".parse::<Money>(),
            Err(ParseMoneyError::TooLarge)
        );
    }

    #[test]
    fn formats_with_two_to_six_decimals() {
        assert_eq!(Money(1_250_000).to_decimal_string(), "1.25");
        assert_eq!(Money(125_000).to_decimal_string(), "0.125");
        assert_eq!(Money(10_000_000).to_decimal_string(), "10.00");
        assert_eq!(Money(1).to_decimal_string(), "0.000001");
        assert_eq!(Money(-3_500_000).display_in("USD"), "-$3.50");
        assert_eq!(Money(12_000_000).display_in("CHF"), "12.00 CHF");
    }

    #[test]
    fn balances_show_whole_cents() {
        assert_eq!(Money(4_996_198).amount_in("USD"), "$5.00");
        assert_eq!(Money(4_994_999).amount_in("USD"), "$4.99");
        assert_eq!(Money(4_995_000).amount_in("USD"), "$5.00");
        assert_eq!(Money(0).amount_in("USD"), "$0.00");
        assert_eq!(Money(258).amount_in("USD"), "$0.00");
        assert_eq!(Money(-258).amount_in("USD"), "$0.00", "no minus zero");
        assert_eq!(Money(-3_505_000).amount_in("USD"), "-$3.51");
        assert_eq!(Money(12_000_000).amount_in("CHF"), "12.00 CHF");
        assert_eq!(Money(i64::MAX).amount_in("USD"), "$9223372036854.77");
    }

    #[test]
    fn costs_show_cents_and_below_a_cent_four_decimals() {
        assert_eq!(Money(0).cost_in("USD"), "$0.00");
        assert_eq!(Money(258).cost_in("USD"), "$0.0003");
        assert_eq!(Money(2_580).cost_in("USD"), "$0.0026");
        assert_eq!(Money(9_949).cost_in("USD"), "$0.0099");
        assert_eq!(Money(9_950).cost_in("USD"), "$0.01", "rounds up to a cent");
        assert_eq!(Money(25_800).cost_in("USD"), "$0.03");
        assert_eq!(Money(4_996_198).cost_in("USD"), "$5.00");
        assert_eq!(Money(49).cost_in("USD"), "<$0.0001");
        assert_eq!(Money(50).cost_in("USD"), "$0.0001");
        assert_eq!(Money(-2_580).cost_in("USD"), "-$0.0026");
        assert_eq!(Money(-10).cost_in("USD"), "<-$0.0001");
        assert_eq!(Money(258).cost_in("EUR"), "€0.0003");
        assert_eq!(Money(258).cost_in("CHF"), "0.0003 CHF");
    }

    #[test]
    fn float_config_values_keep_their_written_digits() {
        #[derive(Deserialize)]
        struct Price {
            p: Money,
        }
        let price: Price = serde_json::from_str(r#"{"p": 0.3}"#).unwrap();
        assert_eq!(price.p, Money(300_000));
        let price: Price = serde_json::from_str(r#"{"p": 15}"#).unwrap();
        assert_eq!(price.p, Money(15_000_000));
    }
}
