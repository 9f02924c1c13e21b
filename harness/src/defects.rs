//! Switching a defect of the bug zoo on around a piece of work.

use paceline_trace::DefectId;

/// Run `work` with `defect` switched on in the core, and off again after, even if `work`
/// panics.
#[cfg(feature = "mutants")]
pub fn with_defect<T>(defect: DefectId, work: impl FnOnce() -> T) -> Result<T, String> {
    use paceline_core::mutant::{Defect, activate};
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            activate(None);
        }
    }
    let switch = Defect::ALL
        .into_iter()
        .find(|d| *d as u8 == defect.number())
        .ok_or_else(|| format!("the core has no switch for {defect}"))?;
    activate(Some(switch));
    let _off = Off;
    Ok(work())
}

/// Without the `mutants` feature there are no defects to switch on.
#[cfg(not(feature = "mutants"))]
pub fn with_defect<T>(defect: DefectId, _work: impl FnOnce() -> T) -> Result<T, String> {
    Err(format!(
        "{defect} needs paceline built with the `mutants` feature"
    ))
}
