// elementwise.cu -- ReLU, bias + activation, softmax cross-entropy: the CUDA twins of
// kernels/elementwise.py, launched by kernels/cuda_ops.py (ReLUCuPy, LinearCuPy,
// CrossEntropyCuPy). See common.cuh for the launch rules and elementwise.cuh for the
// per-element bodies. Element counts are long long, row and class counts int.
#include "elementwise.cuh"

// y = x [x > 0] over n elements (NaN stays NaN). Reference twin:
// functional.activation.ReLU.forward.       for k: y[k] = x[k] [x[k] > 0]
template <typename T>
__global__ void relu_forward(const T *__restrict__ x, T *__restrict__ y, long long n) {
    MC_GRID_STRIDE_LOOP(k, n) y[k] = relu_element(x[k]);
}

// dx = g [y > 0] over n elements. Reference twin: functional.activation.ReLU.backward.
//     for k: dx[k] = g[k] [y[k] > 0]
template <typename T>
__global__ void relu_backward(const T *__restrict__ g, const T *__restrict__ y,
                              T *__restrict__ dx, long long n) {
    MC_GRID_STRIDE_LOOP(k, n) dx[k] = relu_backward_element(g[k], y[k]);
}

// y[m, o] = act(y[m, o] + bias[o]) in place on y (M, O); activation 0 identity, 1 ReLU.
// Reference twin: ``x @ w + b`` in functional.linear.Linear.forward (then ReLU).
//     for m, o: y[m, o] = act(y[m, o] + bias[o])
template <typename T>
__global__ void bias_activation(T *__restrict__ y, const T *__restrict__ bias, long long m,
                                int o, int activation) {
    MC_GRID_STRIDE_LOOP(e, m * o) y[e] = bias_activation_element(y[e], bias[e % o], activation);
}

// loss (N,) and softmax p (N, C) of logits x (N, C) against target rows q (N, C); one
// block per row (blockDim.x a power of two <= MC_MAX_BLOCK), the block's threads strided
// over the classes, max and sums by shared-memory trees.
// Reference twin: functional.loss.CrossEntropy.forward.
//     for n:
//         m = max_c x[n, c];  s = sum_c exp(x[n, c] - m)
//         log_p[c] = x[n, c] - m - log s;  p[n, c] = exp(log_p[c])
//         loss[n] = -sum_c q[n, c] log_p[c]
template <typename T>
__global__ void softmax_cross_entropy_forward(const T *__restrict__ x,
                                              const T *__restrict__ q, T *__restrict__ loss,
                                              T *__restrict__ p, int rows, int classes) {
    __shared__ T cache[MC_MAX_BLOCK];
    MC_BLOCK_ROW_LOOP(row, rows) {
        const T *xr = x + row * classes;
        const T *qr = q + row * classes;
        T *pr = p + row * classes;
        T m = mc_neg_inf<T>();
        for (int k = threadIdx.x; k < classes; k += blockDim.x) m = mc_max(m, xr[k]);
        m = mc_block_max(cache, m);
        T s = (T)0;
        for (int k = threadIdx.x; k < classes; k += blockDim.x) s += mc_exp(xr[k] - m);
        const T log_s = mc_log(mc_block_sum(cache, s));
        T total = (T)0;
        for (int k = threadIdx.x; k < classes; k += blockDim.x) {
            const T log_p = log_softmax_element(xr[k], m, log_s);
            pr[k] = mc_exp(log_p);
            total -= qr[k] * log_p;
        }
        total = mc_block_sum(cache, total);
        if (threadIdx.x == 0) loss[row] = total;
    }
}

// dx (N, C) = (p - q) * (g[per_row ? n : 0] / divisor): the gradient of the reduced loss
// (divisor N for 'mean', 1 for 'sum'; per_row = 1 and divisor 1 for 'none'). g stays on
// the device (no host sync). Reference twin: functional.loss.CrossEntropy.backward.
//     for n, c: dx[n, c] = (p[n, c] - q[n, c]) * (g[n or 0] / divisor)
template <typename T>
__global__ void softmax_cross_entropy_backward(const T *__restrict__ p,
                                               const T *__restrict__ q,
                                               const T *__restrict__ g, T *__restrict__ dx,
                                               int rows, int classes, int per_row,
                                               T divisor) {
    MC_GRID_STRIDE_LOOP(e, (long long)rows * classes)
        dx[e] = cross_entropy_backward_element(p[e], q[e], g[per_row ? e / classes : 0],
                                               divisor);
}
