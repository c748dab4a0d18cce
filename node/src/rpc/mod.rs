//! Under construction by the rpc work; see docs/.
