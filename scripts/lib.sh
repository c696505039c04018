# Shared set-up for scripts/*: install missing Debian packages, then configure and build.
# cmake: the test that consumes the library from a CMake project (tests/consumer).

PACKAGES=(meson ninja-build pkg-config g++ cmake libfmt-dev libboost-test-dev libopenblas-dev zlib1g-dev
          dataset-fashion-mnist libcli11-dev)
# WITH_MPI=1 adds Open MPI: meson's 'mpi' option (auto) then builds nn/distributed and train --distributed, and
# scripts/test runs the distributed tests under mpirun. Nothing else needs MPI.
if [ "${WITH_MPI:-0}" = 1 ]; then PACKAGES+=(libopenmpi-dev openmpi-bin); fi

# The sanitizer build (scripts/test --sanitize, scripts/fuzz): clang 14 with ASan + UBSan, halting on the first
# report, and libFuzzer's coverage instrumentation, so one build serves both the test suite and the fuzzers.
SANITIZE_PACKAGES=(clang-14 libclang-rt-14-dev)
SANITIZE_DIR=build-asan
# -O1 with line tables only (file:line in reports) compiles about twice as fast as -O2 -g; asserts stay on.
SANITIZE_OPTIONS=(-Dfuzz=enabled -Doptimization=1 -Ddebug=false -Db_ndebug=false
                  -Db_sanitize=address,undefined -Db_lundef=false
                  "-Dcpp_args=-fno-sanitize-recover=all -gline-tables-only" -Dcpp_link_args=-fno-sanitize-recover=all)
# allocator_may_return_null: a huge allocation must reach the library's own OutOfMemory error, not abort in ASan.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

ensure_packages() {
  local missing=()
  for p in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# build DIR [meson options...] [-- ninja targets...]: configure (or reconfigure) and build (everything by default).
build() {
  local dir=$1
  shift
  local options=() targets=()
  while (($#)) && [ "$1" != "--" ]; do options+=("$1"); shift; done
  (($#)) && shift && targets=("$@")
  # CXX is read at the first configuration only; the sanitizer build sets it (see build_sanitized).
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "${options[@]}" >/dev/null
  else
    rm -rf "$dir"
    meson setup "$dir" "${options[@]}" >/dev/null
  fi
  ninja -C "$dir" "${targets[@]}" >/dev/null
}

# build_sanitized [-- ninja targets...]: the sanitizer build in $SANITIZE_DIR.
build_sanitized() {
  (export CXX=clang++-14; build "$SANITIZE_DIR" "${SANITIZE_OPTIONS[@]}" "$@")
}
