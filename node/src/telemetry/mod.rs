//! Under construction by the telemetry work; see docs/.
