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
//! use edge_shared::money::{Currency, Money};
//!
//! let price = Money::new(1999, Currency::Usd);
//! let three = price.checked_mul(3)?;
//! assert_eq!(three.format_major(), "59.97 USD");
//! // 8.25 % of 59.97 is 4.947525: rounded to the cent.
//! assert_eq!(three.apply_basis_points(825)?.amount(), 495);
//! assert!(three.checked_add(Money::new(1, Currency::Eur)).is_err());
//! # Ok::<(), edge_shared::money::MoneyError>(())
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
        const DENOMINATOR: i128 = BASIS_POINTS_PER_WHOLE as i128;
        // |amount| <= 2^63 and basis_points < 2^32: |numerator| < 2^95, far inside i128.
        let numerator = i128::from(self.amount) * i128::from(basis_points);
        // Both truncate toward zero: the remainder has the sign of the numerator.
        let mut quotient = numerator / DENOMINATOR;
        let twice_remainder = (numerator % DENOMINATOR).abs() * 2;
        let round_away = match twice_remainder.cmp(&DENOMINATOR) {
            Ordering::Greater => true,
            Ordering::Equal => quotient % 2 != 0,
            Ordering::Less => false,
        };
        if round_away {
            quotient += numerator.signum();
        }
        let amount = i64::try_from(quotient).map_err(|_| MoneyError::Overflow)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const USD: Currency = Currency::Usd;

    fn usd(amount: i64) -> Money {
        Money::new(amount, USD)
    }

    fn bp(amount: i64, basis_points: u32) -> i64 {
        usd(amount)
            .apply_basis_points(basis_points)
            .unwrap()
            .amount()
    }

    /// Independent reference: floor division, then ties to the even neighbour.
    fn reference_half_even(amount: i64, basis_points: u32) -> i128 {
        let numerator = i128::from(amount) * i128::from(basis_points);
        let floor = numerator.div_euclid(10_000);
        let twice_rest = numerator.rem_euclid(10_000) * 2;
        if twice_rest > 10_000 || (twice_rest == 10_000 && floor.rem_euclid(2) == 1) {
            floor + 1
        } else {
            floor
        }
    }

    #[test]
    fn currency_codes_and_exponents() {
        assert_eq!(Currency::Usd.exponent(), 2);
        for code in ["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK"] {
            assert_eq!(code.parse::<Currency>().unwrap().exponent(), 2, "{code}");
        }
        for code in ["JPY", "KRW", "VND", "CLP"] {
            assert_eq!(code.parse::<Currency>().unwrap().exponent(), 0, "{code}");
        }
        for code in ["KWD", "BHD", "JOD", "OMR", "TND"] {
            assert_eq!(code.parse::<Currency>().unwrap().exponent(), 3, "{code}");
        }
    }

    #[test]
    fn every_currency_round_trips_through_its_code() {
        for &currency in Currency::ALL {
            let code = currency.code();
            assert_eq!(code.len(), 3);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()));
            assert_eq!(Currency::try_from(code), Ok(currency));
            assert_eq!(Currency::try_from(code.to_owned()), Ok(currency));
            assert_eq!(currency.to_string(), code);
            let json = serde_json::to_string(&currency).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), currency);
        }
    }

    #[test]
    fn unknown_or_lower_case_codes_are_rejected() {
        for code in ["usd", "Usd", "XXX", "", "USDD", " USD"] {
            let err = code.parse::<Currency>().unwrap_err();
            assert_eq!(err.code, code);
            assert!(serde_json::from_str::<Currency>(&format!("{code:?}")).is_err());
        }
        assert_eq!(
            "usd".parse::<Currency>().unwrap_err().to_string(),
            "unknown currency code \"usd\""
        );
    }

    #[test]
    fn money_serializes_as_amount_and_code() {
        let money = Money::new(1234, Currency::Kwd);
        let json = serde_json::to_value(money).unwrap();
        assert_eq!(json, serde_json::json!({"amount": 1234, "currency": "KWD"}));
        assert_eq!(serde_json::from_value::<Money>(json).unwrap(), money);
    }

    #[test]
    fn checked_arithmetic_detects_overflow() {
        assert_eq!(usd(2).checked_add(usd(3)), Ok(usd(5)));
        assert_eq!(usd(2).checked_sub(usd(3)), Ok(usd(-1)));
        assert_eq!(usd(7).checked_mul(-3), Ok(usd(-21)));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_sub(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(
            usd(i64::MAX / 2 + 1).checked_mul(2),
            Err(MoneyError::Overflow)
        );
        assert_eq!(usd(i64::MIN).checked_mul(-1), Err(MoneyError::Overflow));
    }

    #[test]
    fn mixing_currencies_is_an_error() {
        let eur = Money::new(1, Currency::Eur);
        let mismatch = MoneyError::CurrencyMismatch {
            left: USD,
            right: Currency::Eur,
        };
        assert_eq!(usd(1).checked_add(eur), Err(mismatch));
        assert_eq!(usd(1).checked_sub(eur), Err(mismatch));
        assert_eq!(usd(1).checked_cmp(eur), Err(mismatch));
        assert_eq!(usd(1).min(eur), Err(mismatch));
        assert_eq!(usd(1).max(eur), Err(mismatch));
        assert_eq!(mismatch.to_string(), "currency mismatch: USD and EUR");
    }

    #[test]
    fn comparison_within_a_currency() {
        assert_eq!(usd(1).checked_cmp(usd(2)), Ok(Ordering::Less));
        assert_eq!(usd(1).min(usd(2)), Ok(usd(1)));
        assert_eq!(usd(1).max(usd(2)), Ok(usd(2)));
        assert!(usd(-1).is_negative() && !usd(0).is_negative() && usd(0).is_zero());
        assert_eq!(Money::zero(Currency::Jpy), Money::new(0, Currency::Jpy));
    }

    #[test]
    fn half_even_on_exact_ties() {
        assert_eq!(bp(25, 5_000), 12); // 12.5
        assert_eq!(bp(35, 5_000), 18); // 17.5
        assert_eq!(bp(-25, 5_000), -12);
        assert_eq!(bp(-35, 5_000), -18);
        assert_eq!(bp(1, 5_000), 0); // 0.5
        assert_eq!(bp(3, 5_000), 2); // 1.5
        assert_eq!(bp(5, 1_000), 0); // 0.5
        assert_eq!(bp(15, 1_000), 2); // 1.5
    }

    #[test]
    fn rounds_to_nearest_off_ties() {
        assert_eq!(bp(5997, 825), 495); // 494.7525
        assert_eq!(bp(1001, 5_000), 500); // 500.5 -> even 500
        assert_eq!(bp(1003, 5_000), 502); // 501.5 -> even 502
        assert_eq!(bp(10_049, 100), 100); // 100.49
        assert_eq!(bp(10_051, 100), 101); // 100.51
        assert_eq!(bp(-10_051, 100), -101);
        assert_eq!(bp(12_345, 10_000), 12_345);
        assert_eq!(bp(12_345, 0), 0);
    }

    #[test]
    fn apply_basis_points_keeps_currency_and_extremes() {
        let jpy = Money::new(999, Currency::Jpy)
            .apply_basis_points(1_000)
            .unwrap();
        assert_eq!(jpy, Money::new(100, Currency::Jpy)); // 99.9 yen -> 100 yen
        let kwd = Money::new(1_234, Currency::Kwd)
            .apply_basis_points(500)
            .unwrap();
        assert_eq!(kwd, Money::new(62, Currency::Kwd)); // 61.7 fils -> 62 fils
        assert_eq!(bp(i64::MAX, 10_000), i64::MAX);
        assert_eq!(bp(i64::MIN, 10_000), i64::MIN);
        assert_eq!(bp(i64::MIN, 5_000), i64::MIN / 2);
        assert_eq!(
            usd(i64::MAX).apply_basis_points(u32::MAX),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            usd(i64::MIN).apply_basis_points(10_001),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn format_major_uses_the_exponent() {
        assert_eq!(usd(1234).format_major(), "12.34 USD");
        assert_eq!(usd(5).format_major(), "0.05 USD");
        assert_eq!(usd(-5).format_major(), "-0.05 USD");
        assert_eq!(usd(0).format_major(), "0.00 USD");
        assert_eq!(usd(-100).to_string(), "-1.00 USD");
        assert_eq!(Money::new(1234, Currency::Jpy).format_major(), "1234 JPY");
        assert_eq!(Money::new(-7, Currency::Jpy).format_major(), "-7 JPY");
        assert_eq!(Money::new(1234, Currency::Kwd).format_major(), "1.234 KWD");
        assert_eq!(Money::new(7, Currency::Kwd).format_major(), "0.007 KWD");
        assert_eq!(usd(i64::MIN).format_major(), "-92233720368547758.08 USD");
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(Currency::ALL)
    }

    proptest! {
        #[test]
        fn add_sub_mul_match_checked_i64(a in any::<i64>(), b in any::<i64>(), c in any_currency()) {
            let (x, y) = (Money::new(a, c), Money::new(b, c));
            let expect = |r: Option<i64>| r.map(|v| Money::new(v, c)).ok_or(MoneyError::Overflow);
            prop_assert_eq!(x.checked_add(y), expect(a.checked_add(b)));
            prop_assert_eq!(x.checked_sub(y), expect(a.checked_sub(b)));
            prop_assert_eq!(x.checked_mul(b), expect(a.checked_mul(b)));
            prop_assert_eq!(x.checked_cmp(y), Ok(a.cmp(&b)));
        }

        #[test]
        fn different_currencies_never_combine(
            a in any::<i64>(), b in any::<i64>(), l in any_currency(), r in any_currency(),
        ) {
            prop_assume!(l != r);
            let err = MoneyError::CurrencyMismatch { left: l, right: r };
            let (x, y) = (Money::new(a, l), Money::new(b, r));
            prop_assert_eq!(x.checked_add(y), Err(err));
            prop_assert_eq!(x.checked_sub(y), Err(err));
            prop_assert_eq!(x.checked_cmp(y), Err(err));
            prop_assert_eq!(x.min(y), Err(err));
        }

        /// For any i64 and any rate up to 100x: never panics; Ok exactly when the rounded value
        /// fits in i64; the result is the half-even neighbour, within half a minor unit.
        #[test]
        fn apply_basis_points_is_half_even_and_total(
            amount in any::<i64>(),
            basis_points in prop_oneof![0u32..=10_000, 0u32..=1_000_000],
        ) {
            let numerator = i128::from(amount) * i128::from(basis_points);
            let expected = reference_half_even(amount, basis_points);
            match Money::new(amount, Currency::Kwd).apply_basis_points(basis_points) {
                Ok(result) => {
                    prop_assert_eq!(result.currency(), Currency::Kwd);
                    let r = i128::from(result.amount());
                    prop_assert_eq!(r, expected);
                    let error = (r * 10_000 - numerator).abs();
                    prop_assert!(error <= 5_000);
                    if error == 5_000 {
                        prop_assert_eq!(r % 2, 0);
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e, MoneyError::Overflow);
                    prop_assert!(i64::try_from(expected).is_err());
                    prop_assert!(basis_points > 10_000);
                }
            }
        }

        #[test]
        fn exact_ties_go_to_the_even_neighbour(k in -1_000_000_000_000_000i64..=1_000_000_000_000_000) {
            // (2k + 1) / 2 is always a tie between k and k + 1.
            let result = usd(2 * k + 1).apply_basis_points(5_000).unwrap().amount();
            prop_assert!(result == k || result == k + 1);
            prop_assert_eq!(result % 2, 0);
        }

        #[test]
        fn apply_basis_points_is_odd_symmetric(amount in (i64::MIN + 1)..=i64::MAX, basis_points in 0u32..=10_000) {
            let pos = usd(amount).apply_basis_points(basis_points).unwrap().amount();
            let neg = usd(-amount).apply_basis_points(basis_points).unwrap().amount();
            prop_assert_eq!(pos, -neg);
        }

        #[test]
        fn format_major_keeps_every_digit(amount in any::<i64>(), c in any_currency()) {
            let text = Money::new(amount, c).format_major();
            let number = text.strip_suffix(&format!(" {}", c.code())).unwrap();
            match number.split_once('.') {
                Some((_, minor)) => prop_assert_eq!(minor.len(), usize::from(c.exponent())),
                None => prop_assert_eq!(c.exponent(), 0),
            }
            prop_assert_eq!(number.replace('.', "").parse::<i64>().unwrap(), amount);
        }
    }
}
