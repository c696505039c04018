// The elementwise family: log1p, expm1, erf, gelu, softplus, leaky_relu, elu, silu, square, rsqrt, sign, the fused
// gradients, relu's fused backward and dropout. Table rows in first and second order, hand values, errors.
#define BOOST_TEST_MODULE ops_elementwise_test
#include <boost/test/unit_test.hpp>

#include "op_table.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using namespace autodiff;
using namespace optable;
namespace tt = boost::test_tools;

namespace {

const Shape S34{3, 4};
using V = const std::vector<Tensor>&;
constexpr auto tanh_form = GeluApproximate::tanh;
const std::vector<double> pm40{-40.0, 40.0, -39.5, 40.5};

// Dropout with a fresh generator from a fixed seed, so every call (gradcheck calls f many times) has one mask.
Tensor fixed_dropout(const Tensor& x, double p, bool training = true) {
  std::mt19937_64 gen(11);
  return dropout(x, p, gen, training);
}

// Rows checked in first order; the smooth ones are checked in second order too (second_order_table).
std::vector<TensorRow> first_order_table() {
  GradcheckOptions small_x;
  small_x.eps = 1e-9;  // x near 1e-4: a 1e-6 step would be 1% of x
  return {
      {"log1p", [](V x) { return log1p(x[0]); }, {range(S34, -0.5, 2)}},
      {"log1p near 0", [](V x) { return log1p(x[0]); }, {range({4}, -1e-8, 1e-8)}},
      {"expm1", [](V x) { return expm1(x[0]); }, {range(S34, -2, 2)}},
      {"expm1 near 0", [](V x) { return expm1(x[0]); }, {range({4}, -1e-8, 1e-8)}},
      {"erf", [](V x) { return erf(x[0]); }, {range(S34, -2, 2)}},
      {"erf tails", [](V x) { return erf(x[0]); }, {given({4}, {-6.0, -4.0, 4.0, 6.0})}},
      {"gelu", [](V x) { return gelu(x[0]); }, {range(S34, -3, 3)}},
      {"gelu 0-d", [](V x) { return gelu(x[0]); }, {range({}, -1, 1)}},
      {"gelu at +-40", [](V x) { return gelu(x[0]); }, {given({4}, pm40)}},
      {"gelu tanh", [](V x) { return gelu(x[0], tanh_form); }, {range(S34, -3, 3)}},
      {"gelu tanh at +-40", [](V x) { return gelu(x[0], tanh_form); }, {given({4}, pm40)}},
      {"gelu_backward", [](V x) { return gelu_backward(x[0], x[1]); }, {range(S34, -1, 1), range(S34, -3, 3)}},
      {"gelu_backward tanh", [](V x) { return gelu_backward(x[0], x[1], tanh_form); }, {range(S34, -1, 1), range(S34, -3, 3)}},
      {"softplus", [](V x) { return softplus(x[0]); }, {range(S34, -3, 3)}},
      {"softplus [1,1]", [](V x) { return softplus(x[0]); }, {range({1, 1}, -3, 3)}},
      {"softplus at +-40", [](V x) { return softplus(x[0]); }, {given({4}, pm40)}},
      // beta x = -6, -2, 1, 4 are below the threshold 5, and 6, 8 above it (off the kink at x = 2.5).
      {"softplus beta 2 threshold 5", [](V x) { return softplus(x[0], 2.0, 5.0); },
       {given({6}, {-3.0, -1.0, 0.5, 2.0, 3.0, 4.0})}},
      {"softplus_backward", [](V x) { return softplus_backward(x[0], x[1], 1.0, 20.0); }, {range(S34, -1, 1), range(S34, -3, 3)}},
      {"softplus_backward beta 2 threshold 5", [](V x) { return softplus_backward(x[0], x[1], 2.0, 5.0); },
       {range({6}, -1, 1), given({6}, {-3.0, -1.0, 0.5, 2.0, 3.0, 4.0})}},
      {"leaky_relu", [](V x) { return leaky_relu(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"leaky_relu slope 0.2", [](V x) { return leaky_relu(x[0], 0.2); }, {away(S34, 0.1, 2.0)}},
      {"leaky_relu_backward", [](V x) { return leaky_relu_backward(x[0], x[1], 0.2); }, {range(S34, -1, 1), away(S34, 0.1, 2.0)}},
      {"relu (fused relu_backward)", [](V x) { return relu(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"elu", [](V x) { return elu(x[0]); }, {away(S34, 0.1, 3.0)}},
      {"elu alpha 0.5", [](V x) { return elu(x[0], 0.5); }, {away(S34, 0.1, 3.0)}},
      {"elu_backward", [](V x) { return elu_backward(x[0], x[1], 1.5); }, {range(S34, -1, 1), away(S34, 0.1, 3.0)}},
      {"silu", [](V x) { return silu(x[0]); }, {range(S34, -4, 4)}},
      {"silu at +-40", [](V x) { return silu(x[0]); }, {given({4}, pm40)}},
      {"silu_backward", [](V x) { return silu_backward(x[0], x[1]); }, {range(S34, -1, 1), range(S34, -4, 4)}},
      {"silu_backward [3,4] g, [4] x (broadcast)", [](V x) { return silu_backward(x[0], x[1]); },
       {range(S34, -1, 1), range({4}, -4, 4)}},
      {"square", [](V x) { return square(x[0]); }, {range(S34, -2, 2)}},
      {"rsqrt", [](V x) { return rsqrt(x[0]); }, {range(S34, 0.3, 3)}},
      {"rsqrt at small x", [](V x) { return rsqrt(x[0]); }, {range({4}, 1e-4, 2e-4)}, small_x},
      {"sign", [](V x) { return sign(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"dropout p 0.3", [](V x) { return fixed_dropout(x[0], 0.3); }, {range(S34, -1, 1)}},
      {"dropout p 1", [](V x) { return fixed_dropout(x[0], 1.0); }, {range(S34, -1, 1)}},
      {"dropout p 0", [](V x) { return fixed_dropout(x[0], 0.0); }, {range(S34, -1, 1)}},
      {"dropout not training", [](V x) { return fixed_dropout(x[0], 0.5, false); }, {range(S34, -1, 1)}},
  };
}

// Second derivatives: every smooth op, the fused gradients (third derivatives of their activations), and the
// piecewise-linear ops inside a curved function, where a zero second derivative would prove nothing.
std::vector<TensorRow> second_order_table() {
  return {
      {"log1p", [](V x) { return log1p(x[0]); }, {range(S34, -0.5, 2)}},
      {"expm1", [](V x) { return expm1(x[0]); }, {range(S34, -2, 2)}},
      {"erf", [](V x) { return erf(x[0]); }, {range(S34, -2, 2)}},
      {"gelu", [](V x) { return gelu(x[0]); }, {range(S34, -3, 3)}},
      {"gelu at +-40", [](V x) { return gelu(x[0]); }, {given({4}, pm40)}},
      {"gelu tanh", [](V x) { return gelu(x[0], tanh_form); }, {range(S34, -3, 3)}},
      {"gelu tanh at +-40", [](V x) { return gelu(x[0], tanh_form); }, {given({4}, pm40)}},
      {"gelu_backward", [](V x) { return gelu_backward(x[0], x[1]); }, {range(S34, -1, 1), range(S34, -3, 3)}},
      {"gelu_backward tanh", [](V x) { return gelu_backward(x[0], x[1], tanh_form); }, {range(S34, -1, 1), range(S34, -3, 3)}},
      {"softplus", [](V x) { return softplus(x[0]); }, {range(S34, -3, 3)}},
      {"softplus at +-40", [](V x) { return softplus(x[0]); }, {given({4}, pm40)}},
      {"softplus beta 2 threshold 5", [](V x) { return softplus(x[0], 2.0, 5.0); },
       {given({6}, {-3.0, -1.0, 0.5, 2.0, 3.0, 4.0})}},
      {"softplus_backward beta 2 threshold 5", [](V x) { return softplus_backward(x[0], x[1], 2.0, 5.0); },
       {range({6}, -1, 1), given({6}, {-3.0, -1.0, 0.5, 2.0, 3.0, 4.0})}},
      {"leaky_relu", [](V x) { return leaky_relu(x[0], 0.2); }, {away(S34, 0.1, 2.0)}},
      {"tanh(leaky_relu)", [](V x) { return tanh(leaky_relu(x[0], 0.2)); }, {away(S34, 0.1, 2.0)}},
      {"leaky_relu_backward", [](V x) { return leaky_relu_backward(x[0], x[1], 0.2); }, {range(S34, -1, 1), away(S34, 0.1, 2.0)}},
      {"relu", [](V x) { return relu(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"tanh(relu)", [](V x) { return tanh(relu(x[0])); }, {away(S34, 0.1, 2.0)}},
      {"elu", [](V x) { return elu(x[0], 0.5); }, {away(S34, 0.1, 3.0)}},
      {"elu_backward", [](V x) { return elu_backward(x[0], x[1], 1.5); }, {range(S34, -1, 1), away(S34, 0.1, 3.0)}},
      {"silu", [](V x) { return silu(x[0]); }, {range(S34, -4, 4)}},
      {"silu at +-40", [](V x) { return silu(x[0]); }, {given({4}, pm40)}},
      {"silu_backward", [](V x) { return silu_backward(x[0], x[1]); }, {range(S34, -1, 1), range(S34, -4, 4)}},
      {"square", [](V x) { return square(x[0]); }, {range(S34, -2, 2)}},
      {"rsqrt", [](V x) { return rsqrt(x[0]); }, {range(S34, 0.3, 3)}},
      {"sign", [](V x) { return sign(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"sign(x) * x^2", [](V x) { return sign(x[0]) * square(x[0]); }, {away(S34, 0.1, 2.0)}},
      {"dropout p 0.3", [](V x) { return fixed_dropout(x[0], 0.3); }, {range(S34, -1, 1)}},
      {"tanh(dropout p 0.3)", [](V x) { return tanh(fixed_dropout(x[0], 0.3)); }, {range(S34, -1, 1)}},
      {"tanh(dropout not training)", [](V x) { return tanh(fixed_dropout(x[0], 0.3, false)); }, {range(S34, -1, 1)}},
      // The family's earlier ops, whose rules the docs table also marks as second-order.
      {"exp", [](V x) { return exp(x[0]); }, {range(S34, -2, 2)}},
      {"log", [](V x) { return log(x[0]); }, {range(S34, 0.3, 3)}},
      {"sqrt", [](V x) { return sqrt(x[0]); }, {range(S34, 0.3, 3)}},
      {"sin", [](V x) { return sin(x[0]); }, {range(S34, -3, 3)}},
      {"cos", [](V x) { return cos(x[0]); }, {range(S34, -3, 3)}},
      {"tanh", [](V x) { return tanh(x[0]); }, {range(S34, -3, 3)}},
      {"sigmoid", [](V x) { return sigmoid(x[0]); }, {range(S34, -4, 4)}},
      {"sigmoid at +-40", [](V x) { return sigmoid(x[0]); }, {given({4}, pm40)}},
      {"sigmoid_backward", [](V x) { return sigmoid_backward(x[0], x[1]); }, {range(S34, -1, 1), range(S34, 0.05, 0.95)}},
      {"abs * x", [](V x) { return abs(x[0]) * x[0]; }, {away(S34, 0.1, 2.0)}},
      {"pow x^-1.5", [](V x) { return pow(x[0], -1.5); }, {range(S34, 0.5, 2)}},
      {"pow x^y", [](V x) { return pow(x[0], x[1]); }, {range(S34, 0.5, 2), range(S34, -1.5, 1.5)}},
      {"minimum * a", [](V x) { return minimum(x[0], x[1]) * x[0]; }, {given(S34, apart(12, 1).first), given(S34, apart(12, 1).second)}},
      {"maximum * b", [](V x) { return maximum(x[0], x[1]) * x[1]; }, {given(S34, apart(12, 2).first), given(S34, apart(12, 2).second)}},
  };
}


// f's values at xs in float64 and its gradient d sum(f(x)) / dx.
struct Eval {
  std::vector<double> y, dx;
};
Eval eval(const std::function<Tensor(const Tensor&)>& f, const std::vector<double>& xs, Dtype dtype = Dtype::f64) {
  TapeScope scope;
  Tensor x = tensor(xs, Shape{static_cast<std::int64_t>(xs.size())}, dtype, true);
  Tensor y = f(x);
  backward(sum(y));
  return {y.to_vector(), x.grad().to_vector()};
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_op_matches_finite_differences) {
  const std::vector<TensorRow> table = first_order_table();
  BOOST_TEST(table.size() >= 38u);
  check_first_order(table);
}

BOOST_AUTO_TEST_CASE(second_derivatives_match_finite_differences) {
  const std::vector<TensorRow> table = second_order_table();
  BOOST_TEST(table.size() >= 44u);
  check_second_order(table);
}

// Values written from the definitions (Python's math module: erf, erfc, log1p, expm1), not from this code.
BOOST_AUTO_TEST_CASE(hand_values) {
  const auto at = [](const std::function<Tensor(const Tensor&)>& f, std::vector<double> xs) { return eval(f, xs).y; };
  const auto close = [](const std::vector<double>& got, const std::vector<double>& want) {
    BOOST_TEST(got.size() == want.size());
    for (std::size_t i = 0; i < got.size() && i < want.size(); ++i)
      BOOST_TEST_CONTEXT("element " << i) { BOOST_TEST(got[i] == want[i], tt::tolerance(1e-14)); }
  };
  close(at([](const Tensor& x) { return gelu(x); }, {1.0, -1.0, 0.0}), {0.8413447460685429, -0.15865525393145707, 0.0});
  // In the tail erfc's relative error is its argument's times 2 z^2 = 100: 1e-14, not full precision, but no cancellation.
  BOOST_TEST(at([](const Tensor& x) { return gelu(x); }, {-10.0})[0] == -7.619853024160593e-23, tt::tolerance(1e-13));
  close(at([](const Tensor& x) { return gelu(x, GeluApproximate::tanh); }, {1.0, -1.0}),
        {0.8411919906082768, -0.15880800939172324});
  close(at([](const Tensor& x) { return softplus(x); }, {1.0, -1.0, -40.0, 40.0, 20.0}),
        {1.3132616875182228, 0.31326168751822286, 4.248354255291589e-18, 40.0, 20.000000002061153});
  close(at([](const Tensor& x) { return silu(x); }, {1.0, -40.0, 0.0}), {0.7310585786300049, -1.6993417021166355e-16, 0.0});
  close(at([](const Tensor& x) { return elu(x); }, {-1.0, 2.0, 0.0}), {-0.6321205588285577, 2.0, 0.0});
  close(at([](const Tensor& x) { return elu(x, 2.0); }, {-1.0}), {-1.2642411176571153});
  close(at([](const Tensor& x) { return leaky_relu(x); }, {-2.0, 3.0, 0.0}), {-0.02, 3.0, 0.0});
  close(at([](const Tensor& x) { return leaky_relu(x, 0.2); }, {-2.0}), {-0.4});
  close(at([](const Tensor& x) { return log1p(x); }, {1e-10, -1e-12, 1.0}),
        {9.999999999500001e-11, -1.0000000000005e-12, 0.6931471805599453});
  close(at([](const Tensor& x) { return expm1(x); }, {1e-10, -1e-12, 1.0}),
        {1.00000000005e-10, -9.999999999995e-13, 1.718281828459045});
  close(at([](const Tensor& x) { return erf(x); }, {0.5, 1.0, -1.0, 0.0}),
        {0.5204998778130465, 0.8427007929497149, -0.8427007929497149, 0.0});
  close(at([](const Tensor& x) { return square(x); }, {-3.0, 0.5}), {9.0, 0.25});
  close(at([](const Tensor& x) { return rsqrt(x); }, {4.0, 0.25, 1e-300}), {0.5, 2.0, 1e150});
  // softplus(x, beta 2, threshold 20): beta x = 20 is not above the threshold; 10.5 is (linear, exactly x).
  close(at([](const Tensor& x) { return softplus(x, 2.0, 20.0); }, {10.0, 10.5}), {10.000000001030577, 10.5});
}

// The far tails: finite values and gradients with full relative precision where a naive formula loses them.
BOOST_AUTO_TEST_CASE(extreme_inputs_are_finite_and_exact) {
  const Eval sp = eval([](const Tensor& x) { return softplus(x); }, {-40.0, 40.0, 800.0});
  BOOST_TEST(sp.y[0] == 4.248354255291589e-18, tt::tolerance(1e-14));
  BOOST_TEST(sp.y[1] == 40.0);
  BOOST_TEST(sp.y[2] == 800.0);
  BOOST_TEST(sp.dx[0] == 4.248354255291589e-18, tt::tolerance(1e-14));  // sigmoid(-40)
  BOOST_TEST(sp.dx[1] == 1.0);
  // No threshold at all: log(1 + exp(800)) would overflow.
  const Eval wide = eval([](const Tensor& x) { return softplus(x, 1.0, std::numeric_limits<double>::infinity()); }, {800.0, 40.0});
  BOOST_TEST(wide.y[0] == 800.0);
  BOOST_TEST(wide.y[1] == 40.0);
  BOOST_TEST(wide.dx[0] == 1.0);

  for (const GeluApproximate a : {GeluApproximate::none, GeluApproximate::tanh}) {
    BOOST_TEST_CONTEXT("gelu approximate " << static_cast<int>(a)) {
      const Eval g = eval([a](const Tensor& x) { return gelu(x, a); }, {-40.0, 40.0});
      BOOST_TEST(g.y[0] == 0.0);
      BOOST_TEST(g.y[1] == 40.0);
      BOOST_TEST(g.dx[0] == 0.0);
      BOOST_TEST(g.dx[1] == 1.0);
    }
  }
  // gelu'(1) = Phi(1) + phi(1); gelu(-5) keeps its relative precision (1 + erf(-5 / sqrt 2) cancels).
  const Eval g = eval([](const Tensor& x) { return gelu(x); }, {1.0, -5.0});
  BOOST_TEST(g.dx[0] == 1.0833154705876864, tt::tolerance(1e-14));
  BOOST_TEST(g.y[1] == -1.4332578593959731e-06, tt::tolerance(1e-13));

  const Eval s = eval([](const Tensor& x) { return silu(x); }, {-40.0, 40.0});
  BOOST_TEST(s.y[1] == 40.0);
  BOOST_TEST(s.dx[0] == -1.6568581595637197e-16, tt::tolerance(1e-13));
  BOOST_TEST(s.dx[1] == 1.0 + 1.6568e-16, tt::tolerance(1e-16));  // 1 + 40 sigmoid(-40): 1 + 2^-52 when rounded

  // rsqrt at small x: 1e-300 gives 1e150 and a finite gradient -0.5 x^(-3/2) where it is representable.
  const Eval r = eval([](const Tensor& x) { return rsqrt(x); }, {1e-300, 1e-200});
  BOOST_TEST(r.y[0] == 1e150, tt::tolerance(1e-14));
  BOOST_TEST(r.dx[1] == -0.5e300, tt::tolerance(1e-14));
  const Eval r32 = eval([](const Tensor& x) { return rsqrt(x); }, {1e-38, 1e-20}, Dtype::f32);
  BOOST_TEST(r32.y[0] == 1e19, tt::tolerance(1e-6));
  BOOST_TEST(r32.dx[1] == -0.5e30, tt::tolerance(1e-6));

  // log1p and expm1 near 0, in float32 too (log(1 + 1e-7f) would give 1.19e-7: 1 + 1e-7 rounds to 1 + 2^-23).
  const Eval l32 = eval([](const Tensor& x) { return log1p(x); }, {1e-7}, Dtype::f32);
  BOOST_TEST(l32.y[0] == 9.9999995e-8, tt::tolerance(1e-6));
  const Eval e32 = eval([](const Tensor& x) { return expm1(x); }, {1e-7}, Dtype::f32);
  BOOST_TEST(e32.y[0] == 1.00000005e-7, tt::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(gradients_by_hand) {
  const auto grad_at = [](const std::function<Tensor(const Tensor&)>& f, std::vector<double> xs) { return eval(f, xs).dx; };
  BOOST_TEST(grad_at([](const Tensor& x) { return leaky_relu(x); }, {-2.0, 3.0, 0.0}) == (std::vector<double>{0.01, 1.0, 0.01}),
             tt::per_element());
  BOOST_TEST(grad_at([](const Tensor& x) { return relu(x); }, {-2.0, 3.0, 0.0}) == (std::vector<double>{0.0, 1.0, 0.0}),
             tt::per_element());
  // elu'(x) = alpha * exp(x) for x <= 0 (alpha at 0, as PyTorch), 1 above.
  const std::vector<double> de = grad_at([](const Tensor& x) { return elu(x, 2.0); }, {-1.0, 0.0, 2.0});
  BOOST_TEST(de[0] == 2.0 * 0.36787944117144233, tt::tolerance(1e-14));
  BOOST_TEST(de[1] == 2.0);
  BOOST_TEST(de[2] == 1.0);
  const std::vector<double> derf = grad_at([](const Tensor& x) { return erf(x); }, {0.5});
  BOOST_TEST(derf[0] == 0.8787825789354448, tt::tolerance(1e-14));
  const std::vector<double> dsq = grad_at([](const Tensor& x) { return square(x); }, {-3.0});
  BOOST_TEST(dsq[0] == -6.0);
  const std::vector<double> dr = grad_at([](const Tensor& x) { return rsqrt(x); }, {4.0});
  BOOST_TEST(dr[0] == -0.0625);
  // softplus with beta 2, threshold 5: sigmoid(2x) below, exactly 1 above.
  const std::vector<double> dsp = grad_at([](const Tensor& x) { return softplus(x, 2.0, 5.0); }, {0.0, 3.0});
  BOOST_TEST(dsp[0] == 0.5);
  BOOST_TEST(dsp[1] == 1.0);
}

// relu keeps a NaN (PyTorch's relu does; before, relu(NaN) was 0, which hid it from anomaly mode and the divergence
// stop) and clamps -inf to 0; its gradient is 0 at a NaN, as PyTorch's threshold_backward gives, in float32 and 64.
BOOST_AUTO_TEST_CASE(relu_keeps_nan_and_clamps_minus_infinity) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const Dtype d : {Dtype::f32, Dtype::f64}) {
    TapeScope scope;
    Tensor x = tensor({-inf, -1.0, -0.0, 0.0, 2.0, inf, std::nan("")}, d, true);
    const std::vector<double> v = relu(x).to_vector();
    BOOST_TEST(std::vector<double>(v.begin(), v.end() - 1) == (std::vector<double>{0, 0, 0, 0, 2, inf}), tt::per_element());
    BOOST_TEST(std::isnan(v.back()));
    backward(sum(relu(x)));
    BOOST_TEST(x.grad().to_vector() == (std::vector<double>{0, 0, 0, 0, 1, 1, 0}), tt::per_element());
  }
}

// sign: -1, 0, 1 (0 for both zeros), NaN stays NaN (NumPy; PyTorch gives 0); its gradient is zeros, not undefined.
BOOST_AUTO_TEST_CASE(sign_values_and_zero_gradient) {
  TapeScope scope;
  Tensor x = tensor({-2.0, -0.0, 0.0, 3.0, std::nan("")}, Dtype::f64, true);
  Tensor y = sign(x);
  const std::vector<double> v = y.to_vector();
  BOOST_TEST(v[0] == -1.0);
  BOOST_TEST(v[1] == 0.0);
  BOOST_TEST(!std::signbit(v[1]));
  BOOST_TEST(v[2] == 0.0);
  BOOST_TEST(v[3] == 1.0);
  BOOST_TEST(std::isnan(v[4]));
  backward(sum(y));
  BOOST_TEST(x.has_grad());  // zeros, as PyTorch, not an undefined grad
  BOOST_TEST(x.grad().to_vector() == (std::vector<double>{0.0, 0.0, 0.0, 0.0, 0.0}), tt::per_element());
}

// float32 runs the same kernels: values and gradients agree with float64 to float32's precision.
BOOST_AUTO_TEST_CASE(float32_agrees_with_float64) {
  struct Op {
    std::string name;
    std::function<Tensor(const Tensor&)> f;
    std::vector<double> xs;
  };
  const std::vector<double> wide{-40.0, -5.0, -1.5, -0.25, 0.5, 2.0, 40.0};
  const std::vector<Op> ops{
      {"log1p", [](const Tensor& x) { return log1p(x); }, {-0.5, -1e-6, 1e-6, 0.5, 3.0}},
      {"expm1", [](const Tensor& x) { return expm1(x); }, {-5.0, -1e-6, 1e-6, 0.5, 3.0}},
      {"erf", [](const Tensor& x) { return erf(x); }, wide},
      {"gelu", [](const Tensor& x) { return gelu(x); }, wide},
      {"gelu tanh", [](const Tensor& x) { return gelu(x, GeluApproximate::tanh); }, wide},
      {"softplus", [](const Tensor& x) { return softplus(x); }, wide},
      {"softplus beta 2", [](const Tensor& x) { return softplus(x, 2.0, 5.0); }, wide},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); }, wide},
      {"elu", [](const Tensor& x) { return elu(x, 0.7); }, wide},
      {"silu", [](const Tensor& x) { return silu(x); }, wide},
      {"square", [](const Tensor& x) { return square(x); }, wide},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, {1e-6, 0.3, 2.0, 1e6}},
      {"sign", [](const Tensor& x) { return sign(x); }, wide},
      {"relu", [](const Tensor& x) { return relu(x); }, wide},
      {"dropout", [](const Tensor& x) { return fixed_dropout(x, 0.4); }, wide},
  };
  for (const Op& op : ops) {
    BOOST_TEST_CONTEXT(op.name) {
      const Eval d = eval(op.f, op.xs, Dtype::f64);
      const Eval s = eval(op.f, op.xs, Dtype::f32);
      for (std::size_t i = 0; i < op.xs.size(); ++i) {
        BOOST_TEST_CONTEXT("x = " << op.xs[i]) {
          BOOST_TEST(std::fabs(s.y[i] - d.y[i]) <= 2e-6 * std::fabs(d.y[i]) + 1e-30);
          BOOST_TEST(std::fabs(s.dx[i] - d.dx[i]) <= 2e-6 * std::fabs(d.dx[i]) + 1e-30);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(float32_vector_kernels_match_the_double_formulas) {
  // sigmoid and tanh-GELU take a 16-lane path in float32 (own exp in registers). Every length around a vector
  // boundary, values across both tails, infinities and NaN, against the double formula at the same float input.
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const auto sigmoid_ref = [](double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); };
  const double k = std::sqrt(2 / std::numbers::pi), c = 0.044715;
  // 0.5 (1 + tanh(u)) = sigmoid(2u): the sigmoid form keeps the left tail exact in double (1 + tanh(u) cancels).
  const auto gelu_ref = [&](double x) { return x * sigmoid_ref(2 * k * (x + c * x * x * x)); };
  const auto gelu_grad_ref = [&](double x) {
    const double s = sigmoid_ref(2 * k * (x + c * x * x * x)), s_minus = sigmoid_ref(-2 * k * (x + c * x * x * x));
    return s + 2 * x * s * s_minus * k * (1 + 3 * c * x * x);
  };
  // rel: 1e-6, plus for GELU the float rounding of its argument u, which exp amplifies to about 1e-7 |u| relative.
  const auto close = [](double got, double want, double abs, double rel = 1e-6) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    return std::fabs(got - want) <= rel * std::fabs(want) + abs;
  };
  for (const std::int64_t n : {0, 1, 15, 16, 17, 33, 100}) {
    std::vector<double> xs;
    for (std::int64_t i = 0; i < n; ++i)
      xs.push_back(static_cast<double>(static_cast<float>(-30.0 + 60.0 * static_cast<double>(i) / std::max<std::int64_t>(n - 1, 1))));
    if (n >= 17) {
      xs[3] = inf, xs[4] = -inf, xs[5] = nan, xs[6] = 100.0, xs[7] = -100.0, xs[8] = 0.0, xs[9] = -1e-30;
    }
    const Shape shape{n};
    TapeScope scope;
    const Tensor x = tensor(xs, shape, Dtype::f32, true);
    const Tensor y = sigmoid(x), g = gelu(x, GeluApproximate::tanh);
    const Tensor g_back = gelu_backward(ones(shape, Dtype::f32), x, GeluApproximate::tanh);
    for (std::int64_t i = 0; i < n; ++i) {
      const double xi = xs[static_cast<std::size_t>(i)];
      BOOST_TEST_CONTEXT("n = " << n << ", x = " << xi) {
        BOOST_TEST(close(y.at(i), sigmoid_ref(xi), 1e-30));
        if (std::isfinite(xi)) {
          const double rel = 1e-6 + 2e-7 * std::fabs(2 * k * (xi + c * xi * xi * xi));
          BOOST_TEST(close(g.at(i), gelu_ref(xi), 1e-30, rel));
          BOOST_TEST(close(g_back.at(i), gelu_grad_ref(xi), 1e-7, rel));
        } else if (std::isnan(xi)) {
          BOOST_TEST(std::isnan(g.at(i)));
          BOOST_TEST(std::isnan(g_back.at(i)));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(empty_and_size_one_shapes) {
  TapeScope scope;
  Tensor e = zeros(Shape{0, 3}, Dtype::f64, true);
  std::mt19937_64 gen(1);
  for (const Tensor& y : {log1p(e), expm1(e), erf(e), gelu(e), gelu(e, GeluApproximate::tanh), softplus(e), leaky_relu(e),
                          elu(e), silu(e), square(e), rsqrt(e), sign(e), dropout(e, 0.5, gen)}) {
    BOOST_TEST(y.shape() == (Shape{0, 3}));
    BOOST_TEST(y.dtype() == Dtype::f64);
  }
  backward(sum(gelu(e) + silu(e)));
  BOOST_TEST(e.grad().shape() == (Shape{0, 3}));
  Tensor s = tensor({0.5}, Shape{}, Dtype::f64, true);  // 0-d
  Tensor y = softplus(s);
  BOOST_TEST(y.shape() == Shape{});
  backward(y);
  BOOST_TEST(s.grad().item() == 0.6224593312018546, tt::tolerance(1e-14));  // sigmoid(0.5)
}

// ---- dropout ---------------------------------------------------------------------------------------------

// Seed 42, p = 0.25: an element is dropped when uniform01 of its word is below 0.25, i.e. when the word's two top bits
// are 0. 252 of the first 1000 words of std::mt19937_64(42) are (a standalone count; the engine is not used).
BOOST_AUTO_TEST_CASE(dropout_mask_follows_the_generator_words) {
  TapeScope scope;
  std::mt19937_64 gen(42);
  const Tensor x = ones(Shape{1000}, Dtype::f64);
  const Tensor y = dropout(x, 0.25, gen);
  std::mt19937_64 words(42);
  int dropped = 0, mismatched = 0;
  for (std::int64_t i = 0; i < 1000; ++i) {
    const bool drop = (words() >> 62) == 0;
    const double v = y.at(i);
    dropped += v == 0.0;
    if (drop ? v != 0.0 : v != 1.0 / 0.75) ++mismatched;
  }
  BOOST_TEST(dropped == 252);
  BOOST_TEST(mismatched == 0);
  BOOST_TEST((gen == words));  // one word per element, no more
}

BOOST_AUTO_TEST_CASE(dropout_preserves_the_mean_in_expectation) {
  TapeScope scope;
  std::mt19937_64 gen(7);
  const Tensor y = dropout(ones(Shape{100000}), 0.3, gen);  // float32
  BOOST_TEST(y.dtype() == Dtype::f32);
  double total = 0;
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    total += y.at(i);
    kept += y.at(i) != 0.0;
  }
  // Standard errors: 0.0015 for the kept fraction, 0.002 for the mean; 5 of them each way.
  BOOST_TEST(std::fabs(static_cast<double>(kept) / 1e5 - 0.7) < 0.0075);
  BOOST_TEST(std::fabs(total / 1e5 - 1.0) < 0.01);
  BOOST_TEST((y.at(0) == 0.0 || std::fabs(y.at(0) - 1.0 / 0.7) < 1e-6));  // survivors scaled by 1 / (1 - p)
}

BOOST_AUTO_TEST_CASE(dropout_backward_uses_the_forward_mask) {
  TapeScope scope;
  std::mt19937_64 data(3), gen(5);
  Tensor x = uniform(Shape{40, 25}, 0.5, 1.5, data, Dtype::f64, true);  // no zeros: y / x recovers the mask
  const Tensor w = uniform(Shape{40, 25}, -1.0, 1.0, data, Dtype::f64);
  Tensor y = dropout(x, 0.5, gen);
  backward(sum(y * w));
  int dropped = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double m = y.at(i) / x.at(i);  // 0 or 2
    BOOST_TEST((m == 0.0 || m == 2.0));
    dropped += m == 0.0;
    BOOST_TEST(x.grad().at(i) == w.at(i) * m);
  }
  BOOST_TEST(dropped > 400);
  BOOST_TEST(dropped < 600);
}

BOOST_AUTO_TEST_CASE(dropout_identity_and_all_dropped_draw_nothing) {
  TapeScope scope;
  std::mt19937_64 gen(9);
  const std::mt19937_64 before = gen;
  Tensor x = tensor({1.0, -2.0, 3.0}, Dtype::f64, true);
  for (const auto& [p, training] : {std::pair{0.5, false}, std::pair{0.0, true}}) {
    BOOST_TEST_CONTEXT("p " << p << " training " << training) {
      Tensor y = dropout(x, p, gen, training);
      BOOST_TEST(!y.is_same(x));  // a node of its own
      BOOST_TEST(!y.is_leaf());
      BOOST_TEST(y.to_vector() == x.to_vector(), tt::per_element());
      x.zero_grad();
      backward(sum(y * 2.0));
      BOOST_TEST(x.grad().to_vector() == (std::vector<double>{2.0, 2.0, 2.0}), tt::per_element());
    }
  }
  Tensor z = dropout(x, 1.0, gen);
  BOOST_TEST(z.to_vector() == (std::vector<double>{0.0, 0.0, 0.0}), tt::per_element());
  x.zero_grad();
  backward(sum(z));
  BOOST_TEST(x.grad().to_vector() == (std::vector<double>{0.0, 0.0, 0.0}), tt::per_element());
  BOOST_TEST((gen == before));
}

// ---- errors ----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(dropout_probability_out_of_range_is_an_error) {
  std::mt19937_64 gen(1);
  const Tensor x = ones(Shape{2, 3});
  for (const double p : {-0.1, 1.5, std::nan("")}) {
    BOOST_TEST_CONTEXT("p " << p) {
      BOOST_CHECK_EXCEPTION(dropout(x, p, gen), std::exception,
                            says<std::invalid_argument>({"dropout: probability p must be in [0, 1]", "[2,3]"}));
    }
  }
  BOOST_CHECK_EXCEPTION(dropout(x, 1.5, gen), std::exception, says<std::invalid_argument>({"got 1.5"}));
  BOOST_CHECK_EXCEPTION(dropout(x, 1.5, gen, false), std::exception, says<std::invalid_argument>({"dropout", "got 1.5"}));
}

BOOST_AUTO_TEST_CASE(int64_inputs_are_refused_naming_the_op) {
  Tensor i = tensor_i64({1, 2, 3});
  i.label("idx");
  std::mt19937_64 gen(1);
  const std::vector<std::pair<std::string, std::function<Tensor()>>> calls{
      {"log1p", [&] { return log1p(i); }},
      {"expm1", [&] { return expm1(i); }},
      {"erf", [&] { return erf(i); }},
      {"gelu", [&] { return gelu(i); }},
      {"softplus", [&] { return softplus(i); }},
      {"leaky_relu", [&] { return leaky_relu(i); }},
      {"elu", [&] { return elu(i); }},
      {"silu", [&] { return silu(i); }},
      {"square", [&] { return square(i); }},
      {"rsqrt", [&] { return rsqrt(i); }},
      {"sign", [&] { return sign(i); }},
      {"gelu_backward", [&] { return gelu_backward(i, i); }},
      {"silu_backward", [&] { return silu_backward(i, i); }},
      {"softplus_backward", [&] { return softplus_backward(i, i, 1.0, 20.0); }},
      {"elu_backward", [&] { return elu_backward(i, i, 1.0); }},
      {"leaky_relu_backward", [&] { return leaky_relu_backward(i, i, 0.1); }},
      {"dropout", [&] { return dropout(i, 0.5, gen); }},
  };
  for (const auto& [name, call] : calls) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_CHECK_EXCEPTION(call(), std::exception,
                            says<std::invalid_argument>({name + ": needs a float tensor (got int64 'idx' [3])", "x.to(Dtype::f32)"}));
    }
  }
}
