//! What a caught panic said.

use std::any::Any;

/// The message a panic was raised with (`panic!` gives a `&str` or a `String`), or words
/// saying it had none: for runs whose panics are reported as findings (`explore`, the
/// fuzz campaigns). The pool keeps its own copy in `paceline-core`, which depends on
/// nothing.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_says_what_it_was_raised_with() {
        let said = |work: fn()| match std::panic::catch_unwind(work) {
            Err(payload) => panic_message(&*payload),
            Ok(()) => String::from("no panic"),
        };
        assert_eq!(said(|| panic!("plain")), "plain");
        assert_eq!(said(|| panic!("formatted {}", 7)), "formatted 7");
        assert_eq!(
            said(|| std::panic::panic_any(7u8)),
            "a panic without a message"
        );
    }
}
