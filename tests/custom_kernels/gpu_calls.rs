//! The GPU call counter reads wgpu-core's records right: a dispatch is a launch; a read is one
//! request, however many buffers it maps one after the other; a buffer mapped for writing (an
//! upload's staging buffer) is no read.

use custom_kernels::gpu_calls::{GpuCallCounter, GpuCalls};
use log::Log;

/// Hands `counter` one wgpu-core record with `message`.
fn record(counter: &GpuCallCounter, message: &str) {
    counter.log(
        &log::Record::builder()
            .target("wgpu_core::device::global")
            .level(log::Level::Trace)
            .args(format_args!("{message}"))
            .build(),
    );
}

const DISPATCH: &str = "ComputePass::dispatch Id(3,1) [4, 1, 1]";
const MAP_READ: &str = "Buffer::map_async Id(7,1) offset 0 size Some(256) op: BufferMapOperation { host: Read, callback: Some(..) }";
const MAP_WRITE: &str = "Buffer::map_async Id(9,1) offset 0 size None op: BufferMapOperation { host: Write, callback: Some(..) }";
const SUBMIT: &str = "Queue::submit Id(0,1)";

#[test]
fn a_read_is_one_request_and_a_write_map_is_none() {
    let counter = GpuCallCounter::new();
    for message in [
        DISPATCH, DISPATCH, SUBMIT, // two launches
        MAP_READ, MAP_READ, MAP_READ, // one transaction of three tensors: one read
        MAP_WRITE, MAP_WRITE, // staging buffers of uploads: no read
        DISPATCH, SUBMIT, MAP_READ, // a launch, then a second read
    ] {
        record(&counter, message);
    }
    assert_eq!(
        counter.now(),
        GpuCalls {
            launches: 3,
            reads: 2
        }
    );
    // Records of other crates are not counted.
    counter.log(
        &log::Record::builder()
            .target("cubecl_wgpu")
            .args(format_args!("{DISPATCH}"))
            .build(),
    );
    assert_eq!(counter.now().launches, 3);
}
