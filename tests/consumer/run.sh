#!/usr/bin/env bash
# Consumes the library the three ways the README's "Using it from your project" shows, from outside the tree:
# a Meson subproject, pkg-config with a plain g++ line, and CMake's find_package, the last two against a staged
# `meson install --destdir`. Also checks what is installed (every header, under include/autodiff/; versioned
# libraries; an engine that needs neither zlib nor MPI), the C++20 #error, and that an engine-only subproject looks
# up neither zlib nor MPI. Run by `meson test` (test 'consumers') as: run.sh SOURCE_ROOT BUILD_DIR
set -euo pipefail
src=$(realpath "$1")
build=$(realpath "$2")
here=$src/tests/consumer
# Kept between runs, so the subproject route rebuilds only what changed.
work=$build/consumer-test
mkdir -p "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
expect_output() {  # expect_output LABEL COMMAND...: runs it and compares its output with expected.txt
  local label=$1
  shift
  local out
  out=$("$@") || fail "$label: the program exited with $?"
  diff <(echo "$out") "$here/expected.txt" >&2 || fail "$label: output differs from tests/consumer/expected.txt"
  echo "$out"
}

read -r prefix libdir includedir < <(meson introspect --buildoptions "$build" | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["libdir"], o["includedir"])')
stage=$work/stage
root=$stage$prefix
lib=$root/$libdir
inc=$root/$includedir

step "staged install: meson install -C BUILD --destdir $stage"
rm -rf "$stage"
meson install -C "$build" --destdir "$stage" --no-rebuild --quiet

step "installed files"
# Every header of the tree, at the same path under include/autodiff/ (nn/x.hpp as autodiff/nn/x.hpp).
missing=0
while read -r h; do
  rel=${h#"$src"/}
  [ -f "$inc/autodiff/${rel#autodiff/}" ] || { echo "not installed: $rel" >&2; missing=1; }
done < <(find "$src/autodiff" "$src/nn" -name '*.hpp' | sort)
((missing == 0)) || fail "headers missing from the install (add them to autodiff_headers in autodiff/meson.build)"
[ ! -e "$inc/nn" ] || fail "a generic include/nn/ is installed"
for l in autodiff autodiff_nn; do
  soname=$(readelf -d "$lib/lib$l.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  [[ "$soname" =~ ^lib$l\.so\.[0-9] ]] || fail "lib$l.so has no versioned soname ('$soname')"
  [ -f "$lib/$soname" ] || fail "$soname is not installed"
  echo "lib$l.so -> $(readlink "$lib/lib$l.so"), soname $soname"
done
engine_needs=$(readelf -d "$lib/libautodiff.so" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "libautodiff.so needs: $engine_needs"
[[ ! "$engine_needs" =~ libz\.|libmpi ]] || fail "the engine library links zlib or MPI"

step "C++17 stops at one clear error in each umbrella header"
for header in autodiff/autodiff.hpp autodiff/nn/nn.hpp; do
  # The program's own code after the include must add no errors: the header stops the compiler.
  out=$(printf '#include <%s>\nint main() { return undeclared(); }\n' "$header" |
        g++ -std=c++17 -fsyntax-only -I"$inc" -x c++ - 2>&1) && fail "$header compiled as C++17"
  errors=$(grep -c "error:" <<<"$out" || true)
  first=$(grep -m1 "error:" <<<"$out")
  [[ "$first" == *"#error \"autodiff"*"needs C++20: compile with -std=c++20"* ]] && [ "$errors" = 2 ] &&
    grep -q "fatal error: autodiff.*: compile with -std=c++20" <<<"$out" ||
    fail "$header under -std=c++17: expected the #error and the fatal stop, got $errors errors:"$'\n'"$out"
  echo "$first"
done

# The commands below are the README's ("Using it from your project"), which scripts/check_docs compares with this
# file; the staged prefix stands in for /usr/local through PKG_CONFIG_PATH, PKG_CONFIG_SYSROOT_DIR (which puts the
# staging folder in front of -I and -L), CMAKE_PREFIX_PATH and LD_LIBRARY_PATH.
step "pkg-config and a plain g++ line"
rm -rf "$work/pkg-config" && mkdir -p "$work/pkg-config" && cd "$work/pkg-config"
cp "$here/app.cpp" .
grep -qx "Requires: autodiff" "$lib/pkgconfig/autodiff-nn.pc" || fail "autodiff-nn.pc does not require autodiff"
(
  export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
  g++ -std=c++20 app.cpp $(pkg-config --cflags --libs autodiff-nn) -o app
)
LD_LIBRARY_PATH=$lib expect_output pkg-config ./app

step "CMake: find_package(autodiff CONFIG REQUIRED), target_link_libraries(app PRIVATE autodiff::nn)"
rm -rf "$work/cmake" && mkdir -p "$work/cmake" && cd "$work/cmake"
cp "$here/app.cpp" "$here/CMakeLists.txt" .
(
  export CMAKE_PREFIX_PATH=$root
  cmake -S . -B build -G Ninja
  cmake --build build
)
expect_output cmake ./build/app  # CMake links with an rpath to the imported libraries' folder

step "Meson subproject: subprojects/autodiff -> the source tree, dependency('autodiff-nn', fallback : 'autodiff')"
mkdir -p "$work/meson/subprojects" && cd "$work/meson"
cp "$here/app.cpp" "$here/meson.build" .
ln -sfn "$src" subprojects/autodiff
if [ -f build/build.ninja ]; then
  meson compile -C build  # configured by an earlier run: only what changed is rebuilt
else
  meson setup build
  meson compile -C build
fi
# An installed autodiff on pkg-config's path would be used instead of the subproject: then force the subproject.
if ! grep -q "Dependency autodiff-nn found: YES .*(overridden)" build/meson-logs/meson-log.txt; then
  meson setup --wipe build --force-fallback-for=autodiff-nn
  meson compile -C build
fi
expect_output meson ./build/app

step "Meson subproject, engine alone (nn=disabled): neither zlib nor MPI is looked up, no nn is built"
rm -rf "$work/engine_only" && mkdir -p "$work/engine_only/subprojects" && cd "$work/engine_only"
cp "$here/engine_only/meson.build" "$here/engine_only/engine.cpp" .
ln -sfn "$src" subprojects/autodiff
meson setup build --force-fallback-for=autodiff >setup.log 2>&1 || { cat setup.log >&2; fail "meson setup (engine only)"; }
grep -E "dependency|Dependency" setup.log || true
! grep -Eq "Run-time dependency (zlib|MPI)" setup.log || fail "the engine-only subproject looked up zlib or MPI"
targets=$(meson introspect --targets build | python3 -c 'import json, sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
[ "$targets" = "autodiff engine" ] || fail "engine-only subproject builds '$targets', expected 'autodiff engine'"

echo "consumers: all routes work"
