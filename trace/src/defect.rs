//! Defect ids of the bug zoo (`D1` ... `D20`), parsed in one place.

use std::fmt;

/// A defect of the model's bug zoo, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DefectId(u8);

impl DefectId {
    /// The highest defect number the model names.
    pub const LAST: u8 = 20;

    /// Every defect, in order.
    pub fn all() -> impl Iterator<Item = DefectId> {
        (1..=Self::LAST).map(DefectId)
    }

    /// `D1` ... `D20`; anything else is `None`.
    pub fn parse(s: &str) -> Option<DefectId> {
        let digits = s.strip_prefix('D')?;
        // "D01" and "D+1" are not how the model spells an id.
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Self::from_number(digits.parse().ok()?)
    }

    /// The defect with this number, if the model has one.
    pub fn from_number(n: u8) -> Option<DefectId> {
        (1..=Self::LAST).contains(&n).then_some(DefectId(n))
    }

    /// Its number: 1 for D1.
    pub fn number(self) -> u8 {
        self.0
    }
}

impl fmt::Display for DefectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "D{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_as_the_model_spells_them() {
        assert_eq!(DefectId::parse("D1").map(DefectId::number), Some(1));
        assert_eq!(DefectId::parse("D20").map(DefectId::number), Some(20));
        for bad in ["D0", "D21", "d1", "D01", "D+1", "D", "1", ""] {
            assert_eq!(DefectId::parse(bad), None, "{bad}");
        }
        assert_eq!(DefectId::all().count(), 20);
        assert_eq!(
            DefectId::from_number(7).map(|d| d.to_string()),
            Some("D7".into())
        );
    }
}
