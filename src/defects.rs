//! Switching a defect of the bug zoo on around a piece of work.

/// Run `work` with defect `n` (1 for D1 ... 15 for D15) switched on, and off again after,
/// even if `work` panics.
#[cfg(feature = "mutants")]
pub fn with_defect<T>(n: u8, work: impl FnOnce() -> T) -> Result<T, String> {
    use paceline_core::mutant::{Defect, activate};
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            activate(None);
        }
    }
    let defect = Defect::ALL
        .into_iter()
        .find(|d| *d as u8 == n)
        .ok_or_else(|| format!("there is no defect D{n}"))?;
    activate(Some(defect));
    let _off = Off;
    Ok(work())
}

/// Without the `mutants` feature there are no defects to switch on.
#[cfg(not(feature = "mutants"))]
pub fn with_defect<T>(n: u8, _work: impl FnOnce() -> T) -> Result<T, String> {
    Err(format!(
        "D{n} needs paceline built with the `mutants` feature"
    ))
}
