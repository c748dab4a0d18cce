//! Placeholder until this group is written: records nothing.

use crate::Mode;
use crate::summary::Summary;

/// Runs the group.
pub(crate) fn run(
    _mode: Mode,
    _bins: &crate::procs::Binaries,
    _summary: &mut Summary,
) -> anyhow::Result<()> {
    Ok(())
}
