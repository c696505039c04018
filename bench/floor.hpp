// Hand-written floor for mlp_step: the same training step on preallocated buffers with cblas_sgemm (or plain loops).
#pragma once

#include "bench/common.hpp"

#include <cblas.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

/// How the floor multiplies matrices: OpenBLAS; plain loops; or loops for tiny products (m n k <= 16384, such as
/// 32x16x16) and OpenBLAS otherwise. The last two show what OpenBLAS's per-call overhead costs on tiny GEMMs.
enum class Gemm { blas, loops, hybrid };

/// One SGD step of a sigmoid MLP with the seed's squared-error cost, no autograd:
///   a0 = x;  a_l = sigmoid(a_(l-1) W_l + b_l)
///   cost = (1/B) sum_i sum_j (y_ij - a_L,ij)^2
///   delta_L = (2/B) (a_L - y) * a_L * (1 - a_L);  delta_(l-1) = (delta_l W_l^T) * a_(l-1) * (1 - a_(l-1))
///   dW_l = a_(l-1)^T delta_l;  db_l = column sums of delta_l;  W -= lr dW, b -= lr db
class Floor {
 public:
  Floor(const MlpParams& init, int batch, float lr, Gemm gemm = Gemm::blas)
      : p_(init), batch_(batch), lr_(lr), gemm_(gemm) {
    const std::size_t layers = p_.layers();
    a_.resize(layers);
    delta_.resize(layers);
    dw_.resize(layers);
    db_.resize(layers);
    for (std::size_t l = 0; l < layers; ++l) {
      const auto out = static_cast<std::size_t>(p_.sizes[l + 1]);
      a_[l].resize(out * static_cast<std::size_t>(batch));
      delta_[l].resize(out * static_cast<std::size_t>(batch));
      dw_[l].resize(p_.w[l].size());
      db_[l].resize(out);
    }
  }

  /// Trains on x [B, n_0] and y [B, n_L]; returns the cost before the update.
  float step(const float* x, const float* y) {
    const int layers = static_cast<int>(p_.layers()), B = batch_;
    for (int l = 0; l < layers; ++l) {
      const int in = p_.sizes[l], out = p_.sizes[l + 1];
      const float* prev = l ? a_[l - 1].data() : x;
      float* a = a_[l].data();
      const float* b = p_.b[l].data();
      // [B,in] x [in,out] -> [B,out]
      gemm_nn(B, out, in, prev, p_.w[l].data(), a);
      for (int i = 0; i < B; ++i)
        for (int j = 0; j < out; ++j) a[i * out + j] = sigmoid(a[i * out + j] + b[j]);
    }
    const int n_out = p_.sizes[layers];
    const float* aL = a_[layers - 1].data();
    float* dL = delta_[layers - 1].data();
    double cost = 0;
    const float scale = 2.0f / static_cast<float>(B);
    for (int k = 0; k < B * n_out; ++k) {
      const float d = aL[k] - y[k];
      cost += static_cast<double>(d) * d;
      dL[k] = scale * d * aL[k] * (1 - aL[k]);
    }
    for (int l = layers - 1; l >= 0; --l) {
      const int in = p_.sizes[l], out = p_.sizes[l + 1];
      const float* prev = l ? a_[l - 1].data() : x;
      const float* d = delta_[l].data();
      // dW = a_prev^T delta: [in,B] x [B,out] -> [in,out]
      gemm_tn(in, out, B, prev, d, dw_[l].data());
      float* db = db_[l].data();
      for (int j = 0; j < out; ++j) db[j] = 0;
      for (int i = 0; i < B; ++i)
        for (int j = 0; j < out; ++j) db[j] += d[i * out + j];
      if (l > 0) {
        // delta_prev = (delta W^T) * a_prev (1 - a_prev): [B,out] x [out,in] -> [B,in]
        float* dp = delta_[l - 1].data();
        gemm_nt(B, in, out, d, p_.w[l].data(), dp);
        for (int k = 0; k < B * in; ++k) dp[k] *= prev[k] * (1 - prev[k]);
      }
    }
    for (int l = 0; l < layers; ++l) {
      float* w = p_.w[l].data();
      const float* dw = dw_[l].data();
      for (std::size_t k = 0; k < p_.w[l].size(); ++k) w[k] -= lr_ * dw[k];
      float* b = p_.b[l].data();
      for (std::size_t k = 0; k < p_.b[l].size(); ++k) b[k] -= lr_ * db_[l][k];
    }
    return static_cast<float>(cost / B);
  }

  const MlpParams& params() const { return p_; }

 private:
  static float sigmoid(float v) {
    if (v >= 0) return 1.0f / (1.0f + std::exp(-v));
    const float e = std::exp(v);
    return e / (1.0f + e);
  }

  bool blas(int m, int n, int k) const {
    return gemm_ == Gemm::blas || (gemm_ == Gemm::hybrid && std::int64_t{m} * n * k > 16384);
  }

  // Row-major C[m,n] = A[m,k] B[k,n].
  void gemm_nn(int m, int n, int k, const float* a, const float* b, float* c) const {
    if (blas(m, n, k)) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
      return;
    }
    for (int i = 0; i < m; ++i) {
      float* ci = c + static_cast<std::ptrdiff_t>(i) * n;
      for (int j = 0; j < n; ++j) ci[j] = 0;
      for (int p = 0; p < k; ++p) {
        const float av = a[static_cast<std::ptrdiff_t>(i) * k + p];
        const float* bp = b + static_cast<std::ptrdiff_t>(p) * n;
        for (int j = 0; j < n; ++j) ci[j] += av * bp[j];
      }
    }
  }
  // Row-major C[m,n] = A^T B with A [k,m], B [k,n].
  void gemm_tn(int m, int n, int k, const float* a, const float* b, float* c) const {
    if (blas(m, n, k)) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0f, a, m, b, n, 0.0f, c, n);
      return;
    }
    for (int i = 0; i < m * n; ++i) c[i] = 0;
    for (int p = 0; p < k; ++p)
      for (int i = 0; i < m; ++i) {
        const float av = a[static_cast<std::ptrdiff_t>(p) * m + i];
        const float* bp = b + static_cast<std::ptrdiff_t>(p) * n;
        float* ci = c + static_cast<std::ptrdiff_t>(i) * n;
        for (int j = 0; j < n; ++j) ci[j] += av * bp[j];
      }
  }
  // Row-major C[m,n] = A B^T with A [m,k], B [n,k].
  void gemm_nt(int m, int n, int k, const float* a, const float* b, float* c) const {
    if (blas(m, n, k)) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
      return;
    }
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        const float* ai = a + static_cast<std::ptrdiff_t>(i) * k;
        const float* bj = b + static_cast<std::ptrdiff_t>(j) * k;
        float s = 0;
        for (int p = 0; p < k; ++p) s += ai[p] * bj[p];
        c[static_cast<std::ptrdiff_t>(i) * n + j] = s;
      }
  }

  MlpParams p_;
  int batch_;
  float lr_;
  Gemm gemm_;
  std::vector<std::vector<float>> a_, delta_, dw_, db_;
};

}  // namespace bench
