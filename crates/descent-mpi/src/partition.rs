//! Which rank owns which values: parameters split into pieces where the optimizer allows, balanced by size.

use std::ops::Range;

/// A run of one parameter's values that one rank owns and steps: the whole parameter, or part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The parameter's position.
    pub param: usize,
    /// Its values in the piece, in the parameter's (row-major) order.
    pub values: Range<usize>,
    /// The rank that owns it.
    pub owner: usize,
}

impl Piece {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether it has no values (only an empty parameter's piece).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The owners of every parameter's values, as DeepSpeed's ZeRO splits them: a parameter the optimizer steps
/// element by element ([`descent::Spec::splits`]) may be cut into pieces on several ranks, so that every rank owns
/// 1/N of the values however large the largest parameter is; the others go whole, largest first, to the rank that
/// holds the fewest values so far (as PyTorch's `ZeroRedundancyOptimizer` places every parameter), and the
/// splittable ones then fill the ranks up to an even level, in position order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// By parameter position, then by first value: each parameter's pieces cover it, in order.
    pieces: Vec<Piece>,
    ranks: usize,
}

impl Partition {
    /// The partition of parameters of `lens` values among `ranks` ranks (at least 1); `splits[p]` says whether
    /// parameter `p` may be cut.
    ///
    /// # Panics
    /// If `ranks` is 0 or `splits` and `lens` differ in length.
    pub fn balanced(lens: &[usize], splits: &[bool], ranks: usize) -> Partition {
        assert!(ranks > 0, "at least one rank");
        assert_eq!(lens.len(), splits.len(), "one flag per parameter");
        let cut = |p: usize| splits[p] && lens[p] > 0;
        // Whole parameters first, largest first, each to the least loaded rank (the lowest on a tie).
        let mut whole: Vec<usize> = (0..lens.len()).filter(|&p| !cut(p)).collect();
        whole.sort_by_key(|&p| std::cmp::Reverse(lens[p]));
        let mut load = vec![0usize; ranks];
        let mut pieces = Vec::with_capacity(lens.len() + ranks);
        for p in whole {
            let owner = (0..ranks).min_by_key(|&r| (load[r], r)).expect("at least one rank");
            load[owner] += lens[p];
            pieces.push(Piece { param: p, values: 0..lens[p], owner });
        }
        // Then the splittable values, as one run in position order, cut where each rank reaches the level.
        let capacity = fill_to_level(&load, (0..lens.len()).filter(|&p| cut(p)).map(|p| lens[p]).sum());
        let mut rank = 0;
        let mut room = capacity[0];
        for p in (0..lens.len()).filter(|&p| cut(p)) {
            let mut start = 0;
            while start < lens[p] {
                while room == 0 {
                    rank += 1;
                    room = capacity[rank];
                }
                let end = lens[p].min(start + room);
                pieces.push(Piece { param: p, values: start..end, owner: rank });
                room -= end - start;
                start = end;
            }
        }
        pieces.sort_by_key(|piece| (piece.param, piece.values.start));
        Partition { pieces, ranks }
    }

    /// The partition of whole parameters with the given owners (by position), as checkpoints of the whole-parameter
    /// partition recorded it; `None` if an owner is not a rank.
    pub fn of_owners(lens: &[usize], owners: &[usize], ranks: usize) -> Option<Partition> {
        if lens.len() != owners.len() || owners.iter().any(|&r| r >= ranks) {
            return None;
        }
        let pieces = owners.iter().enumerate().map(|(p, &owner)| Piece { param: p, values: 0..lens[p], owner });
        Some(Partition { pieces: pieces.collect(), ranks })
    }

    /// The partition with these pieces, as a checkpoint recorded it; `None` unless they cover parameters of `lens`
    /// values exactly, in order, and each owner is one of `ranks`.
    pub fn of_pieces(lens: &[usize], pieces: Vec<Piece>, ranks: usize) -> Option<Partition> {
        let mut next = 0;
        for (p, &len) in lens.iter().enumerate() {
            let mut covered = 0;
            loop {
                let piece = pieces.get(next)?;
                let fits = piece.param == p
                    && piece.values.start == covered
                    && piece.values.end <= len
                    && (!piece.values.is_empty() || len == 0)
                    && piece.owner < ranks;
                if !fits {
                    return None;
                }
                covered = piece.values.end;
                next += 1;
                if covered == len {
                    break;
                }
            }
        }
        (next == pieces.len()).then_some(Partition { pieces, ranks })
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// Every piece, by parameter position and then by first value: a parameter's pieces cover it in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The indices (into [`Partition::pieces`]) of the pieces of the parameter at `position`, in order.
    pub fn pieces_of(&self, position: usize) -> Range<usize> {
        let first = self.pieces.partition_point(|piece| piece.param < position);
        first..self.pieces.partition_point(|piece| piece.param <= position)
    }

    /// The indices (into [`Partition::pieces`]) of the pieces `rank` owns, in order.
    pub fn owned(&self, rank: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.pieces.len()).filter(move |&k| self.pieces[k].owner == rank)
    }

    /// The number of values each rank owns.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.ranks];
        for piece in &self.pieces {
            counts[piece.owner] += piece.len();
        }
        counts
    }

    /// The pieces in the order of a packed buffer: rank 0's, then rank 1's, and so on.
    pub fn packing_order(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.ranks).flat_map(move |rank| self.owned(rank))
    }
}

/// How many more values each rank takes so that `extra` values bring the ranks, from `load`, as close to one level
/// as they can be: ranks above the level take none, the others the difference, in whole values (the first ranks
/// take the remainder).
fn fill_to_level(load: &[usize], extra: usize) -> Vec<usize> {
    let mut taking: Vec<usize> = (0..load.len()).collect();
    // Drop the ranks already above the level the others would reach, until none is.
    loop {
        let total: usize = taking.iter().map(|&r| load[r]).sum::<usize>() + extra;
        let kept: Vec<usize> = taking.iter().copied().filter(|&r| load[r] * taking.len() <= total).collect();
        if kept.len() == taking.len() {
            break;
        }
        taking = kept;
    }
    let total: usize = taking.iter().map(|&r| load[r]).sum::<usize>() + extra;
    let (level, remainder) = (total / taking.len(), total % taking.len());
    let mut capacity = vec![0; load.len()];
    for (k, &r) in taking.iter().enumerate() {
        capacity[r] = level + usize::from(k < remainder) - load[r];
    }
    capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(partition: &Partition) -> Vec<(usize, Range<usize>, usize)> {
        partition.pieces().iter().map(|p| (p.param, p.values.clone(), p.owner)).collect()
    }

    #[test]
    fn whole_parameters_go_largest_first_to_the_least_loaded_rank() {
        let partition = Partition::balanced(&[10, 40, 30, 20, 5], &[false; 5], 2);
        // 40 → 0, 30 → 1, 20 → 1 (30 < 40), 10 → 0 (40 < 50), 5 → 0 (50 = 50: the lowest rank).
        assert_eq!(owners(&partition), [(0, 0..10, 0), (1, 0..40, 0), (2, 0..30, 1), (3, 0..20, 1), (4, 0..5, 0)]);
        assert_eq!(partition.counts(), vec![55, 50]);
        assert_eq!(partition.owned(1).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(partition.packing_order().collect::<Vec<_>>(), vec![0, 1, 4, 2, 3]);
        assert_eq!(partition.pieces_of(3), 3..4);
        let many = Partition::balanced(&[4, 4], &[false, false], 3);
        assert_eq!(many.counts(), vec![4, 4, 0]);
    }

    #[test]
    fn splittable_parameters_are_cut_so_that_every_rank_owns_a_share() {
        // The MLP of `descent train`: 784 × 256 weights, 256 biases, 256 × 10, 10.
        let lens = [200_704, 256, 2_560, 10];
        let partition = Partition::balanced(&lens, &[true; 4], 2);
        assert_eq!(partition.counts(), vec![101_765, 101_765]);
        assert_eq!(
            owners(&partition),
            [(0, 0..101_765, 0), (0, 101_765..200_704, 1), (1, 0..256, 1), (2, 0..2_560, 1), (3, 0..10, 1)]
        );
        assert_eq!((partition.pieces_of(0), partition.pieces_of(3)), (0..2, 4..5));
        let three = Partition::balanced(&lens, &[true; 4], 3);
        assert_eq!(three.counts(), vec![67_844, 67_843, 67_843]);
        // One rank: every parameter whole, on it.
        let one = Partition::balanced(&lens, &[true; 4], 1);
        assert_eq!(owners(&one), [(0, 0..200_704, 0), (1, 0..256, 0), (2, 0..2_560, 0), (3, 0..10, 0)]);
    }

    #[test]
    fn whole_and_splittable_parameters_together_level_the_ranks() {
        // 60 whole on rank 0, 10 whole on rank 1; 50 splittable values bring both to 60.
        let partition = Partition::balanced(&[60, 30, 10, 20], &[false, true, false, true], 2);
        assert_eq!(partition.counts(), vec![60, 60]);
        assert_eq!(owners(&partition), [(0, 0..60, 0), (1, 0..30, 1), (2, 0..10, 1), (3, 0..20, 1)]);
        // A whole parameter larger than the level: the others share the rest evenly.
        let partition = Partition::balanced(&[100, 10, 11], &[false, true, true], 3);
        assert_eq!(partition.counts(), vec![100, 11, 10]);
        // An empty parameter stays whole.
        let partition = Partition::balanced(&[0, 5], &[true, true], 2);
        assert_eq!(owners(&partition), [(0, 0..0, 0), (1, 0..3, 0), (1, 3..5, 1)]);
    }

    #[test]
    fn recorded_pieces_are_checked() {
        let lens = [4, 0, 3];
        let piece = |param, values: Range<usize>, owner| Piece { param, values, owner };
        let good = vec![piece(0, 0..1, 1), piece(0, 1..4, 0), piece(1, 0..0, 0), piece(2, 0..3, 1)];
        assert!(Partition::of_pieces(&lens, good.clone(), 2).is_some());
        assert!(Partition::of_pieces(&lens, good.clone(), 1).is_none(), "owner 1 of one rank");
        let mut gap = good.clone();
        gap[1].values = 2..4;
        assert!(Partition::of_pieces(&lens, gap, 2).is_none());
        let mut short = good.clone();
        short.pop();
        assert!(Partition::of_pieces(&lens, short, 2).is_none());
        let mut long = good.clone();
        long[3].values = 0..4;
        assert!(Partition::of_pieces(&lens, long, 2).is_none());
        let mut empty_missing = good;
        empty_missing.remove(2);
        assert!(Partition::of_pieces(&lens, empty_missing, 2).is_none());
        assert!(Partition::of_owners(&lens, &[0, 1, 1], 2).is_some());
        assert!(Partition::of_owners(&lens, &[0, 2, 1], 2).is_none());
    }
}
