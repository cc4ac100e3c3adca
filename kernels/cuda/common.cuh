// common.cuh -- the one place that knows whether this source is compiled for a GPU or
// for the host.
//
// Every kernel of kernels/cuda/ is compiled two ways from the very same text:
//
//   GPU    CuPy's RawModule (NVRTC, which defines __CUDACC__ and __CUDACC_RTC__ and has no
//          system headers) or nvcc in the tests (-cubin for sm_80 / sm_90);
//   host   g++ -x c++ (kernels/cuda_host.py), with the shim below: __global__, __device__,
//          __host__ and __shared__ become plain C++, threadIdx / blockIdx are 0 and
//          blockDim / gridDim are 1, and __syncthreads() does nothing.
//
// Why run the __global__ functions themselves on the CPU, and not only the element bodies?
// Every kernel is written so that its result does not depend on the launch:
//
//   - element kernels loop grid-stride (MC_GRID_STRIDE_LOOP): thread t of a grid of T
//     threads does elements t, t + T, t + 2T, ... so any launch covers all n elements;
//   - block-per-row kernels loop over rows (MC_BLOCK_ROW_LOOP: row = blockIdx.x, +=
//     gridDim.x), stride their threads across the row and reduce in shared memory with a
//     tree bounded by blockDim.x;
//   - nothing depends on the warp size (no shuffles) or on the order of racing writes (no
//     atomics: every output element is computed by one thread, in gather form).
//
// So the degenerate launch, one block of one thread, computes exactly what any launch
// does, and the host build runs each __global__ function once with that launch. The tests
// then check the whole kernel -- its index arithmetic, its loop bounds, its reductions,
// its bounds tests at the padding -- and not only the arithmetic of one element; the GPU
// run is left to prove launches, memory and cuBLAS.
//
// Sizes: dimensions are passed as int (each fits easily); flat indices and element counts
// are long long (an activation of N C H W elements may pass 2^31).
#pragma once

#ifndef __CUDACC__
// ---- host build (g++): the shim --------------------------------------------------------
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static

struct mc_dim3 {
    unsigned int x, y, z;
};
static const mc_dim3 threadIdx = {0, 0, 0};
static const mc_dim3 blockIdx = {0, 0, 0};
static const mc_dim3 blockDim = {1, 1, 1};
static const mc_dim3 gridDim = {1, 1, 1};

static inline void __syncthreads() {}

static inline float mc_exp(float v) { return expf(v); }
static inline double mc_exp(double v) { return exp(v); }
static inline float mc_log(float v) { return logf(v); }
static inline double mc_log(double v) { return log(v); }
template <typename T> static inline T mc_neg_inf();
template <> inline float mc_neg_inf<float>() { return -HUGE_VALF; }
template <> inline double mc_neg_inf<double>() { return -HUGE_VAL; }

#else
// ---- GPU build (NVRTC or nvcc): the CUDA math functions need no header -----------------
__device__ __forceinline__ float mc_exp(float v) { return expf(v); }
__device__ __forceinline__ double mc_exp(double v) { return exp(v); }
__device__ __forceinline__ float mc_log(float v) { return logf(v); }
__device__ __forceinline__ double mc_log(double v) { return log(v); }
template <typename T> __device__ __forceinline__ T mc_neg_inf();
template <> __device__ __forceinline__ float mc_neg_inf<float>() {
    return __int_as_float(0xff800000);
}
template <> __device__ __forceinline__ double mc_neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000ULL);
}
#endif

// The most threads a block may have; block-per-row kernels keep one shared slot per thread.
#define MC_MAX_BLOCK 1024

// for (i = this thread's first element; i < n; i += all threads of the grid)
#define MC_GRID_STRIDE_LOOP(i, n)                                                   \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n);   \
         i += (long long)blockDim.x * gridDim.x)

// for (row = this block's first row; row < rows; row += all blocks of the grid)
#define MC_BLOCK_ROW_LOOP(row, rows) \
    for (long long row = blockIdx.x; row < (rows); row += gridDim.x)

template <typename T> __host__ __device__ __forceinline__ T mc_max(T a, T b) {
    return b > a ? b : a;
}

// z [z > 0] in T (NaN stays NaN, as the reference's ``x * (x > 0)``).
template <typename T> __host__ __device__ __forceinline__ T mc_relu(T z) {
    return z * (T)(z > (T)0);
}

// Tree reductions over one block (blockDim.x a power of two, at most MC_MAX_BLOCK): every
// thread passes its partial value; every thread gets the block's total. cache is a
// __shared__ array of at least blockDim.x slots. With one thread the loop does nothing.
template <typename T> __device__ __forceinline__ T mc_block_max(T *cache, T v) {
    cache[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) cache[threadIdx.x] = mc_max(cache[threadIdx.x],
                                                         cache[threadIdx.x + s]);
        __syncthreads();
    }
    T total = cache[0];
    __syncthreads();            // cache may be reused at once
    return total;
}

template <typename T> __device__ __forceinline__ T mc_block_sum(T *cache, T v) {
    cache[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) cache[threadIdx.x] += cache[threadIdx.x + s];
        __syncthreads();
    }
    T total = cache[0];
    __syncthreads();
    return total;
}
