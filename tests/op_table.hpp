// The op test table shared by the ops_*_test files: input domains, a row {name, fn, inputs}, and the runners that
// check every row with gradcheck (first order) or gradgradcheck (second order) in float64.
#pragma once

#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace optable {

using namespace autodiff;

/// One input: its shape and a domain [lo, hi) (optionally with a random sign, to stay off a kink at 0),
/// or explicit values.
struct In {
  Shape shape;
  double lo = -1.0, hi = 1.0;
  bool random_sign = false;
  std::vector<double> values = {};
};

inline In range(Shape s, double lo, double hi) { return In{s, lo, hi}; }
/// |x| in [lo, hi) with a random sign: away from a kink or pole at 0.
inline In away(Shape s, double lo = 0.2, double hi = 2.0) { return In{s, lo, hi, true}; }
inline In given(Shape s, std::vector<double> v) { return In{s, 0.0, 0.0, false, std::move(v)}; }

// Seed per row from its name (FNV-1a), so adding a row does not move the others' points.
inline std::uint64_t seed_of(const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  return h;
}

inline Tensor make_input(const In& in, std::mt19937_64& gen) {
  if (!in.values.empty()) return tensor(in.values, in.shape, Dtype::f64);
  Tensor t = uniform(in.shape, in.lo, in.hi, gen, Dtype::f64);
  if (in.random_sign) {
    Array& v = t.leaf_value();
    for (std::int64_t i = 0; i < v.numel(); ++i)
      if (gen() >> 63) v.set(i, -v.at(i));
  }
  return t;
}

/// Two arrays of n values in [-1, 1] and [-1.5, 1.5] whose elements differ by at least 0.1 (no min/max ties).
std::pair<std::vector<double>, std::vector<double>> apart(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<double> a, b;
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = 2.0 * uniform01(gen) - 1.0;
    const double d = 0.1 + 0.4 * uniform01(gen);
    a.push_back(x);
    b.push_back(gen() >> 63 ? x + d : x - d);
  }
  return {a, b};
}

/// n distinct values (pairwise at least 0.15 apart) in a scrambled order: max over any axis has one clear winner.
inline std::vector<double> distinct(std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<double> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(static_cast<double>((i * 7) % n) * 0.25 - 1.0 + 0.1 * uniform01(gen));
  return v;
}

struct TensorRow {
  std::string name;
  TensorFunction fn;
  std::vector<In> inputs;
  GradcheckOptions opt = {};
};

/// Checks every row against central finite differences in float64.
inline void check_first_order(const std::vector<TensorRow>& table) {
  for (const TensorRow& row : table) {
    BOOST_TEST_CONTEXT(row.name) {
      std::mt19937_64 gen(seed_of(row.name));
      std::vector<Tensor> inputs;
      for (const In& in : row.inputs) inputs.push_back(make_input(in, gen));
      const GradcheckReport r = gradcheck(row.fn, inputs, row.opt);
      BOOST_TEST(r.ok, fmt::format("{}", r));
      BOOST_TEST(r.inputs.size() == row.inputs.size());
      for (const InputCheck& c : r.inputs) {
        BOOST_TEST(std::isfinite(c.analytic));
        BOOST_TEST(std::isfinite(c.numeric));
      }
    }
  }
}

/// Checks every row's second derivatives (gradgradcheck: a Hessian-vector product through create_graph).
inline void check_second_order(const std::vector<TensorRow>& table) {
  for (const TensorRow& row : table) {
    BOOST_TEST_CONTEXT(row.name) {
      std::mt19937_64 gen(seed_of(row.name));
      std::vector<Tensor> inputs;
      for (const In& in : row.inputs) inputs.push_back(make_input(in, gen));
      const GradcheckReport r = gradgradcheck(row.fn, inputs, row.opt);
      BOOST_TEST(r.ok, fmt::format("{}", r));
      BOOST_TEST(r.inputs.size() == row.inputs.size());
    }
  }
}

}  // namespace optable
