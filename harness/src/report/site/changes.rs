//! "Changed since": the cells whose verdict differs from a previous
//! matrix (`matrix.previous.json`), and the targets it did not have.

use serde::{Deserialize, Serialize};

use super::model::Matrix;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Since {
    /// What the previous matrix published (its `published`).
    pub previous: String,
    pub changes: Vec<Change>,
    /// Targets the previous matrix did not have (their cells are new, not
    /// changed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_targets: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub target: String,
    pub id: String,
    /// The previous cell's label; none for a scenario the target did not
    /// run before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    pub after: String,
}

/// What changed from `previous` to `current`: cells of a target both have
/// whose verdict differs, or which are new to it.
pub fn since(previous: &Matrix, current: &Matrix) -> Since {
    let mut changes = Vec::new();
    let mut new_targets = Vec::new();
    for target in &current.targets {
        let Some(before) = previous
            .targets
            .iter()
            .find(|old| old.name == target.name && old.role == target.role)
        else {
            new_targets.push(target.name.clone());
            continue;
        };
        for (id, cell) in &target.cells {
            let old = before.cells.get(id);
            if old.is_none_or(|old| old.verdict != cell.verdict) {
                changes.push(Change {
                    target: target.name.clone(),
                    id: id.clone(),
                    before: old.map(|old| old.label()),
                    after: cell.label(),
                });
            }
        }
    }
    Since {
        previous: previous.published.clone(),
        changes,
        new_targets,
    }
}

impl Since {
    /// The change of one cell, if it changed.
    pub fn of(&self, target: &str, id: &str) -> Option<&Change> {
        self.changes
            .iter()
            .find(|change| change.target == target && change.id == id)
    }
}
