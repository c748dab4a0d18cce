//! Registry, echo and key-value agent tests: dispatch, params errors, persistence.

mod kv;
mod registry;
