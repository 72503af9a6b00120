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
//!    In a region whose prices include tax ([`TaxRate::inclusive`]), unit prices are gross:
//!    the tax is extracted from the discounted goods, `included_tax(subtotal − discount)` =
//!    goods × rate / (10 000 + rate) with the same rounding rule, and is not added again.
//! 5. **Shipping** = the rule's flat amount, or 0 when the discounted subtotal is at least
//!    `free_over`. No rule for the currency (`shipping: None`, or a rule in another currency)
//!    means 0 shipping. A negative flat amount counts as 0.
//! 6. **Total** = subtotal − discount + tax + shipping; with tax-inclusive prices, subtotal −
//!    discount + shipping (the gross goods plus shipping; `tax_amount` is the part of the
//!    goods that is tax, and [`PricedOrder::tax_included`] says so).
//!
//! All arithmetic is checked: an amount out of `i64` range is [`PricingError::Overflow`],
//! never a wrapped total. Every amount is an integer number of the order currency's minor
//! unit and the only fraction goes through the one rounding rule, so zero-decimal (JPY) and
//! three-decimal (KWD) currencies are exact by construction.
//!
//! # Example
//!
//! ```
//! use edge_orders::money::Currency;
//! use edge_orders::pricing::{price, OrderInput, OrderLine, TaxRate};
//!
//! let order = OrderInput {
//!     currency: Currency::Usd,
//!     lines: vec![OrderLine {
//!         product_id: 1,
//!         sku: "MUG".into(),
//!         quantity: 3,
//!         unit_amount: 1999,
//!         product_currency: Currency::Usd.into(),
//!         product_active: true,
//!     }],
//!     discount: None,
//!     discount_code: None,
//!     tax: Some(TaxRate { region: "US-CA".into(), basis_points: 825, inclusive: false }),
//!     shipping: None,
//!     now_unix: 1_700_000_000,
//! };
//! let priced = price(&order).unwrap();
//! assert_eq!((priced.subtotal_amount, priced.tax_amount, priced.total_amount), (5997, 495, 6492));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::money::{Currency, CurrencyCode, Money, MoneyError, BASIS_POINTS_PER_WHOLE};

/// One order line joined with its product: the one line type from the database to the priced
/// order. Deserialized straight from the read RPC's `lines` (`order_for_processing`, inside
/// `begin_order_request`), priced as is ([`PricedLine`] holds it), and serialized straight
/// into `apply_order_processing`'s `lines` and the answer's: there without the product's
/// currency and active flag, which pricing has checked against the order (the SQL compares
/// product, quantity and unit amount with the order's lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product's id.
    pub product_id: i64,
    /// The product's SKU, echoed in errors.
    pub sku: String,
    /// Units ordered; must be at least 1.
    pub quantity: i64,
    /// Price of one unit in minor units of `product_currency`; must not be negative.
    pub unit_amount: i64,
    /// The product's currency; must be the order's.
    #[serde(skip_serializing)]
    pub product_currency: CurrencyCode,
    /// Whether the product can still be sold.
    #[serde(skip_serializing)]
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
    /// Whether the region's prices include the tax (EU/UK style gross prices).
    #[serde(default)]
    pub inclusive: bool,
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

/// Everything [`price`] needs; gathered by the caller, so pricing does no I/O. Read from JSON
/// (its lines as the database sends them), never written: a line serializes without the
/// product's currency and active flag (see [`OrderLine`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderInput {
    /// The order's currency; every line must be in it.
    pub currency: Currency,
    /// The order's lines.
    pub lines: Vec<OrderLine>,
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

/// A priced line: the line and its amount, serialized as the line's fields and `line_amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLine {
    /// The line as read.
    #[serde(flatten)]
    pub line: OrderLine,
    /// `quantity × unit_amount`, minor units.
    pub line_amount: i64,
}

/// The result of [`price`]; every amount is in minor units of `currency` and not negative.
/// Serialized as `process-order` answers it (in [`ProcessedOrder`](crate::processing::ProcessedOrder)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// `subtotal − discount + tax + shipping`; `subtotal − discount + shipping` when the
    /// prices include the tax.
    pub total_amount: i64,
    /// The prices included the tax: `tax_amount` is part of `subtotal − discount`, not added
    /// to it. Serialized only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tax_included: bool,
    /// The priced lines, in input order.
    pub lines: Vec<PricedLine>,
    /// The discount's code when a discount was applied (what `apply_order_processing`
    /// redeems; not part of the answer).
    #[serde(skip_serializing)]
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
        /// The product's currency.
        found: CurrencyCode,
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
                write!(
                    f,
                    "product is priced in \"{found}\", the order in {expected}"
                )
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
            line: line.clone(),
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

    let tax_included = order.tax.as_ref().is_some_and(|rate| rate.inclusive);
    let tax = match &order.tax {
        Some(rate) if rate.inclusive => goods.included_tax(rate.basis_points),
        Some(rate) => goods.apply_basis_points(rate.basis_points),
        None => Ok(Money::zero(currency)),
    }
    .map_err(overflow)?;
    let added_tax = if tax_included {
        Money::zero(currency)
    } else {
        tax
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
        .checked_add(added_tax)
        .and_then(|m| m.checked_add(shipping))
        .map_err(overflow)?;

    Ok(PricedOrder {
        currency,
        subtotal_amount: subtotal.amount(),
        discount_amount: discount.amount(),
        tax_amount: tax.amount(),
        shipping_amount: shipping.amount(),
        total_amount: total.amount(),
        tax_included,
        lines,
        discount_code,
    })
}

fn line_problems(line: &OrderLine, currency: Currency) -> Vec<LineProblem> {
    let mut reasons = Vec::new();
    if !line.product_active {
        reasons.push(LineReason::Inactive);
    }
    if line.product_currency != currency {
        reasons.push(LineReason::CurrencyMismatch {
            expected: currency,
            found: line.product_currency,
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
mod tests;
