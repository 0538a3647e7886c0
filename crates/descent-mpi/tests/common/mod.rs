//! Ranks as threads of one test process, to test sharding without MPI: every collective deposits each rank's part,
//! waits for all, and sums in rank order (as MPI's reduction of two ranks does).

#![allow(dead_code)]

pub mod model;

use std::sync::{Arc, Barrier, Mutex};

use descent_mpi::Communicator;

struct Shared {
    barrier: Barrier,
    parts: Mutex<Vec<Vec<f64>>>,
}

/// One rank of a group of threads.
pub struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl Threads {
    /// Runs `f` on `size` ranks, one thread each, and returns their results in rank order.
    pub fn run<R: Send + 'static>(size: usize, f: impl Fn(Threads) -> R + Send + Sync + 'static) -> Vec<R> {
        let shared = Arc::new(Shared { barrier: Barrier::new(size), parts: Mutex::new(vec![Vec::new(); size]) });
        let f = Arc::new(f);
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let (shared, f) = (shared.clone(), f.clone());
                std::thread::spawn(move || f(Threads { rank, size, shared }))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a rank panicked")).collect()
    }

    /// Every rank's `part`, in rank order.
    fn exchange(&self, part: Vec<f64>) -> Vec<Vec<f64>> {
        self.shared.parts.lock().unwrap()[self.rank] = part;
        self.shared.barrier.wait();
        let all = self.shared.parts.lock().unwrap().clone();
        self.shared.barrier.wait();
        all
    }

    fn sum(&self, values: &[f64]) -> Vec<f64> {
        let all = self.exchange(values.to_vec());
        (0..values.len()).map(|i| all.iter().skip(1).fold(all[0][i], |s, part| s + part[i])).collect()
    }
}

impl Communicator for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, values: &mut [f32]) {
        // Summed in f32, as MPI sums f32 values.
        let all = self.exchange(values.iter().map(|&v| f64::from(v)).collect());
        for (i, v) in values.iter_mut().enumerate() {
            *v = all.iter().skip(1).fold(all[0][i] as f32, |s, part| s + part[i] as f32);
        }
    }

    fn all_reduce_sum_f64(&self, values: &mut [f64]) {
        let summed = self.sum(values);
        values.copy_from_slice(&summed);
    }

    fn all_reduce_max(&self, value: u64) -> u64 {
        // Exact for the flags and tags of these tests: halves compared, as u64 does not fit an f64.
        let all = self.exchange(vec![(value >> 32) as f64, (value & 0xffff_ffff) as f64]);
        all.iter().map(|p| ((p[0] as u64) << 32) | p[1] as u64).max().unwrap()
    }

    fn reduce_scatter_sum(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) {
        let mut all = send.to_vec();
        self.all_reduce_sum(&mut all);
        let start: usize = counts[..self.rank].iter().sum();
        recv.copy_from_slice(&all[start..start + counts[self.rank]]);
    }

    fn all_gather(&self, send: &[f32], _counts: &[usize], recv: &mut [f32]) {
        let all = self.exchange(send.iter().map(|&v| f64::from(v)).collect());
        let gathered: Vec<f32> = all.iter().flatten().map(|&v| v as f32).collect();
        recv.copy_from_slice(&gathered);
    }
}
