#pragma once
// Process-wide allocator setting for training processes.
//
// glibc's malloc serves every block above its mmap threshold (at most 32 MiB,
// raised dynamically) with a fresh mmap and gives it back with munmap on
// free. A training step allocates and frees the same large activation
// tensors every step (a BCL batch of 3 x 256 images at 32 x 32 through a
// ResNet-20 makes 50 MB feature maps), so every step page-faults and zeroes
// hundreds of MB anew: measured on the dev box (docs/results.md), ResNet-20
// forward + backward at batch 768 ran at ~95 images/s with the defaults and
// ~620 with freed memory kept (PyTorch 1.13, 2 threads, same ATen kernels).
namespace ltcl::util {

// Serves large blocks from the heap and never trims it (glibc: mallopt
// M_MMAP_MAX = 0, M_TRIM_THRESHOLD = max), so freed activations are reused
// without new page faults. Peak memory stays reserved by the process until
// it exits. Call once at program start, before large allocations. Returns
// false (and does nothing) when the C library is not glibc or when the
// environment variable LTCL_MALLOC_DEFAULTS=1 asks for the defaults.
bool keep_freed_memory();

}  // namespace ltcl::util
