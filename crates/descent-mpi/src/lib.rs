//! Data-parallel training with descent's optimizers: the optimizer state sharded across processes, ZeRO stages 1
//! and 2 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"), as
//! DeepSpeed and PyTorch's `ZeroRedundancyOptimizer` do.
//!
//! - [`Communicator`]: the collectives a sharded step needs; `MpiWorld` (feature `mpi`) runs them over MPI
//!   through rsmpi, [`Solo`] is one process alone.
//! - [`Sharded`]: any descent optimizer built from its spec through the registry, each rank keeping the state of
//!   its own share of the parameters' values ([`Partition`]: parameters cut into [`Piece`]s where the optimizer
//!   steps them element by element). [`ShardedVars`] drives candle variables with it.
//! - [`save`] and [`load`]: checkpoints of sharded state, one file per rank plus an index, loadable into any
//!   number of ranks (or into one unsharded optimizer); [`Sharded::merge`] joins shares in memory.
//!
//! ```
//! use std::rc::Rc;
//! use descent::{Param, Spec};
//! use descent_mpi::{Sharded, Solo, Stage};
//!
//! // Under `mpirun -np N`, `descent_mpi::MpiWorld::init()?` instead of `Solo` (with the `mpi` feature).
//! let spec: Spec = "adamw(lr=1e-3)".parse()?;
//! let params = vec![Param::named("weight", vec![2, 3]), Param::named("bias", vec![3])];
//! let mut optimizer = Sharded::new(Rc::new(Solo), vec![(spec, params)], Stage::Two)?;
//! let (mut weight, mut bias) = (vec![0.5_f32; 6], vec![0.0_f32; 3]);
//! let (grad_w, grad_b) = (vec![0.1_f32; 6], vec![-0.2_f32; 3]);
//! // This rank's gradients, weighted by its share of the global batch (here all of it).
//! optimizer.step(&mut [&mut weight, &mut bias], &[&grad_w, &grad_b], 1.0)?;
//! assert!(weight[0] < 0.5 && bias[0] > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod candle;
mod checkpoint;
mod communicator;
mod error;
#[cfg(feature = "mpi")]
mod mpi_world;
mod partition;
mod pieces;
mod sharded;

pub use candle::ShardedVars;
pub use checkpoint::{load, save, save_unsharded};
pub use communicator::{Communicator, Solo};
pub use error::ShardError;
#[cfg(feature = "mpi")]
pub use mpi_world::MpiWorld;
pub use partition::{Partition, Piece};
pub use sharded::{Sharded, Stage};
