// Every error path triggered once: the exact exception type and the key words of its "<op>: <what> (<values>)" message.
#define BOOST_TEST_MODULE errors_test
#include <boost/test/unit_test.hpp>

#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"

#include <array>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

using namespace autodiff;

namespace {

const auto invalid = says<std::invalid_argument>;
const auto logic = says<std::logic_error>;
const auto out_of_range = says<std::out_of_range>;

Tensor f64(const Shape& s, bool requires_grad = false) { return full(s, 0.5, Dtype::f64, requires_grad); }

}  // namespace

// ---- shapes and dtypes ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(broadcasting_failure) {
  TapeScope scope;
  const Tensor a = f64({2, 3}, true), b = f64({4});
  BOOST_CHECK_EXCEPTION(a + b, std::exception, invalid({"add", "do not broadcast", "[2,3]", "[4]", "3 vs 4"}));
  BOOST_CHECK_EXCEPTION(mul(f64({4, 3}), f64({2, 3})), std::exception, invalid({"mul", "do not broadcast", "[4,3]", "[2,3]"}));
  BOOST_CHECK_EXCEPTION(minimum(f64({2}), f64({3})), std::exception, invalid({"minimum", "do not broadcast", "[2]", "[3]"}));
  BOOST_CHECK_EXCEPTION(broadcast_to(a, Shape{3, 3}), std::exception, invalid({"broadcast_to", "[2,3]", "[3,3]"}));
  BOOST_CHECK_EXCEPTION(sum_to(a, Shape{4}), std::exception, invalid({"sum_to", "[2,3]", "[4]"}));
}

BOOST_AUTO_TEST_CASE(matmul_inner_dimensions) {
  TapeScope scope;
  const Tensor x = f64({32, 100}), w = f64({784, 16}, true);
  BOOST_CHECK_EXCEPTION(matmul(x, w), std::exception,
                        invalid({"matmul", "inner dimensions differ", "[32,100]", "[784,16]"}));
  // With a transpose flag the message says which operand was transposed.
  BOOST_CHECK_EXCEPTION(matmul(x, w, false, true), std::exception,
                        invalid({"matmul", "inner dimensions differ", "[32,100]", "[784,16]^T"}));
}

BOOST_AUTO_TEST_CASE(matmul_ranks) {
  // Any rank >= 1 multiplies (ops_linalg_test covers the shapes); 0-d operands and mismatched vectors do not.
  TapeScope scope;
  BOOST_CHECK_EXCEPTION(matmul(f64({}), f64({3, 2})), std::exception, invalid({"matmul", "rank >= 1", "[]", "[3,2]"}));
  BOOST_CHECK_EXCEPTION(matmul(f64({4}), f64({3, 2})), std::exception, invalid({"matmul", "inner dimensions differ", "[4]", "[3,2]"}));
  BOOST_CHECK_EXCEPTION(transpose(f64({2, 3, 4})), std::exception, invalid({"transpose", "rank 2", "[2,3,4]"}));
}

BOOST_AUTO_TEST_CASE(dtype_mismatch) {
  TapeScope scope;
  const Tensor a = full(Shape{2}, 1.0, Dtype::f32), b = f64({2});
  BOOST_CHECK_EXCEPTION(a + b, std::exception, invalid({"add", "dtypes differ", "float32", "float64"}));
  BOOST_CHECK_EXCEPTION(a * b, std::exception, invalid({"mul", "dtypes differ"}));
  BOOST_CHECK_EXCEPTION(matmul(full(Shape{2, 2}, 1.0, Dtype::f32), f64({2, 2})), std::exception,
                        invalid({"matmul", "dtypes differ", "float32", "float64"}));
  BOOST_CHECK_EXCEPTION(pow(a, b), std::exception, invalid({"pow", "dtypes differ"}));
}

BOOST_AUTO_TEST_CASE(axis_out_of_range) {
  TapeScope scope;
  const Tensor x = f64({2, 3}, true);
  BOOST_CHECK_EXCEPTION(sum(x, 2), std::exception, invalid({"sum", "axis 2", "out of range", "rank 2"}));
  BOOST_CHECK_EXCEPTION(sum(x, -3), std::exception, invalid({"sum", "axis -3", "rank 2"}));
  BOOST_CHECK_EXCEPTION(mean(x, 5, true), std::exception, invalid({"mean", "axis 5", "rank 2"}));
  BOOST_CHECK_EXCEPTION(max(x, 2), std::exception, invalid({"max", "axis 2", "rank 2"}));
  BOOST_CHECK_EXCEPTION(logsumexp(x, -4), std::exception, invalid({"logsumexp", "axis -4", "rank 2"}));
  BOOST_CHECK_EXCEPTION(log_softmax(x, 3), std::exception, invalid({"axis 3", "rank 2"}));
  BOOST_CHECK_EXCEPTION(max(f64({2, 0}), 1), std::exception, invalid({"max", "empty axis"}));
}

BOOST_AUTO_TEST_CASE(reshape_count_mismatch) {
  TapeScope scope;
  BOOST_CHECK_EXCEPTION(reshape(f64({2, 3}, true), Shape{4, 2}), std::exception,
                        invalid({"reshape", "element counts differ", "[2,3]", "6", "[4,2]", "8"}));
  BOOST_CHECK_EXCEPTION(reshape(f64({2, 3}), {-1, -1}), std::exception, invalid({"reshape", "-1", "axis 1"}));
  BOOST_CHECK_EXCEPTION(reshape(f64({2, 3}), {4, -1}), std::exception, invalid({"reshape", "infer", "6", "4"}));
  BOOST_CHECK_EXCEPTION(reshape(f64({2, 3}), {4, 2}), std::exception, invalid({"reshape", "[2,3]", "[4,2]"}));
}

BOOST_AUTO_TEST_CASE(rows_index_out_of_range) {
  TapeScope scope;
  const Tensor x = f64({3, 2}, true);
  BOOST_CHECK_EXCEPTION(rows(x, {0, 3}), std::exception, invalid({"rows", "index 3", "[0, 3)"}));
  BOOST_CHECK_EXCEPTION(rows(x, {-1}), std::exception, invalid({"rows", "index -1", "[0, 3)"}));
  BOOST_CHECK_EXCEPTION(rows(f64({}), {0}), std::exception, invalid({"rows", "rank >= 1"}));
  BOOST_CHECK_EXCEPTION(index_add_rows(f64({2, 2}), {0, 1, 2}, 4), std::exception,
                        invalid({"index_add_rows", "2 rows", "3 indices"}));
  BOOST_CHECK_EXCEPTION(index_add_rows(f64({2, 2}), {0, 4}, 4), std::exception,
                        invalid({"index_add_rows", "index 4", "[0, 4)"}));
}

BOOST_AUTO_TEST_CASE(tensor_value_count) {
  BOOST_CHECK_EXCEPTION(tensor({1.0, 2.0, 3.0}, Shape{2, 2}, Dtype::f64), std::exception,
                        invalid({"tensor", "3 values", "[2,2]", "4 elements"}));
}

BOOST_AUTO_TEST_CASE(shape_construction) {
  BOOST_CHECK_EXCEPTION((Shape{2, -3}), std::exception, invalid({"Shape", "negative dimension -3"}));
  BOOST_CHECK_EXCEPTION((Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), std::exception, invalid({"Shape", "rank 9", "maximum 8"}));
}

BOOST_AUTO_TEST_CASE(stack_count) {
  TapeScope scope;
  const Var a = 1.0, b = 2.0, c = 3.0;
  BOOST_CHECK_EXCEPTION(stack({a, b, c}, Shape{2, 2}), std::exception,
                        invalid({"stack", "3 values", "[2,2]", "4 elements"}));
}

BOOST_AUTO_TEST_CASE(var_index) {
  TapeScope scope;
  const Tensor t = f64({2, 3}, true);
  BOOST_CHECK_EXCEPTION(t.var(6), std::exception, out_of_range({"Tensor::var", "index 6", "6 elements", "[2,3]"}));
  BOOST_CHECK_EXCEPTION(t.var(-1), std::exception, out_of_range({"Tensor::var", "index -1", "[2,3]"}));
  BOOST_CHECK_EXCEPTION(t.item(), std::exception, invalid({"Tensor::item", "[2,3]", "6 elements", "at(i)"}));
}

// ---- backward -----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(non_scalar_root_without_seed) {
  TapeScope scope;
  const Tensor x = f64({2, 3}, true);
  const Tensor y = x * x;
  BOOST_CHECK_EXCEPTION(backward(y), std::exception, invalid({"backward", "[2,3]", "6 elements", "seed"}));
  BOOST_CHECK_EXCEPTION(gradient(y, {x}), std::exception, invalid({"gradient", "[2,3]", "seed"}));
}

BOOST_AUTO_TEST_CASE(seed_of_wrong_shape) {
  TapeScope scope;
  const Tensor x = f64({2, 3}, true);
  const Tensor y = x * x;
  BOOST_CHECK_EXCEPTION(backward(y, {.seed = f64({3, 2})}), std::exception,
                        invalid({"backward", "seed", "shape differs", "[3,2]", "[2,3]"}));
}

BOOST_AUTO_TEST_CASE(backward_on_leaf_or_constant) {
  TapeScope scope;
  const Var v = 2.0;
  BOOST_CHECK_EXCEPTION(backward(v), std::exception, logic({"backward", "leaf"}));
  BOOST_CHECK_EXCEPTION(backward(f64({}, true)), std::exception, logic({"backward", "leaf or a constant", "nothing was recorded"}));
  BOOST_CHECK_EXCEPTION(backward(f64({})), std::exception, logic({"backward", "nothing was recorded"}));
  BOOST_CHECK_EXCEPTION(backward(sum(f64({3}))), std::exception, logic({"backward", "nothing was recorded"}));
  BOOST_CHECK_EXCEPTION(gradient(f64({}, true), {}), std::exception, logic({"gradient", "nothing was recorded"}));
  BOOST_CHECK_EXCEPTION(backward(Tensor()), std::exception, logic({"backward", "undefined"}));
  BOOST_CHECK_EXCEPTION(backward(v * 2.0, {.seed = f64({})}), std::exception, invalid({"backward", "seed", "tensor roots"}));
}

BOOST_AUTO_TEST_CASE(create_graph_through_scalar_nodes) {
  TapeScope scope;
  const Tensor x = f64({2}, true);
  const Var e = x.var(0);
  const Tensor s = stack({e * e, e}, Shape{2});
  BOOST_CHECK_EXCEPTION(gradient(sum(s), {x}, {.create_graph = true}), std::exception, logic({"create_graph", "scalar"}));
}

// ---- handles and tapes ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(stale_handle) {
  Var x = 2.0;
  Tensor p = f64({2}, true);
  Var y;
  Tensor q;
  {
    TapeScope scope;
    y = x * x;
    q = p * p;
    scope.tape().clear();
    // Values stay readable (a Var keeps its value, a Tensor owns it); the graph does not.
    BOOST_TEST(y.value() == 4.0);
    BOOST_TEST(q.value().at(0) == 0.25);
    BOOST_CHECK_EXCEPTION(y * 2.0, std::exception, logic({"mul", "stale handle", "cleared"}));
    BOOST_CHECK_EXCEPTION(exp(y), std::exception, logic({"exp", "stale handle"}));
    BOOST_CHECK_EXCEPTION(y.grad(), std::exception, logic({"Var::grad", "stale handle"}));
    BOOST_CHECK_EXCEPTION(backward(y), std::exception, logic({"backward", "stale handle"}));
    BOOST_CHECK_EXCEPTION(exp(q), std::exception, logic({"exp", "stale handle", "cleared"}));
    BOOST_CHECK_EXCEPTION(backward(q * 1.0), std::exception, logic({"mul", "stale handle"}));
    y = x * 3.0;
    q = p * 3.0;
  }
  // After the scope's tape is destroyed.
  BOOST_CHECK_EXCEPTION(y.grad(), std::exception, logic({"Var::grad", "stale handle"}));
  BOOST_CHECK_EXCEPTION(x + y, std::exception, logic({"add", "stale handle"}));
  BOOST_CHECK_EXCEPTION(backward(sum(q)), std::exception, logic({"sum", "stale handle"}));
  BOOST_CHECK_EXCEPTION(backward(q), std::exception, logic({"backward", "stale handle"}));
  BOOST_TEST(!q.grad().defined());  // no backward reached it
  // Released by backward: the next recorded op frees the graph, and the message says how to keep it.
  TapeScope scope;
  Var a = x * 2.0;
  backward(a);
  Var b = x * 5.0;
  BOOST_CHECK_EXCEPTION(a * 2.0, std::exception, logic({"mul", "stale handle", "released by backward", "retain_graph"}));
  BOOST_TEST(b.value() == 10.0);
}

BOOST_AUTO_TEST_CASE(mixing_tapes) {
  TapeScope outer;
  const Var x = 2.0;
  const Var y = x * x;
  const Tensor p = f64({2}, true);
  const Tensor q = p * p;
  TapeScope inner;
  BOOST_CHECK_EXCEPTION(y * 2.0, std::exception, invalid({"mul", "another tape", "mixing tapes"}));
  BOOST_CHECK_EXCEPTION(x - y, std::exception, invalid({"sub", "another tape"}));
  BOOST_CHECK_EXCEPTION(q + p, std::exception, invalid({"add", "another tape", "mixing tapes"}));
  BOOST_CHECK_EXCEPTION(stack({y}, Shape{1}), std::exception, invalid({"stack", "another tape"}));
  BOOST_CHECK_EXCEPTION(gradient(sum(p * p), {q}), std::exception, invalid({"gradient", "another tape"}));
}

BOOST_AUTO_TEST_CASE(handle_misuse) {
  TapeScope scope;
  Var x = 1.0;
  Var y = x * 2.0;
  BOOST_CHECK_EXCEPTION(y.set_value(3.0), std::exception, logic({"set_value", "not a leaf"}));
  Tensor p = f64({2}, true);
  Tensor q = p * 2.0;
  BOOST_CHECK_EXCEPTION(q.leaf_value(), std::exception, logic({"leaf_value", "not a leaf"}));
  BOOST_CHECK_EXCEPTION(q.leaf_grad(), std::exception, logic({"leaf_grad", "not a leaf"}));
  BOOST_CHECK_EXCEPTION(Tensor().value(), std::exception, logic({"Tensor::value", "undefined"}));
  Array a = Array::zeros(Shape{2}, Dtype::f64);
  BOOST_CHECK_EXCEPTION(add_inplace(a, Array::zeros(Shape{3}, Dtype::f64)), std::exception,
                        invalid({"add_inplace", "[2]", "[3]"}));
}

BOOST_AUTO_TEST_CASE(make_op_closure_too_large) {
  TapeScope scope;
  const Tensor x = f64({2}, true);
  std::array<char, 70000> big{};
  big[0] = 1;
  BOOST_CHECK_EXCEPTION(make_op("huge", x.value().clone(), {x},
                                [big](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                                  dx[0] += grad * static_cast<double>(big[0]);
                                }),
                        std::exception, invalid({"make_op", "70000 bytes", "too large"}));
}

BOOST_AUTO_TEST_CASE(gradcheck_needs_float64_output) {
  const TensorFunction to_f32 = [](const std::vector<Tensor>& x) { return Tensor(x[0].value().to(Dtype::f32)); };
  BOOST_CHECK_EXCEPTION(gradcheck(to_f32, {f64({2})}), std::exception, invalid({"gradcheck", "float64"}));
}

// ---- labels in messages --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(label_appears_in_message) {
  TapeScope scope;
  Tensor x = f64({32, 100});
  Tensor w = f64({784, 16}, true);
  w.label("W1");
  BOOST_CHECK_EXCEPTION(matmul(x, w), std::exception,
                        invalid({"matmul", "inner dimensions differ", "[32,100]", "'W1' [784,16]"}));
  Tensor h = f64({2, 3}, true);
  Tensor z = h * 2.0;
  z.label("z1");  // a label on an op node
  BOOST_CHECK_EXCEPTION(z + full(Shape{3}, 1.0, Dtype::f32), std::exception,
                        invalid({"add", "dtypes differ", "'z1' [2,3]", "float64"}));
  Tensor cube = f64({2, 3, 4});
  cube.label("X");
  BOOST_CHECK_EXCEPTION(transpose(cube), std::exception, invalid({"transpose", "'X' [2,3,4]"}));
  BOOST_CHECK_EXCEPTION(matmul(cube, w), std::exception,
                        invalid({"matmul", "inner dimensions differ", "'X' [2,3,4]", "'W1' [784,16]"}));
}

// User labels appear in broadcasting and reshape errors (STYLE: messages name labelled nodes).
BOOST_AUTO_TEST_CASE(label_appears_in_broadcast_and_reshape_messages) {
  TapeScope scope;
  Tensor h = f64({2, 3}, true);
  Tensor b = f64({4}, true);
  b.label("b1");
  BOOST_CHECK_EXCEPTION(h + b, std::exception, invalid({"add", "do not broadcast", "'b1' [4]"}));
  h.label("h1");
  BOOST_CHECK_EXCEPTION(reshape(h, Shape{4, 2}), std::exception, invalid({"reshape", "'h1'"}));
}

BOOST_AUTO_TEST_CASE(shape_element_count_overflow) {
  const std::int64_t huge = std::int64_t{1} << 62;
  BOOST_CHECK_EXCEPTION((Shape{huge, 4}), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()).find("Shape: element count overflows") != std::string::npos;
  });
}
