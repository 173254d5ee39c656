//! Which way a convolution computes its products ([`ConvPath`]): the direct kernels of
//! [`super::super::direct`] for stride-1 convolutions on CPUs that have AVX-512 or AVX2 with
//! FMA, else im2col + GEMM (any stride, any CPU). The choice is made per call from the
//! geometry and the CPU, and can be forced with [`CONV_PATH_ENV`].

use super::super::direct::{self, DirectKernels, Isa};
use super::super::geometry::ConvGeometry;

impl ConvGeometry {
    /// How this convolution is computed on this CPU: the direct kernels of the best
    /// instruction set it has where the geometry allows, else im2col + GEMM; or as
    /// [`CONV_PATH_ENV`] says.
    pub fn path(&self) -> ConvPath {
        let (isa, lanes) = match requested_path() {
            Requested::Gemm => (None, Lanes::Best),
            Requested::Isa(isa) => (isa.is_available().then_some(isa), Lanes::Best),
            Requested::Best => (Isa::best(), Lanes::Best),
            Requested::Positions => (Isa::best(), Lanes::Positions),
        };
        match isa {
            Some(isa) if direct::fits(self) => ConvPath::Direct(isa, lanes),
            _ => ConvPath::Gemm,
        }
    }
}

/// How a convolution computes its products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPath {
    /// im2col + the `gemm` crate's SIMD GEMM.
    Gemm,
    /// The direct register-tile kernels of this instruction set, with their vector lanes
    /// holding what [`Lanes`] says.
    Direct(Isa, Lanes),
}

/// What the lanes of the direct kernels' vectors hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// Per pass (forward, input gradient, weight gradient), whichever fills more lanes:
    /// filters, where the pass's filter count is a multiple of the lane count, its output
    /// rows are not, and it is deep enough to pay for the reordering (the ConvNet's 14-wide
    /// conv2 rows fill 14 of 16 lanes, its 64 filters all of them); on AVX-512 in the weight
    /// gradient only (see `direct`); else a run of an output row's positions.
    Best,
    /// Always a run of an output row's positions (the only layout before filter lanes; kept
    /// to measure what they buy).
    Positions,
}

impl std::fmt::Display for ConvPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvPath::Gemm => f.write_str("im2col + GEMM"),
            ConvPath::Direct(isa, Lanes::Best) => write!(f, "direct {isa}"),
            ConvPath::Direct(isa, Lanes::Positions) => {
                write!(f, "direct {isa}, positions in the lanes")
            }
        }
    }
}

/// Environment variable that forces the convolution path, to measure what each buys:
/// `gemm` makes every convolution take im2col + GEMM even where the direct kernels would run;
/// `avx2` makes the direct kernels use AVX2 on a CPU that also has AVX-512 (`avx512`, and
/// `auto`, the default, take the best); `positions` keeps output positions in the direct
/// kernels' lanes everywhere ([`Lanes::Positions`]). Read once per process; an unknown value is reported
/// on stderr and treated as `auto`. Example: `CUSTOM_KERNELS_CONV=gemm cargo xtask bench`.
pub const CONV_PATH_ENV: &str = "CUSTOM_KERNELS_CONV";

/// What [`CONV_PATH_ENV`] asks for.
#[derive(Clone, Copy, Debug)]
enum Requested {
    Best,
    Gemm,
    Positions,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Isa(Isa),
}

fn requested_path() -> Requested {
    static REQUESTED: std::sync::OnceLock<Requested> = std::sync::OnceLock::new();
    *REQUESTED.get_or_init(|| {
        let value = std::env::var(CONV_PATH_ENV).unwrap_or_default();
        match value.as_str() {
            "" | "auto" => Requested::Best,
            "gemm" => Requested::Gemm,
            "positions" => Requested::Positions,
            #[cfg(target_arch = "x86_64")]
            "avx2" => Requested::Isa(Isa::Avx2),
            #[cfg(target_arch = "x86_64")]
            "avx512" => Requested::Isa(Isa::Avx512),
            other => {
                eprintln!(
                    "{CONV_PATH_ENV}={other:?} is not one of auto, gemm, positions, avx2, avx512: using auto"
                );
                Requested::Best
            }
        }
    })
}

impl ConvPath {
    /// The direct kernels this path runs, if it is a direct path.
    pub(super) fn direct_kernels(self) -> Option<DirectKernels> {
        match self {
            ConvPath::Gemm => None,
            ConvPath::Direct(isa, lanes) => Some(DirectKernels {
                isa,
                allow_filter_lanes: lanes == Lanes::Best,
            }),
        }
    }
}
