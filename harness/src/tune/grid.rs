//! The grid a search runs: `--vary KEY=VALUES` axes, each a list (`4,8,16`,
//! `"min","aimd"`, `{ min = 1, max = 2 },{ min = 5, max = 9 }`) or an inclusive range
//! (`0..200/20`, `0.5..2.0/0.25`), and every combination of their values.

use paceline_sim::Override;

/// At most this many values on one axis: a step typed one digit short should not start
/// a search of a million settings.
pub const MAX_VALUES: usize = 10_000;

/// One `--vary`: a key and the values it takes, as TOML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vary {
    /// The dotted path, as `--set` takes it.
    pub key: String,
    /// Each value, as `--set` takes it.
    pub values: Vec<String>,
}

/// Split `text` at commas outside quotes, brackets and braces.
fn split_list(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current.trim().to_string());
    parts
}

/// Decimal places written in a number's text: `0.25` has 2.
fn decimals(text: &str) -> usize {
    text.split_once('.').map_or(0, |(_, d)| d.len())
}

/// `A..B/STEP`, inclusive of `B` when a step lands on it; integers if all three are.
fn range(key: &str, text: &str) -> Option<Result<Vec<String>, String>> {
    let (span, step) = text.split_once('/')?;
    let (from, to) = span.split_once("..")?;
    let (from, to, step) = (from.trim(), to.trim(), step.trim());
    let bad = |why: &str| Err(format!("--vary {key}={text}: {why}"));
    if [from, to, step].iter().all(|t| t.parse::<i64>().is_ok()) {
        let (a, b, s): (i64, i64, i64) = match (from.parse(), to.parse(), step.parse()) {
            (Ok(a), Ok(b), Ok(s)) => (a, b, s),
            _ => return Some(bad("not whole numbers")),
        };
        if s <= 0 || a > b {
            return Some(bad("a range A..B/STEP needs A <= B and STEP > 0"));
        }
        let count = (b - a) / s + 1;
        if count as usize > MAX_VALUES {
            return Some(bad(&format!("more than {MAX_VALUES} values")));
        }
        return Some(Ok((0..count).map(|i| (a + i * s).to_string()).collect()));
    }
    let (a, b, s): (f64, f64, f64) = match (from.parse(), to.parse(), step.parse()) {
        (Ok(a), Ok(b), Ok(s)) => (a, b, s),
        _ => {
            return Some(bad(
                "a range is A..B/STEP with numbers, such as 0..200/20 or 0.5..2.0/0.25",
            ));
        }
    };
    if !(s > 0.0 && a <= b && a.is_finite() && b.is_finite()) {
        return Some(bad("a range A..B/STEP needs A <= B and STEP > 0"));
    }
    // Values are rounded to the places written, so 0.1 steps do not drift.
    let places = decimals(from).max(decimals(to)).max(decimals(step)).max(1);
    let count = ((b - a) / s + 1e-9).floor() as usize + 1;
    if count > MAX_VALUES {
        return Some(bad(&format!("more than {MAX_VALUES} values")));
    }
    Some(Ok((0..count)
        .map(|i| format!("{:.places$}", a + i as f64 * s))
        .collect()))
}

impl Vary {
    /// Read `KEY=VALUES`.
    pub fn parse(arg: &str) -> Result<Vary, String> {
        let Some((key, values)) = arg.split_once('=') else {
            return Err(format!(
                "--vary {arg:?}: write KEY=VALUES, such as pool.pool_size=4,8,16 or pool.min_dispatch_delay_ms=0..200/20"
            ));
        };
        let key = key.trim().to_string();
        // The key is checked as --set checks it.
        Override::parse(&format!("{key}=0")).map_err(|e| e.replace("--set", "--vary"))?;
        let values = match range(&key, values.trim()) {
            Some(r) => r?,
            None => split_list(values),
        };
        if values.iter().any(String::is_empty) {
            return Err(format!(
                "--vary {arg:?}: an empty value; separate values with single commas"
            ));
        }
        Ok(Vary { key, values })
    }
}

/// Every combination of the axes' values, the first axis varying slowest; each a list of
/// settings to apply on top of the scenario.
pub fn settings(axes: &[Vary]) -> Vec<Vec<Override>> {
    let mut all: Vec<Vec<Override>> = vec![Vec::new()];
    for axis in axes {
        all = all
            .into_iter()
            .flat_map(|done| {
                axis.values.iter().map(move |v| {
                    let mut next = done.clone();
                    next.push(Override {
                        key: axis.key.clone(),
                        value: v.clone(),
                        flag: "--vary",
                    });
                    next
                })
            })
            .collect();
    }
    all
}

/// How many settings the axes make, without making them (saturating).
pub fn size(axes: &[Vary]) -> usize {
    axes.iter()
        .fold(1usize, |n, a| n.saturating_mul(a.values.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(arg: &str) -> Vec<String> {
        Vary::parse(arg).expect("valid").values
    }

    #[test]
    fn lists_and_inclusive_ranges() {
        assert_eq!(values("pool.pool_size=4,8,16"), ["4", "8", "16"]);
        assert_eq!(
            values("pool.min_dispatch_delay_ms=0..100/20"),
            ["0", "20", "40", "60", "80", "100"]
        );
        assert_eq!(values("k=0..90/20"), ["0", "20", "40", "60", "80"]);
        assert_eq!(
            values("pool.backoff_multiplier=1.5..2.0/0.1"),
            ["1.5", "1.6", "1.7", "1.8", "1.9", "2.0"]
        );
        assert_eq!(values("pool.gate=min,aimd"), ["min", "aimd"]);
        assert_eq!(
            values("service.latency_ms={ min = 1, max = 2 },{ min = 5, max = 9 }"),
            ["{ min = 1, max = 2 }", "{ min = 5, max = 9 }"]
        );
        assert_eq!(values("name=\"a,b\",c"), ["\"a,b\"", "c"]);
    }

    #[test]
    fn bad_axes_are_refused_in_words() {
        for (arg, fragment) in [
            ("pool.pool_size", "write KEY=VALUES"),
            ("pool.pool_size=4,,8", "an empty value"),
            ("k=10..0/5", "A <= B and STEP > 0"),
            ("k=0..10/0", "A <= B and STEP > 0"),
            ("k=0..1000000/1", "more than 10000 values"),
            ("k=a..b/1", "with numbers"),
            ("pool..x=1", "--vary"),
        ] {
            let e = Vary::parse(arg).expect_err(arg);
            assert!(e.contains(fragment), "{arg}: {e}");
        }
    }

    #[test]
    fn the_grid_is_every_combination_first_axis_slowest() {
        let axes = [
            Vary::parse("a=1,2").expect("valid"),
            Vary::parse("b=x,y,z").expect("valid"),
        ];
        let grid: Vec<String> = settings(&axes)
            .iter()
            .map(|s| {
                s.iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(
            grid,
            [
                "a=1 b=x", "a=1 b=y", "a=1 b=z", "a=2 b=x", "a=2 b=y", "a=2 b=z"
            ]
        );
        assert_eq!(size(&axes), 6);
    }
}
