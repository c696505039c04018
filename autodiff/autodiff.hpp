// Umbrella header: everything a user of the engine includes.
#pragma once

// autodiff needs C++20 (std::span, designated initializers): say so once, not in dozens of errors from the headers.
// _MSVC_LANG: MSVC reports __cplusplus as 199711L unless /Zc:__cplusplus is given.
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 202002L
#error "autodiff needs C++20: compile with -std=c++20 (Meson: cpp_std=c++20; CMake: the autodiff:: targets ask for it)"
// A missing header is a fatal error: the compiler stops here, not after an error for every later line of the program.
#include "autodiff: compile with -std=c++20"
#else
#include "autodiff/array.hpp"
#include "autodiff/check.hpp"
#include "autodiff/format.hpp"
#include "autodiff/gradcheck.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/hessian.hpp"
#include "autodiff/hooks.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/shape.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/site.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/var.hpp"
#include "autodiff/verify.hpp"
#endif
