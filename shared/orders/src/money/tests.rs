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
