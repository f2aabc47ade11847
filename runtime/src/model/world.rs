//! The state a rule reads, as an abstract [`World`]: a row by id, and the rows of a collection
//! that might match a probe. The reference evaluator's in-memory map and the engine's views of
//! the store are worlds; the judge never knows which it reads.

use super::row::RowState;
use crate::error::StorageError;
use crate::ids::RowId;
use crate::plan::{Probe, Use};
use std::rc::Rc;

/// A state that rules read.
pub trait World {
    /// A row as the state holds it, deleted or not; `None` if no effective op inserted it. A
    /// world may return a row that is exact only in what `used` reads: whether it exists and is
    /// deleted, its parent, and the fields [`crate::plan::ReadFields`] lists for that use (and, for
    /// [`Use::Bound`], its version).
    fn row(&self, id: &RowId, used: Use) -> Result<Option<Rc<RowState>>, StorageError>;

    /// Calls `visit` with rows of `collection` (at least every visible one that satisfies
    /// `probe`), until `visit` returns true.
    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError>;
}

/// A row, if it is visible: inserted, not deleted, and (for a nested row) its parent visible.
pub fn visible_row(world: &dyn World, id: &RowId, used: Use) -> Result<Option<Rc<RowState>>, StorageError> {
    let Some(row) = world.row(id, used)? else { return Ok(None) };
    let mut current = row.clone();
    for _ in 0..64 {
        if current.deleted {
            return Ok(None);
        }
        match current.parent {
            None => return Ok(Some(row)),
            Some(parent) => match world.row(&parent, Use::Visibility)? {
                Some(parent_row) => current = parent_row,
                None => return Ok(None),
            },
        }
    }
    Ok(None)
}
