//! How one exchange reply reads once its envelope and error codes are understood.

use crate::domain::Problem;

/// How one reply from an exchange reads once its envelope and error codes are understood.
#[derive(Debug)]
pub enum Outcome {
    /// Success: the call's data.
    Ok(serde_json::Value),
    /// The key lacks the right this endpoint needs: a fact about the key, not a problem.
    Denied(String),
    /// Anything that ends the probe.
    Problem(Problem),
}

impl Outcome {
    /// The data of a public endpoint. Such an endpoint needs no right, so a refusal there is not
    /// the key's doing: it counts as the exchange not answering properly.
    pub fn public_data(self) -> Result<serde_json::Value, Problem> {
        match self {
            Outcome::Ok(data) => Ok(data),
            Outcome::Denied(said) => Err(Problem::unavailable(said)),
            Outcome::Problem(problem) => Err(problem),
        }
    }
}
