//! Averages of the parameters over training: stochastic weight averaging (SWA) and exponential moving averages
//! (EMA), as `torch.optim.swa_utils.AveragedModel` keeps them.

use serde::{Deserialize, Serialize};

use crate::kernel::zip_elements;
use crate::torch_ops::lerp;
use crate::{Error, Float};

/// Which average of the parameters to keep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Averaging {
    /// Stochastic weight averaging (Izmailov et al. 2018): the mean of every set of weights it is given,
    /// θ̄ₙ₊₁ = θ̄ₙ + (θ − θ̄ₙ)/(n + 1). Usually fed once per epoch late in training, with a constant or cyclic learning
    /// rate ([`Swalr`](crate::schedule::Swalr)); the average lands in a wider, flatter part of the minimum than
    /// any single iterate.
    Swa,
    /// An exponential moving average, θ̄ ← decay·θ̄ + (1 − decay)·θ, usually fed after every step: a smoothed copy of
    /// the weights that evaluates better than the noisy last iterate.
    Ema {
        /// How much of the average each update keeps, in [0, 1] (PyTorch's default 0.999).
        decay: f64,
    },
}

impl Averaging {
    /// An EMA with PyTorch's default decay, 0.999.
    pub const EMA: Averaging = Averaging::Ema { decay: 0.999 };

    fn validate(self) -> Result<(), Error> {
        match self {
            Averaging::Ema { decay } if !(0.0..=1.0).contains(&decay) => Err(Error::InvalidHyperparameter {
                optimizer: "AveragedModel",
                name: "decay",
                value: decay,
                expected: "a value in [0, 1]",
            }),
            _ => Ok(()),
        }
    }
}

/// A running average of parameters: PyTorch's `AveragedModel` on plain slices.
///
/// The first [`update`](Self::update) copies the parameters; each later one averages them in, with PyTorch's CPU
/// arithmetic: SWA as its default `avg_fn`, θ̄ + (θ − θ̄)/(n + 1) rounded after each operation; EMA as
/// `get_ema_multi_avg_fn(decay)`, `θ̄.lerp_(θ, 1 − decay)`. Both agree with PyTorch bit for bit.
///
/// ```
/// use descent::average::{AveragedParams, Averaging};
///
/// let mut swa = AveragedParams::<f64>::new(Averaging::Swa);
/// for w in [[1.0, 4.0], [2.0, 5.0], [6.0, 0.0]] {
///     swa.update(&[&w])?;
/// }
/// assert_eq!(swa.params()[0], [3.0, 3.0]);
/// assert_eq!(swa.n_averaged(), 3);
/// # Ok::<(), descent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AveragedParams<T> {
    averaging: Averaging,
    n_averaged: u64,
    params: Vec<Vec<T>>,
}

impl<T: Float> AveragedParams<T> {
    /// An empty average (it takes the shapes of the first parameters it is given).
    ///
    /// # Panics
    /// Never for [`Averaging::Swa`]; see [`try_new`](Self::try_new) for an EMA decay that may be out of range.
    pub fn new(averaging: Averaging) -> Self {
        Self::try_new(averaging).expect("a valid averaging")
    }

    /// An empty average, or an error for an EMA decay outside [0, 1].
    pub fn try_new(averaging: Averaging) -> Result<Self, Error> {
        averaging.validate()?;
        Ok(AveragedParams { averaging, n_averaged: 0, params: Vec::new() })
    }

    /// An average restored from its saved parts (a checkpoint's), checked.
    pub fn from_parts(averaging: Averaging, n_averaged: u64, params: Vec<Vec<T>>) -> Result<Self, Error> {
        averaging.validate()?;
        if (n_averaged == 0) != params.is_empty() {
            return Err(Error::StateMismatch(format!(
                "an average of {n_averaged} updates with {} parameters",
                params.len()
            )));
        }
        Ok(AveragedParams { averaging, n_averaged, params })
    }

    /// Which average it keeps.
    pub fn averaging(&self) -> Averaging {
        self.averaging
    }

    /// How many updates it has averaged (PyTorch's `n_averaged`).
    pub fn n_averaged(&self) -> u64 {
        self.n_averaged
    }

    /// The averaged parameters (empty before the first update).
    pub fn params(&self) -> &[Vec<T>] {
        &self.params
    }

    /// Averages `params` in. Their count and lengths must be those of the first update's; if not, nothing changes.
    pub fn update(&mut self, params: &[&[T]]) -> Result<(), Error> {
        if self.n_averaged == 0 {
            self.params = params.iter().map(|p| p.to_vec()).collect();
            self.n_averaged = 1;
            return Ok(());
        }
        if params.len() != self.params.len() {
            return Err(Error::CountMismatch { what: "parameters", expected: self.params.len(), got: params.len() });
        }
        if let Some((i, (p, a))) = params.iter().zip(&self.params).enumerate().find(|(_, (p, a))| p.len() != a.len()) {
            return Err(Error::ParameterLengthMismatch { param: format!("#{i}"), expected: a.len(), got: p.len() });
        }
        match self.averaging {
            Averaging::Swa => {
                let count = T::from_f64((self.n_averaged + 1) as f64);
                for (average, param) in self.params.iter_mut().zip(params) {
                    zip_elements(average, param, |a, p| *a = *a + (p - *a) / count);
                }
            }
            Averaging::Ema { decay } => {
                let weight = T::from_f64(1.0 - decay);
                for (average, param) in self.params.iter_mut().zip(params) {
                    zip_elements(average, param, |a, p| *a = lerp(*a, p, weight));
                }
            }
        }
        self.n_averaged += 1;
        Ok(())
    }
}
