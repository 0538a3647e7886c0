//! A running average of a model's variables (SWA or EMA), to evaluate in their place.

use candle_core::{DType, Device, Tensor, Var};
use descent::average::{AveragedParams, Averaging};
use descent::Float;

/// PyTorch's `AveragedModel` for candle variables: [`update`](Self::update) averages the variables' current
/// values in (SWA or EMA, with [`AveragedParams`]' numerics), and [`with_averaged`](Self::with_averaged)
/// evaluates the model at the average.
///
/// `bf16` variables are averaged in `f32` (their values widened exactly) and set to the average rounded to the
/// nearest `bf16`: an average of many bfloat16 weights needs more bits than each has. PyTorch's `AveragedModel`
/// of a bfloat16 model averages in bfloat16 (a deliberate difference).
///
/// ```
/// use candle_core::{Device, Tensor, Var};
/// use descent::average::Averaging;
/// use descent_candle::AveragedVars;
///
/// let w = Var::from_tensor(&Tensor::new(&[1.0f32, 4.0], &Device::Cpu)?)?;
/// let mut swa = AveragedVars::new(vec![("w".into(), w.clone())], Averaging::Swa)?;
/// swa.update()?;
/// w.set(&Tensor::new(&[3.0f32, 0.0], &Device::Cpu)?)?;
/// swa.update()?;
/// let at_average = swa.with_averaged(|| w.as_tensor().to_vec1::<f32>())?;
/// assert_eq!(at_average, [2.0, 2.0]);
/// assert_eq!(w.as_tensor().to_vec1::<f32>()?, [3.0, 0.0]); // the training values are back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AveragedVars {
    vars: Vec<(String, Var)>,
    f32: AveragedParams<f32>,
    f64: AveragedParams<f64>,
}

impl AveragedVars {
    /// An average of `vars` (`f32`, `bf16` or `f64`, on the CPU), empty until the first update.
    pub fn new(vars: Vec<(String, Var)>, averaging: Averaging) -> Result<Self, descent::Error> {
        if let Some((name, var)) = vars.iter().find(|(_, v)| averaged_type(v.dtype()).is_none()) {
            return Err(descent::Error::UnsupportedType { name: name.clone(), dtype: format!("{:?}", var.dtype()) });
        }
        Ok(AveragedVars { vars, f32: AveragedParams::try_new(averaging)?, f64: AveragedParams::try_new(averaging)? })
    }

    /// How many updates it has averaged.
    pub fn n_averaged(&self) -> u64 {
        self.f32.n_averaged().max(self.f64.n_averaged())
    }

    /// Averages the variables' current values in.
    pub fn update(&mut self) -> candle_core::Result<()> {
        // `f32` variables on the CPU are read where they are (an EMA is updated after every step, and a copy would
        // cost as much as the update); the others (`bf16`, not contiguous, on another device) are copied first.
        let tensors = self
            .vars
            .iter()
            .filter(|(_, v)| averaged_type(v.dtype()) == Some(DType::F32))
            .map(|(_, v)| v.as_tensor().to_device(&Device::Cpu)?.to_dtype(DType::F32)?.contiguous())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let guards: Vec<_> = tensors.iter().map(Tensor::storage_and_layout).collect();
        let f32s = guards
            .iter()
            .map(|(storage, layout)| crate::values_in_place::<f32>(storage, layout))
            .collect::<candle_core::Result<Vec<&[f32]>>>()?;
        self.f32.update(&f32s).map_err(candle_core::Error::wrap)?;
        drop(guards);
        let f64s = self.values::<f64>(DType::F64)?;
        self.f64.update(&f64s.iter().map(Vec::as_slice).collect::<Vec<_>>()).map_err(candle_core::Error::wrap)
    }

    /// Runs `f` with every variable set to its average, then puts the variables' own values back (also when `f`
    /// fails). Before the first update, `f` runs on the variables as they are.
    pub fn with_averaged<R>(&self, f: impl FnOnce() -> candle_core::Result<R>) -> candle_core::Result<R> {
        if self.n_averaged() == 0 {
            return f();
        }
        let own: Vec<Tensor> =
            self.vars.iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        self.set_all(&self.averages()?)?;
        let result = f();
        let restored = self.vars.iter().zip(&own).try_for_each(|((_, var), value)| var.set(value));
        let value = result?;
        restored?;
        Ok(value)
    }

    /// The averaged value of each variable, by name, as tensors of the variables' shapes (none before the first
    /// update), in the type they are averaged in (`f32` for `bf16` variables).
    pub fn averages(&self) -> candle_core::Result<Vec<(String, Tensor)>> {
        if self.n_averaged() == 0 {
            return Ok(Vec::new());
        }
        let (mut f32s, mut f64s) = (self.f32.params().iter(), self.f64.params().iter());
        self.vars
            .iter()
            .map(|(name, var)| {
                let tensor = match averaged_type(var.dtype()) {
                    Some(DType::F32) => {
                        Tensor::from_slice(f32s.next().expect("one per f32 variable"), var.dims(), &Device::Cpu)?
                    }
                    _ => Tensor::from_slice(f64s.next().expect("one per f64 variable"), var.dims(), &Device::Cpu)?,
                };
                Ok((name.clone(), tensor))
            })
            .collect()
    }

    /// Restores an average saved as its [`averages`](Self::averages) and [`n_averaged`](Self::n_averaged); on
    /// error, nothing changes.
    pub fn restore(&mut self, n_averaged: u64, averages: &[(String, Tensor)]) -> candle_core::Result<()> {
        let (mut f32s, mut f64s) = (Vec::new(), Vec::new());
        if n_averaged > 0 {
            for (name, var) in &self.vars {
                let (_, tensor) = averages
                    .iter()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| candle_core::Error::Msg(format!("the saved average has no {name}")))?;
                if tensor.dims() != var.dims() {
                    return Err(candle_core::Error::Msg(format!("the saved average of {name} has another shape")));
                }
                match averaged_type(var.dtype()) {
                    Some(DType::F32) => f32s.push(tensor.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?),
                    _ => f64s.push(tensor.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?),
                }
            }
        }
        let averaging = self.f32.averaging();
        let (n32, n64) = (if f32s.is_empty() { 0 } else { n_averaged }, if f64s.is_empty() { 0 } else { n_averaged });
        let f32 = AveragedParams::from_parts(averaging, n32, f32s).map_err(candle_core::Error::wrap)?;
        let f64 = AveragedParams::from_parts(averaging, n64, f64s).map_err(candle_core::Error::wrap)?;
        (self.f32, self.f64) = (f32, f64);
        Ok(())
    }

    /// The current values of the variables averaged in `dtype`, widened to it.
    fn values<T: Float + candle_core::WithDType>(&self, dtype: DType) -> candle_core::Result<Vec<Vec<T>>> {
        self.vars
            .iter()
            .filter(|(_, v)| averaged_type(v.dtype()) == Some(dtype))
            .map(|(_, v)| v.as_tensor().to_dtype(dtype)?.flatten_all()?.to_vec1::<T>())
            .collect()
    }

    fn set_all(&self, averages: &[(String, Tensor)]) -> candle_core::Result<()> {
        self.vars.iter().zip(averages).try_for_each(|((_, var), (_, value))| var.set(&value.to_dtype(var.dtype())?))
    }
}

/// The type a variable of `dtype` is averaged in, if it can be.
fn averaged_type(dtype: DType) -> Option<DType> {
    match dtype {
        DType::F32 | DType::BF16 => Some(DType::F32),
        DType::F64 => Some(DType::F64),
        _ => None,
    }
}
