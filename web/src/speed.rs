//! Playback speed: virtual time advanced per wall-clock second.

use std::fmt;

/// How fast the virtual clock runs while playing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// Virtual seconds per wall second, in thousandths (`1000` = real time).
    PerMille(u64),
    /// As fast as the page can go: a fixed wall-time budget of events per frame.
    Max,
}

/// Every speed the selector offers, slowest first.
pub const CHOICES: &[Speed] = &[
    Speed::PerMille(100),
    Speed::PerMille(250),
    Speed::PerMille(500),
    Speed::PerMille(1_000),
    Speed::PerMille(2_000),
    Speed::PerMille(5_000),
    Speed::PerMille(10_000),
    Speed::PerMille(30_000),
    Speed::PerMille(100_000),
    Speed::PerMille(300_000),
    Speed::PerMille(1_000_000),
    Speed::Max,
];

impl Default for Speed {
    /// 10× real time: the io-hang story (hang at 40 s) starts after 4 s.
    fn default() -> Self {
        Speed::PerMille(10_000)
    }
}

impl Speed {
    /// The value used in URLs and in the selector (`0.1`, `10`, `max`).
    pub fn key(self) -> String {
        match self {
            Speed::Max => "max".to_string(),
            Speed::PerMille(m) if m % 1000 == 0 => (m / 1000).to_string(),
            Speed::PerMille(m) => {
                let frac = format!("{:03}", m % 1000);
                format!("{}.{}", m / 1000, frac.trim_end_matches('0'))
            }
        }
    }

    /// Parses a speed key (`max`, `10`, `10x`, `0.25`); only the values in
    /// [`CHOICES`] are accepted. Errors: a message listing them.
    pub fn parse(text: &str) -> Result<Speed, String> {
        let t = text.trim();
        let t = if t == "max" {
            t
        } else {
            t.trim_end_matches(['x', '×'])
        };
        CHOICES
            .iter()
            .copied()
            .find(|s| s.key() == t)
            .ok_or_else(|| {
                let keys: Vec<String> = CHOICES.iter().map(|s| s.key()).collect();
                format!("unknown speed '{text}' (choose one of {})", keys.join(", "))
            })
    }

    /// Virtual µs to advance for `wall_ms` of wall time (`None` for [`Speed::Max`]).
    pub fn virtual_us_for(self, wall_ms: f64) -> Option<u64> {
        match self {
            Speed::Max => None,
            Speed::PerMille(m) => Some((wall_ms * m as f64).max(0.0) as u64),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            s => write!(f, "{}×", s.key()),
        }
    }
}
