// elementwise.cuh -- the per-element bodies of elementwise.cu, callable from the host and
// the device.
#pragma once
#include "common.cuh"

// y = x [x > 0]
template <typename T> __host__ __device__ __forceinline__ T relu_element(T x) {
    return mc_relu(x);
}

// dx = g [y > 0]   (y = relu(x) is positive exactly where x is)
template <typename T> __host__ __device__ __forceinline__ T relu_backward_element(T g, T y) {
    return g * (T)(y > (T)0);
}

// act(v + b): activation 0 is the identity, 1 is ReLU
template <typename T>
__host__ __device__ __forceinline__ T bias_activation_element(T v, T b, int activation) {
    const T z = v + b;
    return activation == 1 ? mc_relu(z) : z;
}

// log p_c = (x_c - m) - log s, the log-softmax of one logit given the row's max m and
// log s = log sum_j exp(x_j - m)
template <typename T>
__host__ __device__ __forceinline__ T log_softmax_element(T x, T m, T log_s) {
    return (x - m) - log_s;
}

// d loss / d x = (p - q) * (g / divisor): g the upstream gradient (one per row for
// reduction 'none', else one), divisor N for 'mean', 1 otherwise
template <typename T>
__host__ __device__ __forceinline__ T cross_entropy_backward_element(T p, T q, T g,
                                                                     T divisor) {
    return (p - q) * (g / divisor);
}
