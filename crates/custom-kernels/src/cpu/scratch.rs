//! Per-thread scratch buffers: each kernel keeps its working buffers in thread-locals and
//! borrows them through [`with_buffer`], so the steady state of training allocates nothing.

use std::cell::RefCell;

/// Runs `f` on the first `len` values of a per-thread buffer (grown when needed; contents
/// are whatever the last user left).
pub(super) fn with_buffer<R>(
    buffer: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    buffer.with(|cell| {
        let mut vec = cell.borrow_mut();
        if vec.len() < len {
            vec.resize(len, 0.0);
        }
        f(&mut vec[..len])
    })
}
