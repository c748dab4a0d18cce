//! Numbers as Prometheus writes them.
//!
//! Sample values: integral values below 10^15 as plain integers, everything else like Go's
//! `strconv.FormatFloat(v, 'g', -1, 64)` (what client_golang's text encoder uses), with
//! `+Inf`, `-Inf` and `NaN`. Label values that are numbers (`le`): Go's `'g'` format in
//! the text format; in OpenMetrics the canonical form client_golang's
//! `writeOpenMetricsFloat` produces, which appends `.0` when the number would otherwise
//! have neither a `.` nor an exponent (`1.0`, `64.0`, `1.048576e+06`).

use std::fmt::Write;

/// Largest magnitude written as a plain integer.
const INTEGER_LIMIT: f64 = 1e15;

/// Appends a sample value.
pub(crate) fn write_value(out: &mut String, v: f64) {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < INTEGER_LIMIT {
        // Exact: |v| < 10^15 < 2^63 and v has no fraction.
        let i = v as i64;
        if i < 0 {
            out.push('-');
        }
        write_u64(out, i.unsigned_abs());
    } else {
        write_go_float(out, v);
    }
}

/// `"00" "01" .. "99"`: two digits per step.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Appends an unsigned integer in decimal (without `core::fmt`, which was a tenth of a
/// scrape: most of a scrape's numbers are integers).
pub(crate) fn write_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// Appends `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, with Prometheus'
/// spelling of infinities.
pub(crate) fn write_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push('0');
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Go's shortest mode does:
    // "1.2345e-7", "1e6".
    let mut sci = String::with_capacity(24);
    let _ = write!(sci, "{:e}", v.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Go switches to exponent notation when exp < -4 || exp >= 6 in shortest mode.
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
        return;
    }
    // Position of the decimal point counted from the first digit.
    let point = exp + 1;
    let nd = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point >= nd {
        out.push_str(&digits);
        for _ in 0..point - nd {
            out.push('0');
        }
    } else {
        let (int, frac) = digits.split_at(point as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

/// Appends `v` in OpenMetrics' canonical form (client_golang's `writeOpenMetricsFloat`).
pub(crate) fn write_openmetrics_float(out: &mut String, v: f64) {
    let start = out.len();
    write_go_float(out, v);
    if v.is_finite() && !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// `v` as a `le` label value for `format`.
pub(crate) fn le_label(v: f64, openmetrics: bool) -> String {
    let mut s = String::with_capacity(12);
    if openmetrics {
        write_openmetrics_float(&mut s, v);
    } else {
        write_go_float(&mut s, v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(v: f64) -> String {
        let mut s = String::new();
        write_go_float(&mut s, v);
        s
    }

    fn om(v: f64) -> String {
        let mut s = String::new();
        write_openmetrics_float(&mut s, v);
        s
    }

    fn value(v: f64) -> String {
        let mut s = String::new();
        write_value(&mut s, v);
        s
    }

    #[test]
    fn go_g_format() {
        // Expected strings are Go's strconv.FormatFloat(v, 'g', -1, 64).
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5, "2.5"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1048576.0, "1.048576e+06"),
            (16777216.0, "1.6777216e+07"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in table {
            assert_eq!(go(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn openmetrics_canonical() {
        let table: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (1.0, "1.0"),
            (64.0, "64.0"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (1048576.0, "1.048576e+06"),
            (1e6, "1e+06"),
            (f64::INFINITY, "+Inf"),
        ];
        for (v, want) in table {
            assert_eq!(om(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn integers_in_decimal() {
        for v in [
            0,
            7,
            10,
            99,
            100,
            101,
            999,
            1000,
            123_456_789,
            10u64.pow(15),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut s = String::from("x");
            write_u64(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
    }

    #[test]
    fn values_prefer_integers() {
        assert_eq!(value(0.0), "0");
        assert_eq!(value(-0.0), "0");
        assert_eq!(value(42.0), "42");
        assert_eq!(value(1e6), "1000000");
        assert_eq!(value(-3.0), "-3");
        assert_eq!(value(-999_999_999_999_999.0), "-999999999999999");
        assert_eq!(value(1e15), "1e+15");
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn shortest_digits_round_trip() {
        for v in [
            0.1,
            1.0 / 3.0,
            123.456,
            9.999e-5,
            7e22,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let s = go(v);
            assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
        }
    }
}
