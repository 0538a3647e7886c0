//! State tensors kept in fewer bytes than the parameters: 8-bit codes with their blocks' scales, or bfloat16.
//! An optimizer step is bound by memory traffic, so state that moves fewer bytes makes it faster.

use half::bf16;
use serde::{Deserialize, Serialize};

use crate::Shape;

/// How a compact state tensor stores its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactType {
    /// One byte per value: an index into a quantization map.
    U8,
    /// bfloat16: the exponent of an `f32` with 8 bits of significand.
    Bf16,
    /// `f32` (the scales of 8-bit blocks, whatever the parameters' type).
    F32,
}

impl CompactType {
    /// The name of the type in safetensors files and messages.
    pub fn name(self) -> &'static str {
        match self {
            CompactType::U8 => "u8",
            CompactType::Bf16 => "bf16",
            CompactType::F32 => "f32",
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            CompactType::U8 => 1,
            CompactType::Bf16 => 2,
            CompactType::F32 => 4,
        }
    }

    pub(crate) fn zeros(self, len: usize) -> CompactData {
        match self {
            CompactType::U8 => CompactData::U8(vec![0; len]),
            CompactType::Bf16 => CompactData::Bf16(vec![bf16::ZERO; len]),
            CompactType::F32 => CompactData::F32(vec![0.0; len]),
        }
    }
}

/// The values of a compact state tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum CompactData {
    /// Codes.
    U8(Vec<u8>),
    /// bfloat16 values.
    Bf16(Vec<bf16>),
    /// `f32` values.
    F32(Vec<f32>),
}

impl CompactData {
    /// The storage type.
    pub fn kind(&self) -> CompactType {
        match self {
            CompactData::U8(_) => CompactType::U8,
            CompactData::Bf16(_) => CompactType::Bf16,
            CompactData::F32(_) => CompactType::F32,
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            CompactData::U8(v) => v.len(),
            CompactData::Bf16(v) => v.len(),
            CompactData::F32(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as little-endian bytes, as safetensors stores them.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            CompactData::U8(v) => v.clone(),
            CompactData::Bf16(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
            CompactData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Values of type `kind` from little-endian bytes (whose length must be a multiple of its size).
    pub fn from_le_bytes(kind: CompactType, bytes: &[u8]) -> CompactData {
        match kind {
            CompactType::U8 => CompactData::U8(bytes.to_vec()),
            CompactType::Bf16 => CompactData::Bf16(
                bytes.chunks_exact(2).map(|b| bf16::from_bits(u16::from_le_bytes([b[0], b[1]]))).collect(),
            ),
            CompactType::F32 => CompactData::F32(
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect(),
            ),
        }
    }
}

/// One named compact state tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactTensor {
    pub(crate) name: &'static str,
    pub(crate) shape: Shape,
    pub(crate) data: CompactData,
}

impl CompactTensor {
    /// Its name, e.g. `"exp_avg"` (its codes) or `"exp_avg_absmax"` (their blocks' scales).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Its values.
    pub fn data(&self) -> &CompactData {
        &self.data
    }
}

/// How an optimizer keeps its moments (the `state` hyperparameter of Adam, AdamW and Lion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StateType {
    /// In the parameters' own type (`f32` for `f32` parameters): PyTorch's behaviour, through the fused pass.
    #[default]
    #[serde(rename = "f32")]
    Full,
    /// bfloat16, rounded to nearest: half the bytes, each value within 2⁻⁹ of itself (relative).
    #[serde(rename = "bf16")]
    Bf16,
    /// bfloat16 with stochastic rounding: unbiased on average, so small updates are not lost to rounding.
    #[serde(rename = "bf16_stochastic")]
    Bf16Stochastic,
    /// 8-bit block-wise dynamic quantization, as `bitsandbytes`' 8-bit optimizers: a quarter of the bytes.
    #[serde(rename = "int8")]
    Int8,
}

impl StateType {
    /// Whether the state is compact (not in the parameters' type).
    pub fn is_compact(self) -> bool {
        self != StateType::Full
    }
}
