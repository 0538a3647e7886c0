//! Which rank owns which parameter: whole parameters, balanced by size.

/// The owner of every parameter. As in PyTorch's `ZeroRedundancyOptimizer`, parameters are not split: each goes,
/// largest first, to the rank that holds the fewest values so far (the lowest rank on a tie), so that every rank
/// keeps about 1/N of the state when the parameters are many and small against the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    owners: Vec<usize>,
    lens: Vec<usize>,
    ranks: usize,
}

impl Partition {
    /// The partition of parameters of `lens` values among `ranks` ranks (at least 1).
    pub fn balanced(lens: &[usize], ranks: usize) -> Partition {
        assert!(ranks > 0, "at least one rank");
        let mut order: Vec<usize> = (0..lens.len()).collect();
        order.sort_by_key(|&p| std::cmp::Reverse(lens[p]));
        let mut load = vec![0usize; ranks];
        let mut owners = vec![0; lens.len()];
        for p in order {
            let rank = (0..ranks).min_by_key(|&r| (load[r], r)).expect("at least one rank");
            owners[p] = rank;
            load[rank] += lens[p];
        }
        Partition { owners, lens: lens.to_vec(), ranks }
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// The rank that owns the parameter at `position`.
    pub fn owner(&self, position: usize) -> usize {
        self.owners[position]
    }

    /// Every parameter's owner, by position.
    pub fn owners(&self) -> &[usize] {
        &self.owners
    }

    /// The positions `rank` owns, in order.
    pub fn owned(&self, rank: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.owners.len()).filter(move |&p| self.owners[p] == rank)
    }

    /// The number of values each rank owns.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.ranks];
        for (p, &rank) in self.owners.iter().enumerate() {
            counts[rank] += self.lens[p];
        }
        counts
    }

    /// The positions in the order of a packed buffer: rank 0's, then rank 1's, and so on.
    pub fn packing_order(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.ranks).flat_map(move |rank| self.owned(rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_first_to_the_least_loaded_rank() {
        let partition = Partition::balanced(&[10, 40, 30, 20, 5], 2);
        // 40 → 0, 30 → 1, 20 → 1 (30 < 40), 10 → 0 (40 < 50), 5 → 0 (50 = 50: the lowest rank).
        assert_eq!(partition.owners(), &[0, 0, 1, 1, 0]);
        assert_eq!(partition.counts(), vec![55, 50]);
        assert_eq!(partition.owned(1).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(partition.packing_order().collect::<Vec<_>>(), vec![0, 1, 4, 2, 3]);
        let one = Partition::balanced(&[3, 1, 2], 1);
        assert_eq!((one.owners(), one.counts()), (&[0, 0, 0][..], vec![6]));
        let many = Partition::balanced(&[4, 4], 3);
        assert_eq!(many.counts(), vec![4, 4, 0]);
    }
}
