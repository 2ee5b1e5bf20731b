/* The compiled twin of a copy stack's SGD step (xor_lightning/studies/compiled_twin.py builds and calls it).

   One call trains S copies of one MLP for `steps` full-batch SGD steps on the four XOR samples:
   forward, the first step each copy is solved, backward and the update, with the formulas of
   autograd_twin.py in the same order, and torch's own exp (SLEEF's, as torch's vector kernels call it)
   and log (the C library's, as torch's BCE kernel calls it): the same bits as the readable step.
   Layout as CopyStack's: copy dimension last, weights (I, O, S), biases (O, S). Copies share nothing,
   so the work goes block by block of BLOCK copies, a block's weights and activations staying in the
   core's cache, and every loop over a block's copies is one vector loop.

   Built with -ffp-contract=off: no a + b * c becomes a fused multiply-add unless written as fmaf. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 32
#define N 4 /* the four XOR samples */
#define FOR_B _Pragma("omp simd") for (int b = 0; b < BLOCK; b++)

enum { SIGMOID = 0, RELU = 1, LEAKY_RELU = 2 };

/* std::max, as torch's kernels take it (NaN in a stays NaN); fmaxf would be a library call here. */
static inline float max_of(float a, float b) { return a < b ? b : a; }

static inline float pow2i(int32_t q) { /* 2^q as a float, for -126 <= q <= 127 */
    int32_t bits = (q + 0x7f) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* exp as torch computes it on a vector of floats: SLEEF's expf (1-ulp, with fused multiply-adds, exp of
   q ln 2 + s as 2^q times a polynomial in s), step for step, so that the sigmoid below is torch.sigmoid's
   bit for bit (the tests compare the two over millions of inputs from -1000 to 1000, inf and NaN). */
static inline float torch_expf(float d) {
    int32_t q = (int32_t)rintf(d * 1.442695040888963407359924681001892137426645954152985934135449406931f);
    float s = fmaf((float)q, -0.693145751953125f, d), u;
    s = fmaf((float)q, -1.428606765330187045e-06f, s);
    u = 0.000198527617612853646278381f;
    u = fmaf(u, s, 0.00139304355252534151077271f);
    u = fmaf(u, s, 0.00833336077630519866943359f);
    u = fmaf(u, s, 0.0416664853692054748535156f);
    u = fmaf(u, s, 0.166666671633720397949219f);
    u = fmaf(u, s, 0.5f);
    u = 1.0f + fmaf(s * s, u, s);
    u = u * pow2i(q >> 1) * pow2i(q - (q >> 1));
    u = d < -104.0f ? 0.0f : u;
    return 100.0f < d ? INFINITY : u; /* NaN stays NaN */
}

/* torch.sigmoid's vector formula: (1 + exp(0 - x)).reciprocal() */
static inline float sigmoid(float x) { return 1.0f / (1.0f + torch_expf(0.0f - x)); }

/* One term of a sum, for a block's copies: y = x * w (the first term) or y + x * w, two roundings each. */
static inline void multiply_add(float *y, const float *x, const float *w, int first) {
    if (first) {
        FOR_B y[b] = x[b] * w[b];
    } else {
        FOR_B y[b] = y[b] + x[b] * w[b];
    }
}

/* Layer k of one block: out (N, O, BLOCK) = act(sum over i of a[:, i] * w[i], in i order, + b). */
static void forward(const float *a, int I, int O, const float *w, const float *bias, int64_t S, float *out, int act) {
    for (int i = 0; i < I; i++)
        for (int o = 0; o < O; o++) {
            const float *wv = w + ((int64_t)i * O + o) * S;
            for (int n = 0; n < N; n++) multiply_add(out + (n * O + o) * BLOCK, a + (n * I + i) * BLOCK, wv, i == 0);
        }
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            const float *bv = bias + (int64_t)o * S;
            float *on = out + (n * O + o) * BLOCK;
            if (act == SIGMOID) {
                FOR_B on[b] = sigmoid(on[b] + bv[b]);
            } else if (act == RELU) {
                FOR_B on[b] = max_of(on[b] + bv[b], 0.0f);
            } else {
                FOR_B {
                    float x = on[b] + bv[b];
                    on[b] = x > 0.0f ? x : x * 0.01f;
                }
            }
        }
}

/* d_l (N, O, BLOCK) from a layer's output a and d_a, the gradient of that output (overwritten). */
static void activation_backward(const float *a, float *d, int O, int act) {
    for (int k = 0; k < N * O; k++) {
        const float *ak = a + k * BLOCK;
        float *dk = d + k * BLOCK;
        if (act == SIGMOID) {
            FOR_B dk[b] = (dk[b] * (1.0f - ak[b])) * ak[b];
        } else if (act == RELU) {
            FOR_B dk[b] = ak[b] > 0.0f ? dk[b] : 0.0f;
        } else {
            FOR_B dk[b] = ak[b] > 0.0f ? dk[b] : dk[b] * 0.01f;
        }
    }
}

/* Backward through layer k, then its update: d_a (N, I, BLOCK) = sum over o of d_l[:, o] * w[:, o] with
   the weights before the update; then w -= lr * (sum over n of a[n] x d_l[n]), b -= lr * sum over n. */
static void backward_and_update(const float *a, int I, int O, float *w, float *bias, int64_t S, const float *d_l,
                                float *d_a, const float *lr) {
    if (d_a)
        for (int i = 0; i < I; i++)
            for (int o = 0; o < O; o++) {
                const float *wv = w + ((int64_t)i * O + o) * S;
                for (int n = 0; n < N; n++)
                    multiply_add(d_a + (n * I + i) * BLOCK, d_l + (n * O + o) * BLOCK, wv, o == 0);
            }
    for (int i = 0; i < I; i++)
        for (int o = 0; o < O; o++) {
            float *wv = w + ((int64_t)i * O + o) * S;
            const float *a0 = a + i * BLOCK, *a1 = a0 + I * BLOCK, *a2 = a1 + I * BLOCK, *a3 = a2 + I * BLOCK;
            const float *d0 = d_l + o * BLOCK, *d1 = d0 + O * BLOCK, *d2 = d1 + O * BLOCK, *d3 = d2 + O * BLOCK;
            FOR_B {
                float g = ((a0[b] * d0[b] + a1[b] * d1[b]) + a2[b] * d2[b]) + a3[b] * d3[b];
                wv[b] = fmaf(-g, lr[b], wv[b]); /* addcmul_(grad, lr, value=-1): one rounding, as torch's */
            }
        }
    for (int o = 0; o < O; o++) {
        float *bv = bias + (int64_t)o * S;
        const float *d0 = d_l + o * BLOCK, *d1 = d0 + O * BLOCK, *d2 = d1 + O * BLOCK, *d3 = d2 + O * BLOCK;
        FOR_B {
            float g = ((d0[b] + d1[b]) + d2[b]) + d3[b];
            bv[b] = fmaf(-g, lr[b], bv[b]);
        }
    }
}

/* One copy's mean BCE from its four outputs h[0], h[BLOCK], ...: torch's BCE kernel (the C library's scalar
   log and log1p, as it calls them), (y - 1) * max(log1p(-h), -100) - y * max(log(h), -100), then the mean. */
static float cost(const float *h, const float *Y) {
    float sum = 0.0f;
    for (int n = 0; n < N; n++) {
        float hn = h[n * BLOCK], y = Y[n];
        float c = (y - 1.0f) * max_of(log1pf(-hn), -100.0f) - y * max_of(logf(hn), -100.0f);
        sum = n == 0 ? c : sum + c;
    }
    return sum / N;
}

/* The smallest probability a copy's outputs give a right label. */
static float p_right_min(const float *h, const float *Y) {
    float p = 1.0f;
    for (int n = 0; n < N; n++) {
        float hn = h[n * BLOCK], pn = Y[n] != 0.0f ? hn : 1.0f - hn;
        p = pn < p ? pn : p;
    }
    return p;
}

/* Train BLOCK copies whose parameters lie S floats apart (pointers at the block's first copy). */
static int train_block(int layers, const int *sizes, float **w, float **bias, int64_t S, const float *lr,
                        int64_t *solved_step, float *costs, const float *X, const float *Y, int act,
                        int64_t first_step, int steps, float solved_cost, float *scratch) {
    float *outs[16], *grad[2];
    int right[BLOCK], finite[BLOCK];
    /* Below this, a sample's -log(p) exceeds 4 * solved_cost by 1e-4 (far more than the logs' rounding). */
    const float p_floor = expf(-4.0f * solved_cost) * 0.9999f;
    int width = 0, offset = 0;
    for (int k = 0; k <= layers; k++) {
        outs[k] = scratch + offset;
        offset += N * sizes[k] * BLOCK;
        if (sizes[k] > width) width = sizes[k];
    }
    grad[0] = scratch + offset;
    grad[1] = grad[0] + N * width * BLOCK;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < 2; j++) FOR_B outs[0][(n * 2 + j) * BLOCK + b] = X[n * 2 + j];

    for (int t = 0; t < steps; t++) {
        for (int k = 0; k < layers; k++)
            forward(outs[k], sizes[k], sizes[k + 1], w[k], bias[k], S, outs[k + 1], k == layers - 1 ? SIGMOID : act);
        const float *h = outs[layers]; /* (N, 1, BLOCK) */
        float *d = grad[0];
        for (int n = 0; n < N; n++) {
            const float y = Y[n];
            FOR_B {
                float hn = h[n * BLOCK + b];
                right[b] = (n == 0 ? 1 : right[b]) & ((hn > 0.5f) == (y != 0.0f));
                finite[b] = (n == 0 ? 1 : finite[b]) & (hn == hn); /* a sigmoid is NaN or in [0, 1] */
                float d_h = (0.25f * (hn - y)) / max_of((1.0f - hn) * hn, 1e-12f); /* BCE's backward, mean over N */
                d[n * BLOCK + b] = (d_h * (1.0f - hn)) * hn;                      /* then the output sigmoid's */
            }
        }
        int ok = 1, last = t == steps - 1;
        for (int b = 0; b < BLOCK; b++) {
            ok &= finite[b];
            /* Only these need the cost (the logs are dear): a copy whose outputs are all right and that could
               be below solved_cost, i.e. no sample's -log(p_right) above 4 * solved_cost, for the mean of four. */
            int may_solve = right[b] && solved_step[b] < 0 && p_right_min(h + b, Y) >= p_floor;
            if (!may_solve && !(costs && last)) continue;
            float c = cost(h + b, Y);
            if (costs && last) costs[b] = c;
            if (may_solve && c < solved_cost) solved_step[b] = first_step + t;
        }
        if (!ok) return t + 1; /* no update: the caller stops the run, as the readable step does */
        for (int k = layers - 1; k >= 0; k--) {
            float *d_a = k > 0 ? grad[(layers - k) % 2] : NULL;
            backward_and_update(outs[k], sizes[k], sizes[k + 1], w[k], bias[k], S, d, d_a, lr);
            if (d_a) {
                activation_backward(outs[k], d_a, sizes[k], act);
                d = d_a;
            }
        }
    }
    return 0;
}

/* Copies [s, S) of fewer than BLOCK, copied into a block of their own (the spare lanes repeat copy s),
   trained there and copied back. */
static int train_tail(int layers, const int *sizes, float **w, float **bias, int64_t S, int64_t s, const float *lr,
                      int64_t *solved_step, float *costs, const float *X, const float *Y, int act,
                      int64_t first_step, int steps, float solved_cost, float *scratch) {
    int64_t floats = 0;
    for (int k = 0; k < layers; k++) floats += (int64_t)(sizes[k] + 1) * sizes[k + 1];
    float *block = malloc(sizeof(float) * (floats + 2) * BLOCK), *wb[16], *bb[16];
    int64_t *solved = malloc(sizeof(int64_t) * BLOCK);
    if (!block || !solved) {
        free(block), free(solved);
        return -1;
    }
    int rem = (int)(S - s);
    float *next = block, *lr_b = block + floats * BLOCK, *costs_b = lr_b + BLOCK;
    for (int k = 0; k < layers; k++) {
        int64_t rows = (int64_t)sizes[k] * sizes[k + 1];
        wb[k] = next, bb[k] = next + rows * BLOCK, next += (rows + sizes[k + 1]) * BLOCK;
        for (int64_t r = 0; r < rows + sizes[k + 1]; r++) {
            const float *src = r < rows ? w[k] + r * S + s : bias[k] + (r - rows) * S + s;
            for (int b = 0; b < BLOCK; b++) wb[k][r * BLOCK + b] = src[b < rem ? b : 0];
        }
    }
    for (int b = 0; b < BLOCK; b++) lr_b[b] = lr[s + (b < rem ? b : 0)], solved[b] = solved_step[s + (b < rem ? b : 0)];
    int status = train_block(layers, sizes, wb, bb, BLOCK, lr_b, solved, costs ? costs_b : NULL, X, Y, act,
                             first_step, steps, solved_cost, scratch);
    for (int k = 0; k < layers; k++) {
        int64_t rows = (int64_t)sizes[k] * sizes[k + 1];
        for (int64_t r = 0; r < rows + sizes[k + 1]; r++) {
            float *dst = r < rows ? w[k] + r * S + s : bias[k] + (r - rows) * S + s;
            for (int b = 0; b < rem; b++) dst[b] = wb[k][r * BLOCK + b];
        }
    }
    for (int b = 0; b < rem; b++) {
        solved_step[s + b] = solved[b];
        if (costs) costs[s + b] = costs_b[b];
    }
    free(block), free(solved);
    return status;
}

/* The entry point: S copies, layers + 1 sizes (2, hidden..., 1), at most 15 layers. solved_step (S,) gets
   the first solved step of each copy still at -1; costs (S,), unless NULL, each copy's cost at the last
   step's forward. Returns 0; or 1 + the first step t (of 0 .. steps - 1) at which a block's outputs were
   not finite: that block stopped before update t, the others went on; or -1 if memory ran out. */
int xor_copies_train(int layers, const int *sizes, float **w, float **bias, int64_t S, const float *lr,
                     int64_t *solved_step, float *costs, const float *X, const float *Y, int act,
                     int64_t first_step, int steps, float solved_cost) {
    int64_t floats = 0, width = 0;
    for (int k = 0; k <= layers; k++) {
        floats += N * sizes[k] * BLOCK;
        if (sizes[k] > width) width = sizes[k];
    }
    float *scratch = malloc(sizeof(float) * (floats + 2 * N * width * BLOCK));
    if (!scratch) return -1;
    float *wb[16], *bb[16];
    int64_t s = 0;
    int stopped = 0, status;
    for (; s + BLOCK <= S; s += BLOCK) {
        for (int k = 0; k < layers; k++) wb[k] = w[k] + s, bb[k] = bias[k] + s;
        status = train_block(layers, sizes, wb, bb, S, lr + s, solved_step + s, costs ? costs + s : NULL, X, Y, act,
                             first_step, steps, solved_cost, scratch);
        if (status > 0 && (stopped == 0 || status < stopped)) stopped = status;
    }
    if (s < S) {
        status = train_tail(layers, sizes, w, bias, S, s, lr, solved_step, costs, X, Y, act, first_step, steps,
                            solved_cost, scratch);
        if (status < 0) stopped = -1;
        else if (status > 0 && (stopped == 0 || status < stopped)) stopped = status;
    }
    free(scratch);
    return stopped;
}

/* The kernel's sigmoid over n floats: what the tests compare with torch.sigmoid. */
void xor_sigmoid(int64_t n, const float *x, float *y) {
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) y[i] = sigmoid(x[i]);
}
