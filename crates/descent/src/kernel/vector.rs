//! The fused loop, compiled once per instruction set and dispatched at run time.
//!
//! The loop body is written once and inlined into one function per instruction set, each compiled with that set's
//! target features, which LLVM vectorizes for it: 16 `f32` per AVX-512 instruction, 8 per AVX2 one, 4 per NEON one,
//! and a scalar tail for the rest. Fused multiply-adds stay fused in every version (on x86-64 CPUs without FMA, the
//! baseline version calls the C library's correctly rounded `fma`, which keeps results exact at scalar speed).

use super::prefetch::prefetch;
use super::FlushDenormals;
use crate::{Float, Rule};

/// An instruction set the loop is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512 (F, VL, DQ, BW) with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// NEON.
    #[cfg(target_arch = "aarch64")]
    Neon,
    /// What every CPU of the target runs.
    Baseline,
}

impl Isa {
    /// Every version, best first.
    pub(crate) const ALL: &'static [Isa] = &[
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon,
        Isa::Baseline,
    ];

    /// Whether this CPU runs the version.
    pub(crate) fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            Isa::Baseline => true,
        }
    }

    /// The best version this CPU runs, found once.
    pub(crate) fn best() -> Isa {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Isa::ALL.iter().copied().find(|isa| isa.supported()).unwrap_or(Isa::Baseline))
    }
}

/// What the global stage does to each gradient value before the rule sees it: nothing, or clipping.
pub(crate) trait GradMap<T>: Copy + Send + Sync {
    /// Whether `map` is the identity.
    const AS_GIVEN: bool;

    fn map(self, grad: T) -> T;
}

/// The gradient as given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AsGiven;

impl<T> GradMap<T> for AsGiven {
    const AS_GIVEN: bool = true;

    #[inline(always)]
    fn map(self, grad: T) -> T {
        grad
    }
}

/// The gradient multiplied by a clip coefficient (clipping by norm), then clamped to [−bound, bound] (clipping by
/// value); NaN stays NaN, as in PyTorch's `clamp`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clipped<T> {
    pub(crate) scale: Option<T>,
    pub(crate) bound: Option<T>,
}

impl<T: Float> GradMap<T> for Clipped<T> {
    const AS_GIVEN: bool = false;

    #[inline(always)]
    fn map(self, grad: T) -> T {
        let mut g = grad;
        if let Some(scale) = self.scale {
            g = g * scale;
        }
        if let Some(bound) = self.bound {
            let low = -bound;
            g = if g < low { low } else { g };
            g = if g > bound { bound } else { g };
        }
        g
    }
}

/// Applies `R::update` to every element with version `isa` (which the CPU must support): loads the parameter,
/// gradient and `N` state values, updates them in registers, stores them back, with subnormal numbers counted as
/// zero ([`FlushDenormals`]), asking for the data ahead of the loop if `ahead` ([`prefetch`]).
pub(super) fn update<R: Rule, T: Float, G: GradMap<T>, const N: usize>(
    isa: Isa,
    ahead: bool,
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: [&mut [T]; N],
    map: G,
) {
    debug_assert!(isa.supported());
    let _flush = FlushDenormals::new();
    // Each loop compiled twice, with and without the requests, so that the one without stays as it was.
    match (isa, ahead) {
        // SAFETY: the caller chose a version the CPU supports.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512, true) => unsafe { avx512::<R, T, G, N, true>(c, param, grad, state, map) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512, false) => unsafe { avx512::<R, T, G, N, false>(c, param, grad, state, map) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, true) => unsafe { avx2::<R, T, G, N, true>(c, param, grad, state, map) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, false) => unsafe { avx2::<R, T, G, N, false>(c, param, grad, state, map) },
        // SAFETY: as above (requests are made on x86-64 alone).
        #[cfg(target_arch = "aarch64")]
        (Isa::Neon, _) => unsafe { neon::<R, T, G, N, false>(c, param, grad, state, map) },
        (Isa::Baseline, _) => body::<R, T, G, N, false>(c, param, grad, state, map),
    }
}

/// One version of the loop: `body` compiled with the target features of an instruction set.
macro_rules! version {
    ($name:ident, $arch:literal, $features:literal) => {
        #[cfg(target_arch = $arch)]
        #[target_feature(enable = $features)]
        unsafe fn $name<R: Rule, T: Float, G: GradMap<T>, const N: usize, const ASK: bool>(
            c: &R::Coefficients<T>,
            param: &mut [T],
            grad: &[T],
            state: [&mut [T]; N],
            map: G,
        ) {
            body::<R, T, G, N, ASK>(c, param, grad, state, map)
        }
    };
}

version!(avx512, "x86_64", "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma");
version!(avx2, "x86_64", "avx2,fma");
version!(neon, "aarch64", "neon");

/// A loop of a rule's per-tensor stage, to run with [`with_best_isa`]. Implementations mark [`Loop::run`]
/// `#[inline(always)]`, so that it is compiled into each version.
pub trait Loop {
    /// What the loop returns.
    type Output;

    /// Runs the loop.
    fn run(self) -> Self::Output;
}

/// A closure as a [`Loop`]: marked `#[inline(always)]`, its body is compiled into each version of
/// [`with_best_isa`].
///
/// ```
/// use descent::{with_best_isa, Inline};
///
/// let (x, mut y) = ([1.0f32, 2.0, 3.0], [0.5f32; 3]);
/// // y ← 2·x + y, each element one fused multiply-add in hardware where the CPU has them.
/// with_best_isa(Inline(
///     #[inline(always)]
///     || {
///         for (y, &x) in y.iter_mut().zip(&x) {
///             *y = x.mul_add(2.0, *y);
///         }
///     },
/// ));
/// assert_eq!(y, [2.5, 4.5, 6.5]);
/// ```
pub struct Inline<F>(pub F);

impl<R, F: FnMut() -> R> Loop for Inline<F> {
    type Output = R;

    #[inline(always)]
    fn run(mut self) -> R {
        (self.0)()
    }
}

/// Runs `work` compiled for the best instruction set this CPU has, so that the loops of a per-tensor stage use the
/// hardware's fused multiply-adds and vectors as the fused pass does: compiled for the baseline alone, every
/// `mul_add` would be a call into a software `fma`. Subnormal numbers count as zero while it runs, as in the fused
/// pass (flush-to-zero and denormals-are-zero, restored when it returns).
pub fn with_best_isa<L: Loop>(work: L) -> L::Output {
    let _flush = FlushDenormals::new();
    match Isa::best() {
        // SAFETY: `Isa::best` chose a version the CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { run_avx512(work) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { run_avx2(work) },
        // SAFETY: as above.
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { run_neon(work) },
        Isa::Baseline => work.run(),
    }
}

/// One version of [`with_best_isa`]: the loop compiled with the target features of an instruction set.
macro_rules! run_version {
    ($name:ident, $arch:literal, $features:literal) => {
        #[cfg(target_arch = $arch)]
        #[target_feature(enable = $features)]
        unsafe fn $name<L: Loop>(work: L) -> L::Output {
            work.run()
        }
    };
}

run_version!(run_avx512, "x86_64", "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma");
run_version!(run_avx2, "x86_64", "avx2,fma");
run_version!(run_neon, "aarch64", "neon");

/// The loop itself, inlined into each version.
///
/// State values that fall below the smallest normal number are stored as zero, on every architecture (on x86 the
/// control register does that already, see [`FlushDenormals`]): a moment whose gradient stays zero decays
/// geometrically, and a subnormal one would make every later operation on it slow. PyTorch keeps the subnormal
/// value: the states differ there (by less than 2⁻¹²⁶ in `f32`), and so can a parameter the state moves, by that
/// amount times the step's scale.
///
/// With `ASK`, the loop runs a span of [`SPAN`] elements at a time and asks for the span [`AHEAD`] elements on
/// before each.
#[inline(always)]
fn body<R: Rule, T: Float, G: GradMap<T>, const N: usize, const ASK: bool>(
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: [&mut [T]; N],
    map: G,
) {
    let len = param.len();
    let mut state = state.map(|s| &mut s[..len]);
    let spans = if ASK { len / SPAN * SPAN } else { 0 };
    for start in (0..spans).step_by(SPAN) {
        prefetch(param, start + AHEAD, SPAN);
        prefetch(grad, start + AHEAD, SPAN);
        for tensor in &state {
            prefetch(tensor, start + AHEAD, SPAN);
        }
        let span = start..start + SPAN;
        let mut state_span = state.each_mut().map(|s| &mut s[span.clone()]);
        elements::<R, T, G, N>(c, &mut param[span.clone()], &grad[span], &mut state_span, map);
    }
    elements::<R, T, G, N>(
        c,
        &mut param[spans..],
        &grad[spans..len],
        &mut state.each_mut().map(|s| &mut s[spans..]),
        map,
    );
}

/// Elements a loop asking for its data ahead runs at a time (1 KiB of each `f32` array).
const SPAN: usize = 256;

/// How far ahead of the span it runs the loop asks for data, in elements (4 KiB of each `f32` array).
const AHEAD: usize = 1024;

/// The loop over elements: `R::update` on each.
#[inline(always)]
fn elements<R: Rule, T: Float, G: GradMap<T>, const N: usize>(
    c: &R::Coefficients<T>,
    param: &mut [T],
    grad: &[T],
    state: &mut [&mut [T]; N],
    map: G,
) {
    let len = param.len();
    let grad = &grad[..len];
    let mut state = state.each_mut().map(|s| &mut s[..len]);
    for i in 0..len {
        let mut p = param[i];
        let mut lanes: [T; N] = std::array::from_fn(|k| state[k][i]);
        R::update(c, &mut p, map.map(grad[i]), &mut lanes);
        param[i] = p;
        for (tensor, lane) in state.iter_mut().zip(lanes) {
            tensor[i] = lane.flush_subnormal();
        }
    }
}

/// Writes `R::look_ahead` of every element into `point`: where a look-ahead rule evaluates the gradient. Inlined
/// into [`with_best_isa`]'s version for the CPU, which vectorizes it.
#[inline(always)]
pub(super) fn look_ahead<R: Rule, T: Float, const N: usize>(
    c: &R::Coefficients<T>,
    param: &[T],
    state: [&[T]; N],
    point: &mut [T],
) {
    let len = param.len().min(point.len());
    let (param, point) = (&param[..len], &mut point[..len]);
    let state = state.map(|s| &s[..len]);
    for i in 0..len {
        let lanes: [T; N] = std::array::from_fn(|k| state[k][i]);
        point[i] = R::look_ahead(c, param[i], &lanes);
    }
}
