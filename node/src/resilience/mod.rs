//! Under construction by the resilience work; see docs/.
