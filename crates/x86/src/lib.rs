//! Architecture facts of the i686 (Intel SDM vol. 1 and 3): bit positions,
//! record layouts and vector numbers. This crate holds no state and knows no
//! engine; everything in it is a constant or a pure decoding function, so
//! every other crate can share one spelling of each fact.

pub mod cr;
pub mod descriptor;
pub mod exception;
pub mod flags;
pub mod msr;
pub mod paging;
