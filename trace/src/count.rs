//! Counts as users read them: "1 run", "3 runs", "no exact expectations" is the caller's
//! choice, the plural is spelled here once.

/// `n` and the noun, in the plural unless `n` is 1: `counted(1, "seed")` is "1 seed",
/// `counted(2, "batch")` is "2 batches".
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// The plural of an English noun of paceline's vocabulary (regular nouns only).
fn plural(noun: &str) -> String {
    if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) {
        format!("{noun}es")
    } else if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(counted(1u64, "run"), "1 run");
        assert_eq!(counted(0u64, "run"), "0 runs");
        assert_eq!(counted(2u32, "batch"), "2 batches");
        assert_eq!(counted(12u64, "seed"), "12 seeds");
        assert_eq!(counted(3u64, "retry"), "3 retries");
        assert_eq!(counted(2u64, "entry"), "2 entries");
        assert_eq!(counted(2u64, "day"), "2 days");
    }
}
