//! placeholder
use std::sync::Arc;

use axum::Router;

use super::SimState;

pub fn router(_state: Arc<SimState>) -> Router {
    Router::new()
}
