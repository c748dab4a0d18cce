//! Under construction by the storage work; see docs/.
