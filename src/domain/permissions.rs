//! A key's rights, as far as the exchange would tell.

use serde::{Deserialize, Serialize};

/// A key's rights. `None` means the exchange would not tell us (reported as JSON `null`).
/// `futures` is whether the key holds futures rights at all, even when the connection does not
/// use futures (that is how `futures_not_needed` is found).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Permissions {
    pub read: Option<bool>,
    pub trade: Option<bool>,
    pub withdraw: Option<bool>,
    pub futures: Option<bool>,
}
