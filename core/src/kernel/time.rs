//! Virtual time.
//!
//! The simulator's clock is an integer count of **virtual microseconds** since the
//! start of the run ([`Micros`]). Nothing in `core` reads a wall clock.

/// A virtual instant or duration, in microseconds.
pub type Micros = u64;

/// One virtual millisecond, in µs.
pub const MS: Micros = 1_000;
/// One virtual second, in µs.
pub const SEC: Micros = 1_000_000;

/// Converts virtual µs to whole virtual ms (rounding down).
pub fn to_ms(t: Micros) -> u64 {
    t / MS
}

/// One virtual minute, in µs.
pub const MINUTE: Micros = 60 * SEC;
/// One virtual hour, in µs.
pub const HOUR: Micros = 60 * MINUTE;

/// Parses a duration such as `250us`, `40ms`, `2.5s`, `10m` or `1h` into virtual
/// µs. A bare number (`120`, `2.5`) is taken in `bare_unit` (µs per unit, for
/// example [`MS`] or [`SEC`]). Fractions are exact decimal fractions, computed
/// in integers; a result that is not a whole number of µs is rounded down.
///
/// Errors: a message naming the text when it is not a non-negative number with
/// an optional unit, or when it overflows `u64` µs. Callers check ranges.
pub fn parse_duration(text: &str, bare_unit: Micros) -> Result<Micros, String> {
    let t = text.trim();
    let bad = || format!("'{text}' is not a duration (examples: 500ms, 90s, 2.5s, 10m, 1h)");
    let (number, unit) = [
        ("us", 1),
        ("µs", 1),
        ("ms", MS),
        ("s", SEC),
        ("m", MINUTE),
        ("h", HOUR),
    ]
    .iter()
    .find_map(|&(suffix, unit)| t.strip_suffix(suffix).map(|n| (n.trim(), unit)))
    .unwrap_or((t, bare_unit));
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(int) || !all_digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    let whole: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut us = whole.checked_mul(unit).ok_or_else(bad)?;
    if !frac.is_empty() {
        let digits: u64 = frac.parse().map_err(|_| bad())?;
        let scale = 10u64.pow(frac.len() as u32);
        us = us
            .checked_add((digits as u128 * unit as u128 / scale as u128) as u64)
            .ok_or_else(bad)?;
    }
    Ok(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_fractions_and_a_bare_unit() {
        assert_eq!(parse_duration("250us", MS), Ok(250));
        assert_eq!(parse_duration("40ms", SEC), Ok(40 * MS));
        assert_eq!(parse_duration("2.5s", MS), Ok(2_500 * MS));
        assert_eq!(parse_duration("10m", MS), Ok(600 * SEC));
        assert_eq!(parse_duration("120", SEC), Ok(120 * SEC));
        assert_eq!(parse_duration("120", MS), Ok(120 * MS));
        assert_eq!(parse_duration(" 1h ", MS), Ok(HOUR));
        assert_eq!(parse_duration("25h", MS), Ok(25 * HOUR));
        for bad in [
            "",
            "s",
            "5x",
            "-1s",
            "1.2.3s",
            "abc",
            "1e3",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad, MS).is_err(), "{bad}");
        }
    }
}
