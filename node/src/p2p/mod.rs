//! Under construction by the p2p work; see docs/.
