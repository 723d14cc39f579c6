//! Small primitives the legacy MAC suites build on (P6 and its SM3 analogue).

use ::sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;

/// SM3 digest (GB/T 32905).
pub fn sm3(data: &[u8]) -> [u8; 32] {
    Sm3::digest(data).into()
}

/// Constant-time equality of two byte strings, for comparing MACs: no early exit that would
/// leak how long a matching prefix an attacker has found. Different lengths compare unequal
/// (the length itself is not secret: MAC lengths are fixed by the protocol).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
