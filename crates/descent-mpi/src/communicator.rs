//! The collective operations a sharded optimizer needs, and the one-process communicator.

/// The processes that train one model together, and the collectives between them. Every rank must call the
/// same collectives in the same order with agreeing sizes; [`Sharded`](crate::Sharded) makes sure it does, and
/// checks before each step that every rank is able to take it.
pub trait Communicator {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;

    /// The number of processes.
    fn size(&self) -> usize;

    /// Sums `values` element-wise over every rank, in place.
    fn all_reduce_sum(&self, values: &mut [f32]);

    /// Sums `values` element-wise over every rank, in place, in `f64`.
    fn all_reduce_sum_f64(&self, values: &mut [f64]);

    /// The largest of every rank's `value`.
    fn all_reduce_max(&self, value: u64) -> u64;

    /// Sums `send` element-wise over every rank and gives each rank its part: rank `r` receives the `counts[r]`
    /// values after those of the ranks before it, into `recv` (`counts[rank]` long).
    fn reduce_scatter_sum(&self, send: &[f32], counts: &[usize], recv: &mut [f32]);

    /// Gathers every rank's `send` (`counts[r]` values from rank `r`) into `recv`, in rank order.
    fn all_gather(&self, send: &[f32], counts: &[usize], recv: &mut [f32]);
}

/// One process alone: every collective is a copy (or nothing).
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Communicator for Solo {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _values: &mut [f32]) {}

    fn all_reduce_sum_f64(&self, _values: &mut [f64]) {}

    fn all_reduce_max(&self, value: u64) -> u64 {
        value
    }

    fn reduce_scatter_sum(&self, send: &[f32], _counts: &[usize], recv: &mut [f32]) {
        recv.copy_from_slice(send);
    }

    fn all_gather(&self, send: &[f32], _counts: &[usize], recv: &mut [f32]) {
        recv.copy_from_slice(send);
    }
}
