//! Exact bipartite matching of a case's slots to candidate adapters (augmenting paths).
//!
//! First-fit gives up when a flexible slot takes the only adapter a strict slot could
//! use; augmenting paths move the flexible slot to another adapter instead.

use std::collections::HashMap;

/// A maximum matching: for each slot (by index into `candidates`), the candidate it got.
/// Candidates are any comparable ids; a slot lists the ones it accepts, best first.
pub fn maximum_matching<T: Clone + Eq + std::hash::Hash>(candidates: &[Vec<T>]) -> Vec<Option<T>> {
    let mut owner: HashMap<T, usize> = HashMap::new();
    for slot in 0..candidates.len() {
        let mut visited = Vec::new();
        augment(slot, candidates, &mut owner, &mut visited);
    }
    let mut result = vec![None; candidates.len()];
    for (candidate, slot) in owner {
        result[slot] = Some(candidate);
    }
    result
}

/// Tries to give `slot` a candidate: a free one if it has any (so slots keep the oldest
/// adapters in order), else one freed by moving an earlier slot along an augmenting path.
fn augment<T: Clone + Eq + std::hash::Hash>(
    slot: usize,
    candidates: &[Vec<T>],
    owner: &mut HashMap<T, usize>,
    visited: &mut Vec<T>,
) -> bool {
    if let Some(free) = candidates[slot].iter().find(|c| !owner.contains_key(*c) && !visited.contains(*c)) {
        owner.insert(free.clone(), slot);
        return true;
    }
    for candidate in &candidates[slot] {
        if visited.contains(candidate) {
            continue;
        }
        visited.push(candidate.clone());
        let free = match owner.get(candidate).copied() {
            None => true,
            Some(other) => augment(other, candidates, owner, visited),
        };
        if free {
            owner.insert(candidate.clone(), slot);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_a_flexible_slot_to_free_the_strict_one() {
        // slot 0 accepts v2 (listed first) and v1; slot 1 accepts only v2.
        let m = maximum_matching(&[vec!["v2", "v1"], vec!["v2"]]);
        assert_eq!(m, vec![Some("v1"), Some("v2")]);
    }

    #[test]
    fn gives_free_candidates_in_order_before_moving_anyone() {
        let m = maximum_matching(&[vec!["a", "b"], vec!["a", "b"]]);
        assert_eq!(m, vec![Some("a"), Some("b")]);
    }

    #[test]
    fn leaves_a_slot_empty_when_no_candidate_is_left() {
        let m = maximum_matching(&[vec!["a"], vec!["a"]]);
        assert_eq!(m.iter().filter(|s| s.is_some()).count(), 1);
    }

    #[test]
    fn finds_a_long_augmenting_path() {
        let m = maximum_matching(&[vec![1, 2], vec![2, 3], vec![3, 4], vec![1]]);
        assert!(m.iter().all(Option::is_some));
        assert_eq!(m[3], Some(1));
    }
}
