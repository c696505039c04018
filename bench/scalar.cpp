// Scalar Var tape overhead: tape "evaluate + gradient + clear" against the same loops on plain doubles.
#include "bench/common.hpp"

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using autodiff::Var;

constexpr int trials = 9;

[[noreturn]] void fail(const std::string& what) {
  fmt::print(stderr, "scalar: {}\n", what);
  std::exit(1);
}

double sigmoid(double v) { return v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v)); }

// ---- (a) f(x) = sum_i x_i^2 sin x_i --------------------------------------------------------------

struct SumSin {
  std::vector<double> xd;
  std::vector<Var> x;
  autodiff::Tape tape;
  double bytes_per_op = 0;
  double checksum = 0;

  explicit SumSin(std::size_t n) {
    std::mt19937_64 gen(1);
    for (std::size_t i = 0; i < n; ++i) xd.push_back(4 * bench::unit(gen) - 2);
    x.assign(xd.begin(), xd.end());
  }

  double plain() const {
    double s = xd[0] * xd[0] * std::sin(xd[0]);
    for (std::size_t i = 1; i < xd.size(); ++i) s += xd[i] * xd[i] * std::sin(xd[i]);
    return s;
  }

  // Records f on the reused tape, runs backward, reads (and resets) every leaf grad; the scope clears the tape.
  double taped() {
    autodiff::TapeScope scope(tape);
    Var s = x[0] * x[0] * sin(x[0]);
    for (std::size_t i = 1; i < x.size(); ++i) s += x[i] * x[i] * sin(x[i]);
    autodiff::backward(s);
    bytes_per_op = autodiff::detail::store(tape).scalar_bytes_per_op();
    double g = 0;
    for (Var& v : x) {
      g += v.grad();
      v.zero_grad();
    }
    checksum = g;
    return s.value();
  }

  void check() {
    for (Var& v : x) v.zero_grad();
    const double f = taped_keep_grads();
    if (std::fabs(f - plain()) > 1e-9 * std::fabs(f) + 1e-9) fail(fmt::format("sumsin: value {} != plain {}", f, plain()));
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double v = xd[i], want = 2 * v * std::sin(v) + v * v * std::cos(v), got = x[i].grad();
      if (std::fabs(got - want) > 1e-12 * (std::fabs(want) + 1)) fail(fmt::format("sumsin: grad[{}] = {}, analytic {}", i, got, want));
      x[i].zero_grad();
    }
  }

  double taped_keep_grads() {
    autodiff::TapeScope scope(tape);
    Var s = x[0] * x[0] * sin(x[0]);
    for (std::size_t i = 1; i < x.size(); ++i) s += x[i] * x[i] * sin(x[i]);
    autodiff::backward(s);
    return s.value();
  }
};

// ---- (b) 784-16-16-10 sigmoid MLP, one example, per-neuron loops ---------------------------------

struct ScalarMlp {
  static constexpr int sizes[4] = {784, 16, 16, 10};
  // Neuron-major: w[l][j * in + k] is the weight from neuron k of layer l to neuron j of layer l+1.
  std::vector<double> wd[3], bd[3];
  std::vector<Var> w[3], b[3];
  std::vector<double> x, y;
  autodiff::Tape tape;

  ScalarMlp() {
    std::mt19937_64 gen(2);
    for (int l = 0; l < 3; ++l) {
      const int in = sizes[l], out = sizes[l + 1];
      const double r = 1 / std::sqrt(double(in));
      for (int i = 0; i < in * out; ++i) wd[l].push_back((2 * bench::unit(gen) - 1) * r);
      for (int j = 0; j < out; ++j) bd[l].push_back((2 * bench::unit(gen) - 1) * r);
      w[l].assign(wd[l].begin(), wd[l].end());
      b[l].assign(bd[l].begin(), bd[l].end());
    }
    for (int k = 0; k < sizes[0]; ++k) x.push_back(bench::unit(gen));
    y.assign(sizes[3], 0.0);
    y[3] = 1.0;
  }

  std::size_t params() const {
    std::size_t n = 0;
    for (int l = 0; l < 3; ++l) n += w[l].size() + b[l].size();
    return n;
  }

  double plain() const {
    double a0[784], a1[16], a2[16], a3[10];
    std::copy(x.begin(), x.end(), a0);
    const double* in[3] = {a0, a1, a2};
    double* out[3] = {a1, a2, a3};
    for (int l = 0; l < 3; ++l)
      for (int j = 0; j < sizes[l + 1]; ++j) {
        double z = bd[l][j];
        for (int k = 0; k < sizes[l]; ++k) z += wd[l][j * sizes[l] + k] * in[l][k];
        out[l][j] = sigmoid(z);
      }
    double c = 0;
    for (int j = 0; j < 10; ++j) c += (y[j] - a3[j]) * (y[j] - a3[j]);
    return c;
  }

  Var forward() {
    std::vector<Var> a1, a2, a3;
    a1.reserve(16);
    a2.reserve(16);
    a3.reserve(10);
    for (int j = 0; j < 16; ++j) {
      Var z = b[0][j];
      for (int k = 0; k < 784; ++k) z += w[0][j * 784 + k] * x[k];
      a1.push_back(sigmoid(z));
    }
    for (int j = 0; j < 16; ++j) {
      Var z = b[1][j];
      for (int k = 0; k < 16; ++k) z += w[1][j * 16 + k] * a1[k];
      a2.push_back(sigmoid(z));
    }
    for (int j = 0; j < 10; ++j) {
      Var z = b[2][j];
      for (int k = 0; k < 16; ++k) z += w[2][j * 16 + k] * a2[k];
      a3.push_back(sigmoid(z));
    }
    Var c = (y[0] - a3[0]) * (y[0] - a3[0]);
    for (int j = 1; j < 10; ++j) c += (y[j] - a3[j]) * (y[j] - a3[j]);
    return c;
  }

  double taped() {
    autodiff::TapeScope scope(tape);
    Var c = forward();
    autodiff::backward(c);
    double g = 0;
    for (int l = 0; l < 3; ++l) {
      for (Var& v : w[l]) {
        g += v.grad();
        v.zero_grad();
      }
      for (Var& v : b[l]) {
        g += v.grad();
        v.zero_grad();
      }
    }
    bench::keep(g);
    return c.value();
  }

  // Closed-form backprop of the seed (delta equations) in double, against the tape's leaf grads.
  void check() {
    double f;
    {
      autodiff::TapeScope scope(tape);
      Var c = forward();
      autodiff::backward(c);
      f = c.value();
    }
    if (std::fabs(f - plain()) > 1e-12) fail(fmt::format("scalar_mlp: cost {} != plain {}", f, plain()));
    std::vector<double> a[4];
    a[0] = x;
    for (int l = 0; l < 3; ++l)
      for (int j = 0; j < sizes[l + 1]; ++j) {
        double z = bd[l][j];
        for (int k = 0; k < sizes[l]; ++k) z += wd[l][j * sizes[l] + k] * a[l][k];
        a[l + 1].push_back(sigmoid(z));
      }
    std::vector<double> dc_da(10);
    for (int j = 0; j < 10; ++j) dc_da[j] = 2 * (a[3][j] - y[j]);
    for (int l = 2; l >= 0; --l) {
      const int in = sizes[l], out = sizes[l + 1];
      std::vector<double> delta(out), prev(in, 0.0);
      for (int j = 0; j < out; ++j) delta[j] = dc_da[j] * a[l + 1][j] * (1 - a[l + 1][j]);
      for (int j = 0; j < out; ++j) {
        auto near = [](double got, double want) { return std::fabs(got - want) <= 1e-12 * (std::fabs(want) + 1e-3); };
        if (!near(b[l][j].grad(), delta[j])) fail(fmt::format("scalar_mlp: db{}[{}] = {}, backprop {}", l, j, b[l][j].grad(), delta[j]));
        for (int k = 0; k < in; ++k) {
          const double want = delta[j] * a[l][k], got = w[l][j * in + k].grad();
          if (!near(got, want)) fail(fmt::format("scalar_mlp: dw{}[{},{}] = {}, backprop {}", l, j, k, got, want));
          prev[k] += delta[j] * wd[l][j * in + k];
        }
      }
      dc_da = prev;
    }
    for (int l = 0; l < 3; ++l) {
      for (Var& v : w[l]) v.zero_grad();
      for (Var& v : b[l]) v.zero_grad();
    }
  }
};

}  // namespace

int main() {
  fmt::print("cpu={} timing=thread-cpu trials={}\n", bench::cpu_model(), trials);
  std::fflush(stdout);

  SumSin a(1000000);
  a.check();
  const auto ta = bench::compare(trials, {[&] { bench::keep(a.plain()); }, [&] { bench::keep(a.taped()); }}, bench::Timing::thread_cpu);

  ScalarMlp m;
  if (m.params() != 13002) fail(fmt::format("scalar_mlp: {} parameters, expected 13002", m.params()));
  m.check();
  const auto tb = bench::compare(trials, {[&] { bench::keep(m.plain()); }, [&] { bench::keep(m.taped()); }}, bench::Timing::thread_cpu);

  fmt::print("sumsin ratio={}\n", bench::sig3(ta[1] / ta[0]));
  fmt::print("# sumsin n=1000000 plain_ms={} tape_ms={} (evaluate + gradient + clear)\n",
             bench::sig3(ta[0] * 1e3), bench::sig3(ta[1] * 1e3));
  fmt::print("scalar_mlp ratio={}\n", bench::sig3(tb[1] / tb[0]));
  fmt::print("# scalar_mlp 784-16-16-10 params=13002 plain_us={} tape_us={} (evaluate + gradient + clear)\n",
             bench::sig3(tb[0] * 1e6), bench::sig3(tb[1] * 1e6));
  fmt::print("bytes_per_op={:.1f}\n", a.bytes_per_op);
  fmt::print("# bytes_per_op: sumsin's tape bytes (node columns, partials, leaf table) per elementary op (4 per term)\n");
}
