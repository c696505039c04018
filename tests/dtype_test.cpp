// Dtypes and creation: int64 and bool tensors, conversions with to(), clone, and the creation functions.
#define BOOST_TEST_MODULE dtype_test
#include <boost/test/unit_test.hpp>

#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using namespace autodiff;
namespace tt = boost::test_tools;

namespace {
const auto invalid = says<std::invalid_argument>;
}  // namespace

BOOST_AUTO_TEST_CASE(int64_and_bool_tensors) {
  const Tensor idx = tensor_i64({3, -1, 9007199254740993});  // 2^53 + 1: exact in int64, not in double
  BOOST_TEST(idx.dtype() == Dtype::i64);
  BOOST_TEST(dtype_name(idx.dtype()) == "int64");
  BOOST_TEST(idx.value().data<std::int64_t>()[2] == 9007199254740993);
  BOOST_TEST(!idx.requires_grad());
  BOOST_CHECK_EXCEPTION(Tensor(Array::zeros(Shape{2}, Dtype::i64), true), std::exception,
                        invalid({"Tensor", "int64 tensor cannot require grad"}));
  const Tensor mask = tensor({0.0, 2.5, -1.0}, Dtype::f64).to(Dtype::b8);
  BOOST_TEST(dtype_name(mask.dtype()) == "bool");
  BOOST_TEST(mask.to_vector() == std::vector<double>({0, 1, 1}), tt::per_element());
  BOOST_TEST(dtype_size(Dtype::b8) == 1u);
  // Counting: a sum of a mask is an int64 constant.
  const Tensor count = sum(mask);
  BOOST_TEST(count.dtype() == Dtype::i64);
  BOOST_TEST(count.item() == 2.0);
  BOOST_TEST(sum(idx, 0).item() == 9007199254740995.0);
}

BOOST_AUTO_TEST_CASE(conversions) {
  const Tensor x = tensor({-2.7, 0.5, 3.9}, Dtype::f64);
  BOOST_TEST(x.to(Dtype::i64).to_vector() == std::vector<double>({-2, 0, 3}), tt::per_element());  // toward zero
  BOOST_TEST(x.to(Dtype::f32).dtype() == Dtype::f32);
  BOOST_TEST(tensor_i64({1, 0}).to(Dtype::f64).to_vector() == std::vector<double>({1, 0}), tt::per_element());
  BOOST_CHECK_EXCEPTION(tensor({std::nan("")}, Dtype::f64).to(Dtype::i64), std::exception,
                        invalid({"cannot convert", "nan", "int64"}));
  BOOST_CHECK_EXCEPTION(tensor({1e300}, Dtype::f64).to(Dtype::i64), std::exception, invalid({"cannot convert", "int64"}));
  // Between float types, to() is differentiable, first and second order.
  const TensorFunction through_f32 = [](const std::vector<Tensor>& v) { return (v[0].to(Dtype::f32) * 3.0).to(Dtype::f64); };
  const GradcheckOptions loose{.eps = 1e-3, .atol = 1e-4, .rtol = 1e-3};  // float32 in the middle
  BOOST_TEST(gradcheck(through_f32, {tensor({0.5, -1.25}, Dtype::f64)}, loose).ok);
  TapeScope scope;
  const Tensor w = tensor({1.0, 2.0}, Dtype::f64, true);
  backward(sum(w.to(Dtype::i64).to(Dtype::f64) * w));  // the int64 detour carries no gradient
  BOOST_TEST(w.grad().to_vector() == std::vector<double>({1.0, 2.0}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(float_ops_refuse_integers_and_say_how_to_convert) {
  const Tensor i = tensor_i64({1, 2});
  BOOST_CHECK_EXCEPTION(exp(i), std::exception, invalid({"exp: needs a float tensor", "int64", "x.to(Dtype::f32)"}));
  BOOST_CHECK_EXCEPTION(i + i, std::exception, invalid({"add: needs a float tensor", "int64"}));
  BOOST_CHECK_EXCEPTION(mean(i), std::exception, invalid({"mean: needs a float tensor"}));
  BOOST_CHECK_EXCEPTION(matmul(reshape(i, {1, 2}), reshape(i, {2, 1})), std::exception, invalid({"matmul: needs a float tensor"}));
  BOOST_CHECK_EXCEPTION(pow(i, 2.0), std::exception, invalid({"pow: needs a float tensor"}));
  // Data movement works for every dtype.
  BOOST_TEST(reshape(i, {2, 1}).shape() == (Shape{2, 1}));
  BOOST_TEST(transpose(reshape(i, {1, 2})).to_vector() == std::vector<double>({1, 2}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(clone_copies_and_passes_gradients) {
  TapeScope scope;
  const Tensor x = tensor({1.0, 2.0}, Dtype::f64, true);
  const Tensor c = clone(x);
  BOOST_TEST(c.value().storage() != x.value().storage());
  backward(sum(c * c));
  BOOST_TEST(x.grad().to_vector() == std::vector<double>({2.0, 4.0}), tt::per_element());
  BOOST_TEST(gradgradcheck([](const std::vector<Tensor>& v) { return clone(v[0]) * v[0]; }, {x.detach()}).ok);
}

BOOST_AUTO_TEST_CASE(creation_functions) {
  BOOST_TEST(arange(0, 5).to_vector() == std::vector<double>({0, 1, 2, 3, 4}), tt::per_element());
  BOOST_TEST(arange(0, 5).dtype() == Dtype::i64);
  BOOST_TEST(arange(1, 2, 0.25, Dtype::f64).to_vector() == std::vector<double>({1, 1.25, 1.5, 1.75}), tt::per_element());
  BOOST_TEST(arange(3, 0, -1).to_vector() == std::vector<double>({3, 2, 1}), tt::per_element());
  BOOST_TEST(arange(3, 3).numel() == 0);
  BOOST_CHECK_EXCEPTION(arange(0, 1, 0), std::exception, invalid({"arange", "step 0", "non-zero"}));
  BOOST_TEST(linspace(0, 1, 5, Dtype::f64).to_vector() == std::vector<double>({0, 0.25, 0.5, 0.75, 1}), tt::per_element());
  BOOST_TEST(linspace(2, 3, 1).to_vector() == std::vector<double>({2}), tt::per_element());
  BOOST_TEST(eye(2, 3).to_vector() == std::vector<double>({1, 0, 0, 0, 1, 0}), tt::per_element());
  BOOST_TEST(eye(2).shape() == (Shape{2, 2}));
  const Tensor x = tensor({1, 2, 3}, Dtype::f64);
  BOOST_TEST(zeros_like(x).to_vector() == std::vector<double>({0, 0, 0}), tt::per_element());
  BOOST_TEST(ones_like(x).dtype() == Dtype::f64);
  BOOST_TEST(full_like(tensor_i64({1, 2}), 7).to_vector() == std::vector<double>({7, 7}), tt::per_element());
  // Seeded fills: the same generator words give the same values on every standard library.
  std::mt19937_64 a(5), b(5);
  const Tensor r1 = rand(Shape{1000}, a, Dtype::f64), r2 = rand(Shape{1000}, b, Dtype::f64);
  BOOST_TEST(r1.to_vector() == r2.to_vector(), tt::per_element());
  double lo = 1, hi = 0, mean = 0;
  for (double v : r1.to_vector()) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    mean += v / 1000;
  }
  BOOST_TEST(lo >= 0.0);
  BOOST_TEST(hi < 1.0);
  BOOST_TEST(std::fabs(mean - 0.5) < 0.05);
  std::mt19937_64 g(6);
  const std::vector<double> n = randn(Shape{4000}, g, Dtype::f64).to_vector();
  double m = 0, v = 0;
  for (double e : n) m += e / 4000;
  for (double e : n) v += (e - m) * (e - m) / 4000;
  BOOST_TEST(std::fabs(m) < 0.06);
  BOOST_TEST(std::fabs(v - 1.0) < 0.08);
}
