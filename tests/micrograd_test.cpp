// Parity with micrograd's README expression (values verified against PyTorch by micrograd's author).
#define BOOST_TEST_MODULE micrograd_test
#include <boost/test/unit_test.hpp>

#include "autodiff/autodiff.hpp"

using namespace autodiff;

BOOST_AUTO_TEST_CASE(readme_expression) {
  Var a = -4.0, b = 2.0;
  Var c = a + b;
  Var d = a * b + pow(b, 3);
  c += c + 1;
  c += 1 + c + (-a);
  d += d * 2 + relu(b + a);
  d += 3 * d + relu(b - a);
  Var e = c - d;
  Var f = pow(e, 2);
  Var g = f / 2.0;
  g += 10.0 / f;
  backward(g);
  BOOST_TEST(g.value() == 24.7041, boost::test_tools::tolerance(1e-4 / 24.7041));
  BOOST_TEST(a.grad() == 138.8338, boost::test_tools::tolerance(1e-4 / 138.8338));
  BOOST_TEST(b.grad() == 645.5773, boost::test_tools::tolerance(1e-4 / 645.5773));
}

BOOST_AUTO_TEST_CASE(readme_expression_as_tensors) {
  Tensor a = tensor({-4.0}, Dtype::f64, true), b = tensor({2.0}, Dtype::f64, true);
  Tensor c = a + b;
  Tensor d = a * b + pow(b, 3.0);
  c = c + (c + 1.0);
  c = c + (1.0 + c + (-a));
  d = d + (d * 2.0 + relu(b + a));
  d = d + (3.0 * d + relu(b - a));
  Tensor e = c - d;
  Tensor f = pow(e, 2.0);
  Tensor g = f / 2.0 + 10.0 / f;
  backward(g);
  BOOST_TEST(g.at(0) == 24.7041, boost::test_tools::tolerance(1e-4 / 24.7041));
  BOOST_TEST(a.grad().at(0) == 138.8338, boost::test_tools::tolerance(1e-4 / 138.8338));
  BOOST_TEST(b.grad().at(0) == 645.5773, boost::test_tools::tolerance(1e-4 / 645.5773));
}
