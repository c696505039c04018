// Bad input and faults not covered elsewhere: huge sizes, empty tensors and batches, NaN/inf, odd files, cross-thread handles.
#define BOOST_TEST_MODULE bad_input_test
#include <boost/test/unit_test.hpp>

#include "sanitizers.hpp"
#include "temp_dir.hpp"
#include "throws_with.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/cost.hpp"
#include "nn/data.hpp"
#include "nn/mlp.hpp"
#include "nn/serialize.hpp"
#include "nn/trainer.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace autodiff;

namespace {

using testing::TempDir;

using testing::asan;

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

std::vector<double> values_of(const Tensor& t) { return t.to_vector(); }

}  // namespace

// ---- shapes ---------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(layer_input_of_the_wrong_width_or_dtype) {
  // Op-level shape errors are in errors_test; this is the layer's own check, which names its sizes.
  std::mt19937_64 gen(0);
  nn::MLP mlp({784, 16, 10}, gen);
  TapeScope scope;
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { mlp.forward(zeros(Shape{5, 783})); },
                                                 {"Linear: input [5,783] does not fit a layer of 784 -> 16",
                                                  "expected [B,784] or [784]"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { mlp.forward(zeros(Shape{5, 784}, Dtype::f64)); },
                                                 {"Linear", "float64 differs from the layer's float32", "[5,784]"}));
}

// ---- huge sizes -----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(huge_allocation_throws_out_of_memory_naming_shape_dtype_and_bytes) {
  // 4 TiB of float32: more than any test machine has, refused before malloc (so ASan does not abort either).
  BOOST_CHECK(throws_with<OutOfMemory>([] { zeros(Shape{1 << 20, 1 << 20}); },
                                       {"Array: cannot allocate [1048576,1048576] float32", "4398046511104 bytes",
                                        "4 TiB", "more than this machine's RAM + swap"}));
  // It is a std::bad_alloc, so handlers written for that still work.
  BOOST_CHECK_THROW(Array(Shape{std::int64_t{1} << 40}, Dtype::f64), std::bad_alloc);
  // An op whose result is huge fails the same way, before recording anything.
  {
    TapeScope scope;
    const Tensor col = ones(Shape{1 << 20, 1}, Dtype::f32, true), row = ones(Shape{1, 1 << 20}, Dtype::f32, true);
    BOOST_CHECK(throws_with<OutOfMemory>([&] { matmul(col, row); }, {"[1048576,1048576] float32", "4 TiB"}));
    BOOST_TEST(scope.tape().size() == 0u);
  }
  // The pool keeps working afterwards.
  BOOST_TEST(sum(ones(Shape{1000}, Dtype::f64)).at(0) == 1000.0);
}

BOOST_AUTO_TEST_CASE(byte_count_overflow_is_an_error_not_a_small_buffer) {
  // 2^61 doubles are 2^64 bytes: the product wraps to 0 in size_t. It used to allocate 64 bytes and "succeed".
  BOOST_CHECK(throws_with<OutOfMemory>([] { zeros(Shape{std::int64_t{1} << 61}, Dtype::f64); },
                                       {"[2305843009213693952] float64", "byte count overflows", "x 8 bytes"}));
  BOOST_CHECK(throws_with<OutOfMemory>([] { Array(Shape{std::int64_t{1} << 62, 1}, Dtype::f32); },
                                       {"[4611686018427387904,1] float32", "overflows"}));
}

BOOST_AUTO_TEST_CASE(allocator_failure_throws_out_of_memory) {
  // The malloc-returns-null path, forced with an address-space limit (ASan reserves terabytes of shadow memory, so
  // it cannot run under a limit; there the RAM + swap check above is what applies).
  if (asan) {
    BOOST_TEST_MESSAGE("skipped under AddressSanitizer");
    return;
  }
  rlimit old{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_AS, &old) == 0);
  long pages = 0;
  {
    std::ifstream statm("/proc/self/statm");
    statm >> pages;
  }
  BOOST_REQUIRE(pages > 0);
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (rlim_t{256} << 20);
  BOOST_REQUIRE(::setrlimit(RLIMIT_AS, &tight) == 0);
  bool ok = false;
  try {
    Array a(Shape{std::int64_t{1} << 28}, Dtype::f64);  // 2 GiB
  } catch (const OutOfMemory& e) {
    const std::string m = e.what();
    ok = m.find("[268435456] float64") != std::string::npos && m.find("2147483648 bytes") != std::string::npos &&
         m.find("out of memory") != std::string::npos;
    BOOST_TEST_MESSAGE(m);
  }
  ::setrlimit(RLIMIT_AS, &old);
  BOOST_TEST(ok);
}

BOOST_AUTO_TEST_CASE(matmul_dimension_beyond_blas_int) {
  // BLAS takes int sizes; [2^31, 0] holds no bytes, so only the check stands between it and a wrapped size.
  TapeScope scope;
  const Tensor a = zeros(Shape{std::int64_t{1} << 31, 0}), b = zeros(Shape{0, 2});
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { matmul(a, b); },
                                                 {"matmul", "dimension 2147483648 exceeds the BLAS limit 2147483647",
                                                  "[2147483648,0]", "[0,2]"}));
}

// ---- empty tensors --------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(empty_tensors_flow_through_elementwise_ops_and_backward) {
  TapeScope scope;
  const Tensor x = zeros(Shape{0, 3}, Dtype::f64, true);
  const Tensor b = full(Shape{3}, 0.5, Dtype::f64, true);
  const Tensor y = sigmoid(x * 2.0 + b) * exp(x) - relu(x);  // [0,3] + [3] broadcasts to [0,3]
  BOOST_TEST(y.shape() == (Shape{0, 3}));
  const Tensor c = sum(y);
  BOOST_TEST(c.at(0) == 0.0);  // the empty sum, as in PyTorch and NumPy
  backward(c);
  BOOST_TEST(x.grad().shape() == (Shape{0, 3}));
  BOOST_TEST(b.grad().shape() == (Shape{3}));
  BOOST_TEST(values_of(b.grad()) == std::vector<double>({0, 0, 0}), boost::test_tools::per_element());
  // sum over the empty axis gives zeros; over the other axis an empty result.
  BOOST_TEST(values_of(sum(x, 0)) == std::vector<double>({0, 0, 0}), boost::test_tools::per_element());
  BOOST_TEST(sum(x, 1).shape() == (Shape{0}));
  BOOST_TEST(max(x, 1).values.shape() == (Shape{0}));
  BOOST_TEST(mean(x, 1).shape() == (Shape{0}));
  BOOST_TEST(transpose(x).shape() == (Shape{3, 0}));
  BOOST_TEST(reshape(x, {3, -1}).shape() == (Shape{3, 0}));
  BOOST_TEST(rows(reshape(b, Shape{3, 1}), {}).shape() == (Shape{0, 1}));
}

BOOST_AUTO_TEST_CASE(reductions_without_identity_reject_empty_input) {
  // sum of nothing is 0, but mean, max and logsumexp of nothing are undefined: a clear error (PyTorch gives NaN for
  // mean and raises for max), instead of a NaN found much later. errors_test covers max itself.
  TapeScope scope;
  const Tensor x = zeros(Shape{0, 3}, Dtype::f64, true);
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { mean(x); }, {"mean: cannot reduce an empty tensor ([0,3])"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { mean(x, 0); }, {"mean: cannot reduce an empty axis (axis 0 of [0,3])"}));
  const Tensor w = zeros(Shape{2, 0}, Dtype::f32);
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { logsumexp(w, -1); },
                                                 {"logsumexp: cannot reduce an empty axis (axis 1 of [2,0])"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { log_softmax(w, 1); },
                                                 {"log_softmax: cannot reduce an empty axis (axis 1 of [2,0])"}));
  // Rows of nothing are fine: log_softmax over a non-empty axis of [0,3].
  BOOST_TEST(log_softmax(x, 1).shape() == (Shape{0, 3}));
}

BOOST_AUTO_TEST_CASE(matmul_with_a_zero_dimension) {
  // k = 0 gives zeros without calling BLAS (whose leading dimensions must be >= 1); every path and both dtypes.
  for (const Dtype dt : {Dtype::f32, Dtype::f64})
    for (const std::int64_t m : {std::int64_t{1}, std::int64_t{3}}) {
      BOOST_TEST_CONTEXT("dtype " << dtype_name(dt) << ", m " << m) {
        TapeScope scope;
        const Tensor a = zeros(Shape{m, 0}, dt, true), b = zeros(Shape{0, 4}, dt, true);
        const Tensor c = matmul(a, b);
        BOOST_TEST(c.shape() == (Shape{m, 4}));
        BOOST_TEST(values_of(c) == std::vector<double>(static_cast<std::size_t>(m * 4), 0.0),
                   boost::test_tools::per_element());
        backward(sum(c * 3.0));
        BOOST_TEST(a.grad().shape() == (Shape{m, 0}));
        BOOST_TEST(b.grad().shape() == (Shape{0, 4}));
        // Transposed operands: [0,m]^T x [4,0]^T.
        const Tensor ct = matmul(zeros(Shape{0, m}, dt), zeros(Shape{4, 0}, dt), true, true);
        BOOST_TEST(values_of(ct) == std::vector<double>(static_cast<std::size_t>(m * 4), 0.0),
                   boost::test_tools::per_element());
      }
    }
  // m = 0 or n = 0: empty results, and the other operand's gradient is zeros of its shape.
  TapeScope scope;
  const Tensor a = zeros(Shape{0, 5}, Dtype::f64, true), w = ones(Shape{5, 4}, Dtype::f64, true);
  const Tensor c = matmul(a, w);
  BOOST_TEST(c.shape() == (Shape{0, 4}));
  backward(sum(c));
  BOOST_TEST(values_of(w.grad()) == std::vector<double>(20, 0.0), boost::test_tools::per_element());
  BOOST_TEST(matmul(w, zeros(Shape{4, 0}, Dtype::f64)).shape() == (Shape{5, 0}));
}

// ---- zero-size batches ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(zero_size_batch) {
  std::mt19937_64 gen(0);
  nn::MLP mlp({784, 16, 10}, gen);
  TapeScope scope;
  // The forward pass of nothing is a [0,10] output (as in PyTorch); only the batch mean refuses it.
  const Tensor out = mlp.forward(zeros(Shape{0, 784}));
  BOOST_TEST(out.shape() == (Shape{0, 10}));
  // squared_error of 0 rows: nn_test::cost_errors. Cross-entropy of 0 rows:
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::softmax_cross_entropy(out, {}); },
                                                 {"softmax_cross_entropy", "empty logits [0,10]"}));
  // Evaluating or batching an empty dataset.
  nn::Dataset empty;
  empty.rows = 28;
  empty.cols = 28;
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::evaluate(mlp, nn::Cost::squared_error, empty); },
                                                 {"evaluate", "dataset is empty"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::Batcher(empty, 32, 10); }, {"Batcher", "dataset is empty"}));
  BOOST_CHECK(throws_with<std::invalid_argument>([&] { nn::Trainer(nn::preset("seed"), empty); },
                                                 {"Trainer", "training set is empty"}));
}

// ---- NaN and inf ----------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(nan_and_inf_propagate_by_default_and_anomaly_mode_names_the_op) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const Tensor w = tensor({1, 2, 3, 4}, Shape{2, 2}, Dtype::f64, true);
  const Tensor x = tensor({nan, 1}, Shape{1, 2}, Dtype::f64);
  {
    // Default (as PyTorch): no exception; NaN flows to the cost and the grads it touches.
    TapeScope scope;
    const Tensor c = sum(sigmoid(matmul(x, w)));
    BOOST_TEST(std::isnan(c.at(0)));
    backward(c);
    for (const double g : values_of(w.grad())) BOOST_TEST(std::isnan(g));
    // inf is an ordinary value: sigmoid saturates, exp overflows.
    const Tensor i = tensor({inf, -inf}, Dtype::f64);
    BOOST_TEST(values_of(sigmoid(i)) == std::vector<double>({1.0, 0.0}), boost::test_tools::per_element());
    BOOST_TEST(std::isinf(exp(i).at(0)));
    // max over a NaN picks the NaN (as torch.max).
    BOOST_TEST(std::isnan(max(tensor({1, nan, 3}, Dtype::f64), 0).values.at(0)));
  }
  {
    // AnomalyMode: the first op that sees the NaN throws, naming itself, its input shapes and that they were
    // already non-finite. (toolbox_test covers NaN created by an op, and inf created in backward.)
    AnomalyMode anomaly;
    TapeScope scope;
    BOOST_CHECK(throws_with<AnomalyError>([&] { matmul(x, w); },
                                          {"anomaly: matmul produced a non-finite value", "[1,2]", "[2,2]",
                                           "already non-finite", "bad_input_test.cpp"}));
  }
}

// ---- files ----------------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(wrong_format_files) {
  // Each loader given the other's file, a text file and an empty file. Truncation, bit flips, wrong versions and
  // missing files are covered in serialize_test::bad_files and data_test.
  const TempDir dir("bad_input_test");
  std::mt19937_64 gen(1);
  nn::MLP model({2, 3, 1}, gen);
  const fs::path ckpt = dir.path / "model.adnn", idx = dir.path / "labels.idx", idx_gz = dir.path / "labels.idx.gz",
                 text = dir.path / "notes.txt", empty = dir.path / "empty";
  nn::save(model, ckpt);
  nn::write_idx(idx, {3}, std::vector<std::uint8_t>{1, 2, 3}, false);
  nn::write_idx(idx_gz, {3}, std::vector<std::uint8_t>{1, 2, 3}, true);
  write_text(text, "hello world\n");
  write_text(empty, "");
  using E = std::invalid_argument;

  BOOST_CHECK(throws_with<E>([&] { nn::read_idx(ckpt); }, {"read_idx", ckpt.string(), "wrong magic", "found 0x41444E4E"}));
  BOOST_CHECK(throws_with<E>([&] { nn::read_idx(text); }, {"read_idx", text.string(), "wrong magic", "found 0x68656C6C"}));
  BOOST_CHECK(throws_with<E>([&] { nn::read_idx(empty); }, {"read_idx", empty.string(), "expected 4 bytes, found 0"}));
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, idx); },
                             {"load_arrays", idx.string(), "wrong magic", "found \"\\x00\\x00\\x08\\x01\"", "not a checkpoint"}));
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, idx_gz); }, {"load_arrays", idx_gz.string(), "wrong magic", "\\x1f\\x8b"}));
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, text); }, {"load_arrays", text.string(), "found \"hell\""}));
  // Labels given as images.
  BOOST_CHECK(throws_with<E>([&] { nn::load_idx_pair(idx, idx); }, {"load_idx_pair", idx.string(), "expected 3-D images", "1-D [3]"}));
}

BOOST_AUTO_TEST_CASE(unreadable_files) {
  // Tests run as root, for whom chmod 000 does not stop reading, so unreadable means: a directory, a device, and
  // /proc/self/mem, a regular file whose read fails with EIO at offset 0. (serialize_test covers a directory and a
  // missing file for the checkpoint loader; data_test a missing file for read_idx.)
  const TempDir dir("bad_input_test");
  using E = std::invalid_argument;
  BOOST_CHECK(throws_with<E>([&] { nn::read_idx(dir.path); }, {"read_idx", dir.path.string(), "not a regular file"}));
  BOOST_CHECK(throws_with<E>([] { nn::read_idx("/dev/null"); }, {"read_idx", "/dev/null", "not a regular file"}));
  if (fs::is_regular_file("/proc/self/mem"))
    BOOST_CHECK(throws_with<E>([] { nn::read_idx("/proc/self/mem"); }, {"read_idx", "/proc/self/mem", "read error"}));
  std::mt19937_64 gen(2);
  nn::MLP model({2, 3, 1}, gen);
  BOOST_CHECK(throws_with<E>([&] { nn::load(model, "/dev/null"); }, {"load_arrays", "/dev/null", "not a regular file"}));
  if (fs::is_regular_file("/proc/self/mem"))  // was std::ios_base::failure with no file name
    BOOST_CHECK(throws_with<E>([&] { nn::load(model, "/proc/self/mem"); }, {"load_arrays", "/proc/self/mem", "read error"}));
  // Saving over a directory is refused before anything is written (nn/file.hpp; file_test covers every kind).
  BOOST_CHECK(throws_with<E>([&] { nn::save(model, dir.path); }, {"save_arrays", dir.path.string(), "not a regular file (a directory)"}));
  BOOST_TEST(fs::is_directory(dir.path));
  BOOST_TEST(!fs::exists(fs::path(dir.path.string() + ".tmp")));
}

// ---- handles and tapes ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(backward_twice_through_a_cleared_graph) {
  // The first backward works; after clear() the second throws and leaves the accumulated grads as they were.
  const Tensor p = full(Shape{2}, 3.0, Dtype::f64, true);
  Var v = 2.0;
  TapeScope scope;
  const Tensor c = sum(p * p);
  const Var s = v * v;
  backward(c);
  backward(s);
  scope.tape().clear();
  BOOST_CHECK(throws_with<std::logic_error>([&] { backward(c); }, {"backward", "stale handle", "cleared"}));
  BOOST_CHECK(throws_with<std::logic_error>([&] { backward(s); }, {"backward", "stale handle"}));
  BOOST_CHECK(throws_with<std::logic_error>([&] { gradient(c, {p}); }, {"gradient", "stale handle"}));
  BOOST_TEST(values_of(p.grad()) == std::vector<double>({6.0, 6.0}), boost::test_tools::per_element());
  BOOST_TEST(v.grad() == 4.0);
}

BOOST_AUTO_TEST_CASE(handles_from_another_threads_tape) {
  const Tensor p = full(Shape{2}, 3.0, Dtype::f64, true);
  const Var x = 2.0;
  Tensor q, root;
  Var y;
  std::atomic<int> stage{0};
  std::thread worker([&] {
    TapeScope scope;  // the worker's tape stays live and in use until stage 2
    q = p * p;
    root = sum(q);
    y = x * x;
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
  });
  while (stage.load() != 1) std::this_thread::yield();
  {
    TapeScope mine;
    BOOST_CHECK(throws_with<std::invalid_argument>([&] { q * 2.0; }, {"mul", "another tape", "mixing tapes"}));
    BOOST_CHECK(throws_with<std::invalid_argument>([&] { y + x; }, {"add", "another tape"}));
    // backward would run on the worker's tape from this thread: a data race, so it is refused.
    BOOST_CHECK(throws_with<std::invalid_argument>([&] { backward(root); },
                                                   {"backward", "another thread is using", "run backward on the thread"}));
    BOOST_CHECK(throws_with<std::invalid_argument>([&] { backward(y); }, {"backward", "another thread"}));
    BOOST_CHECK(throws_with<std::invalid_argument>([&] { gradient(root, {p}); }, {"gradient", "another thread"}));
  }
  stage = 2;
  worker.join();
  // The worker's scope has ended: its handles are stale, and the leaves (owned outside tapes) never got a grad.
  BOOST_CHECK(throws_with<std::logic_error>([&] { backward(root); }, {"backward", "stale handle"}));
  BOOST_CHECK(throws_with<std::logic_error>([&] { y * 2.0; }, {"mul", "stale handle"}));
  BOOST_TEST(!p.has_grad());
  // Leaves themselves are usable from any thread's tape.
  TapeScope scope;
  backward(sum(p * 2.0));
  BOOST_TEST(values_of(p.grad()) == std::vector<double>({2.0, 2.0}), boost::test_tools::per_element());
}
