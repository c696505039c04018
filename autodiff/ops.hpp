// Every built-in op, one header per family: scalar Var ops (inline) and tensor ops. Each op's forward and backward
// formulas are stated at its definition (ops/<family>.cpp), next to its backward code.
#pragma once

#include "autodiff/ops/arithmetic.hpp"
#include "autodiff/ops/bridge.hpp"
#include "autodiff/ops/conv.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/index.hpp"
#include "autodiff/ops/linalg.hpp"
#include "autodiff/ops/random.hpp"
#include "autodiff/ops/reduce.hpp"
#include "autodiff/ops/scalar.hpp"
#include "autodiff/ops/shape.hpp"
