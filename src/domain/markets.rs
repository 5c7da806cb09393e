//! Which markets a connection trades: what its key's rights are judged against.

/// Which markets a connection trades; futures rights are required only when `futures` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Markets {
    pub spot: bool,
    pub futures: bool,
}
