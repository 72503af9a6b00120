//! Money: an `i64` count of the minor unit of an ISO 4217 currency.
//!
//! `Money::new(1000, Currency::Usd)` is 10.00 USD, `Money::new(1000, Currency::Jpy)` is
//! 1000 JPY and `Money::new(1000, Currency::Kwd)` is 1.000 KWD: the amount is always a whole
//! number of cents, yen or fils, as Stripe and the database store it. There is no floating
//! point here and none may be added: binary floating point cannot represent 0.10.
//!
//! # Arithmetic
//!
//! Every operation is checked and returns `Result<Money, MoneyError>`: an overflow is
//! [`MoneyError::Overflow`], never a wrapped or saturated amount, and combining two currencies
//! is [`MoneyError::CurrencyMismatch`], never a conversion. For the same reason `Money` is not
//! `PartialOrd`: 5 USD and 3 EUR have no order. Compare with [`Money::checked_cmp`],
//! [`Money::min`] and [`Money::max`], which fail on a currency mismatch.
//!
//! # Rounding: one rule, in one place
//!
//! A fraction of a minor unit appears only when a rate is applied (a percent discount, a tax
//! rate). Every such computation goes through [`Money::apply_basis_points`], the only rounding
//! function in the crate: it computes `amount × basis_points / 10 000` exactly in `i128` (no
//! intermediate can overflow for any `i64` amount and any `u32` rate) and rounds the exact
//! quotient to the nearest minor unit, **ties to even** (banker's rounding): 12.5 -> 12,
//! 17.5 -> 18, -12.5 -> -12, -17.5 -> -18. Only the magnitude matters, so negating the amount
//! negates the result.
//!
//! Why half-even: half-up sends every exact tie up, which over many orders biases the sum
//! upward by a quarter of a minor unit per tie; half-even sends half the ties each way and is
//! unbiased in aggregate. Stripe Tax and most ledgers round either half-even or half-up; we
//! pick half-even and use it everywhere, so any recomputation of a stored order agrees to the
//! minor unit.
//!
//! Because amounts are minor units, the rounding is to the minor unit of the currency: whole
//! yen for zero-decimal JPY, whole fils for three-decimal KWD. Every currency is therefore
//! exact by construction, with no per-currency code path.
//!
//! Exponents follow ISO 4217. A payment provider that uses other exponents for a currency
//! (Stripe treats a few currencies specially) is converted at that provider's boundary.
//!
//! # Example
//!
//! ```
//! use edge_orders::money::{Currency, Money};
//!
//! let price = Money::new(1999, Currency::Usd);
//! let three = price.checked_mul(3)?;
//! assert_eq!(three.format_major(), "59.97 USD");
//! // 8.25 % of 59.97 is 4.947525: rounded to the cent.
//! assert_eq!(three.apply_basis_points(825)?.amount(), 495);
//! assert!(three.checked_add(Money::new(1, Currency::Eur)).is_err());
//! # Ok::<(), edge_orders::money::MoneyError>(())
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Basis points in a whole: 10 000 bp = 100 %.
pub const BASIS_POINTS_PER_WHOLE: u32 = 10_000;

macro_rules! currencies {
    ($($variant:ident = $code:literal, $exponent:literal, $name:literal;)+) => {
        /// An ISO 4217 currency this service accepts; it knows its minor-unit exponent.
        ///
        /// Parsed from and serialized as the upper-case 3-letter code (`"USD"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum Currency {
            $(#[doc = $name] $variant,)+
        }

        impl Currency {
            /// Every supported currency.
            pub const ALL: &'static [Currency] = &[$(Currency::$variant),+];

            /// The ISO 4217 code, e.g. `"USD"`.
            pub const fn code(self) -> &'static str {
                match self {
                    $(Currency::$variant => $code,)+
                }
            }

            /// Number of decimal digits of the minor unit: 2 for USD, 0 for JPY, 3 for KWD.
            pub const fn exponent(self) -> u8 {
                match self {
                    $(Currency::$variant => $exponent,)+
                }
            }

            fn from_code(code: &str) -> Option<Currency> {
                match code {
                    $($code => Some(Currency::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

currencies! {
    Usd = "USD", 2, "US dollar";
    Eur = "EUR", 2, "Euro";
    Gbp = "GBP", 2, "Pound sterling";
    Cad = "CAD", 2, "Canadian dollar";
    Aud = "AUD", 2, "Australian dollar";
    Nzd = "NZD", 2, "New Zealand dollar";
    Chf = "CHF", 2, "Swiss franc";
    Sek = "SEK", 2, "Swedish krona";
    Nok = "NOK", 2, "Norwegian krone";
    Dkk = "DKK", 2, "Danish krone";
    Pln = "PLN", 2, "Polish zloty";
    Czk = "CZK", 2, "Czech koruna";
    Huf = "HUF", 2, "Hungarian forint";
    Mxn = "MXN", 2, "Mexican peso";
    Brl = "BRL", 2, "Brazilian real";
    Inr = "INR", 2, "Indian rupee";
    Sgd = "SGD", 2, "Singapore dollar";
    Hkd = "HKD", 2, "Hong Kong dollar";
    Cny = "CNY", 2, "Chinese yuan";
    Zar = "ZAR", 2, "South African rand";
    Ils = "ILS", 2, "Israeli new shekel";
    Aed = "AED", 2, "UAE dirham";
    Jpy = "JPY", 0, "Japanese yen (zero-decimal)";
    Krw = "KRW", 0, "South Korean won (zero-decimal)";
    Vnd = "VND", 0, "Vietnamese dong (zero-decimal)";
    Clp = "CLP", 0, "Chilean peso (zero-decimal)";
    Isk = "ISK", 0, "Icelandic krona (zero-decimal)";
    Pyg = "PYG", 0, "Paraguayan guarani (zero-decimal)";
    Ugx = "UGX", 0, "Ugandan shilling (zero-decimal)";
    Xaf = "XAF", 0, "Central African CFA franc (zero-decimal)";
    Xof = "XOF", 0, "West African CFA franc (zero-decimal)";
    Kwd = "KWD", 3, "Kuwaiti dinar (three-decimal)";
    Bhd = "BHD", 3, "Bahraini dinar (three-decimal)";
    Jod = "JOD", 3, "Jordanian dinar (three-decimal)";
    Omr = "OMR", 3, "Omani rial (three-decimal)";
    Tnd = "TND", 3, "Tunisian dinar (three-decimal)";
    Iqd = "IQD", 3, "Iraqi dinar (three-decimal)";
    Lyd = "LYD", 3, "Libyan dinar (three-decimal)";
}

/// A currency code that is not a supported ISO 4217 code (codes are case-sensitive: `"usd"`
/// is rejected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency code {code:?}")]
pub struct UnknownCurrency {
    /// The rejected input.
    pub code: String,
}

impl FromStr for Currency {
    type Err = UnknownCurrency;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Currency::from_code(code).ok_or_else(|| UnknownCurrency {
            code: code.to_owned(),
        })
    }
}

impl TryFrom<&str> for Currency {
    type Error = UnknownCurrency;

    fn try_from(code: &str) -> Result<Self, Self::Error> {
        code.parse()
    }
}

impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::from_code(&code).ok_or(UnknownCurrency { code })
    }
}

impl From<Currency> for &'static str {
    fn from(currency: Currency) -> Self {
        currency.code()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A currency code as the database stores it and payment providers send it: three upper-case
/// ASCII letters, the shape of ISO 4217 (and of the check on `orders.currency`). Checked when
/// built ([`CurrencyCode::new`]) and when deserialized, serialized as the code (`"USD"`).
/// Whether this service can price in it is [`Currency`]: `Currency::try_from(code)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode([u8; 3]);

/// A string that is not three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency code {code:?} (three upper-case letters expected)")]
pub struct InvalidCurrencyCode {
    /// The rejected input.
    pub code: String,
}

impl CurrencyCode {
    /// `code` if it is three upper-case ASCII letters (`"USD"`; not `"usd"`, `"US"`, `"U$D"`).
    pub fn new(code: &str) -> Result<Self, InvalidCurrencyCode> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(InvalidCurrencyCode {
                code: code.to_owned(),
            }),
        }
    }

    /// `code` upper-cased, if it is three ASCII letters (Stripe sends `"usd"`).
    pub fn new_ignore_case(code: &str) -> Option<Self> {
        Self::new(&code.to_ascii_uppercase()).ok()
    }

    /// The code, e.g. `"USD"`.
    pub fn as_str(&self) -> &str {
        // Three ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<Currency> for CurrencyCode {
    fn from(currency: Currency) -> Self {
        let [a, b, c] = match currency.code().as_bytes() {
            &[a, b, c] => [a, b, c],
            _ => [b'X'; 3], // every code in the table is three letters
        };
        Self([a, b, c])
    }
}

impl TryFrom<CurrencyCode> for Currency {
    type Error = UnknownCurrency;

    fn try_from(code: CurrencyCode) -> Result<Self, Self::Error> {
        code.as_str().parse()
    }
}

impl PartialEq<Currency> for CurrencyCode {
    fn eq(&self, other: &Currency) -> bool {
        self.as_str() == other.code()
    }
}

impl FromStr for CurrencyCode {
    type Err = InvalidCurrencyCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::new(code)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurrencyCode({})", self.as_str())
    }
}

impl Serialize for CurrencyCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Code;
        impl serde::de::Visitor<'_> for Code {
            type Value = CurrencyCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a currency code of three upper-case letters")
            }
            fn visit_str<E: serde::de::Error>(self, code: &str) -> Result<CurrencyCode, E> {
                CurrencyCode::new(code).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Code)
    }
}

/// Why an operation on [`Money`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The operands are in different currencies; money is never converted implicitly.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: Currency,
        /// Currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in an `i64` of minor units.
    #[error("amount overflow")]
    Overflow,
}

/// An amount of minor units (cents, yen, fils) of one currency.
///
/// Serialized as `{"amount": 1234, "currency": "USD"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount: i64,
    currency: Currency,
}

impl Money {
    /// `amount` minor units of `currency`.
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    /// The amount in minor units.
    pub const fn amount(self) -> i64 {
        self.amount
    }

    /// The currency.
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.amount == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.amount < 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`; both must be in the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_add(other.amount);
        amount
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// `self - other`; both must be in the same currency.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_sub(other.amount);
        amount
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// `self × quantity` (a unit price times a count).
    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(quantity);
        amount
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Orders two amounts of the same currency.
    pub fn checked_cmp(self, other: Money) -> Result<Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.amount.cmp(&other.amount))
    }

    /// The smaller of two amounts of the same currency.
    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        Ok(match self.checked_cmp(other)? {
            Ordering::Greater => other,
            Ordering::Less | Ordering::Equal => self,
        })
    }

    /// The larger of two amounts of the same currency.
    pub fn max(self, other: Money) -> Result<Money, MoneyError> {
        Ok(match self.checked_cmp(other)? {
            Ordering::Less => other,
            Ordering::Greater | Ordering::Equal => self,
        })
    }

    /// `self × basis_points / 10 000`, rounded half-even to the minor unit: THE rounding rule
    /// (see the module docs). 10 000 bp is 100 %, 825 bp is 8.25 %.
    ///
    /// The product is exact in `i128` for every input; the only error is
    /// [`MoneyError::Overflow`] when the rounded result does not fit in an `i64`, which cannot
    /// happen for `basis_points <= 10_000`.
    pub fn apply_basis_points(self, basis_points: u32) -> Result<Money, MoneyError> {
        // |amount| <= 2^63 and basis_points < 2^32: |numerator| < 2^95, far inside i128.
        let numerator = i128::from(self.amount) * i128::from(basis_points);
        self.with_amount(round_half_even(
            numerator,
            i128::from(BASIS_POINTS_PER_WHOLE),
        ))
    }

    /// The tax included in the gross amount `self` at a rate of `basis_points`:
    /// `self × basis_points / (10 000 + basis_points)`, rounded half-even to the minor unit by
    /// the same rule as [`Money::apply_basis_points`]. The net is `self − tax`; the tax is never
    /// more than `self` (nor of the other sign).
    pub fn included_tax(self, basis_points: u32) -> Result<Money, MoneyError> {
        let numerator = i128::from(self.amount) * i128::from(basis_points);
        let denominator = i128::from(BASIS_POINTS_PER_WHOLE) + i128::from(basis_points);
        self.with_amount(round_half_even(numerator, denominator))
    }

    fn with_amount(self, amount: i128) -> Result<Money, MoneyError> {
        let amount = i64::try_from(amount).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// The amount in major units with the code, for logs and messages: `"12.34 USD"`,
    /// `"1234 JPY"`, `"1.234 KWD"`, `"-0.05 EUR"`. Built from the integer digits; no float.
    pub fn format_major(self) -> String {
        let sign = if self.amount < 0 { "-" } else { "" };
        let digits = self.amount.unsigned_abs().to_string();
        let code = self.currency.code();
        let exponent = usize::from(self.currency.exponent());
        if exponent == 0 {
            return format!("{sign}{digits} {code}");
        }
        let padded = format!("{digits:0>width$}", width = exponent + 1);
        let (major, minor) = padded.split_at(padded.len() - exponent);
        format!("{sign}{major}.{minor} {code}")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_major())
    }
}

/// `numerator / denominator` (denominator > 0) rounded half-even to an integer: THE rounding
/// rule, the one place a fraction of a minor unit is resolved.
fn round_half_even(numerator: i128, denominator: i128) -> i128 {
    // Both truncate toward zero: the remainder has the sign of the numerator.
    let quotient = numerator / denominator;
    let twice_remainder = (numerator % denominator).abs() * 2;
    let round_away = match twice_remainder.cmp(&denominator) {
        Ordering::Greater => true,
        Ordering::Equal => quotient % 2 != 0,
        Ordering::Less => false,
    };
    if round_away {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

#[cfg(test)]
mod tests;
