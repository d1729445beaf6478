//! Small text formatters shared by the components (virtual times, rates).

use kvscope_core::time::MS;

/// Formats virtual µs as the control bar's clock, `mm:ss.mmm` (minutes keep
/// counting past 59: `75:02.125`).
pub fn clock(us: u64) -> String {
    let ms = us / MS;
    let minutes = ms / 60_000;
    let seconds = (ms / 1000) % 60;
    let millis = ms % 1000;
    format!("{minutes:02}:{seconds:02}.{millis:03}")
}

/// Formats virtual ms as seconds with one decimal (`41.0 s`).
pub fn secs_ms(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
}

/// Formats virtual ms as seconds, compactly: `30 s`, `41.5 s`.
pub fn secs_ms_short(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        secs_ms(ms)
    }
}

/// Formats virtual ms as seconds with three decimals, for the log (`41.003`).
pub fn log_time(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Formats virtual µs as whole seconds with one decimal (`41.0 s`).
pub fn secs_us(us: u64) -> String {
    secs_ms(us / MS)
}

/// Formats a milliseconds count as a seconds text for an input box: `5000`
/// gives `5`, `2500` gives `2.5`.
pub fn ms_as_seconds_input(ms: u64) -> String {
    let whole = ms / 1000;
    let frac = ms % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:03}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

/// Turns a seconds text typed by the user (`5`, `2.5`, `40s`, `1500ms`, `2m`)
/// into the text a millisecond parameter accepts (`5000ms`, `2500ms`, ...).
///
/// A bare number is seconds, possibly with up to three decimals; anything
/// with a unit suffix is passed through for the parameter's own parser, as is
/// anything this function does not understand (so the parser names the error).
pub fn seconds_input_to_param(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return t.to_string();
    }
    if t.ends_with(|c: char| c.is_ascii_alphabetic() || c == 'µ') {
        return t.to_string();
    }
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !whole.is_empty() && digits(whole) && digits(frac) && frac.len() <= 3 {
        let mut ms_text = String::from(whole);
        ms_text.push_str(&format!("{frac:0<3}"));
        let ms_text = ms_text.trim_start_matches('0');
        return format!("{}ms", if ms_text.is_empty() { "0" } else { ms_text });
    }
    // Not a plain number of seconds (or finer than a millisecond): the
    // parameter's parser names what is wrong with it.
    format!("{t}s")
}

/// Formats a rate with no decimals (`718/s`).
pub fn rate(v: f64) -> String {
    format!("{}/s", v.round() as i64)
}

/// Formats bytes in binary units: `512 B`, `12.3 KiB`, `45.6 MiB`, `1.25 GiB`.
pub fn bytes(b: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    if b < KIB {
        format!("{b} B")
    } else if b < MIB {
        format!("{:.1} KiB", b as f64 / KIB as f64)
    } else if b < GIB {
        format!("{:.1} MiB", b as f64 / MIB as f64)
    } else {
        format!("{:.2} GiB", b as f64 / GIB as f64)
    }
}

/// Formats a count with thousands separated by thin spaces (`12 345`).
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}
