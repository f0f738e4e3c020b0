//! Length buckets: how long a generated context is, in approximate tokens.
//!
//! Tokens are approximated by characters: one token is taken to be
//! [`CHARS_PER_TOKEN`] (4) characters, the usual rule of thumb for English
//! text with GPT-style tokenizers. A `128k` context therefore holds about
//! 128 × 1024 × 4 = 524,288 characters. Real token counts differ by
//! tokenizer and content (digits and JSON punctuation cost more tokens per
//! character than prose), so the bucket is a size class, not an exact count.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// Characters per approximate token.
pub const CHARS_PER_TOKEN: usize = 4;

/// The smallest bucket a generator accepts: 1k tokens (4 KiB). Below that
/// the fixed parts of an item (needle, chain facts) crowd out the filler.
pub const MIN_TOKENS: u64 = 1024;

/// The largest bucket accepted: 16m tokens (64 MiB of text per item), far
/// above the paper's 2^20 but still small enough to build in memory.
pub const MAX_TOKENS: u64 = 1 << 24;

/// A target context length in approximate tokens.
///
/// Written and parsed as `8k` (8 × 1024 tokens), `1m` (1024 × 1024 tokens),
/// `2^13` or a plain number of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LengthBucket {
    tokens: u64,
}

impl LengthBucket {
    /// A bucket of `tokens` approximate tokens, if within
    /// [`MIN_TOKENS`]..=[`MAX_TOKENS`].
    pub fn from_tokens(tokens: u64) -> Result<Self, Error> {
        if tokens < MIN_TOKENS {
            return Err(Error::InvalidLength { value: tokens.to_string(), reason: "below the minimum of 1k tokens" });
        }
        if tokens > MAX_TOKENS {
            return Err(Error::InvalidLength { value: tokens.to_string(), reason: "above the maximum of 16m tokens" });
        }
        Ok(LengthBucket { tokens })
    }

    /// The target length in approximate tokens.
    pub fn tokens(self) -> u64 {
        self.tokens
    }

    /// The target length in characters (`tokens × 4`).
    pub fn chars(self) -> usize {
        self.tokens as usize * CHARS_PER_TOKEN
    }

    /// The short label used in file names and reports: `8k`, `1m`, or the
    /// plain token count when it is not a multiple of 1024.
    pub fn label(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for LengthBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.tokens;
        if t.is_multiple_of(1 << 20) {
            write!(f, "{}m", t >> 20)
        } else if t.is_multiple_of(1024) {
            write!(f, "{}k", t >> 10)
        } else {
            write!(f, "{t}")
        }
    }
}

impl FromStr for LengthBucket {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidLength { value: s.to_owned(), reason };
        let t = s.trim().to_ascii_lowercase();
        let tokens = if let Some(exp) = t.strip_prefix("2^") {
            let exp: u32 = exp.parse().map_err(|_| bad("expected `2^N`"))?;
            1u64.checked_shl(exp).filter(|_| exp < 64).ok_or_else(|| bad("exponent too large"))?
        } else {
            let (digits, unit) = match t.strip_suffix('k') {
                Some(d) => (d, 1u64 << 10),
                None => match t.strip_suffix('m') {
                    Some(d) => (d, 1u64 << 20),
                    None => (t.as_str(), 1),
                },
            };
            let n: u64 = digits.parse().map_err(|_| bad("expected a number with an optional `k` or `m`"))?;
            n.checked_mul(unit).ok_or_else(|| bad("too large"))?
        };
        LengthBucket::from_tokens(tokens).map_err(|e| match e {
            Error::InvalidLength { reason, .. } => bad(reason),
            other => other,
        })
    }
}

impl Serialize for LengthBucket {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LengthBucket {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list of buckets, as given to `--lengths`:
/// `8k,32k,128k`. Empty entries are ignored; duplicates are dropped and the
/// result is sorted from short to long.
pub fn parse_lengths(list: &str) -> Result<Vec<LengthBucket>, Error> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(part.parse()?);
    }
    if out.is_empty() {
        return Err(Error::InvalidLength { value: list.to_owned(), reason: "no lengths given" });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let got = parse_lengths("128k, 8k,32K,8k").unwrap();
        let labels: Vec<String> = got.iter().map(|l| l.label()).collect();
        assert_eq!(labels, ["8k", "32k", "128k"]);
        assert_eq!("1m".parse::<LengthBucket>().unwrap().tokens(), 1 << 20);
        assert_eq!("2^13".parse::<LengthBucket>().unwrap().label(), "8k");
        assert_eq!("5000".parse::<LengthBucket>().unwrap().label(), "5000");
        assert_eq!("8k".parse::<LengthBucket>().unwrap().chars(), 32768);
    }

    #[test]
    fn rejects_nonsense_and_out_of_range() {
        for bad in ["", "k", "8q", "-8k", "2^99", "100", "1g", "32m"] {
            assert!(parse_lengths(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn label_round_trips() {
        for s in ["1k", "8k", "1m", "1536k", "3000"] {
            let l: LengthBucket = s.parse().unwrap();
            assert_eq!(l.label().parse::<LengthBucket>().unwrap(), l);
        }
    }
}
