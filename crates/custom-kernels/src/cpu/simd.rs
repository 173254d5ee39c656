//! The x86-64 vector instruction sets the direct convolution kernels are written for, behind one
//! small trait: AVX-512 (16 lanes, 32 registers) and AVX2 with FMA (8 lanes, 16 registers). The
//! kernels in [`super::direct`] are generic over it; each instruction set also fixes its
//! register-tile sizes, which follow from its register count.

use std::arch::x86_64::*;

/// A vector instruction set. Every method is `unsafe`: it must run where the CPU has the
/// instruction set (inside a function compiled for it, see `direct`), and the pointer methods
/// touch memory the caller vouches for.
pub(super) trait Simd: Copy {
    /// A vector of `LANES` floats.
    type V: Copy;
    /// Which of the lanes a load or store touches: the low ones.
    type Mask: Copy;
    /// `f32` lanes per vector.
    const LANES: usize;
    /// Output rows per forward register tile.
    const ROWS: usize;
    /// Filters per forward register tile.
    const FILTERS: usize;
    /// Vectors of filters per filter-lane weight-gradient tile (x the kernel's columns).
    const GRAD_VECTORS: usize;
    /// Output positions per filter-lane forward tile, and vectors of filters.
    const LANE_TILE_POSITIONS: usize;
    const LANE_TILE_VECTORS: usize;
    /// A mask of the low `lanes` lanes (all of them when `lanes >= LANES`).
    unsafe fn mask(lanes: usize) -> Self::Mask;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f32) -> Self::V;
    /// All `LANES` floats from `p`.
    unsafe fn load_all(p: *const f32) -> Self::V;
    /// Writes all `LANES` floats to `p`.
    unsafe fn store_all(p: *mut f32, v: Self::V);
    /// The masked lanes from `p`, zero elsewhere; memory outside the mask is not read.
    unsafe fn load(mask: Self::Mask, p: *const f32) -> Self::V;
    /// Writes the masked lanes to `p`; memory outside the mask is not written.
    unsafe fn store(p: *mut f32, mask: Self::Mask, v: Self::V);
    /// `a * b + c`, fused.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `max(v, 0)` lane by lane.
    unsafe fn relu(v: Self::V) -> Self::V;
    /// The sum of the lanes, in a fixed order.
    unsafe fn sum(v: Self::V) -> f32;
}

/// AVX-512F: 16 lanes, masked loads and stores in hardware.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx512;

impl Simd for Avx512 {
    type V = __m512;
    type Mask = __mmask16;
    const LANES: usize = 16;
    /// ROWS x FILTERS = 24 accumulators, the FILTERS broadcast weights of a tap and the input
    /// row in flight fit the 32 registers (with 7 rows the compiler spilled an accumulator
    /// every tap).
    const ROWS: usize = 6;
    const FILTERS: usize = 4;
    /// GRAD_VECTORS x 5 kernel columns = 20 accumulators, the 4 gradient vectors of a
    /// position and the broadcast input: 25 of the 32 registers.
    const GRAD_VECTORS: usize = 4;
    /// 14 positions (a row of the ConvNet's conv2) x 1 vector: 14 accumulators, and each
    /// input value used once, so its broadcast folds into the multiply-add's load (with 2
    /// vectors, a broadcast instruction per 2 multiply-adds, and no faster than positions in
    /// the lanes; docs/kernels.md).
    const LANE_TILE_POSITIONS: usize = 14;
    const LANE_TILE_VECTORS: usize = 1;

    #[inline(always)]
    unsafe fn mask(lanes: usize) -> __mmask16 {
        if lanes >= Self::LANES {
            0xFFFF
        } else {
            (1u16 << lanes) - 1
        }
    }
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load_all(p: *const f32) -> __m512 {
        // SAFETY: the caller vouches for `LANES` floats at `p`.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store_all(p: *mut f32, v: __m512) {
        // SAFETY: the caller vouches for `LANES` floats at `p`.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load(mask: __mmask16, p: *const f32) -> __m512 {
        // SAFETY: the caller vouches for the masked lanes of `p`.
        unsafe { _mm512_maskz_loadu_ps(mask, p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, mask: __mmask16, v: __m512) {
        // SAFETY: the caller vouches for the masked lanes of `p`.
        unsafe { _mm512_mask_storeu_ps(p, mask, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn relu(v: __m512) -> __m512 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm512_max_ps(v, _mm512_setzero_ps()) }
    }
    #[inline(always)]
    unsafe fn sum(v: __m512) -> f32 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm512_reduce_add_ps(v) }
    }
}

/// AVX2 with FMA: 8 lanes, 16 registers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2;

/// An AVX2 lane mask: the sign bits `vmaskmovps` reads, and the lane count for stores.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2Mask {
    bits: __m256i,
    lanes: usize,
}

impl Simd for Avx2 {
    type V = __m256;
    type Mask = Avx2Mask;
    const LANES: usize = 8;
    /// ROWS x FILTERS = 12 accumulators, the 2 broadcast weights of a tap and the input row
    /// in flight: 15 of the 16 registers.
    const ROWS: usize = 6;
    const FILTERS: usize = 2;
    /// GRAD_VECTORS x 5 kernel columns = 10 accumulators, the 2 gradient vectors of a
    /// position and the broadcast input: 13 of the 16 registers.
    const GRAD_VECTORS: usize = 2;
    /// 6 x 2 = 12 accumulators, the 2 weight vectors of a tap and the broadcast input: 15 of
    /// the 16 registers.
    const LANE_TILE_POSITIONS: usize = 6;
    const LANE_TILE_VECTORS: usize = 2;

    #[inline(always)]
    unsafe fn mask(lanes: usize) -> Avx2Mask {
        let lanes = lanes.min(Self::LANES);
        // SAFETY: AVX2 is present (the caller's contract).
        let bits = unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(lanes as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        };
        Avx2Mask { bits, lanes }
    }
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load_all(p: *const f32) -> __m256 {
        // SAFETY: the caller vouches for `LANES` floats at `p`.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store_all(p: *mut f32, v: __m256) {
        // SAFETY: the caller vouches for `LANES` floats at `p`.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn load(mask: Avx2Mask, p: *const f32) -> __m256 {
        // SAFETY: the caller vouches for the masked lanes of `p`; `vmaskmovps` reads no
        // others (and does not fault on them).
        unsafe {
            if mask.lanes == Self::LANES {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, mask.bits)
            }
        }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, mask: Avx2Mask, v: __m256) {
        // SAFETY: the caller vouches for the masked lanes of `p`. A partial store goes
        // through a stack copy: `vmaskmovps` stores are microcoded and slow on AMD CPUs.
        unsafe {
            if mask.lanes == Self::LANES {
                _mm256_storeu_ps(p, v);
            } else {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), p, mask.lanes);
            }
        }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn relu(v: __m256) -> __m256 {
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe { _mm256_max_ps(v, _mm256_setzero_ps()) }
    }
    #[inline(always)]
    unsafe fn sum(v: __m256) -> f32 {
        // (low half + high half), then pairs, then the last two: a fixed order.
        // SAFETY: the CPU has the instruction set (the caller vouches); no memory is touched.
        unsafe {
            let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
            let one = _mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 0b01));
            _mm_cvtss_f32(one)
        }
    }
}
