// Tapes and their lifetime: epochs, the registry of live tapes, the per-thread current tape and TapeScope.
#include "autodiff/tape.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <mutex>
#include <unordered_set>

namespace autodiff {

namespace detail {
constinit thread_local AUTODIFF_TLS Tape* current_tape = nullptr;
constinit thread_local AUTODIFF_TLS bool grad_disabled = false;
constinit thread_local AUTODIFF_TLS bool anomaly_on = false;
constinit thread_local AUTODIFF_TLS bool op_by_op = false;

std::uint64_t fresh_epoch() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

std::string_view op_name(ScalarOp op) {
  static constexpr std::string_view names[] = {"leaf", "item", "add",  "sub",     "mul",  "div", "neg", "exp", "log", "sqrt",
                                               "sin",  "cos",  "tanh", "sigmoid", "relu", "abs", "pow", "min", "max", "record", "custom", "expr"};
  return names[static_cast<std::size_t>(op)];
}

namespace {

// Interned op names: node-based, so the c_str() of an element never moves; never freed.
const char* intern(std::string_view name) {
  static std::mutex mutex;
  static auto* names = new std::unordered_set<std::string>;
  std::lock_guard lock(mutex);
  return names->emplace(name).first->c_str();
}

// Live tapes, so a handle whose tape may be gone can be checked without touching freed memory.
constinit bool registry_gone = false;
struct Registry {
  std::mutex mutex;
  std::unordered_set<const Tape*> tapes;
  ~Registry() { registry_gone = true; }
};
Registry& registry() {
  static Registry r;
  return r;
}

const void* thread_token() {
  static constinit thread_local AUTODIFF_TLS char token = 0;
  return &token;
}

// The default tape through a constant-initialised initial-exec pointer (see pool() in array.cpp): every op on the
// default tape asks for it.
constinit thread_local AUTODIFF_TLS Tape* default_tape_ptr = nullptr;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "autodiff: %s\n", message.c_str());
  std::fflush(stderr);
  std::terminate();
}

}  // namespace

OpName::OpName(const std::string& name) : name_(intern(name)) {}
OpName::OpName(std::string_view name) : name_(intern(name)) {}

Tape::Tape() : store_(this) {
  std::lock_guard lock(registry().mutex);
  registry().tapes.insert(this);
}

Tape::Tape(DefaultTag) : Tape() { thread_.store(thread_token(), std::memory_order_relaxed); }

Tape::~Tape() {
  // A dangling current tape or a scope that would restore this one is a use-after-free waiting to happen.
  if (detail::current_tape == this) die(fmt::format("a Tape (epoch {}) was destroyed while it is the current tape", epoch()));
  if (scopes_ > 0) die(fmt::format("a Tape (epoch {}) was destroyed while {} TapeScope(s) over it are active", epoch(), scopes_));
  if (default_tape_ptr == this) default_tape_ptr = nullptr;
  if (registry_gone) return;
  std::lock_guard lock(registry().mutex);
  registry().tapes.erase(this);
}

Tape& Tape::default_tape() {
  if (Tape* t = default_tape_ptr) [[likely]]
    return *t;
  thread_local Tape t{DefaultTag{}};
  default_tape_ptr = &t;
  return t;
}

void Tape::clear() { store_.clear("cleared"); }

Tape* Tape::find_live(const Tape* tape, std::uint64_t epoch) {
  if (!tape) return nullptr;
  if (tape == detail::current_tape || tape == &default_tape()) return tape->epoch() == epoch ? const_cast<Tape*>(tape) : nullptr;
  std::lock_guard lock(registry().mutex);
  if (!registry().tapes.count(tape)) return nullptr;
  return tape->epoch() == epoch ? const_cast<Tape*>(tape) : nullptr;
}

namespace detail {
bool used_by_this_thread(const Tape& t) {
  const void* user = t.thread_.load(std::memory_order_relaxed);
  return !user || user == thread_token();
}

std::string stale_message(std::string_view op, const Tape* owner, std::uint64_t epoch) {
  // The reason is read only from this thread's own tapes: another thread's may be changing.
  std::string_view why;
  if (owner && (owner == current_tape || owner == &Tape::current())) why = store(*owner).ended(epoch);
  if (why == "released by backward")
    return fmt::format(
        "{}: stale handle: its graph was released by backward (tape epoch {}); pass {{.retain_graph = true}} to backward "
        "to record more ops on that graph, or detach() its value",
        op, epoch);
  if (!why.empty()) return fmt::format("{}: stale handle: its tape was {} (epoch {})", op, why, epoch);
  return fmt::format("{}: stale handle: its tape was cleared or destroyed (epoch {})", op, epoch);
}
}  // namespace detail

TapeScope::TapeScope() : TapeScope(*new Tape) { owned_.reset(tape_); }

TapeScope::TapeScope(Tape& tape) : tape_(&tape), previous_(detail::current_tape) {
  detail::current_tape = tape_;
  ++tape_->scopes_;
  previous_thread_ = tape_->thread_.exchange(thread_token(), std::memory_order_relaxed);
}

TapeScope::~TapeScope() {
  if (detail::current_tape != tape_)
    die(fmt::format("TapeScope ended out of order: its tape (epoch {}) is not the current tape", tape_->epoch()));
  detail::current_tape = previous_;
  --tape_->scopes_;
  tape_->thread_.store(previous_thread_, std::memory_order_relaxed);
  tape_->store_.clear("cleared at the end of its TapeScope");
}

}  // namespace autodiff
