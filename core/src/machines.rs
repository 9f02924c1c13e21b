//! The machines of a batch's rows at work, by row number.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::row::RowMachine;

/// The machines of the rows at work (a permit taken, not ended), by row number: looked
/// up several times per event, and one goes at every row's end, so a hash map rather
/// than an ordered one (whose removals shift and rebalance nodes). Nothing may depend on
/// its order: where rows are listed, they are sorted first.
pub(crate) type Machines = HashMap<usize, RowMachine, BuildHasherDefault<RowHasher>>;

/// An odd constant, the golden ratio's 64-bit fraction: Fibonacci hashing's multiplier.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// Row numbers are a batch's own indices, chosen by the pool rather than by its input: no
/// keyed hash is needed. A multiply mixes every bit of the row into the high half of the
/// product, and the high half is folded onto the low bits, which pick the table's bucket
/// (the low bits of a product alone depend only on the row's low bits).
#[derive(Default)]
pub(crate) struct RowHasher(u64);

impl Hasher for RowHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(SPREAD);
        }
    }

    fn write_usize(&mut self, row: usize) {
        let mixed = (row as u64).wrapping_mul(SPREAD);
        self.0 = mixed ^ (mixed >> 32);
    }
}
