// Umbrella header of the neural-network layer: what users of nn include.
#pragma once

#include "nn/cost.hpp"
#include "nn/data.hpp"
#include "nn/linear.hpp"
#include "nn/mlp.hpp"
#include "nn/module.hpp"
#include "nn/optim.hpp"
#include "nn/plot.hpp"
#include "nn/progress.hpp"
#include "nn/scalar_mlp.hpp"
#include "nn/serialize.hpp"
