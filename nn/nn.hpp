// Umbrella header of the neural-network layer: what users of nn include (installed as <autodiff/nn/nn.hpp>).
// nn headers include each other by bare name ("linear.hpp"), which resolves both here and installed.
#pragma once

// nn needs C++20 (std::span, designated initializers): say so once, not in dozens of errors from the headers.
// _MSVC_LANG: MSVC reports __cplusplus as 199711L unless /Zc:__cplusplus is given.
#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 202002L
#error "autodiff/nn needs C++20: compile with -std=c++20 (Meson: cpp_std=c++20; CMake: the autodiff:: targets ask for it)"
// A missing header is a fatal error: the compiler stops here, not after an error for every later line of the program.
#include "autodiff/nn: compile with -std=c++20"
#else
#include "activation.hpp"
#include "arch.hpp"
#include "attention.hpp"
#include "conv.hpp"
#include "cost.hpp"
#include "data.hpp"
#include "dropout.hpp"
#include "embedding.hpp"
#include "linear.hpp"
#include "mlp.hpp"
#include "module.hpp"
#include "norm.hpp"
#include "optim.hpp"
#include "plot.hpp"
#include "progress.hpp"
#include "scalar_mlp.hpp"
#include "sequential.hpp"
#include "serialize.hpp"
#endif
