//! The communicator over MPI: every process `mpirun` started, through rsmpi.

use std::cell::RefCell;

use mpi::collective::SystemOperation;
use mpi::datatype::{Equivalence, PartitionMut};
use mpi::raw::AsRaw;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;
use mpi::Count;

use crate::Communicator;
use crate::ShardError;

/// MPI's world communicator. Holds the MPI environment: MPI is finalized when this is dropped, and can be
/// initialized once per process.
pub struct MpiWorld {
    world: SimpleCommunicator,
    /// What an all-reduce sends (rsmpi has no in-place form): kept from step to step, so that a step allocates
    /// nothing.
    send: RefCell<Vec<f32>>,
    _universe: mpi::environment::Universe,
}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiWorld").field("rank", &self.rank()).field("size", &self.size()).finish()
    }
}

impl MpiWorld {
    /// Initializes MPI (a process started without `mpirun` is a world of one). MPI can be initialized once per
    /// process: a second call is an error.
    pub fn init() -> Result<MpiWorld, ShardError> {
        let universe = mpi::initialize().ok_or(ShardError::AlreadyInitialized)?;
        Ok(MpiWorld { world: universe.world(), send: RefCell::new(Vec::new()), _universe: universe })
    }
}

/// MPI's element counts and offsets.
fn counts_and_offsets(counts: &[usize]) -> (Vec<Count>, Vec<Count>) {
    let counts: Vec<Count> =
        counts.iter().map(|&c| Count::try_from(c).expect("a part fits MPI's count (2³¹ − 1 values)")).collect();
    let offsets = counts.iter().scan(0, |offset, &c| Some(std::mem::replace(offset, *offset + c))).collect();
    (counts, offsets)
}

impl Communicator for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum(&self, values: &mut [f32]) {
        let mut send = self.send.borrow_mut();
        send.clear();
        send.extend_from_slice(values);
        self.world.all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    fn all_reduce_sum_f64(&self, values: &mut [f64]) {
        let send = values.to_vec();
        self.world.all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    fn all_reduce_max(&self, value: u64) -> u64 {
        let mut max = 0u64;
        self.world.all_reduce_into(&value, &mut max, SystemOperation::max());
        max
    }

    fn reduce_scatter_sum(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) {
        assert_eq!(counts.iter().sum::<usize>(), send.len(), "the parts cover what is sent");
        assert_eq!(counts[self.rank()], recv.len(), "this rank's part fits what it receives");
        let (counts, _) = counts_and_offsets(counts);
        // rsmpi wraps only the block form (equal parts); the parts of a sharded optimizer differ in size.
        // SAFETY: `send` holds the sum of `counts` values and `recv` this rank's count (both checked above), of
        // the datatype given; the communicator is valid for the life of `self`.
        unsafe {
            mpi::ffi::MPI_Reduce_scatter(
                send.as_ptr().cast(),
                recv.as_mut_ptr().cast(),
                counts.as_ptr(),
                f32::equivalent_datatype().as_raw(),
                SystemOperation::sum().as_raw(),
                self.world.as_raw(),
            );
        }
    }

    fn all_gather(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) {
        let (counts, offsets) = counts_and_offsets(counts);
        let mut partition = PartitionMut::new(recv, counts, offsets);
        self.world.all_gather_varcount_into(send, &mut partition);
    }
}
