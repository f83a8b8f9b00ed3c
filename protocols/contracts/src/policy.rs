//! How over-subscription is resolved when allocations ask for more than the farm delivers.

use std::fmt;
use std::str::FromStr;

/// The rule that decides who is cut when the active allocations ask for more than the farm's
/// hashrate. Written `purchase-order` or `pro-rata` in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Earlier purchases (lower `order`) are served in full first; the last ones are cut.
    #[default]
    PurchaseOrder,
    /// Every active allocation is scaled down by the same factor.
    ProRata,
}

/// A policy name that is not `purchase-order` or `pro-rata`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown over-subscription policy `{0}`: expected `purchase-order` or `pro-rata`")]
pub struct PolicyError(pub String);

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::PurchaseOrder => "purchase-order",
            Policy::ProRata => "pro-rata",
        }
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Policy, PolicyError> {
        match text {
            "purchase-order" => Ok(Policy::PurchaseOrder),
            "pro-rata" => Ok(Policy::ProRata),
            other => Err(PolicyError(other.to_string())),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
