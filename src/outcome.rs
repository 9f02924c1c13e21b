//! What a command concludes, mapped to the exit codes of the format.

/// A command's conclusion.
pub enum Outcome {
    /// Exit 0: everything held.
    Passed,
    /// Exit 1: an invariant or expectation failed (already reported).
    Failed,
    /// Exit 2: the input was refused, with the message to print.
    Refused(String),
}

impl Outcome {
    pub fn of(passed: bool) -> Outcome {
        if passed {
            Outcome::Passed
        } else {
            Outcome::Failed
        }
    }
}
