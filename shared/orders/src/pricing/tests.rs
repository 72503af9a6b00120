use super::*;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

fn line(product_id: i64, quantity: i64, unit_amount: i64, currency: &str) -> OrderLine {
    OrderLine {
        product_id,
        sku: format!("SKU-{product_id}"),
        quantity,
        unit_amount,
        product_currency: currency.parse().unwrap(),
        product_active: true,
    }
}

fn order(currency: Currency, lines: Vec<OrderLine>) -> OrderInput {
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

fn usd_order(lines: Vec<OrderLine>) -> OrderInput {
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
        inclusive: false,
    })
}

fn shipping(currency: Currency, flat_amount: i64, free_over: Option<i64>) -> Option<ShippingRule> {
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
        // A well-formed code this service does not price in is just another currency.
        line(5, -2, -1, "XYZ"),
    ];
    let err = price(&usd_order(lines)).unwrap_err();
    let PricingError::InvalidLines(problems) = &err else {
        panic!("{err:?}")
    };
    let got: Vec<(i64, &LineReason)> = problems.iter().map(|p| (p.product_id, &p.reason)).collect();
    let eur = LineReason::CurrencyMismatch {
        expected: Currency::Usd,
        found: "EUR".parse().unwrap(),
    };
    let unsupported = LineReason::CurrencyMismatch {
        expected: Currency::Usd,
        found: "XYZ".parse().unwrap(),
    };
    assert_eq!(
        got,
        vec![
            (1, &LineReason::Inactive),
            (3, &eur),
            (4, &LineReason::BadQuantity { quantity: 0 }),
            (5, &unsupported),
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
                       "line_amount": 2400}]
        })
    );
    // The code goes to the apply RPC, not into the answer.
    assert_eq!(priced.discount_code.as_deref(), Some("YEN"));
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
        Just(Currency::Kwd),
        Just(Currency::Bhd)
    ]
}

fn valid_lines(currency: Currency) -> impl Strategy<Value = Vec<OrderLine>> {
    let one = (any::<i64>(), 1i64..=1_000, 0i64..=1_000_000_000).prop_map(
        move |(id, quantity, unit_amount)| line(id, quantity, unit_amount, currency.code()),
    );
    prop::collection::vec(one, 1..=20)
}

/// Discounts that are valid at `NOW`: they always apply.
fn valid_discount(currency: Currency) -> impl Strategy<Value = DiscountInput> {
    let kind = prop_oneof![
        (0u32..=12_000).prop_map(|basis_points| DiscountKind::Percent { basis_points }),
        (0i64..=100_000_000_000).prop_map(move |amount| DiscountKind::Fixed { amount, currency }),
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
                    inclusive: false,
                }),
                shipping,
                now_unix: NOW,
            })
    })
}

/// The known basket of the README ("Tax-inclusive prices"): 2 x 12.00 EUR + 1 x 5.99 EUR gross,
/// 20 % VAT included, 4.99 shipping: tax 5.00, total 34.98.
#[test]
fn a_tax_inclusive_basket_prices_to_the_documented_amounts() {
    let mut order = usd_order(vec![line(1, 2, 1200, "EUR"), line(2, 1, 599, "EUR")]);
    order.currency = Currency::Eur;
    order.tax = Some(TaxRate {
        region: "EU-DE".into(),
        basis_points: 2000,
        inclusive: true,
    });
    order.shipping = shipping(Currency::Eur, 499, None);
    let p = price(&order).unwrap();
    // 2999 gross: 2999 x 2000 / 12000 = 499.83 -> 500 tax, 2499 net
    assert_eq!(
        (
            p.subtotal_amount,
            p.discount_amount,
            p.tax_amount,
            p.shipping_amount,
            p.total_amount
        ),
        (2999, 0, 500, 499, 3498)
    );
    assert!(p.tax_included);
    assert_eq!(serde_json::to_value(&p).unwrap()["tax_included"], true);
    // The same basket with tax added on top: 2999 x 20 % = 599.8 -> 600, total 4098; no flag.
    order.tax.as_mut().unwrap().inclusive = false;
    let p = price(&order).unwrap();
    assert_eq!((p.tax_amount, p.total_amount), (600, 4098));
    assert!(serde_json::to_value(&p)
        .unwrap()
        .get("tax_included")
        .is_none());
}

/// Zero- and three-decimal currencies: the extracted tax is whole minor units by construction.
#[test]
fn tax_inclusive_prices_in_jpy_and_kwd() {
    for (currency, code, unit, bp, tax) in [
        // 1100 JPY incl. 10 %: 100 JPY tax
        (Currency::Jpy, "JPY", 1100, 1000, 100),
        // 999 JPY incl. 8 %: 999 x 800 / 10800 = 74.0 -> 74
        (Currency::Jpy, "JPY", 999, 800, 74),
        // 1.050 KWD incl. 5 %: 50 fils
        (Currency::Kwd, "KWD", 1050, 500, 50),
        // 2.345 BHD incl. 10 %: 2345 x 1000 / 11000 = 213.18 -> 213
        (Currency::Bhd, "BHD", 2345, 1000, 213),
    ] {
        let mut order = usd_order(vec![line(1, 1, unit, code)]);
        order.currency = currency;
        order.tax = Some(TaxRate {
            region: "R".into(),
            basis_points: bp,
            inclusive: true,
        });
        let p = price(&order).unwrap();
        assert_eq!((p.tax_amount, p.total_amount), (tax, unit), "{code}");
    }
}

proptest! {
    /// Tax-inclusive prices: the total is the gross goods plus shipping, the extracted tax is
    /// within half a minor unit of goods x rate / (10 000 + rate) (ties to even), never more
    /// than the goods, and net + tax is the gross exactly; in 0-, 2- and 3-decimal currencies.
    #[test]
    fn tax_inclusive_orders_add_up(input in valid_order(), bp in 0u32..=10_000) {
        let mut input = input;
        input.tax = Some(TaxRate { region: "R".into(), basis_points: bp, inclusive: true });
        let p = price(&input).unwrap();
        prop_assert!(p.tax_included);
        let goods = p.subtotal_amount - p.discount_amount;
        prop_assert_eq!(p.total_amount, goods + p.shipping_amount);
        prop_assert!(p.tax_amount >= 0 && p.tax_amount <= goods);
        let exact_num = i128::from(goods) * i128::from(bp);
        let den = 10_000 + i128::from(bp);
        let error = (i128::from(p.tax_amount) * den - exact_num).abs();
        prop_assert!(error * 2 <= den, "tax {} off by {}/{}", p.tax_amount, error, den);
        if error * 2 == den {
            prop_assert_eq!(p.tax_amount % 2, 0);
        }
        // The same order with tax added: the inclusive total never exceeds it.
        let mut exclusive = input.clone();
        exclusive.tax.as_mut().unwrap().inclusive = false;
        let q = price(&exclusive).unwrap();
        prop_assert!(p.total_amount <= q.total_amount);
        prop_assert_eq!(q.total_amount - p.total_amount, q.tax_amount);
    }

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
            .filter(|l| !l.product_active || l.product_currency != Currency::Usd || l.quantity < 1 || l.unit_amount < 0)
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
