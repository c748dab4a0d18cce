//! Under construction by the agents work; see docs/.
