// Umbrella header: everything a user of the engine includes.
#pragma once

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
