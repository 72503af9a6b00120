//! Pricing an order at processing time: a pure, deterministic function of its input.
//!
//! [`price`] takes an [`OrderInput`] (the order's lines joined with their products as read
//! from the database, the discount found for the order's code, the tax rate of its region, the
//! shipping rule of its currency, and the current time) and returns a [`PricedOrder`], or a
//! [`PricingError`] whose [`code`](PricingError::code) and [`details`](PricingError::details)
//! the HTTP layer answers with (422). No clock, no I/O: the caller injects `now_unix`.
//!
//! # Rules, in the order they are applied
//!
//! 1. **Lines.** An order needs at least one line ([`PricingError::NoLines`]). Every line
//!    needs `quantity >= 1`, `unit_amount >= 0`, an active product and a product priced in the
//!    order's currency. All offending lines are reported at once, one [`LineProblem`] per line
//!    and reason, in line order ([`PricingError::InvalidLines`]).
//!    `line_amount = quantity × unit_amount`.
//! 2. **Subtotal** = Σ line amounts.
//! 3. **Discount**, only when the order carries a code (a [`DiscountInput`] given without a code
//!    is ignored). The code must match the discount's code, ignoring ASCII case, else it is
//!    [`DiscountReason::Unknown`]. Then, first failure wins: valid from `valid_from` to
//!    `valid_until`, both inclusive (`now == valid_until` is still valid); exhausted when
//!    `redemptions >= max_redemptions`; a fixed discount must be in the order's currency;
//!    `subtotal >= min_subtotal` (inclusive, before discount). A percent discount is
//!    [`Money::apply_basis_points`] of the subtotal (the one rounding rule, see
//!    [`crate::money`]). The discount is clamped to `0..=subtotal`: it never makes the goods
//!    negative, and a negative fixed amount (a misconfigured row) counts as 0. Pricing reads a
//!    snapshot of `redemptions`; the store must still count the redemption atomically
//!    (`... where redemptions < max_redemptions`).
//! 4. **Tax** = `apply_basis_points(subtotal − discount)` at the region's rate: tax applies to
//!    the discounted goods, NOT to shipping. No rate for the region (`tax: None`) means 0 tax.
//! 5. **Shipping** = the rule's flat amount, or 0 when the discounted subtotal is at least
//!    `free_over`. No rule for the currency (`shipping: None`, or a rule in another currency)
//!    means 0 shipping. A negative flat amount counts as 0.
//! 6. **Total** = subtotal − discount + tax + shipping.
//!
//! All arithmetic is checked: an amount out of `i64` range is [`PricingError::Overflow`],
//! never a wrapped total. Every amount is an integer number of the order currency's minor
//! unit and the only fraction goes through the one rounding rule, so zero-decimal (JPY) and
//! three-decimal (KWD) currencies are exact by construction.
//!
//! # Example
//!
//! ```
//! use edge_shared::money::Currency;
//! use edge_shared::pricing::{price, LineInput, OrderInput, TaxRate};
//!
//! let order = OrderInput {
//!     currency: Currency::Usd,
//!     lines: vec![LineInput {
//!         product_id: 1,
//!         sku: "MUG".into(),
//!         quantity: 3,
//!         unit_amount: 1999,
//!         product_currency: "USD".into(),
//!         product_active: true,
//!     }],
//!     discount: None,
//!     discount_code: None,
//!     tax: Some(TaxRate { region: "US-CA".into(), basis_points: 825 }),
//!     shipping: None,
//!     now_unix: 1_700_000_000,
//! };
//! let priced = price(&order).unwrap();
//! assert_eq!((priced.subtotal_amount, priced.tax_amount, priced.total_amount), (5997, 495, 6492));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::money::{Currency, Money, MoneyError, BASIS_POINTS_PER_WHOLE};

/// One order line joined with its product, as read from the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    /// The product's id.
    pub product_id: i64,
    /// The product's SKU, echoed in errors.
    pub sku: String,
    /// Units ordered; must be at least 1.
    pub quantity: i64,
    /// Price of one unit in minor units of `product_currency`; must not be negative.
    pub unit_amount: i64,
    /// The product's currency code as stored; must equal the order's currency.
    pub product_currency: String,
    /// Whether the product can still be sold.
    pub product_active: bool,
}

/// What a discount takes off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DiscountKind {
    /// A share of the subtotal: 1 000 bp = 10 %.
    Percent {
        /// The share in basis points; above 10 000 it is clamped to the subtotal.
        basis_points: u32,
    },
    /// A fixed amount, in minor units of `currency`.
    Fixed {
        /// Minor units.
        amount: i64,
        /// Must be the order's currency.
        currency: Currency,
    },
}

/// The discount found for the order's code, as read from the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountInput {
    /// The code customers type.
    pub code: String,
    /// Percent or fixed.
    pub kind: DiscountKind,
    /// Minimum subtotal (before discount) in minor units of the order currency; 0 = none.
    pub min_subtotal: i64,
    /// First valid second (Unix time), inclusive.
    pub valid_from: Option<i64>,
    /// Last valid second (Unix time), inclusive.
    pub valid_until: Option<i64>,
    /// How many times the code can be redeemed; `None` = unlimited.
    pub max_redemptions: Option<i64>,
    /// How many times it has been redeemed so far.
    pub redemptions: i64,
}

/// The tax rate of the order's region. No rate for the region means no tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    /// The region the rate belongs to (informational).
    pub region: String,
    /// The rate: 825 bp = 8.25 %.
    pub basis_points: u32,
}

/// The shipping rule of a currency. No rule for the order's currency means free shipping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingRule {
    /// The currency the rule applies to.
    pub currency: Currency,
    /// Shipping price in minor units.
    pub flat_amount: i64,
    /// Shipping is free when the discounted subtotal is at least this amount.
    pub free_over: Option<i64>,
}

/// Everything [`price`] needs; gathered by the caller, so pricing does no I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInput {
    /// The order's currency; every line must be in it.
    pub currency: Currency,
    /// The order's lines.
    pub lines: Vec<LineInput>,
    /// The discount found for `discount_code`, if any.
    pub discount: Option<DiscountInput>,
    /// The code the order carries; `Some` with `discount: None` is an unknown code.
    pub discount_code: Option<String>,
    /// The region's tax rate, if it has one.
    pub tax: Option<TaxRate>,
    /// The currency's shipping rule, if it has one.
    pub shipping: Option<ShippingRule>,
    /// The current time (Unix seconds), for the discount's validity window.
    pub now_unix: i64,
}

/// A priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    /// The product's id.
    pub product_id: i64,
    /// The product's SKU.
    pub sku: String,
    /// Units ordered.
    pub quantity: i64,
    /// Price of one unit, minor units.
    pub unit_amount: i64,
    /// `quantity × unit_amount`, minor units.
    pub line_amount: i64,
}

/// The result of [`price`]; every amount is in minor units of `currency` and not negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedOrder {
    /// The order's currency.
    pub currency: Currency,
    /// Σ line amounts.
    pub subtotal_amount: i64,
    /// Taken off the subtotal; at most the subtotal.
    pub discount_amount: i64,
    /// Tax on `subtotal − discount`.
    pub tax_amount: i64,
    /// Shipping.
    pub shipping_amount: i64,
    /// `subtotal − discount + tax + shipping`.
    pub total_amount: i64,
    /// The priced lines, in input order.
    pub lines: Vec<PricedLine>,
    /// The discount's code when a discount was applied.
    pub discount_code: Option<String>,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LineReason {
    /// The product is not active.
    Inactive,
    /// The product is priced in another currency than the order.
    CurrencyMismatch {
        /// The order's currency.
        expected: Currency,
        /// The product's currency code as stored.
        found: String,
    },
    /// The quantity is below 1.
    BadQuantity {
        /// The quantity given.
        quantity: i64,
    },
    /// The unit amount is negative.
    NegativeUnitAmount {
        /// The unit amount given.
        unit_amount: i64,
    },
}

/// One problem of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProblem {
    /// The product's id.
    pub product_id: i64,
    /// The product's SKU.
    pub sku: String,
    /// What is wrong.
    #[serde(flatten)]
    pub reason: LineReason,
}

/// Why the order's discount code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DiscountReason {
    /// No discount has this code.
    Unknown,
    /// Before `valid_from`.
    NotYetValid {
        /// First valid second (Unix time).
        valid_from: i64,
    },
    /// After `valid_until`.
    Expired {
        /// Last valid second (Unix time).
        valid_until: i64,
    },
    /// The subtotal is below the discount's minimum.
    BelowMinimum {
        /// The minimum subtotal.
        minimum: Money,
        /// The order's subtotal.
        subtotal: Money,
    },
    /// Redeemed `max_redemptions` times already.
    Exhausted {
        /// The redemption limit.
        max_redemptions: i64,
    },
    /// A fixed discount in another currency than the order.
    CurrencyMismatch {
        /// The order's currency.
        expected: Currency,
        /// The discount's currency.
        found: Currency,
    },
}

/// A rejected discount code and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountRejection {
    /// The code.
    pub code: String,
    /// Why it was rejected.
    #[serde(flatten)]
    pub reason: DiscountReason,
}

/// Why an order cannot be priced. Every variant is the client's or the data's problem: the
/// HTTP layer answers 422 with [`code`](Self::code) and [`details`](Self::details).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// The order has no lines.
    #[error("the order has no lines")]
    NoLines,
    /// Some lines cannot be sold; all of them are listed.
    #[error("invalid order lines: {}", join(.0))]
    InvalidLines(Vec<LineProblem>),
    /// The discount code was rejected.
    #[error("{0}")]
    Discount(DiscountRejection),
    /// An amount does not fit in an `i64` of minor units.
    #[error("an order amount is out of the supported range")]
    Overflow,
}

impl PricingError {
    /// A stable machine-readable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            PricingError::NoLines => "no_lines",
            PricingError::InvalidLines(_) => "invalid_lines",
            PricingError::Discount(_) => "discount_rejected",
            PricingError::Overflow => "amount_overflow",
        }
    }

    /// Structured details for the error body: `{"lines": [{"product_id", "sku", "reason",
    /// ...}]}` for invalid lines, `{"code", "reason", ...}` for a rejected discount, `{}`
    /// otherwise.
    pub fn details(&self) -> Value {
        let value = match self {
            PricingError::NoLines | PricingError::Overflow => Ok(json!({})),
            PricingError::InvalidLines(problems) => {
                serde_json::to_value(problems).map(|lines| json!({ "lines": lines }))
            }
            PricingError::Discount(rejection) => serde_json::to_value(rejection),
        };
        // Serializing these plain structs cannot fail; keep a well-formed body regardless.
        value.unwrap_or_else(|_| json!({}))
    }
}

fn join(problems: &[LineProblem]) -> String {
    let parts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    parts.join("; ")
}

impl fmt::Display for LineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineReason::Inactive => f.write_str("product is inactive"),
            LineReason::CurrencyMismatch { expected, found } => {
                write!(f, "product is priced in {found:?}, the order in {expected}")
            }
            LineReason::BadQuantity { quantity } => write!(f, "quantity {quantity} is below 1"),
            LineReason::NegativeUnitAmount { unit_amount } => {
                write!(f, "unit amount {unit_amount} is negative")
            }
        }
    }
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LineProblem {
            product_id,
            sku,
            reason,
        } = self;
        write!(f, "product {product_id} (sku {sku:?}): {reason}")
    }
}

impl fmt::Display for DiscountReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscountReason::Unknown => f.write_str("unknown code"),
            DiscountReason::NotYetValid { valid_from } => {
                write!(f, "not valid before {valid_from} (unix time)")
            }
            DiscountReason::Expired { valid_until } => {
                write!(f, "expired at {valid_until} (unix time)")
            }
            DiscountReason::BelowMinimum { minimum, subtotal } => {
                write!(f, "subtotal {subtotal} is below the minimum {minimum}")
            }
            DiscountReason::Exhausted { max_redemptions } => {
                write!(f, "already redeemed {max_redemptions} times")
            }
            DiscountReason::CurrencyMismatch { expected, found } => {
                write!(f, "discount is in {found}, the order in {expected}")
            }
        }
    }
}

impl fmt::Display for DiscountRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "discount code {:?} rejected: {}", self.code, self.reason)
    }
}

/// Inside [`price`] every amount is in the order's currency, so overflow is the only
/// [`MoneyError`] that can occur.
fn overflow(_: MoneyError) -> PricingError {
    PricingError::Overflow
}

/// Prices `order` by the rules in the module docs.
pub fn price(order: &OrderInput) -> Result<PricedOrder, PricingError> {
    let currency = order.currency;
    if order.lines.is_empty() {
        return Err(PricingError::NoLines);
    }
    let problems: Vec<LineProblem> = order
        .lines
        .iter()
        .flat_map(|line| line_problems(line, currency))
        .collect();
    if !problems.is_empty() {
        return Err(PricingError::InvalidLines(problems));
    }

    let mut subtotal = Money::zero(currency);
    let mut lines = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        let unit = Money::new(line.unit_amount, currency);
        let line_amount = unit.checked_mul(line.quantity).map_err(overflow)?;
        subtotal = subtotal.checked_add(line_amount).map_err(overflow)?;
        lines.push(PricedLine {
            product_id: line.product_id,
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_amount: line.unit_amount,
            line_amount: line_amount.amount(),
        });
    }

    let (discount, discount_code) = match &order.discount_code {
        None => (Money::zero(currency), None),
        Some(code) => {
            let found = order
                .discount
                .as_ref()
                .filter(|d| d.code.eq_ignore_ascii_case(code));
            let Some(found) = found else {
                return Err(PricingError::Discount(DiscountRejection {
                    code: code.clone(),
                    reason: DiscountReason::Unknown,
                }));
            };
            let amount = discount_amount(found, subtotal, order.now_unix)?;
            (amount, Some(found.code.clone()))
        }
    };
    let goods = subtotal.checked_sub(discount).map_err(overflow)?;

    let tax = match &order.tax {
        Some(rate) => goods
            .apply_basis_points(rate.basis_points)
            .map_err(overflow)?,
        None => Money::zero(currency),
    };
    let shipping = match &order.shipping {
        Some(rule) if rule.currency == currency => {
            let free = rule
                .free_over
                .is_some_and(|free_over| goods.amount() >= free_over);
            Money::new(if free { 0 } else { rule.flat_amount.max(0) }, currency)
        }
        _ => Money::zero(currency),
    };
    let total = goods
        .checked_add(tax)
        .and_then(|m| m.checked_add(shipping))
        .map_err(overflow)?;

    Ok(PricedOrder {
        currency,
        subtotal_amount: subtotal.amount(),
        discount_amount: discount.amount(),
        tax_amount: tax.amount(),
        shipping_amount: shipping.amount(),
        total_amount: total.amount(),
        lines,
        discount_code,
    })
}

fn line_problems(line: &LineInput, currency: Currency) -> Vec<LineProblem> {
    let mut reasons = Vec::new();
    if !line.product_active {
        reasons.push(LineReason::Inactive);
    }
    if line.product_currency != currency.code() {
        reasons.push(LineReason::CurrencyMismatch {
            expected: currency,
            found: line.product_currency.clone(),
        });
    }
    if line.quantity < 1 {
        reasons.push(LineReason::BadQuantity {
            quantity: line.quantity,
        });
    }
    if line.unit_amount < 0 {
        reasons.push(LineReason::NegativeUnitAmount {
            unit_amount: line.unit_amount,
        });
    }
    reasons
        .into_iter()
        .map(|reason| LineProblem {
            product_id: line.product_id,
            sku: line.sku.clone(),
            reason,
        })
        .collect()
}

/// The amount `discount` takes off `subtotal` (not negative), or why it is rejected.
fn discount_amount(
    discount: &DiscountInput,
    subtotal: Money,
    now: i64,
) -> Result<Money, PricingError> {
    let currency = subtotal.currency();
    let reject = |reason| {
        Err(PricingError::Discount(DiscountRejection {
            code: discount.code.clone(),
            reason,
        }))
    };
    if let Some(valid_from) = discount.valid_from.filter(|&from| now < from) {
        return reject(DiscountReason::NotYetValid { valid_from });
    }
    if let Some(valid_until) = discount.valid_until.filter(|&until| now > until) {
        return reject(DiscountReason::Expired { valid_until });
    }
    if let Some(max_redemptions) = discount
        .max_redemptions
        .filter(|&max| discount.redemptions >= max)
    {
        return reject(DiscountReason::Exhausted { max_redemptions });
    }
    if let DiscountKind::Fixed {
        currency: found, ..
    } = discount.kind
    {
        if found != currency {
            return reject(DiscountReason::CurrencyMismatch {
                expected: currency,
                found,
            });
        }
    }
    if subtotal.amount() < discount.min_subtotal {
        return reject(DiscountReason::BelowMinimum {
            minimum: Money::new(discount.min_subtotal, currency),
            subtotal,
        });
    }
    let amount = match discount.kind {
        // Above 100 % the clamp below decides anyway; capping first rules out an overflow.
        DiscountKind::Percent { basis_points } => subtotal
            .apply_basis_points(basis_points.min(BASIS_POINTS_PER_WHOLE))
            .map_err(overflow)?
            .amount(),
        DiscountKind::Fixed { amount, .. } => amount,
    };
    Ok(Money::new(amount.clamp(0, subtotal.amount()), currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000;

    fn line(product_id: i64, quantity: i64, unit_amount: i64, currency: &str) -> LineInput {
        LineInput {
            product_id,
            sku: format!("SKU-{product_id}"),
            quantity,
            unit_amount,
            product_currency: currency.to_owned(),
            product_active: true,
        }
    }

    fn order(currency: Currency, lines: Vec<LineInput>) -> OrderInput {
        OrderInput {
            currency,
            lines,
            discount: None,
            discount_code: None,
            tax: None,
            shipping: None,
            now_unix: NOW,
        }
    }

    fn usd_order(lines: Vec<LineInput>) -> OrderInput {
        order(Currency::Usd, lines)
    }

    fn discount(code: &str, kind: DiscountKind) -> DiscountInput {
        DiscountInput {
            code: code.to_owned(),
            kind,
            min_subtotal: 0,
            valid_from: None,
            valid_until: None,
            max_redemptions: None,
            redemptions: 0,
        }
    }

    fn percent(basis_points: u32) -> DiscountKind {
        DiscountKind::Percent { basis_points }
    }

    fn with_discount(mut order: OrderInput, discount: DiscountInput) -> OrderInput {
        order.discount_code = Some(discount.code.clone());
        order.discount = Some(discount);
        order
    }

    fn tax(basis_points: u32) -> Option<TaxRate> {
        Some(TaxRate {
            region: "R".into(),
            basis_points,
        })
    }

    fn shipping(
        currency: Currency,
        flat_amount: i64,
        free_over: Option<i64>,
    ) -> Option<ShippingRule> {
        Some(ShippingRule {
            currency,
            flat_amount,
            free_over,
        })
    }

    fn rejection(result: Result<PricedOrder, PricingError>) -> DiscountReason {
        match result {
            Err(PricingError::Discount(rejection)) => rejection.reason,
            other => panic!("expected a discount rejection, got {other:?}"),
        }
    }

    /// $100 of goods with a discount `d` applied at `NOW`.
    fn priced_with(d: DiscountInput) -> Result<PricedOrder, PricingError> {
        price(&with_discount(usd_order(vec![line(1, 4, 2_500, "USD")]), d))
    }

    #[test]
    fn prices_a_full_order() {
        let mut input = usd_order(vec![line(1, 3, 1_999, "USD"), line(2, 1, 500, "USD")]);
        input = with_discount(input, discount("TEN", percent(1_000)));
        input.tax = tax(825);
        input.shipping = shipping(Currency::Usd, 700, Some(10_000));
        let priced = price(&input).unwrap();
        // subtotal 6497; 10 % = 649.7 -> 650; goods 5847; tax 482.3775 -> 482; shipping 700.
        assert_eq!(priced.subtotal_amount, 6_497);
        assert_eq!(priced.discount_amount, 650);
        assert_eq!(priced.tax_amount, 482);
        assert_eq!(priced.shipping_amount, 700);
        assert_eq!(priced.total_amount, 6_497 - 650 + 482 + 700);
        assert_eq!(priced.discount_code.as_deref(), Some("TEN"));
        assert_eq!(priced.lines[0].line_amount, 5_997);
        assert_eq!(priced.lines[1].line_amount, 500);
    }

    #[test]
    fn zero_and_three_decimal_currencies() {
        let mut jpy = order(Currency::Jpy, vec![line(1, 3, 333, "JPY")]);
        jpy.tax = tax(1_000);
        let priced = price(&jpy).unwrap();
        assert_eq!((priced.subtotal_amount, priced.tax_amount), (999, 100)); // 99.9 yen -> 100
        let mut kwd = order(Currency::Kwd, vec![line(1, 1, 1_234, "KWD")]);
        kwd.tax = tax(500);
        let priced = price(&kwd).unwrap();
        assert_eq!((priced.tax_amount, priced.total_amount), (62, 1_296)); // 61.7 fils -> 62
    }

    #[test]
    fn no_lines_is_rejected() {
        let err = price(&usd_order(vec![])).unwrap_err();
        assert_eq!(err, PricingError::NoLines);
        assert_eq!(err.code(), "no_lines");
        assert_eq!(err.details(), json!({}));
    }

    #[test]
    fn every_offending_line_is_listed() {
        let mut inactive = line(1, 1, 100, "USD");
        inactive.product_active = false;
        let lines = vec![
            inactive,
            line(2, 1, 100, "USD"),
            line(3, 1, 100, "EUR"),
            line(4, 0, 100, "USD"),
            line(5, -2, -1, "usd"),
        ];
        let err = price(&usd_order(lines)).unwrap_err();
        let PricingError::InvalidLines(problems) = &err else {
            panic!("{err:?}")
        };
        let got: Vec<(i64, &LineReason)> =
            problems.iter().map(|p| (p.product_id, &p.reason)).collect();
        let eur = LineReason::CurrencyMismatch {
            expected: Currency::Usd,
            found: "EUR".into(),
        };
        let lower = LineReason::CurrencyMismatch {
            expected: Currency::Usd,
            found: "usd".into(),
        };
        assert_eq!(
            got,
            vec![
                (1, &LineReason::Inactive),
                (3, &eur),
                (4, &LineReason::BadQuantity { quantity: 0 }),
                (5, &lower),
                (5, &LineReason::BadQuantity { quantity: -2 }),
                (5, &LineReason::NegativeUnitAmount { unit_amount: -1 }),
            ]
        );
        assert_eq!(err.code(), "invalid_lines");
        let details = err.details();
        assert_eq!(details["lines"].as_array().unwrap().len(), 6);
        assert_eq!(
            details["lines"][0],
            json!({"product_id": 1, "sku": "SKU-1", "reason": "inactive"})
        );
        assert_eq!(
            details["lines"][1],
            json!({"product_id": 3, "sku": "SKU-3", "reason": "currency_mismatch",
                   "expected": "USD", "found": "EUR"})
        );
        assert_eq!(
            details["lines"][2],
            json!({"product_id": 4, "sku": "SKU-4", "reason": "bad_quantity", "quantity": 0})
        );
        let message = err.to_string();
        assert!(message
            .starts_with("invalid order lines: product 1 (sku \"SKU-1\"): product is inactive; "));
        assert!(message
            .contains("product 3 (sku \"SKU-3\"): product is priced in \"EUR\", the order in USD"));
        assert!(message.contains("product 4 (sku \"SKU-4\"): quantity 0 is below 1"));
        assert!(!message.contains("SKU-2"));
    }

    #[test]
    fn overflowing_amounts_are_errors() {
        let err = price(&usd_order(vec![line(1, 2, i64::MAX / 2 + 1, "USD")])).unwrap_err();
        assert_eq!(err, PricingError::Overflow);
        assert_eq!(err.code(), "amount_overflow");
        let two = vec![line(1, 1, i64::MAX, "USD"), line(2, 1, 1, "USD")];
        assert_eq!(price(&usd_order(two)), Err(PricingError::Overflow));
        let mut taxed = usd_order(vec![line(1, 1, i64::MAX, "USD")]);
        taxed.tax = tax(10_001);
        assert_eq!(price(&taxed), Err(PricingError::Overflow));
        taxed.tax = tax(0);
        taxed.shipping = shipping(Currency::Usd, 1, None);
        assert_eq!(price(&taxed), Err(PricingError::Overflow));
    }

    #[test]
    fn unknown_discount_code() {
        let mut input = usd_order(vec![line(1, 1, 100, "USD")]);
        input.discount_code = Some("NOPE".into());
        let err = price(&input).unwrap_err();
        assert_eq!(
            err,
            PricingError::Discount(DiscountRejection {
                code: "NOPE".into(),
                reason: DiscountReason::Unknown
            })
        );
        assert_eq!(err.code(), "discount_rejected");
        assert_eq!(err.details(), json!({"code": "NOPE", "reason": "unknown"}));
        assert_eq!(
            err.to_string(),
            "discount code \"NOPE\" rejected: unknown code"
        );
        // A discount row for another code does not match.
        input.discount = Some(discount("OTHER", percent(1_000)));
        assert_eq!(rejection(price(&input)), DiscountReason::Unknown);
    }

    #[test]
    fn discount_codes_match_ignoring_ascii_case() {
        let mut input = with_discount(
            usd_order(vec![line(1, 1, 1_000, "USD")]),
            discount("SAVE", percent(1_000)),
        );
        input.discount_code = Some("save".into());
        let priced = price(&input).unwrap();
        assert_eq!(priced.discount_amount, 100);
        assert_eq!(priced.discount_code.as_deref(), Some("SAVE"));
    }

    #[test]
    fn discount_without_a_code_on_the_order_is_ignored() {
        let mut input = usd_order(vec![line(1, 1, 1_000, "USD")]);
        input.discount = Some(discount("SAVE", percent(1_000)));
        let priced = price(&input).unwrap();
        assert_eq!((priced.discount_amount, priced.discount_code), (0, None));
    }

    #[test]
    fn validity_window_is_inclusive() {
        let mut d = discount("W", percent(1_000));
        d.valid_from = Some(NOW + 1);
        assert_eq!(
            rejection(priced_with(d.clone())),
            DiscountReason::NotYetValid {
                valid_from: NOW + 1
            }
        );
        d.valid_from = Some(NOW);
        assert_eq!(priced_with(d.clone()).unwrap().discount_amount, 1_000);
        d.valid_until = Some(NOW - 1);
        let err = priced_with(d.clone()).unwrap_err();
        assert_eq!(
            err.details(),
            json!({"code": "W", "reason": "expired", "valid_until": NOW - 1})
        );
        d.valid_until = Some(NOW);
        assert_eq!(priced_with(d).unwrap().discount_amount, 1_000);
    }

    #[test]
    fn exhausted_when_redemptions_reach_the_maximum() {
        let mut d = discount("X", percent(1_000));
        d.max_redemptions = Some(5);
        d.redemptions = 5;
        assert_eq!(
            rejection(priced_with(d.clone())),
            DiscountReason::Exhausted { max_redemptions: 5 }
        );
        d.redemptions = 4;
        assert_eq!(priced_with(d.clone()).unwrap().discount_amount, 1_000);
        d.max_redemptions = None;
        d.redemptions = 1_000_000;
        assert_eq!(priced_with(d).unwrap().discount_amount, 1_000);
    }

    #[test]
    fn minimum_subtotal_is_inclusive() {
        let mut d = discount("MIN", percent(1_000));
        d.min_subtotal = 10_001;
        let err = priced_with(d.clone()).unwrap_err();
        assert_eq!(
            err.details(),
            json!({"code": "MIN", "reason": "below_minimum",
                   "minimum": {"amount": 10_001, "currency": "USD"},
                   "subtotal": {"amount": 10_000, "currency": "USD"}})
        );
        assert_eq!(
            err.to_string(),
            "discount code \"MIN\" rejected: subtotal 100.00 USD is below the minimum 100.01 USD"
        );
        d.min_subtotal = 10_000;
        assert_eq!(priced_with(d).unwrap().discount_amount, 1_000);
    }

    #[test]
    fn fixed_discount_in_another_currency_is_rejected() {
        let d = discount(
            "EURO",
            DiscountKind::Fixed {
                amount: 500,
                currency: Currency::Eur,
            },
        );
        assert_eq!(
            rejection(priced_with(d)),
            DiscountReason::CurrencyMismatch {
                expected: Currency::Usd,
                found: Currency::Eur
            }
        );
    }

    #[test]
    fn discount_is_clamped_to_the_subtotal() {
        let fixed = |amount| DiscountKind::Fixed {
            amount,
            currency: Currency::Usd,
        };
        assert_eq!(
            priced_with(discount("F", fixed(500)))
                .unwrap()
                .discount_amount,
            500
        );
        let all = priced_with(discount("F", fixed(1_000_000))).unwrap();
        assert_eq!((all.discount_amount, all.total_amount), (10_000, 0));
        assert_eq!(
            priced_with(discount("F", fixed(-500)))
                .unwrap()
                .discount_amount,
            0
        );
        let over = priced_with(discount("P", percent(u32::MAX))).unwrap();
        assert_eq!(over.discount_amount, 10_000);
    }

    #[test]
    fn percent_discount_rounds_half_even() {
        let on = |unit_amount| {
            let input = with_discount(
                usd_order(vec![line(1, 1, unit_amount, "USD")]),
                discount("H", percent(5_000)),
            );
            price(&input).unwrap().discount_amount
        };
        assert_eq!(on(25), 12); // 12.5
        assert_eq!(on(35), 18); // 17.5
        assert_eq!(on(1), 0); // 0.5
    }

    #[test]
    fn tax_is_on_the_discounted_goods_not_shipping() {
        let mut input = with_discount(
            usd_order(vec![line(1, 1, 10_000, "USD")]),
            discount("D", percent(2_000)),
        );
        input.tax = tax(1_000);
        input.shipping = shipping(Currency::Usd, 1_000, None);
        let priced = price(&input).unwrap();
        assert_eq!(priced.tax_amount, 800); // 10 % of 80.00, not of 90.00
        assert_eq!(priced.total_amount, 10_000 - 2_000 + 800 + 1_000);
        input.tax = None;
        assert_eq!(price(&input).unwrap().tax_amount, 0);
    }

    #[test]
    fn shipping_rules() {
        let base = with_discount(
            usd_order(vec![line(1, 1, 10_000, "USD")]),
            discount("D", percent(1_000)),
        );
        let shipping_for = |rule: Option<ShippingRule>| {
            let mut input = base.clone();
            input.shipping = rule;
            price(&input).unwrap().shipping_amount
        };
        // Discounted subtotal is 9000.
        assert_eq!(shipping_for(shipping(Currency::Usd, 500, Some(9_000))), 0);
        assert_eq!(shipping_for(shipping(Currency::Usd, 500, Some(9_001))), 500);
        assert_eq!(
            shipping_for(shipping(Currency::Usd, 500, Some(10_000))),
            500
        );
        assert_eq!(shipping_for(shipping(Currency::Usd, 500, None)), 500);
        assert_eq!(shipping_for(shipping(Currency::Eur, 500, None)), 0);
        assert_eq!(shipping_for(shipping(Currency::Usd, -500, None)), 0);
        assert_eq!(shipping_for(None), 0);
    }

    #[test]
    fn reads_and_writes_json() {
        let input: OrderInput = serde_json::from_value(json!({
            "currency": "JPY",
            "lines": [{"product_id": 7, "sku": "TEA", "quantity": 2, "unit_amount": 1200,
                       "product_currency": "JPY", "product_active": true}],
            "discount": {"code": "YEN", "kind": {"type": "fixed", "amount": 300, "currency": "JPY"},
                         "min_subtotal": 0, "valid_from": null, "valid_until": null,
                         "max_redemptions": 10, "redemptions": 3},
            "discount_code": "YEN",
            "tax": {"region": "JP", "basis_points": 1000},
            "shipping": {"currency": "JPY", "flat_amount": 500, "free_over": 5000},
            "now_unix": 1_700_000_000_i64
        }))
        .unwrap();
        let priced = price(&input).unwrap();
        assert_eq!(
            serde_json::to_value(&priced).unwrap(),
            json!({
                "currency": "JPY", "subtotal_amount": 2400, "discount_amount": 300,
                "tax_amount": 210, "shipping_amount": 500, "total_amount": 2810,
                "lines": [{"product_id": 7, "sku": "TEA", "quantity": 2, "unit_amount": 1200,
                           "line_amount": 2400}],
                "discount_code": "YEN"
            })
        );
        let percent: DiscountKind =
            serde_json::from_str(r#"{"type":"percent","basis_points":1500}"#).unwrap();
        assert_eq!(
            percent,
            DiscountKind::Percent {
                basis_points: 1_500
            }
        );
    }

    fn test_currency() -> impl Strategy<Value = Currency> {
        prop_oneof![
            Just(Currency::Usd),
            Just(Currency::Jpy),
            Just(Currency::Kwd)
        ]
    }

    fn valid_lines(currency: Currency) -> impl Strategy<Value = Vec<LineInput>> {
        let one = (any::<i64>(), 1i64..=1_000, 0i64..=1_000_000_000).prop_map(
            move |(id, quantity, unit_amount)| line(id, quantity, unit_amount, currency.code()),
        );
        prop::collection::vec(one, 1..=20)
    }

    /// Discounts that are valid at `NOW`: they always apply.
    fn valid_discount(currency: Currency) -> impl Strategy<Value = DiscountInput> {
        let kind = prop_oneof![
            (0u32..=12_000).prop_map(|basis_points| DiscountKind::Percent { basis_points }),
            (0i64..=100_000_000_000)
                .prop_map(move |amount| DiscountKind::Fixed { amount, currency }),
        ];
        (
            kind,
            prop::option::of(0i64..=100),
            prop::option::of(0i64..=100),
        )
            .prop_map(|(kind, before, after)| DiscountInput {
                code: "PROP".into(),
                kind,
                min_subtotal: 0,
                valid_from: before.map(|b| NOW - b),
                valid_until: after.map(|a| NOW + a),
                max_redemptions: Some(10),
                redemptions: 9,
            })
    }

    fn valid_order() -> impl Strategy<Value = OrderInput> {
        test_currency().prop_flat_map(|currency| {
            let rule = (0i64..=100_000, prop::option::of(0i64..=10_000_000_000)).prop_map(
                move |(flat_amount, free_over)| ShippingRule {
                    currency,
                    flat_amount,
                    free_over,
                },
            );
            (
                valid_lines(currency),
                prop::option::of(valid_discount(currency)),
                prop::option::of(0u32..=3_000),
                prop::option::of(rule),
            )
                .prop_map(move |(lines, discount, tax_bp, shipping)| OrderInput {
                    currency,
                    lines,
                    discount_code: discount.as_ref().map(|d| d.code.clone()),
                    discount,
                    tax: tax_bp.map(|basis_points| TaxRate {
                        region: "R".into(),
                        basis_points,
                    }),
                    shipping,
                    now_unix: NOW,
                })
        })
    }

    proptest! {
        #[test]
        fn priced_orders_add_up(input in valid_order()) {
            let priced = price(&input).unwrap();
            prop_assert_eq!(priced.currency, input.currency);
            let p = &priced;
            for amount in [p.subtotal_amount, p.discount_amount, p.tax_amount, p.shipping_amount, p.total_amount] {
                prop_assert!(amount >= 0);
            }
            prop_assert!(p.discount_amount <= p.subtotal_amount);
            prop_assert_eq!(
                p.total_amount,
                p.subtotal_amount - p.discount_amount + p.tax_amount + p.shipping_amount
            );
            let line_sum: i64 = p.lines.iter().map(|l| l.line_amount).sum();
            prop_assert_eq!(line_sum, p.subtotal_amount);
            for (priced_line, input_line) in p.lines.iter().zip(&input.lines) {
                prop_assert_eq!(priced_line.line_amount, input_line.quantity * input_line.unit_amount);
            }
            prop_assert_eq!(p.discount_code.is_some(), input.discount.is_some());

            // Tax is within half a minor unit of the exact rational value (ties to even).
            let goods = i128::from(p.subtotal_amount - p.discount_amount);
            let rate = input.tax.as_ref().map_or(0, |t| i128::from(t.basis_points));
            let error = (i128::from(p.tax_amount) * 10_000 - goods * rate).abs();
            prop_assert!(error <= 5_000);
            if error == 5_000 {
                prop_assert_eq!(p.tax_amount % 2, 0);
            }

            // A percent discount is within half a minor unit of its exact value, or clamped.
            if let Some(DiscountKind::Percent { basis_points }) = input.discount.as_ref().map(|d| &d.kind) {
                let exact = i128::from(p.subtotal_amount) * i128::from(*basis_points);
                let error = (i128::from(p.discount_amount) * 10_000 - exact).abs();
                prop_assert!(error <= 5_000 || p.discount_amount == p.subtotal_amount);
            }

            // Shipping follows the rule on the discounted subtotal.
            let expected_shipping = input.shipping.as_ref().map_or(0, |rule| {
                let free = rule.free_over.is_some_and(|f| p.subtotal_amount - p.discount_amount >= f);
                if free { 0 } else { rule.flat_amount }
            });
            prop_assert_eq!(p.shipping_amount, expected_shipping);
        }

        #[test]
        fn pricing_is_deterministic(input in valid_order()) {
            prop_assert_eq!(price(&input), price(&input.clone()));
        }

        /// Any mix of good and bad lines: either every line is fine and the order prices, or
        /// exactly the offending lines are listed, in order.
        #[test]
        fn all_offending_lines_are_reported(
            lines in prop::collection::vec(
                (any::<bool>(), prop_oneof![Just("USD"), Just("EUR")], -2i64..=3, -5i64..=1_000),
                1..=20,
            ),
        ) {
            let input = usd_order(
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, &(active, currency, quantity, unit_amount))| {
                        let mut l = line(i as i64, quantity, unit_amount, currency);
                        l.product_active = active;
                        l
                    })
                    .collect(),
            );
            let offending: Vec<i64> = input
                .lines
                .iter()
                .filter(|l| !l.product_active || l.product_currency != "USD" || l.quantity < 1 || l.unit_amount < 0)
                .map(|l| l.product_id)
                .collect();
            match price(&input) {
                Ok(_) => prop_assert!(offending.is_empty()),
                Err(PricingError::InvalidLines(problems)) => {
                    let mut ids: Vec<i64> = problems.iter().map(|p| p.product_id).collect();
                    ids.dedup();
                    prop_assert_eq!(ids, offending);
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
